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

use std::net::IpAddr;
use std::time::Instant;

/// The bans in force at `now` among `(source, banned_until)` pairs, sorted
/// by address: the listing every guard gives its operator.
fn bans_in_force<'a>(
    entries: impl Iterator<Item = (&'a IpAddr, Option<Instant>)>,
    now: Instant,
) -> Vec<(IpAddr, Instant)> {
    let mut v: Vec<_> = entries
        .filter_map(|(ip, until)| until.filter(|u| *u > now).map(|u| (*ip, u)))
        .collect();
    v.sort();
    v
}
