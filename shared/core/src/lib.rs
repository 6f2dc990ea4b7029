//! Tessera's pure domain.
//!
//! Everything that decides — what a token contains, whether a token is accepted, which key signs, when a
//! key rotates, what a client may ask for — lives here, free of I/O. Adapters (SQLite, software keys,
//! DynamoDB, KMS, S3) implement the [`ports`]; the services in [`service`] drive those ports.
#![deny(missing_docs)]

pub mod client;
pub mod discovery;
pub mod ids;
pub mod jose;
pub mod lifecycle;
pub mod policy;
pub mod ports;
pub mod revocation;
pub mod secret;
pub mod service;
pub mod time;
pub mod token;
pub mod verify;

pub use ids::{ClientId, Jti, Kid, Scope, ScopeSet};
pub use time::UnixTime;
