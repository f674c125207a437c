//! Password policy (requirements 1.1–1.3).
//!
//! [`PasswordPolicy`] holds the source's rules as defaults, each one
//! switchable and tunable. [`PasswordPolicy::check`] runs every rule and
//! returns either an [`AcceptedPassword`] (a proof that the policy was
//! applied: the only value the credential layer hashes) or a [`Rejection`]
//! listing **every** [`Violation`], each with a stable code and a human
//! message, so a UI can show them all at once.
//!
//! Cost: the rules run in about a microsecond; the zxcvbn estimate (about
//! 150 µs) runs only when every rule already passed, and never on input
//! longer than [`MAX_INPUT_BYTES`], which is refused before any other work.
//!
//! ```
//! use okcc_core::password::PasswordPolicy;
//!
//! let policy = PasswordPolicy::default();
//! assert!(policy.check("TAV#1532afhj@qF344", &[]).is_ok());
//! let rejection = policy.check("abc12345!", &[]).unwrap_err();
//! let codes: Vec<_> = rejection.violations().iter().map(|v| v.code()).collect();
//! assert!(codes.contains(&"sequential_run"));
//! ```

mod accepted;
mod check;
mod policy;
mod runs;
mod violation;
mod weak_list;

#[doc(hidden)]
pub mod fuzzing;

pub use accepted::AcceptedPassword;
pub use policy::{MAX_INPUT_BYTES, PasswordPolicy};
pub use violation::{Rejection, Violation};
pub use weak_list::{TOP_TEN, WeakList};
