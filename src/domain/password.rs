//! Password rules for new passwords.

use secrecy::{ExposeSecret, SecretString};

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest password accepted, in characters (bounds the hashing work one request can ask for).
pub const MAX_PASSWORD_LEN: usize = 512;

/// A password that satisfies the rules for new accounts.
#[derive(Debug, Clone)]
pub struct NewPassword(SecretString);

impl NewPassword {
    /// Validates length; the error is a sentence for the form.
    pub fn parse(input: SecretString) -> Result<NewPassword, &'static str> {
        let len = input.expose_secret().chars().count();
        if len < MIN_PASSWORD_LEN {
            return Err("Use at least 10 characters for your password.");
        }
        if len > MAX_PASSWORD_LEN {
            return Err("That password is too long (512 characters at most).");
        }
        Ok(NewPassword(input))
    }

    /// The password, for hashing.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_rejected() {
        assert!(NewPassword::parse(SecretString::from("123456789")).is_err());
        assert!(NewPassword::parse(SecretString::from("1234567890")).is_ok());
    }
}
