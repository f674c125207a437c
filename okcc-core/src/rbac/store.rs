//! Where roles, role assignments and the tenant ceiling are kept:
//! the [`RoleStore`] trait and its [`MemoryRoleStore`].
//!
//! The store only makes writes atomic; what a change may do is decided by
//! [`RoleAdmin`](super::RoleAdmin) before it reaches the store.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::role::{Role, RoleId, TenantCeiling};
use crate::ids::{Owner, UserId};
use crate::store::{Page, PageOf, StoreError};

/// Storage of roles, role assignments and the tenant-role ceiling.
///
/// Roles are keyed by `(scope, id)`; a user's assignments by `(home,
/// user)`, and a user can only be assigned roles of its home scope.
#[async_trait::async_trait]
pub trait RoleStore: Debug + Send + Sync + 'static {
    /// Stores a new role; [`StoreError::Conflict`] if `(scope, id)` is taken.
    async fn insert_role(&self, role: Role) -> Result<(), StoreError>;

    /// The role `id` of `scope`, if any.
    async fn role(&self, scope: &Owner, id: &RoleId) -> Result<Option<Role>, StoreError>;

    /// The roles of `scope`, ordered by id; the cursor is the last id.
    async fn list_roles(&self, scope: &Owner, page: Page) -> Result<PageOf<Role>, StoreError>;

    /// Replaces a role if its stored revision is `expected_revision`
    /// ([`StoreError::Conflict`] otherwise, [`StoreError::NotFound`] if it
    /// is gone). The new role's revision is stored as given.
    async fn replace_role(&self, role: Role, expected_revision: u64) -> Result<(), StoreError>;

    /// Deletes a role and every assignment of it.
    async fn delete_role(&self, scope: &Owner, id: &RoleId) -> Result<(), StoreError>;

    /// Assigns the role `role` of scope `home` to `user` of `home`; `false`
    /// if it was already assigned, [`StoreError::NotFound`] if the role does
    /// not exist.
    async fn assign(&self, home: &Owner, user: &UserId, role: &RoleId) -> Result<bool, StoreError>;

    /// Removes an assignment; `false` if there was none.
    async fn unassign(
        &self,
        home: &Owner,
        user: &UserId,
        role: &RoleId,
    ) -> Result<bool, StoreError>;

    /// The roles assigned to `user` of `home`.
    async fn roles_of(&self, home: &Owner, user: &UserId) -> Result<Vec<Role>, StoreError>;

    /// The current tenant-role ceiling (the default one if never set).
    async fn ceiling(&self) -> Result<TenantCeiling, StoreError>;

    /// Replaces the tenant-role ceiling.
    async fn set_ceiling(&self, ceiling: TenantCeiling) -> Result<(), StoreError>;
}

#[derive(Debug, Default)]
struct Inner {
    roles: HashMap<(Owner, RoleId), Role>,
    assignments: HashMap<(Owner, UserId), BTreeSet<RoleId>>,
    ceiling: Option<TenantCeiling>,
}

/// A [`RoleStore`] in memory, for tests and `--store memory`.
#[derive(Debug, Default)]
pub struct MemoryRoleStore {
    inner: Mutex<Inner>,
}

impl MemoryRoleStore {
    /// An empty store with the default ceiling.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written entry:
        // every write below is a single map operation.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl RoleStore for MemoryRoleStore {
    async fn insert_role(&self, role: Role) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = (role.scope.clone(), role.id.clone());
        if inner.roles.contains_key(&key) {
            return Err(StoreError::conflict(format!("role {} exists", role.id)));
        }
        inner.roles.insert(key, role);
        Ok(())
    }

    async fn role(&self, scope: &Owner, id: &RoleId) -> Result<Option<Role>, StoreError> {
        Ok(self.lock().roles.get(&(scope.clone(), id.clone())).cloned())
    }

    async fn list_roles(&self, scope: &Owner, page: Page) -> Result<PageOf<Role>, StoreError> {
        let inner = self.lock();
        let mut roles: Vec<&Role> = inner
            .roles
            .values()
            .filter(|r| r.scope == *scope)
            .filter(|r| page.after.as_deref().is_none_or(|a| r.id.as_str() > a))
            .collect();
        roles.sort_by(|a, b| a.id.cmp(&b.id));
        let limit = page.effective_limit();
        let next = (roles.len() > limit)
            .then(|| roles.get(limit - 1).map(|r| r.id.to_string()))
            .flatten();
        let items = roles.into_iter().take(limit).cloned().collect();
        Ok(PageOf::new(items, next))
    }

    async fn replace_role(&self, role: Role, expected_revision: u64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = (role.scope.clone(), role.id.clone());
        let Some(current) = inner.roles.get_mut(&key) else {
            return Err(StoreError::NotFound);
        };
        if current.revision != expected_revision {
            return Err(StoreError::conflict(format!(
                "role {} changed (revision {})",
                role.id, current.revision
            )));
        }
        *current = role;
        Ok(())
    }

    async fn delete_role(&self, scope: &Owner, id: &RoleId) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.roles.remove(&(scope.clone(), id.clone())).is_none() {
            return Err(StoreError::NotFound);
        }
        for ((home, _), set) in &mut inner.assignments {
            if home == scope {
                set.remove(id);
            }
        }
        Ok(())
    }

    async fn assign(&self, home: &Owner, user: &UserId, role: &RoleId) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if !inner.roles.contains_key(&(home.clone(), role.clone())) {
            return Err(StoreError::NotFound);
        }
        Ok(inner
            .assignments
            .entry((home.clone(), user.clone()))
            .or_default()
            .insert(role.clone()))
    }

    async fn unassign(
        &self,
        home: &Owner,
        user: &UserId,
        role: &RoleId,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        Ok(inner
            .assignments
            .get_mut(&(home.clone(), user.clone()))
            .is_some_and(|set| set.remove(role)))
    }

    async fn roles_of(&self, home: &Owner, user: &UserId) -> Result<Vec<Role>, StoreError> {
        let inner = self.lock();
        let Some(ids) = inner.assignments.get(&(home.clone(), user.clone())) else {
            return Ok(Vec::new());
        };
        Ok(ids
            .iter()
            .filter_map(|id| inner.roles.get(&(home.clone(), id.clone())).cloned())
            .collect())
    }

    async fn ceiling(&self) -> Result<TenantCeiling, StoreError> {
        Ok(self.lock().ceiling.unwrap_or_default())
    }

    async fn set_ceiling(&self, ceiling: TenantCeiling) -> Result<(), StoreError> {
        self.lock().ceiling = Some(ceiling);
        Ok(())
    }
}

#[cfg(test)]
mod contract {
    crate::role_store_contract!(async { super::MemoryRoleStore::new() });
}
