//! A company's internet domain as Debrief stores it: lower-case, without `www.`, a scheme, a path
//! or a port, so `https://WWW.Acme.com/about` and `acme.com` are the same domain.

/// Longest domain accepted, in characters (DNS's limit).
pub const MAX_DOMAIN_LEN: usize = 253;

/// A normalised company domain such as `acme.com` or `eu.acme.com`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompanyDomain(String);

impl CompanyDomain {
    /// Normalises what a person typed or a file held (a bare domain, a website address or an email
    /// address); the error is a sentence for the form.
    pub fn parse(input: &str) -> Result<CompanyDomain, &'static str> {
        let mut text = input.trim().to_lowercase();
        if text.is_empty() {
            return Err("Enter a domain like acme.com.");
        }
        if let Some((_, rest)) = text.split_once("://") {
            text = rest.to_owned();
        }
        if let Some((_, host)) = text.rsplit_once('@') {
            text = host.to_owned();
        }
        let host = text
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default()
            .trim_end_matches('.');
        let host = host.strip_prefix("www.").unwrap_or(host);
        if host.chars().count() > MAX_DOMAIN_LEN {
            return Err("That domain is too long (253 characters at most).");
        }
        let labels: Vec<&str> = host.split('.').collect();
        let valid_label = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2
            || !labels.iter().all(valid_label)
            || labels
                .last()
                .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err("Enter a domain like acme.com.");
        }
        Ok(CompanyDomain(host.to_owned()))
    }

    /// The domain of an email address as stored by ingest (already lower-case), if it has one.
    pub fn of_email(email: &str) -> Option<CompanyDomain> {
        let (_, host) = email.rsplit_once('@')?;
        CompanyDomain::parse(host).ok()
    }

    /// The normalised domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This domain and each parent of it that is still a registrable-looking name, longest first:
    /// `a.eu.acme.com` → `a.eu.acme.com`, `eu.acme.com`, `acme.com` (never `com`).
    pub fn with_parents(&self) -> impl Iterator<Item = &str> {
        let s = self.0.as_str();
        std::iter::once(s)
            .chain(s.match_indices('.').map(move |(i, _)| &s[i + 1..]))
            .filter(|d| d.contains('.'))
    }
}

impl CompanyDomain {
    /// A company name guessed from the domain, for a person to correct: `acme-corp.co.uk` →
    /// `Acme Corp`, `eu.globex.com` → `Globex`.
    pub fn guess_company_name(&self) -> String {
        let labels: Vec<&str> = self.0.split('.').collect();
        let n = labels.len();
        let second_level = ["co", "com", "org", "net", "ac", "gov", "edu", "ltd"];
        let at = if n >= 3 && labels[n - 1].len() == 2 && second_level.contains(&labels[n - 2]) {
            n - 3
        } else {
            n.saturating_sub(2)
        };
        labels[at]
            .split(['-', '_'])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Display for CompanyDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websites_emails_and_typing_become_one_domain() {
        for input in [
            "acme.com",
            " ACME.com ",
            "www.acme.com",
            "https://www.Acme.com/about?x=1",
            "http://acme.com:8080",
            "priya@acme.com",
            "acme.com.",
        ] {
            assert_eq!(
                CompanyDomain::parse(input).unwrap().as_str(),
                "acme.com",
                "{input}"
            );
        }
        assert_eq!(
            CompanyDomain::parse("EU.Acme.co.uk").unwrap().as_str(),
            "eu.acme.co.uk"
        );
    }

    #[test]
    fn things_that_are_not_domains_are_refused() {
        for bad in [
            "",
            "   ",
            "acme",
            "acme..com",
            "-acme.com",
            "acme-.com",
            "ac me.com",
            "10.0.0.1",
            "<script>.com",
        ] {
            assert!(
                CompanyDomain::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(CompanyDomain::parse(&format!("{}.com", "a.".repeat(130))).is_err());
        // A path is dropped: what is left is the domain.
        assert_eq!(
            CompanyDomain::parse("acme.com/<script>").unwrap().as_str(),
            "acme.com"
        );
    }

    #[test]
    fn company_names_are_guessed_from_the_registrable_label() {
        for (domain, name) in [
            ("acme-corp.co.uk", "Acme Corp"),
            ("eu.globex.com", "Globex"),
            ("initech.io", "Initech"),
        ] {
            assert_eq!(
                CompanyDomain::parse(domain).unwrap().guess_company_name(),
                name
            );
        }
    }

    #[test]
    fn parents_are_listed_longest_first_and_never_the_top_level() {
        let d = CompanyDomain::parse("a.eu.acme.com").unwrap();
        assert_eq!(
            d.with_parents().collect::<Vec<_>>(),
            ["a.eu.acme.com", "eu.acme.com", "acme.com"]
        );
        let d = CompanyDomain::parse("acme.com").unwrap();
        assert_eq!(d.with_parents().collect::<Vec<_>>(), ["acme.com"]);
    }
}
