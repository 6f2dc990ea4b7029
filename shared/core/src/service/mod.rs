//! Services: the use cases, written against the ports. They hold no state of their own beyond the
//! adapters they are lent, so a Lambda handler and the dev server share them unchanged.

pub mod admin;
pub mod issue;
mod reuse;
pub mod rotate;

pub use admin::{AdminError, NewClient};
pub use issue::{IssueError, IssuedToken, Issuer, IssuerSettings};
pub use rotate::{RotationError, RotationReport, Rotator};
