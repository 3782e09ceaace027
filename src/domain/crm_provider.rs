//! Which CRM a connection is to: the names every layer uses for HubSpot and Salesforce.

use serde::{Deserialize, Serialize};

/// A CRM Debrief can connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum CrmProvider {
    Hubspot,
    Salesforce,
}

impl CrmProvider {
    /// Both providers, in the order pages list them.
    pub const ALL: [CrmProvider; 2] = [CrmProvider::Hubspot, CrmProvider::Salesforce];

    /// The stored and URL name (`hubspot`, `salesforce`).
    pub fn as_str(self) -> &'static str {
        match self {
            CrmProvider::Hubspot => "hubspot",
            CrmProvider::Salesforce => "salesforce",
        }
    }

    /// The product's name as people know it.
    pub fn label(self) -> &'static str {
        match self {
            CrmProvider::Hubspot => "HubSpot",
            CrmProvider::Salesforce => "Salesforce",
        }
    }

    /// Parses the stored or URL name.
    pub fn parse(s: &str) -> Option<CrmProvider> {
        CrmProvider::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// What a meeting becomes in this CRM (a HubSpot note, a Salesforce task).
    pub fn record_label(self) -> &'static str {
        match self {
            CrmProvider::Hubspot => "note",
            CrmProvider::Salesforce => "task",
        }
    }
}

impl std::fmt::Display for CrmProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for p in CrmProvider::ALL {
            assert_eq!(CrmProvider::parse(p.as_str()), Some(p));
        }
        assert_eq!(CrmProvider::parse("pipedrive"), None);
        assert_eq!(CrmProvider::parse("HubSpot"), None);
    }
}
