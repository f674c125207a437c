//! SIP guard state machines. Time is always passed in (`now`); nothing here
//! reads a clock or does I/O.
//!
//! The guards detect; one [`BanTable`] remembers. [`BruteForceGuard`],
//! [`FloodGuard`] and [`ScannerGuard`] write their bans into the table they
//! are handed, and the pipeline checks that table first. The async
//! [`BanStore`] keeps bans beyond one process and shares them across nodes.

pub mod ban;
pub mod brute_force;
pub mod flood;
pub mod scanner;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use ban::{Ban, BanConfig, BanKind, BanObserver, BanTable};
pub use brute_force::{AccountAlert, BruteForceConfig, BruteForceGuard, FailureOutcome};
pub use flood::{FloodConfig, FloodGuard};
pub use scanner::{ScannerConfig, ScannerGuard};
pub use store::{BanChange, BanChanges, BanRecord, BanStore, MemoryBanStore};

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sql::PostgresBanStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sql::SqliteBanStore;
