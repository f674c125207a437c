//! # okcc-crm
//!
//! Tenant-scoped customer records with a recycle bin (requirement 7),
//! masked views and time-limited reveal grants (requirement 8).
#![cfg_attr(docsrs, feature(doc_cfg))]
