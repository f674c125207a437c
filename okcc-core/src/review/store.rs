//! Where review items are kept: the [`ReviewStore`] trait and its
//! [`MemoryReviewStore`].
//!
//! Core decides every transition ([`ReviewItem`]); the store only makes
//! writes atomic and version-checked (compare the item's revision).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::item::{ItemId, ReviewItem, ReviewState};
use crate::ids::Owner;
use crate::store::{Page, PageOf, StoreError};

/// Storage of review items. Ids are unique across owners.
#[async_trait::async_trait]
pub trait ReviewStore: Debug + Send + Sync + 'static {
    /// Stores a new item; [`StoreError::Conflict`] if the id is taken.
    async fn insert(&self, item: ReviewItem) -> Result<(), StoreError>;

    /// The item `id`, if any. Callers check the reader's permission on
    /// its owner ([`ReviewItem::check_read`]).
    async fn get(&self, id: &ItemId) -> Result<Option<ReviewItem>, StoreError>;

    /// Replaces an item whose stored revision is `expected_revision`
    /// ([`StoreError::Conflict`] if it changed, [`StoreError::NotFound`]
    /// if it is gone). The owner of an item never changes.
    async fn save(&self, item: ReviewItem, expected_revision: u64) -> Result<(), StoreError>;

    /// Items of `owner` (optionally only those in `state`), ordered by id;
    /// the cursor is the last id.
    async fn list(
        &self,
        owner: &Owner,
        state: Option<ReviewState>,
        page: Page,
    ) -> Result<PageOf<ReviewItem>, StoreError>;
}

/// A [`ReviewStore`] in memory, for tests and `--store memory`.
#[derive(Debug, Default)]
pub struct MemoryReviewStore {
    items: Mutex<HashMap<ItemId, ReviewItem>>,
}

impl MemoryReviewStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ItemId, ReviewItem>> {
        // Every write is one map operation, so a poisoned map is consistent.
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl ReviewStore for MemoryReviewStore {
    async fn insert(&self, item: ReviewItem) -> Result<(), StoreError> {
        let mut items = self.lock();
        if items.contains_key(item.id()) {
            return Err(StoreError::conflict(format!("item {} exists", item.id())));
        }
        items.insert(item.id().clone(), item);
        Ok(())
    }

    async fn get(&self, id: &ItemId) -> Result<Option<ReviewItem>, StoreError> {
        Ok(self.lock().get(id).cloned())
    }

    async fn save(&self, item: ReviewItem, expected_revision: u64) -> Result<(), StoreError> {
        let mut items = self.lock();
        let Some(current) = items.get_mut(item.id()) else {
            return Err(StoreError::NotFound);
        };
        if current.revision() != expected_revision {
            return Err(StoreError::conflict(format!(
                "item {} changed (revision {})",
                item.id(),
                current.revision()
            )));
        }
        if current.owner() != item.owner() {
            return Err(StoreError::conflict("an item's owner never changes"));
        }
        *current = item;
        Ok(())
    }

    async fn list(
        &self,
        owner: &Owner,
        state: Option<ReviewState>,
        page: Page,
    ) -> Result<PageOf<ReviewItem>, StoreError> {
        let items = self.lock();
        let mut found: Vec<&ReviewItem> = items
            .values()
            .filter(|i| i.owner() == owner)
            .filter(|i| state.is_none_or(|s| i.state() == s))
            .filter(|i| page.after.as_deref().is_none_or(|a| i.id().as_str() > a))
            .collect();
        found.sort_by(|a, b| a.id().cmp(b.id()));
        let limit = page.effective_limit();
        let next = (found.len() > limit)
            .then(|| found.get(limit - 1).map(|i| i.id().to_string()))
            .flatten();
        Ok(PageOf::new(
            found.into_iter().take(limit).cloned().collect(),
            next,
        ))
    }
}

#[cfg(test)]
mod tests {
    crate::review_store_contract!(async { super::MemoryReviewStore::new() });
}
