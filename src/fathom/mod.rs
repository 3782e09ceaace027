//! Fathom's External API v1: wire types, the HTTP client and its typed errors.

pub mod webhook_signature;
