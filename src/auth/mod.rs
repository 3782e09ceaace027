//! Who is making a request: accounts, passwords, sessions and their store, CSRF, failed-login throttling and
//! the extractors handlers use (`CurrentUser`, `OrgContext`, `ClientIp`).

pub mod accounts;
pub mod csrf;
pub mod extractors;
pub mod login_throttle;
pub mod password;
pub mod session;
pub mod session_store;
