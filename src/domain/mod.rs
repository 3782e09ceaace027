//! Pure types with no IO: identifiers, validated form values, roles.

pub mod email;
pub mod ids;
pub mod meeting;
pub mod names;
pub mod password;
pub mod role;
pub mod slug;
pub mod sync_window;

pub use email::Email;
pub use ids::{EventId, FathomConnectionId, InviteId, MeetingId, OrgId, SyncRunId, UserId};
pub use names::{OrgName, PersonName};
pub use password::NewPassword;
pub use role::Role;
