//! Integrations with outside services, as the org sees them: connecting, disconnecting and the
//! life of each connection (the HTTP clients themselves live in `fathom/` and `crm/`).

pub mod crm_connections;
pub mod fathom_connections;
pub mod fathom_event_writer;
pub mod fathom_webhooks;
