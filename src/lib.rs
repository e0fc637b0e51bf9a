//! scim-bridge: a SCIM 2.0 service provider that bridges identity providers to vendor REST APIs.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo, clippy::unimplemented)]

pub mod scim;
