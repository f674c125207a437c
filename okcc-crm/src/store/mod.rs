//! [`CustomerStore`]: where customer records live.
//!
//! One async trait with domain verbs; the semantics (what restore means,
//! which keys must be unique) come from [`okcc_core::recycle`], and every
//! backend must pass the conformance suite in `okcc_crm::testkit`
//! (feature `testkit`). [`memory`] is always compiled; `sqlite` and `postgres` (features of
//! the same names) keep customers in SQL with the same contract.
//!
//! [`RevealStore`] (module [`reveal`]) keeps reveal requests and grants:
//! [`MemoryRevealStore`], and `SqliteRevealStore` / `PostgresRevealStore`
//! in the same modules as the customer stores; every backend passes
//! `reveal_store_contract!` (feature `testkit`).

pub mod memory;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
pub mod reveal;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod reveal_sql;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

use std::fmt::Debug;
use std::time::SystemTime;

use okcc_core::recycle::{Binned, Deletion};
use okcc_core::store::{Page, PageOf};
use okcc_core::{StoreError, TenantId};

use crate::customer::{Customer, CustomerFields, CustomerId};

pub use reveal::{MemoryRevealStore, RevealStore, StoredReveal};

/// What to search for. Every search is inside one tenant.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CustomerQuery {
    /// Every live customer.
    All,
    /// Name contains this text (case-insensitive).
    Name(String),
    /// Has a phone number with this normalised key (see
    /// [`Phone::key`](crate::customer::Phone::key)).
    NumberKey(String),
    /// Has this tag (exact).
    Tag(String),
}

impl Debug for CustomerQuery {
    /// Never prints a searched number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("All"),
            Self::Name(_) => f.write_str("Name(..)"),
            Self::NumberKey(_) => f.write_str("NumberKey(..)"),
            Self::Tag(t) => f.debug_tuple("Tag").field(t).finish(),
        }
    }
}

impl CustomerQuery {
    /// Whether `c` matches.
    pub fn matches(&self, c: &Customer) -> bool {
        match self {
            Self::All => true,
            Self::Name(n) => c.fields.name.to_lowercase().contains(&n.to_lowercase()),
            Self::NumberKey(k) => c.fields.phones.iter().any(|p| &p.key == k),
            Self::Tag(t) => c.fields.tags.contains(t),
        }
    }
}

/// Storage of customer records, tenant-scoped: a record of one tenant is
/// invisible through every method called with another tenant.
///
/// Contract (checked by the `testkit` suite): live records of one tenant
/// never share a phone-number key; `update` is refused with
/// [`StoreError::Conflict`] unless `expected_version` is the current one;
/// `get` returns `None` once a record is deleted; `restore` returns the
/// record unchanged or [`StoreError::Conflict`] if a live record took one
/// of its numbers; listings are ordered by id with the id as cursor.
#[async_trait::async_trait]
pub trait CustomerStore: Debug + Send + Sync + 'static {
    /// Stores a new customer (version 1). `Conflict` if a live customer of
    /// the tenant has one of its numbers.
    async fn insert(
        &self,
        tenant: &TenantId,
        fields: CustomerFields,
        at: SystemTime,
    ) -> Result<Customer, StoreError>;

    /// A live customer; `None` if unknown, deleted or of another tenant.
    async fn get(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Customer>, StoreError>;

    /// Replaces the fields if the stored version is `expected_version`;
    /// bumps the version.
    async fn update(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        expected_version: u64,
        fields: CustomerFields,
        at: SystemTime,
    ) -> Result<Customer, StoreError>;

    /// Live customers matching `query`, by id.
    async fn search(
        &self,
        tenant: &TenantId,
        query: &CustomerQuery,
        page: Page,
    ) -> Result<PageOf<Customer>, StoreError>;

    /// Moves a live customer to the recycle bin.
    async fn soft_delete(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        deletion: Deletion,
    ) -> Result<(), StoreError>;

    /// Brings a binned customer back, unchanged.
    async fn restore(&self, tenant: &TenantId, id: CustomerId) -> Result<Customer, StoreError>;

    /// The recycle bin, by id.
    async fn list_deleted(
        &self,
        tenant: &TenantId,
        page: Page,
    ) -> Result<PageOf<Binned<Customer>>, StoreError>;

    /// Removes one binned customer for good.
    async fn purge(&self, tenant: &TenantId, id: CustomerId) -> Result<(), StoreError>;

    /// Empties the tenant's bin; returns how many were purged.
    async fn purge_all(&self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// Purges binned customers deleted before `cutoff`; returns how many.
    async fn purge_deleted_before(
        &self,
        tenant: &TenantId,
        cutoff: SystemTime,
    ) -> Result<u64, StoreError>;
}

/// Parses a cursor made by a store listing (the last id of a page).
pub(crate) fn cursor(page: &Page) -> Result<Option<u64>, StoreError> {
    match &page.after {
        None => Ok(None),
        Some(c) => c
            .parse::<u64>()
            .map(Some)
            .map_err(|_| StoreError::conflict("malformed page cursor")),
    }
}
