//! [`RevealStore`]: where reveal requests and grants live, so that they
//! survive a restart and every node sees the same ones.
//!
//! The rules are [`RevealBook`](crate::reveal::RevealBook)'s; a store keeps
//! the requests and makes each write atomic and checked: a request is
//! filed only if the requester's counts are still those the decision was
//! taken on, and a decision only replaces the version it was taken on
//! ([`StoreError::Conflict`] otherwise; the caller reads again and
//! retries).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use okcc_core::store::{Page, PageOf};
use okcc_core::{StoreError, TenantId, UserId};

use crate::customer::CustomerId;
use crate::reveal::{NewReveal, RevealCounts, RevealId, RevealRequest, RevealState};

/// A stored request and its version (1 when filed, bumped by a decision).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredReveal {
    /// The request.
    pub request: RevealRequest,
    /// Its version.
    pub version: u64,
}

impl StoredReveal {
    /// `request` at `version`.
    pub fn new(request: RevealRequest, version: u64) -> Self {
        Self { request, version }
    }
}

/// Storage of reveal requests. Ids are unique across tenants; every read
/// is inside one tenant.
#[async_trait::async_trait]
pub trait RevealStore: Debug + Send + Sync + 'static {
    /// What the store holds about `requester` in `tenant`: pending
    /// requests, and requests approved automatically filed at or after
    /// `day_start`.
    async fn counts(
        &self,
        tenant: &TenantId,
        requester: &UserId,
        day_start: SystemTime,
    ) -> Result<RevealCounts, StoreError>;

    /// Files `new` under a fresh id if [`counts`](Self::counts) for its
    /// requester and `day_start` still equal `seen`
    /// ([`StoreError::Conflict`] otherwise).
    async fn insert(
        &self,
        new: NewReveal,
        seen: RevealCounts,
        day_start: SystemTime,
    ) -> Result<RevealRequest, StoreError>;

    /// The request `id` of `tenant`, with its version.
    async fn get(
        &self,
        tenant: &TenantId,
        id: RevealId,
    ) -> Result<Option<StoredReveal>, StoreError>;

    /// Replaces the state of request `id` of `tenant` if its version is
    /// `expected_version` ([`StoreError::Conflict`] if it changed,
    /// [`StoreError::NotFound`] if it is gone); returns it at its new
    /// version.
    async fn set_state(
        &self,
        tenant: &TenantId,
        id: RevealId,
        state: RevealState,
        expected_version: u64,
    ) -> Result<StoredReveal, StoreError>;

    /// The oldest approved request of `user` for `customer` whose grant is
    /// in force at `now` (approved at or before `now`, expiring after).
    async fn grant(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        user: &UserId,
        now: SystemTime,
    ) -> Result<Option<RevealRequest>, StoreError>;

    /// Pending requests of `tenant` by id (oldest first); the cursor is
    /// the last id.
    async fn pending(
        &self,
        tenant: &TenantId,
        page: Page,
    ) -> Result<PageOf<RevealRequest>, StoreError>;

    /// Drops pending requests filed before `before`, approved ones that
    /// expired before it and denied ones denied before it; returns how
    /// many.
    async fn prune(&self, before: SystemTime) -> Result<u64, StoreError>;
}

/// Whether `r` is one [`RevealStore::prune`] drops for `before`.
pub fn is_prunable(r: &RevealRequest, before: SystemTime) -> bool {
    match &r.state {
        RevealState::Pending => r.requested_at < before,
        RevealState::Approved { expires, .. } => *expires < before,
        RevealState::Denied { at, .. } => *at < before,
    }
}

/// Parses the cursor of [`RevealStore::pending`].
pub(crate) fn cursor_of(page: &Page) -> Result<u64, StoreError> {
    match page.after.as_deref() {
        None => Ok(0),
        Some(c) => c
            .parse()
            .map_err(|_| StoreError::conflict("bad page cursor")),
    }
}

/// Reveal requests in memory (tests, `--store memory`, and the default
/// of [`CrmService::new`](crate::CrmService::new)).
#[derive(Debug, Default)]
pub struct MemoryRevealStore {
    inner: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    next: u64,
    requests: BTreeMap<RevealId, StoredReveal>,
}

impl Book {
    fn counts(&self, tenant: &TenantId, requester: &UserId, day_start: SystemTime) -> RevealCounts {
        let mine = self
            .requests
            .values()
            .map(|s| &s.request)
            .filter(|r| &r.tenant == tenant && &r.requester == requester);
        let mut counts = RevealCounts::default();
        for r in mine {
            match r.state {
                RevealState::Pending => counts.pending += 1,
                RevealState::Approved { by: None, .. } if r.requested_at >= day_start => {
                    counts.auto_approved_today += 1;
                }
                _ => {}
            }
        }
        counts
    }
}

impl MemoryRevealStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        // Every write is one map operation, so a poisoned book is consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl RevealStore for MemoryRevealStore {
    async fn counts(
        &self,
        tenant: &TenantId,
        requester: &UserId,
        day_start: SystemTime,
    ) -> Result<RevealCounts, StoreError> {
        Ok(self.lock().counts(tenant, requester, day_start))
    }

    async fn insert(
        &self,
        new: NewReveal,
        seen: RevealCounts,
        day_start: SystemTime,
    ) -> Result<RevealRequest, StoreError> {
        let mut book = self.lock();
        if book.counts(&new.tenant, &new.requester, day_start) != seen {
            return Err(StoreError::conflict("the requester's requests changed"));
        }
        book.next += 1;
        let id = RevealId(book.next);
        let request = new.into_request(id);
        book.requests
            .insert(id, StoredReveal::new(request.clone(), 1));
        Ok(request)
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: RevealId,
    ) -> Result<Option<StoredReveal>, StoreError> {
        Ok(self
            .lock()
            .requests
            .get(&id)
            .filter(|s| &s.request.tenant == tenant)
            .cloned())
    }

    async fn set_state(
        &self,
        tenant: &TenantId,
        id: RevealId,
        state: RevealState,
        expected_version: u64,
    ) -> Result<StoredReveal, StoreError> {
        let mut book = self.lock();
        let stored = book
            .requests
            .get_mut(&id)
            .filter(|s| &s.request.tenant == tenant)
            .ok_or(StoreError::NotFound)?;
        if stored.version != expected_version {
            return Err(StoreError::conflict(format!(
                "{id} changed (version {})",
                stored.version
            )));
        }
        stored.request.state = state;
        stored.version = stored.version.saturating_add(1);
        Ok(stored.clone())
    }

    async fn grant(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        user: &UserId,
        now: SystemTime,
    ) -> Result<Option<RevealRequest>, StoreError> {
        Ok(self
            .lock()
            .requests
            .values()
            .map(|s| &s.request)
            .find(|r| {
                &r.tenant == tenant
                    && r.customer == customer
                    && &r.requester == user
                    && r.is_active_grant(now)
            })
            .cloned())
    }

    async fn pending(
        &self,
        tenant: &TenantId,
        page: Page,
    ) -> Result<PageOf<RevealRequest>, StoreError> {
        let after = cursor_of(&page)?;
        let limit = page.effective_limit();
        let book = self.lock();
        let mut items: Vec<RevealRequest> = book
            .requests
            .range(RevealId(after.saturating_add(1))..)
            .map(|(_, s)| &s.request)
            .filter(|r| &r.tenant == tenant && r.state == RevealState::Pending)
            .take(limit + 1)
            .cloned()
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|r| r.id.0.to_string())
        } else {
            None
        };
        Ok(PageOf::new(items, next))
    }

    async fn prune(&self, before: SystemTime) -> Result<u64, StoreError> {
        let mut book = self.lock();
        let n = book.requests.len();
        book.requests
            .retain(|_, s| !is_prunable(&s.request, before));
        Ok(u64::try_from(n - book.requests.len()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    crate::reveal_store_contract!(async { super::MemoryRevealStore::new() });
}
