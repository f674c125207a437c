//! # okcc-crm
//!
//! Tenant-scoped customer records with a recycle bin (requirement 7),
//! masked views and time-limited reveal grants (requirement 8).
//!
//! - [`customer`]: the record and its validated fields.
//! - [`store`]: the [`CustomerStore`] trait and its memory backend.
//! - [`view`]: what one viewer may see (numbers and free text masked).
//! - [`reveal`]: reveal requests, approvals and 15-minute grants.
//! - [`service`]: [`CrmService`], every operation permission-checked
//!   ([`okcc_core::rbac::authorize`]) and audited ([`audit`]).
//!
//! What this crate does **not** do: serve HTTP, or store records in a
//! database (SQLite and PostgreSQL backends come with the storage issue and
//! must pass the `testkit` suite).
//!
//! ## Features
//! - `testkit`: exports the [`CustomerStore`] conformance suite and the
//!   `customer_store_contract!` macro.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod customer;
pub mod error;
pub mod reveal;
pub mod service;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod view;

pub use error::CrmError;
pub use service::CrmService;
pub use store::CustomerStore;
