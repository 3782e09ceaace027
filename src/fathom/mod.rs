//! Fathom's External API v1: wire types, the HTTP client and its typed errors, and webhook
//! signature verification. Knows HTTP, not the database.

pub mod client;
pub mod mapping;
pub mod pacing;
pub mod types;
pub mod webhook_signature;

pub use client::{CreatedWebhook, FathomClient, FathomError, Fetched, ListMeetings, RateLimit};
