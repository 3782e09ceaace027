//! Debrief's integration tests: one binary, real PostgreSQL (a fresh database per test), the real
//! router on a loopback port, and a cookie-keeping HTTP client playing the browser.

#![allow(clippy::unwrap_used)]

mod abuse;
mod accounts;
mod crm_oauth;
mod crm_sync;
mod csrf;
mod customer_imports;
mod customer_rollups;
mod customers;
mod demo_mode;
mod deployment_files;
mod fathom_client;
mod fathom_connections;
mod fathom_misbehaving;
mod fathom_sync;
mod fathom_sync_runs;
mod fathom_webhooks;
mod health;
mod helpers;
mod invites;
mod logging;
mod matching_settings;
mod meetings;
mod members;
mod orgs;
mod rotate_keys;
mod search;
mod security_headers;
mod sessions;
mod tenancy;
mod unmatched_meetings;
mod unstorable_meetings;
mod worker;
