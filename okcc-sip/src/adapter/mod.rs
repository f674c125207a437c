//! Adapters from SIP stacks to okcc, each behind its own feature (off by
//! default; okcc-sip depends on no SIP stack without them).
//!
//! | feature | module | what |
//! |---|---|---|
//! | `rsip` | `rsip` | an rsip 0.4 `Request` as a [`SipRequestView`](crate::view::SipRequestView) |
//! | `rsipstack` | `rsipstack` | an rsipstack 0.7 `Request` as a view; a `TransportWhitelist` closure over [`Guard::pre_parse`](crate::Guard::pre_parse); a `TransportEventInspector` running the guard |

#[cfg(feature = "rsip")]
#[cfg_attr(docsrs, doc(cfg(feature = "rsip")))]
pub mod rsip;

#[cfg(feature = "rsipstack")]
#[cfg_attr(docsrs, doc(cfg(feature = "rsipstack")))]
pub mod rsipstack;
