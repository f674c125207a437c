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
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use ban::{Ban, BanConfig, BanKind, BanTable};
pub use brute_force::{AccountAlert, BruteForceConfig, BruteForceGuard, FailureOutcome};
pub use flood::{FloodConfig, FloodGuard};
pub use scanner::{ScannerConfig, ScannerGuard};
pub use store::{BanChange, BanChanges, BanRecord, BanStore, MemoryBanStore};
