//! [`MemoryCustomerStore`]: customers in memory, for tests and
//! `--store memory`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use okcc_core::recycle::{Binned, Deletion, RecycleSet};
use okcc_core::store::{Page, PageOf};
use okcc_core::{StoreError, TenantId};

use super::{CustomerQuery, CustomerStore, cursor};
use crate::customer::{Customer, CustomerFields, CustomerId};

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    tenants: HashMap<TenantId, RecycleSet<Customer>>,
}

/// Customers in memory; the recycle-bin rules are
/// [`okcc_core::recycle::RecycleSet`]'s.
#[derive(Debug, Default)]
pub struct MemoryCustomerStore {
    state: Mutex<State>,
}

impl MemoryCustomerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied write:
        // every write is one RecycleSet call.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn page_of<T>(
    items: impl Iterator<Item = T>,
    id: impl Fn(&T) -> u64,
    page: &Page,
) -> Result<PageOf<T>, StoreError> {
    let after = cursor(page)?;
    let limit = page.effective_limit();
    let mut out: Vec<T> = items
        .filter(|t| after.is_none_or(|a| id(t) > a))
        .take(limit + 1)
        .collect();
    let next = if out.len() > limit {
        out.truncate(limit);
        out.last().map(|t| id(t).to_string())
    } else {
        None
    };
    Ok(PageOf::new(out, next))
}

#[async_trait::async_trait]
impl CustomerStore for MemoryCustomerStore {
    async fn insert(
        &self,
        tenant: &TenantId,
        fields: CustomerFields,
        at: SystemTime,
    ) -> Result<Customer, StoreError> {
        let mut state = self.lock();
        state.next_id += 1;
        let customer = Customer {
            id: CustomerId(state.next_id),
            tenant: tenant.clone(),
            version: 1,
            fields,
            created_at: at,
            updated_at: at,
        };
        state
            .tenants
            .entry(tenant.clone())
            .or_default()
            .insert(customer.clone())?;
        Ok(customer)
    }

    async fn get(&self, tenant: &TenantId, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        Ok(self
            .lock()
            .tenants
            .get(tenant)
            .and_then(|s| s.get(&id))
            .cloned())
    }

    async fn update(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        expected_version: u64,
        fields: CustomerFields,
        at: SystemTime,
    ) -> Result<Customer, StoreError> {
        let mut state = self.lock();
        let set = state.tenants.get_mut(tenant).ok_or(StoreError::NotFound)?;
        let current = set.get(&id).ok_or(StoreError::NotFound)?;
        if current.version != expected_version {
            return Err(StoreError::conflict(format!(
                "stale update of {id}: expected version {expected_version}, current {}",
                current.version
            )));
        }
        let mut next = current.clone();
        next.version += 1;
        next.fields = fields;
        next.updated_at = at;
        set.update(next.clone())?;
        Ok(next)
    }

    async fn search(
        &self,
        tenant: &TenantId,
        query: &CustomerQuery,
        page: Page,
    ) -> Result<PageOf<Customer>, StoreError> {
        let state = self.lock();
        let Some(set) = state.tenants.get(tenant) else {
            return Ok(PageOf::new(Vec::new(), None));
        };
        page_of(
            set.live().filter(|c| query.matches(c)).cloned(),
            |c| c.id.0,
            &page,
        )
    }

    async fn soft_delete(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        deletion: Deletion,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let set = state.tenants.get_mut(tenant).ok_or(StoreError::NotFound)?;
        set.delete(&id, deletion)?;
        Ok(())
    }

    async fn restore(&self, tenant: &TenantId, id: CustomerId) -> Result<Customer, StoreError> {
        let mut state = self.lock();
        let set = state.tenants.get_mut(tenant).ok_or(StoreError::NotFound)?;
        Ok(set.restore(&id)?.clone())
    }

    async fn list_deleted(
        &self,
        tenant: &TenantId,
        page: Page,
    ) -> Result<PageOf<Binned<Customer>>, StoreError> {
        let state = self.lock();
        let Some(set) = state.tenants.get(tenant) else {
            return Ok(PageOf::new(Vec::new(), None));
        };
        page_of(set.binned().cloned(), |b| b.record.id.0, &page)
    }

    async fn purge(&self, tenant: &TenantId, id: CustomerId) -> Result<(), StoreError> {
        let mut state = self.lock();
        let set = state.tenants.get_mut(tenant).ok_or(StoreError::NotFound)?;
        set.purge(&id)?;
        Ok(())
    }

    async fn purge_all(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let mut state = self.lock();
        Ok(state
            .tenants
            .get_mut(tenant)
            .map_or(0, |s| s.purge_all() as u64))
    }

    async fn purge_deleted_before(
        &self,
        tenant: &TenantId,
        cutoff: SystemTime,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock();
        Ok(state
            .tenants
            .get_mut(tenant)
            .map_or(0, |s| s.purge_older_than(cutoff) as u64))
    }
}

#[cfg(test)]
mod tests {
    crate::customer_store_contract!(async { super::MemoryCustomerStore::new() });
}
