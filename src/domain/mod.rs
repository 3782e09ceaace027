//! Pure types with no IO: identifiers, validated form values, roles.

pub mod company_domain;
pub mod crm_provider;
pub mod customer_import;
pub mod email;
pub mod ids;
pub mod matching;
pub mod meeting;
pub mod names;
pub mod password;
pub mod role;
pub mod slug;
pub mod sync_window;

pub use company_domain::CompanyDomain;
pub use crm_provider::CrmProvider;
pub use email::Email;
pub use ids::{
    ContactId, CrmConnectionId, CrmImportRunId, CustomerId, EventId, FathomConnectionId, ImportId,
    InviteId, MeetingId, OrgId, SyncRunId, UserId,
};
pub use names::{OrgName, PersonName};
pub use password::NewPassword;
pub use role::Role;
