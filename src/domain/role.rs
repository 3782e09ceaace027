//! Roles within an organisation and what each may do.

use serde::{Deserialize, Serialize};

/// A member's role in one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Full control, including other owners.
    Owner,
    /// Manages members (except owners) and integrations.
    Admin,
    /// Uses the org's data.
    Member,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Member];

    /// The stored and submitted name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Member => "Member",
        }
    }

    /// Parses a submitted role name.
    pub fn parse(input: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == input.trim())
    }

    /// Owners and admins manage people and integrations.
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether someone with this role may grant `target` (by invite or role change) or change
    /// or remove a member who currently has `target`. Only owners touch owners.
    pub fn can_assign(self, target: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => target != Role::Owner,
            Role::Member => false,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_assign_owner_and_members_assign_nothing() {
        assert!(Role::Owner.can_assign(Role::Owner));
        assert!(!Role::Admin.can_assign(Role::Owner));
        assert!(Role::Admin.can_assign(Role::Admin));
        assert!(Role::ALL.iter().all(|r| !Role::Member.can_assign(*r)));
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("superuser"), None);
    }
}
