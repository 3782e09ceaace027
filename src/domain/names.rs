//! Display names of people and organisations.

/// Longest name accepted, in characters.
pub const MAX_NAME_LEN: usize = 100;

fn parse_name(
    input: &str,
    blank: &'static str,
    long: &'static str,
) -> Result<String, &'static str> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(blank);
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(long);
    }
    if trimmed.chars().any(char::is_control) {
        return Err("Names cannot contain control characters.");
    }
    Ok(trimmed.to_owned())
}

/// A person's name as shown to their team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Trims and validates; the error is a sentence for the form.
    pub fn parse(input: &str) -> Result<PersonName, &'static str> {
        parse_name(
            input,
            "Enter your name.",
            "That name is too long (100 characters at most).",
        )
        .map(PersonName)
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organisation's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgName(String);

impl OrgName {
    /// Trims and validates; the error is a sentence for the form.
    pub fn parse(input: &str) -> Result<OrgName, &'static str> {
        parse_name(
            input,
            "Enter your organisation's name.",
            "That organisation name is too long (100 characters at most).",
        )
        .map(OrgName)
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_over_long_names_are_rejected() {
        assert!(OrgName::parse("   ").is_err());
        assert!(OrgName::parse(&"x".repeat(101)).is_err());
        assert_eq!(OrgName::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert!(PersonName::parse("a\u{0}b").is_err());
    }
}
