//! Local simulators of the services Debrief talks to, for the demo and for tests.
//!
//! Each simulator is a real HTTP server on a loopback port, spawned in-process by tests or run
//! standalone by `debrief sim ...`. They are deliberately strict: a client that works against them
//! should work against the real service.

pub mod crm;
pub mod fathom;
