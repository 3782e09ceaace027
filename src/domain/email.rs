//! Email addresses as Debrief stores them: trimmed, lower-cased, syntactically valid.

use std::str::FromStr;

/// Longest address accepted, in characters.
pub const MAX_EMAIL_LEN: usize = 320;

/// A normalised, valid email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Normalises and validates what a person typed; the error is a sentence for the form.
    pub fn parse(input: &str) -> Result<Email, &'static str> {
        let normalised = input.trim().to_lowercase();
        if normalised.is_empty() {
            return Err("Enter your email address.");
        }
        if normalised.chars().count() > MAX_EMAIL_LEN {
            return Err("That email address is too long (320 characters at most).");
        }
        let valid = email_address::EmailAddress::from_str(&normalised).is_ok()
            && normalised
                .rsplit_once('@')
                .is_some_and(|(_, domain)| domain.contains('.') && !domain.starts_with('['));
        if !valid {
            return Err("Enter an email address like name@company.com.");
        }
        Ok(Email(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lower_cases() {
        assert_eq!(
            Email::parse("  Priya.Patel@Northwind.COM ")
                .unwrap()
                .as_str(),
            "priya.patel@northwind.com"
        );
    }

    #[test]
    fn rejects_empty_malformed_and_over_long() {
        assert!(Email::parse("   ").is_err());
        for bad in [
            "plainaddress",
            "@no-local.com",
            "a@b",
            "a b@c.com",
            "a@@c.com",
            "a@c..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(320));
        assert_eq!(
            Email::parse(&long).unwrap_err(),
            "That email address is too long (320 characters at most)."
        );
    }
}
