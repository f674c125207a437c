//! # okcc-crm
//!
//! Tenant-scoped customer records with a recycle bin (requirement 7),
//! masked views and time-limited reveal grants (requirement 8).
//!
//! - [`customer`]: the record and its validated fields.
//! - [`store`]: the [`CustomerStore`] and [`RevealStore`](store::RevealStore)
//!   traits, their memory backends and (features `sqlite`, `postgres`)
//!   their SQL backends.
//! - [`view`]: what one viewer may see (numbers and free text masked).
//! - [`reveal`]: reveal requests, approvals and 15-minute grants (the
//!   rules, sans-IO; requests live in a `RevealStore`).
//! - [`service`]: [`CrmService`], every operation permission-checked
//!   ([`okcc_core::rbac::authorize`]) and audited ([`audit`]).
//!
//! What this crate does **not** do: serve HTTP.
//!
//! ## Features
//! - `testkit`: exports the [`CustomerStore`] and `RevealStore`
//!   conformance suites and the `customer_store_contract!` and
//!   `reveal_store_contract!` macros.
//! - `sqlite`, `postgres` (`postgres-tls`): the SQL backends.
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
