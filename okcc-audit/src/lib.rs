//! # okcc-audit
//!
//! The operation log of okcc (requirement 5.1): every operation by every
//! user, every denial and every authentication result becomes an audit
//! event, kept in a tamper-evident hash chain.
#![cfg_attr(docsrs, feature(doc_cfg))]
