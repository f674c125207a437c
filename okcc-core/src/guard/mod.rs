//! SIP guard state machines. Time is always passed in (`now`); nothing here
//! reads a clock or does I/O.
//!
//! Built so far: [`brute_force::BruteForceGuard`]. Flood, scanner, ban store
//! and toll-fraud machines are still to come.

pub mod brute_force;

pub use brute_force::{BruteForceConfig, BruteForceGuard};
