//! The directory the admin API manages: tenants, web-user accounts (with
//! TOTP state) and which scope owns which SIP extension. Secrets live in
//! the [`okcc_core::credential::CredentialStore`]; this only holds who is
//! who. [`MemoryDirectory`] backs tests and `--store memory`; SQL backends
//! implement the same trait.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use okcc_core::store::{Page, PageOf};
use okcc_core::{Owner, StoreError, TenantId, UserId};

/// One tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TenantRecord {
    pub(crate) id: TenantId,
    pub(crate) name: String,
}

/// One web user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UserRecord {
    pub(crate) id: UserId,
    pub(crate) home: Owner,
    pub(crate) display_name: String,
    pub(crate) disabled: bool,
    /// Set for passwords chosen by someone else (bootstrap, admin reset).
    pub(crate) must_change_password: bool,
    /// The confirmed TOTP secret.
    pub(crate) totp_secret: Option<Vec<u8>>,
    /// A secret being enrolled, not yet confirmed by a code.
    pub(crate) totp_pending: Option<Vec<u8>>,
    /// The last TOTP step accepted (replay protection).
    pub(crate) totp_last_step: Option<u64>,
    /// SHA-256 of each unused recovery code.
    pub(crate) recovery_hashes: Vec<[u8; 32]>,
}

impl UserRecord {
    pub(crate) fn new(id: UserId, home: Owner, display_name: &str) -> Self {
        Self {
            id,
            home,
            display_name: display_name.to_owned(),
            disabled: false,
            must_change_password: true,
            totp_secret: None,
            totp_pending: None,
            totp_last_step: None,
            recovery_hashes: Vec::new(),
        }
    }
}

/// One SIP extension: its user name and owning scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExtensionRecord {
    pub(crate) name: String,
    pub(crate) owner: Owner,
    pub(crate) display_name: String,
}

/// Storage for [`TenantRecord`], [`UserRecord`] and [`ExtensionRecord`].
#[async_trait]
pub(crate) trait Directory: Debug + Send + Sync + 'static {
    async fn insert_tenant(&self, tenant: TenantRecord) -> Result<(), StoreError>;
    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError>;
    async fn list_tenants(&self, page: Page) -> Result<PageOf<TenantRecord>, StoreError>;
    async fn insert_user(&self, user: UserRecord) -> Result<(), StoreError>;
    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError>;
    async fn save_user(&self, user: UserRecord) -> Result<(), StoreError>;
    async fn list_users(&self, home: &Owner, page: Page) -> Result<PageOf<UserRecord>, StoreError>;
    async fn user_count(&self) -> Result<usize, StoreError>;
    async fn insert_extension(&self, ext: ExtensionRecord) -> Result<(), StoreError>;
    async fn extension(&self, name: &str) -> Result<Option<ExtensionRecord>, StoreError>;
    async fn list_extensions(
        &self,
        owner: &Owner,
        page: Page,
    ) -> Result<PageOf<ExtensionRecord>, StoreError>;
    /// Every extension of every scope, by name (the CLI listing).
    async fn all_extensions(&self, page: Page) -> Result<PageOf<ExtensionRecord>, StoreError>;
    /// Removes an extension; the removed record, or `None` when absent.
    async fn remove_extension(&self, name: &str) -> Result<Option<ExtensionRecord>, StoreError>;
}

#[derive(Debug, Default)]
struct Inner {
    tenants: BTreeMap<String, TenantRecord>,
    users: BTreeMap<String, UserRecord>,
    extensions: BTreeMap<String, ExtensionRecord>,
}

/// An in-memory [`Directory`].
#[derive(Debug, Default)]
pub(crate) struct MemoryDirectory {
    inner: Mutex<Inner>,
}

impl MemoryDirectory {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One page of `map` values after the cursor (the key), filtered.
fn page_of<T: Clone>(
    map: &BTreeMap<String, T>,
    page: &Page,
    keep: impl Fn(&T) -> bool,
) -> PageOf<T> {
    let limit = page.effective_limit();
    let start = page.after.clone();
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    let range = match &start {
        Some(after) => map.range::<String, _>((
            std::ops::Bound::Excluded(after.clone()),
            std::ops::Bound::Unbounded,
        )),
        None => map.range::<String, _>(..),
    };
    for (k, v) in range.filter(|(_, v)| keep(v)) {
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(v.clone());
        last = Some(k.clone());
    }
    PageOf::new(items, if more { last } else { None })
}

#[async_trait]
impl Directory for MemoryDirectory {
    async fn insert_tenant(&self, tenant: TenantRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        let key = tenant.id.as_str().to_owned();
        if g.tenants.contains_key(&key) {
            return Err(StoreError::conflict(format!("tenant {key} exists")));
        }
        g.tenants.insert(key, tenant);
        Ok(())
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        Ok(self.lock().tenants.get(id.as_str()).cloned())
    }

    async fn list_tenants(&self, page: Page) -> Result<PageOf<TenantRecord>, StoreError> {
        Ok(page_of(&self.lock().tenants, &page, |_| true))
    }

    async fn insert_user(&self, user: UserRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        let key = user.id.as_str().to_owned();
        if g.users.contains_key(&key) {
            return Err(StoreError::conflict(format!("user {key} exists")));
        }
        g.users.insert(key, user);
        Ok(())
    }

    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.lock().users.get(id.as_str()).cloned())
    }

    async fn save_user(&self, user: UserRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        let slot = g
            .users
            .get_mut(user.id.as_str())
            .ok_or(StoreError::NotFound)?;
        *slot = user;
        Ok(())
    }

    async fn list_users(&self, home: &Owner, page: Page) -> Result<PageOf<UserRecord>, StoreError> {
        Ok(page_of(&self.lock().users, &page, |u| u.home == *home))
    }

    async fn user_count(&self) -> Result<usize, StoreError> {
        Ok(self.lock().users.len())
    }

    async fn insert_extension(&self, ext: ExtensionRecord) -> Result<(), StoreError> {
        let mut g = self.lock();
        if g.extensions.contains_key(&ext.name) {
            return Err(StoreError::conflict(format!(
                "extension {} exists",
                ext.name
            )));
        }
        g.extensions.insert(ext.name.clone(), ext);
        Ok(())
    }

    async fn extension(&self, name: &str) -> Result<Option<ExtensionRecord>, StoreError> {
        Ok(self.lock().extensions.get(name).cloned())
    }

    async fn list_extensions(
        &self,
        owner: &Owner,
        page: Page,
    ) -> Result<PageOf<ExtensionRecord>, StoreError> {
        Ok(page_of(&self.lock().extensions, &page, |e| {
            e.owner == *owner
        }))
    }

    async fn all_extensions(&self, page: Page) -> Result<PageOf<ExtensionRecord>, StoreError> {
        Ok(page_of(&self.lock().extensions, &page, |_| true))
    }

    async fn remove_extension(&self, name: &str) -> Result<Option<ExtensionRecord>, StoreError> {
        Ok(self.lock().extensions.remove(name))
    }
}
