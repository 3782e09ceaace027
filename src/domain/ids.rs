//! Distinct id newtypes so an org id can never be passed where a user id is expected.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Identifies an organisation (tenant).
    OrgId
);
id_type!(
    /// Identifies a person's account.
    UserId
);
id_type!(
    /// Identifies an invitation to join an organisation.
    InviteId
);
id_type!(
    /// Identifies one Fathom user's connection to an organisation.
    FathomConnectionId
);
id_type!(
    /// Identifies one sync run of a Fathom connection.
    SyncRunId
);
id_type!(
    /// Identifies one meeting of an organisation.
    MeetingId
);
id_type!(
    /// Identifies one stored Fathom webhook delivery.
    EventId
);
id_type!(
    /// Identifies one customer (a company) of an organisation.
    CustomerId
);
id_type!(
    /// Identifies one contact (a person at a customer).
    ContactId
);
id_type!(
    /// Identifies one CSV import of customers or contacts.
    ImportId
);
id_type!(
    /// Identifies one CRM account (a HubSpot portal, a Salesforce org) connected to an organisation.
    CrmConnectionId
);
id_type!(
    /// Identifies one import of customers from a CRM connection.
    CrmImportRunId
);
