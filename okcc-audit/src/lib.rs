//! # okcc-audit
//!
//! The operation log of okcc (requirement 5.1): every operation by every
//! user, every denial and every authentication result becomes an
//! [`AuditEvent`], kept in a tamper-evident SHA-256 hash chain.
//!
//! - [`event`], [`actor`], [`action`], [`detail`]: the event model. Secrets
//!   never enter an event and phone numbers enter only masked (see
//!   [`detail`] for the contract).
//! - [`encoding`]: the canonical, documented byte encoding that is hashed.
//! - [`chain`], [`verify`], [`checkpoint`]: the hash chain, the verifier
//!   that finds the first modified, removed, reordered or inserted event,
//!   and HMAC keyed checkpoints.
//! - [`store`]: the [`AuditStore`] trait (append, query, export, verify,
//!   retention); [`memory`]: the in-memory backend.
//! - [`sink`]: the non-blocking [`AuditSink`] for the hot path.
//! - [`export`]: JSON Lines and CSV.
//!
//! What this crate does **not** do: it does not mask phone numbers (that is
//! `okcc_core::mask`; see [`detail::PhoneMasker`]) and ships no SQL
//! backend yet.
//!
//! ## Features
//! - `testkit`: exports the [`AuditStore`] conformance suite
//!   (`okcc_audit::testkit`) and the `audit_store_contract!` macro.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod action;
pub mod actor;
pub mod chain;
pub mod checkpoint;
pub mod core_records;
pub mod detail;
pub mod encoding;
pub mod event;
pub mod export;
pub mod label;
pub mod memory;
pub mod query;
pub mod sink;
pub mod store;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod verify;

pub use action::Action;
pub use actor::Actor;
pub use chain::{ChainAnchor, ChainHash, ChainTail, StoredEvent};
pub use checkpoint::{Checkpoint, CheckpointKey, CheckpointPolicy};
pub use detail::{Detail, DetailValue, MaskedPhone, PhoneMasker};
pub use event::{AuditEvent, EventError, EventId, Outcome, Target};
pub use export::ExportFormat;
pub use label::{Label, RequestId, Text};
pub use memory::MemoryAuditStore;
pub use query::{ActorFilter, AuditQuery, ResultFilter, TargetFilter};
pub use sink::{AuditSink, SinkConfig, SinkError};
pub use store::{AppendReceipt, AuditStore, RetentionReport};
pub use verify::{ChainVerifier, Tamper, VerifyOptions, VerifyReport};
