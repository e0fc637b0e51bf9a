//! scim-bridge: a SCIM 2.0 service provider that bridges identity providers to vendor REST APIs.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::todo,
    clippy::unimplemented
)]

pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod reload;
pub mod scim;
pub mod secrets;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tls;
