//! SIP guard state machines. Time is always passed in (`now`); nothing here
//! reads a clock or does I/O.
//!
//! Built so far: [`brute_force::BruteForceGuard`], [`flood::FloodGuard`]
//! and [`scanner::ScannerGuard`]. The ban store and toll-fraud machines are
//! still to come.

pub mod brute_force;
pub mod flood;
pub mod scanner;

pub use brute_force::{BruteForceConfig, BruteForceGuard};
pub use flood::{FloodConfig, FloodGuard};
pub use scanner::{ScannerConfig, ScannerGuard};
