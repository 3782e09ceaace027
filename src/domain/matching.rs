//! The attendee → customer rules, as pure code: which customers a meeting is with, and why.
//!
//! | attendee | result |
//! | --- | --- |
//! | at an internal domain (or a subdomain of one) | ignored, whatever Fathom says |
//! | not external by Fathom's flag | ignored |
//! | email is a contact's (trimmed, lower-cased) | that contact's customer, reason *contact* |
//! | email's domain, or its longest parent, owned by a customer | that customer, reason *domain* |
//! | domain is free-mail | no domain match (an exact contact still matches) |
//!
//! A meeting can be with several customers. A person's decisions win over all of this: a manual
//! link adds the customer (reason *manual*), a manual unlink removes it, on every later match.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use crate::domain::{CompanyDomain, CustomerId};

/// Why a meeting is linked to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkReason {
    /// An attendee's email is one of the customer's contacts.
    Contact,
    /// An attendee's email domain (or a parent of it) is one of the customer's domains.
    Domain,
    /// A person linked them.
    Manual,
}

impl LinkReason {
    /// As stored in `meeting_customers.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkReason::Contact => "contact",
            LinkReason::Domain => "domain",
            LinkReason::Manual => "manual",
        }
    }

    /// From `meeting_customers.reason`.
    pub fn parse(text: &str) -> Option<LinkReason> {
        match text {
            "contact" => Some(LinkReason::Contact),
            "domain" => Some(LinkReason::Domain),
            "manual" => Some(LinkReason::Manual),
            _ => None,
        }
    }

    /// For people: "contact", "domain", "linked by hand".
    pub fn label(self) -> &'static str {
        match self {
            LinkReason::Contact => "contact",
            LinkReason::Domain => "domain",
            LinkReason::Manual => "linked by hand",
        }
    }
}

/// A person's decision about one meeting and one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Link,
    Unlink,
}

impl Decision {
    /// As stored in `meeting_customer_decisions.decision`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Link => "link",
            Decision::Unlink => "unlink",
        }
    }

    /// From `meeting_customer_decisions.decision`.
    pub fn parse(text: &str) -> Option<Decision> {
        match text {
            "link" => Some(Decision::Link),
            "unlink" => Some(Decision::Unlink),
            _ => None,
        }
    }
}

/// One attendee as matching sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    /// As Fathom sent it (normalised here).
    pub email: Option<String>,
    /// Fathom's `is_external`: a hint only.
    pub fathom_external: bool,
}

/// One link of a meeting to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub customer: CustomerId,
    pub reason: LinkReason,
    /// The attendees' emails that caused it (empty for a manual link), sorted.
    pub emails: Vec<String>,
}

/// Where matching looks customers up (a batch's contacts and domains, loaded at once).
pub trait Directory {
    /// The customer whose contact has this (normalised) email.
    fn contact_customer(&self, email: &str) -> Option<CustomerId>;
    /// The customer owning exactly this domain.
    fn domain_owner(&self, domain: &str) -> Option<CustomerId>;
}

/// The shipped free-mail list: the MIT-licensed `free-email-domains` package from npm, version
/// 1.12.6 (github.com/kikobeats/free-email-domains), one domain a line; its licence is beside it.
const FREE_MAIL_LIST: &str = include_str!("free_email_domains.txt");

/// The shipped free-mail domains.
pub fn default_free_mail() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        FREE_MAIL_LIST
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// An org's matching settings, ready to apply.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// The org's own domains: attendees there (or at a subdomain) are internal.
    pub internal_domains: HashSet<String>,
    /// Free-mail domains the org added to the shipped list.
    pub free_mail_added: HashSet<String>,
    /// Shipped free-mail domains the org wants matched by domain after all.
    pub free_mail_removed: HashSet<String>,
}

impl Rules {
    /// Whether `domain` (or a parent of it) is one of the org's own.
    pub fn is_internal(&self, domain: &CompanyDomain) -> bool {
        domain
            .with_parents()
            .any(|d| self.internal_domains.contains(d))
    }

    /// Whether `domain` (or a parent of it) is a free-mail provider for this org.
    pub fn is_free_mail(&self, domain: &CompanyDomain) -> bool {
        domain.with_parents().any(|d| {
            self.free_mail_added.contains(d)
                || (default_free_mail().contains(d) && !self.free_mail_removed.contains(d))
        })
    }

    /// Whether an attendee counts as external: as Fathom says, except that anyone at an internal
    /// domain is internal whatever Fathom says.
    pub fn is_external(&self, attendee: &Attendee) -> bool {
        attendee.fathom_external
            && !attendee
                .email
                .as_deref()
                .and_then(CompanyDomain::of_email)
                .is_some_and(|d| self.is_internal(&d))
    }
}

/// Normalises an attendee's email as contacts are stored: trimmed, lower-cased.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The emails and candidate domains (each with its parents) of a meeting's external attendees:
/// what a batch must look up in the directory.
pub fn lookups(attendees: &[Attendee], rules: &Rules) -> (Vec<String>, Vec<String>) {
    let mut emails = Vec::new();
    let mut domains = Vec::new();
    for a in attendees.iter().filter(|a| rules.is_external(a)) {
        let Some(email) = a.email.as_deref().map(normalise_email) else {
            continue;
        };
        if let Some(domain) = CompanyDomain::of_email(&email)
            && !rules.is_free_mail(&domain)
        {
            domains.extend(domain.with_parents().map(str::to_owned));
        }
        emails.push(email);
    }
    (emails, domains)
}

/// The automatic links of one meeting: exact contact email first, else the longest owned domain.
pub fn automatic_links(attendees: &[Attendee], rules: &Rules, dir: &impl Directory) -> Vec<Link> {
    let mut found: BTreeMap<CustomerId, (LinkReason, Vec<String>)> = BTreeMap::new();
    for a in attendees.iter().filter(|a| rules.is_external(a)) {
        let Some(email) = a.email.as_deref().map(normalise_email) else {
            continue;
        };
        let hit = match dir.contact_customer(&email) {
            Some(customer) => Some((customer, LinkReason::Contact)),
            None => CompanyDomain::of_email(&email)
                .filter(|d| !rules.is_free_mail(d))
                .and_then(|d| d.with_parents().find_map(|p| dir.domain_owner(p)))
                .map(|customer| (customer, LinkReason::Domain)),
        };
        if let Some((customer, reason)) = hit {
            let entry = found.entry(customer).or_insert((reason, Vec::new()));
            // A contact is the stronger reason when attendees give both.
            entry.0 = entry.0.min(reason);
            if !entry.1.contains(&email) {
                entry.1.push(email);
            }
        }
    }
    found
        .into_iter()
        .map(|(customer, (reason, mut emails))| {
            emails.sort();
            Link {
                customer,
                reason,
                emails,
            }
        })
        .collect()
}

/// The links to store: the automatic ones, minus those a person unlinked, plus those a person
/// linked (reason *manual*, unless matching found them anyway).
pub fn with_decisions(automatic: Vec<Link>, decisions: &[(CustomerId, Decision)]) -> Vec<Link> {
    let decided = |c: CustomerId| decisions.iter().find(|(d, _)| *d == c).map(|(_, x)| *x);
    let mut links: Vec<Link> = automatic
        .into_iter()
        .filter(|l| decided(l.customer) != Some(Decision::Unlink))
        .collect();
    for (customer, decision) in decisions {
        if *decision == Decision::Link && !links.iter().any(|l| l.customer == *customer) {
            links.push(Link {
                customer: *customer,
                reason: LinkReason::Manual,
                emails: Vec::new(),
            });
        }
    }
    links.sort_by_key(|l| l.customer);
    links
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use uuid::Uuid;

    fn customer(n: u128) -> CustomerId {
        CustomerId(Uuid::from_u128(n))
    }

    struct Dir {
        contacts: HashMap<&'static str, CustomerId>,
        domains: HashMap<&'static str, CustomerId>,
    }

    impl Directory for Dir {
        fn contact_customer(&self, email: &str) -> Option<CustomerId> {
            self.contacts.get(email).copied()
        }
        fn domain_owner(&self, domain: &str) -> Option<CustomerId> {
            self.domains.get(domain).copied()
        }
    }

    const ACME: u128 = 1;
    const ACME_EU: u128 = 2;
    const GLOBEX: u128 = 3;

    fn dir() -> Dir {
        Dir {
            contacts: HashMap::from([
                ("priya@acme.com", customer(ACME)),
                ("sam@gmail.com", customer(GLOBEX)),
                ("lee@globex.com", customer(GLOBEX)),
            ]),
            domains: HashMap::from([
                ("acme.com", customer(ACME)),
                ("globex.com", customer(GLOBEX)),
                ("eu.initech.com", customer(ACME_EU)),
            ]),
        }
    }

    fn rules() -> Rules {
        Rules {
            internal_domains: HashSet::from(["debrief.example".to_owned()]),
            ..Rules::default()
        }
    }

    fn ext(email: &str) -> Attendee {
        Attendee {
            email: Some(email.to_owned()),
            fathom_external: true,
        }
    }

    fn links(attendees: &[Attendee]) -> Vec<(u128, LinkReason, Vec<String>)> {
        automatic_links(attendees, &rules(), &dir())
            .into_iter()
            .map(|l| (l.customer.0.as_u128(), l.reason, l.emails))
            .collect()
    }

    #[test]
    fn the_rules_table() {
        use LinkReason::{Contact, Domain};
        type Case = (
            &'static str,
            Vec<Attendee>,
            Vec<(u128, LinkReason, Vec<&'static str>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "exact email",
                vec![ext("priya@acme.com")],
                vec![(ACME, Contact, vec!["priya@acme.com"])],
            ),
            (
                "upper case and spaces",
                vec![ext("  Priya@ACME.com ")],
                vec![(ACME, Contact, vec!["priya@acme.com"])],
            ),
            (
                "domain fallback",
                vec![ext("new.person@acme.com")],
                vec![(ACME, Domain, vec!["new.person@acme.com"])],
            ),
            (
                "subdomain to parent",
                vec![ext("kim@eu.acme.com")],
                vec![(ACME, Domain, vec!["kim@eu.acme.com"])],
            ),
            (
                "a parent is never matched by a subdomain's customer",
                vec![ext("boss@initech.com")],
                vec![],
            ),
            (
                "a deeper subdomain finds the subdomain's customer",
                vec![ext("a@x.eu.initech.com")],
                vec![(ACME_EU, Domain, vec!["a@x.eu.initech.com"])],
            ),
            (
                "free mail: no domain match, but an exact contact matches",
                vec![ext("someone@gmail.com"), ext("sam@gmail.com")],
                vec![(GLOBEX, Contact, vec!["sam@gmail.com"])],
            ),
            (
                "internal attendee ignored even when Fathom says external",
                vec![ext("me@debrief.example"), ext("me@eu.debrief.example")],
                vec![],
            ),
            (
                "one meeting, two customers",
                vec![ext("priya@acme.com"), ext("lee@globex.com")],
                vec![
                    (ACME, Contact, vec!["priya@acme.com"]),
                    (GLOBEX, Contact, vec!["lee@globex.com"]),
                ],
            ),
            (
                "a contact and a domain match for one customer: contact, both emails",
                vec![ext("zed@acme.com"), ext("priya@acme.com")],
                vec![(ACME, Contact, vec!["priya@acme.com", "zed@acme.com"])],
            ),
            ("no invitees", vec![], vec![]),
            (
                "an attendee without an email",
                vec![Attendee {
                    email: None,
                    fathom_external: true,
                }],
                vec![],
            ),
        ];
        for (name, attendees, expected) in cases {
            let expected: Vec<(u128, LinkReason, Vec<String>)> = expected
                .into_iter()
                .map(|(c, r, e)| (c, r, e.into_iter().map(String::from).collect()))
                .collect();
            assert_eq!(links(&attendees), expected, "{name}");
        }
    }

    #[test]
    fn someone_fathom_calls_internal_is_not_matched() {
        let internal_by_fathom = Attendee {
            email: Some("priya@acme.com".into()),
            fathom_external: false,
        };
        assert!(!rules().is_external(&internal_by_fathom));
        assert_eq!(
            automatic_links(std::slice::from_ref(&internal_by_fathom), &rules(), &dir()),
            vec![]
        );
    }

    #[test]
    fn an_org_can_take_a_provider_off_the_free_mail_list_or_add_one() {
        let d = Dir {
            contacts: HashMap::new(),
            domains: HashMap::from([("gmx.de", customer(ACME)), ("acme.com", customer(GLOBEX))]),
        };
        let attendees = [ext("a@gmx.de"), ext("b@acme.com")];
        let shipped = rules();
        assert_eq!(
            automatic_links(&attendees, &shipped, &d)
                .iter()
                .map(|l| l.customer)
                .collect::<Vec<_>>(),
            [customer(GLOBEX)]
        );
        let mut own = rules();
        own.free_mail_removed.insert("gmx.de".into());
        own.free_mail_added.insert("acme.com".into());
        assert_eq!(
            automatic_links(&attendees, &own, &d)
                .iter()
                .map(|l| l.customer)
                .collect::<Vec<_>>(),
            [customer(ACME)]
        );
    }

    #[test]
    fn decisions_win_over_matching() {
        let auto = vec![
            Link {
                customer: customer(ACME),
                reason: LinkReason::Domain,
                emails: vec!["x@acme.com".into()],
            },
            Link {
                customer: customer(GLOBEX),
                reason: LinkReason::Contact,
                emails: vec!["lee@globex.com".into()],
            },
        ];
        let decided = with_decisions(
            auto.clone(),
            &[
                (customer(GLOBEX), Decision::Unlink),
                (customer(ACME_EU), Decision::Link),
                (customer(ACME), Decision::Link),
            ],
        );
        assert_eq!(
            decided,
            vec![
                auto[0].clone(),
                Link {
                    customer: customer(ACME_EU),
                    reason: LinkReason::Manual,
                    emails: vec![],
                },
            ]
        );
    }

    #[test]
    fn lookups_cover_every_external_email_and_non_free_domain_with_parents() {
        let (emails, domains) = lookups(
            &[
                ext("A@eu.acme.com"),
                ext("b@gmail.com"),
                ext("me@debrief.example"),
            ],
            &rules(),
        );
        assert_eq!(emails, ["a@eu.acme.com", "b@gmail.com"]);
        assert_eq!(domains, ["eu.acme.com", "acme.com"]);
    }

    #[test]
    fn the_shipped_free_mail_list_is_loaded() {
        let list = default_free_mail();
        assert!(list.len() > 10_000);
        for d in ["gmail.com", "outlook.com", "yahoo.com", "gmx.de"] {
            assert!(list.contains(d), "{d}");
        }
        assert!(!list.contains("acme.com"));
    }
}
