//! # okcc-sip
//!
//! The SIP-facing half of okcc: a zero-copy view of untrusted SIP requests,
//! its own digest verifier, the guard pipeline and the mapping of decisions
//! to SIP replies. It depends on no SIP stack; adapters sit behind features.
#![cfg_attr(docsrs, feature(doc_cfg))]
