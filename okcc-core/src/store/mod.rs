//! What every store trait in okcc shares: a small, portable error and a
//! cursor page request.
//!
//! Core owns the semantics (which state follows which, what "restore"
//! means); a store only makes writes atomic and version-checked, returning
//! [`StoreError::Conflict`] when it loses a race.

use std::error::Error as StdError;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub mod sql;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod notify;

/// A failure of a store backend, portable across memory, SQLite and
/// PostgreSQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist (or is not visible to the caller).
    #[error("not found")]
    NotFound,
    /// A version-checked write lost a race, or a unique key is taken.
    #[error("conflict: {what}")]
    Conflict {
        /// What conflicted, for the error message (never a secret).
        what: String,
    },
    /// The backend cannot be reached (database down, pool exhausted).
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// Any other backend failure.
    #[error("store backend error")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    /// A conflict described by `what`.
    pub fn conflict(what: impl Into<String>) -> Self {
        Self::Conflict { what: what.into() }
    }
}

/// A request for one page of a listing, in a stable order.
///
/// `after` is an opaque cursor returned with the previous page (`None` for
/// the first page); `limit` is capped by each store at [`Page::MAX_LIMIT`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page {
    /// Cursor from the previous page.
    pub after: Option<String>,
    /// Maximum number of items.
    pub limit: u32,
}

impl Page {
    /// The largest page any store returns.
    pub const MAX_LIMIT: u32 = 1000;

    /// The first page of up to `limit` items.
    pub fn first(limit: u32) -> Self {
        Self {
            after: None,
            limit: limit.min(Self::MAX_LIMIT),
        }
    }

    /// The page after `cursor`.
    pub fn after(cursor: impl Into<String>, limit: u32) -> Self {
        Self {
            after: Some(cursor.into()),
            limit: limit.min(Self::MAX_LIMIT),
        }
    }

    /// The limit to apply: at least 1, at most [`Page::MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        self.limit.clamp(1, Self::MAX_LIMIT) as usize
    }
}

/// One page of results and the cursor for the next (`None` at the end).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageOf<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor to pass as [`Page::after`] for the next page.
    pub next: Option<String>,
}

impl<T> PageOf<T> {
    /// A page of `items` followed by `next`.
    pub fn new(items: Vec<T>, next: Option<String>) -> Self {
        Self { items, next }
    }
}
