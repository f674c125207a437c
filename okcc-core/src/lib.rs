//! # okcc-core
//!
//! The decisions of okcc, with no I/O: password policy and credential
//! hashing, IP / network / region access control, number masking, content
//! review, roles and tenancy, recycle-bin semantics and the SIP guard state
//! machines (brute force, flood, scanner, toll fraud).
//!
//! What this crate does **not** do: it opens no sockets, reads no clock
//! (time is always passed in as `now`), spawns no threads and depends on no
//! async runtime, database driver, web framework or SIP stack. Store traits
//! are declared here (async, `Arc<dyn …>`-friendly); their backends live
//! beside them behind features or in the crates that own the aggregates.
//!
//! ## Features
//! - `testkit`: exports the store conformance suites so third-party
//!   backends can run them.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access;
pub mod credential;
pub mod decision;
pub mod geo;
pub mod guard;
pub mod ids;
pub mod mask;
pub mod password;
pub mod rbac;
pub mod recycle;
pub mod review;
pub mod store;
#[cfg(test)]
mod test_util;
pub mod toll;

pub use decision::{Decision, Denial, DenyReason, RuleId};
pub use ids::{Owner, TenantId, UserId};
pub use password::{AcceptedPassword, PasswordPolicy, Rejection, Violation};
pub use store::StoreError;
