//! # okcc-sip
//!
//! The SIP-facing half of okcc: a zero-copy view of untrusted SIP requests
//! ([`view`]), its own RFC 3261 / 7616 / 8760 digest server ([`digest`]), the
//! guard pipeline and the mapping of decisions to SIP replies. It depends on
//! no SIP stack.
//!
//! What this crate does **not** do: it opens no sockets, runs no
//! transactions and frames no TCP streams; the host stack does that and
//! hands okcc one message at a time.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;
pub mod digest;
pub mod masking;
pub mod pipeline;
pub mod view;

#[doc(hidden)]
pub mod fuzzing;

pub use pipeline::{Guard, GuardConfig, Reply, Transport};
pub use view::{Limits, ParseError, SipMethod, SipRequestView};
