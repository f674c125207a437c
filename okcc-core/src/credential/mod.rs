//! Credentials (requirements 1.4, 1.5): argon2id PHC hashes for web logins,
//! SIP digest HA1 values (RFC 3261 MD5, RFC 8760 SHA-256 and SHA-512-256),
//! the weak-secret audit over stored HA1s, legacy plaintext import and the
//! [`CredentialStore`] trait with its memory backend.
//!
//! Every write path takes an [`AcceptedPassword`](crate::password::AcceptedPassword):
//! a web hash or a SIP credential can only be derived from a password the
//! policy accepted, so bulk import, restore and API all go through the
//! policy. Secrets and hashes live in types whose `Debug` redacts them and
//! that are wiped on drop.

mod audit;
mod error;
mod ha1;
mod import;
mod secret;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
mod store;
#[cfg(any(test, feature = "testkit"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
mod web;

#[doc(hidden)]
pub mod fuzzing;

pub use audit::{Ha1Audit, Ha1LineError, Ha1Record, WeakHa1, parse_ha1_line};
pub use error::CredentialError;
pub use ha1::{DigestAlgorithm, Ha1};
pub use import::{LegacyImport, WeakLegacySecret, import_legacy};
pub use secret::{PhcHash, SecretString};
pub use store::{CredentialStore, MemoryCredentialStore, SipCredential, WebLogin};
pub use web::WebPasswordHasher;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sql::PostgresCredentialStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sql::SqliteCredentialStore;
