//! Debrief: recorded customer calls, matched to customers, as a multi-tenant web app.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod crm;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod fathom;
pub mod integrations;
pub mod jobs;
pub mod local_state;
pub mod rotate_keys;
pub mod sim;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
pub mod worker;
