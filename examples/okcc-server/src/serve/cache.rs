//! Short-lived caches of the account lookups every REGISTER and INVITE
//! makes (the extension's owner in the [`Directory`], its HA1 in the
//! [`CredentialStore`]), so a phone refreshing its registration does not
//! cost two database round trips.
//!
//! Both are decorators over the shared stores, and `serve` hands the
//! decorated stores to the REST API too:
//!
//! - a change made through them (REST API in this process) drops the
//!   cached entry at once, and a lookup that raced with the change cannot
//!   put the old value back (generation check);
//! - a change made by another process (the `okcc-server extension` CLI,
//!   another node on the same PostgreSQL) is seen within the TTL,
//!   [`ACCOUNT_TTL`] (2 s): entries, also "no such account", are trusted
//!   that long.
//!
//! Each cache holds at most [`MAX_ENTRIES`] entries; when full, expired
//! entries are dropped, and if none were, the whole cache is. Errors are
//! never cached.
//!
//! Database outage: a lookup the store fails, or does not answer within
//! [`ACCOUNT_TIMEOUT`], is served from the last value read for that key,
//! however old (entries outlive their TTL until the cache is full), so a
//! phone registered before the outage keeps registering from memory. A key
//! never read gets the store's error (`503` to the phone).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use okcc_core::credential::{CredentialStore, PhcHash, SipCredential, WebLogin};
use okcc_core::store::{Page, PageOf};
use okcc_core::{Owner, StoreError, TenantId, UserId};

use crate::http::Directory;
use crate::http::directory::{ExtensionRecord, TenantRecord, UserRecord};

/// How long a looked-up account is trusted: the bound on how late a change
/// made by another process (CLI, other node) takes effect.
pub(crate) const ACCOUNT_TTL: Duration = Duration::from_secs(2);

/// Most entries per cache.
pub(crate) const MAX_ENTRIES: usize = 65_536;

/// How long a lookup waits for the store before the last known value is
/// used instead.
pub(crate) const ACCOUNT_TIMEOUT: Duration = Duration::from_secs(2);

/// `read`, bounded by [`ACCOUNT_TIMEOUT`] (elapsed: `Unavailable`).
async fn within<T>(
    read: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(ACCOUNT_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("no answer in time".into())))
}

/// A map of values that expire `ttl` after they were read.
struct TtlCache<K, V> {
    ttl: Duration,
    max: usize,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    map: HashMap<K, (Instant, V)>,
    /// Bumped by every invalidation: a lookup that started before one must
    /// not store what it read.
    generation: u64,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max,
            state: Mutex::new(State {
                map: HashMap::new(),
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        // Every update is one insert or remove: a panic cannot leave the
        // map half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fresh value of `key` (`Err`: not cached, with the generation to
    /// hand to [`TtlCache::store`] after reading the store).
    fn get<Q>(&self, key: &Q, now: Instant) -> Result<V, u64>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let st = self.lock();
        match st.map.get(key) {
            Some((at, v)) if now.saturating_duration_since(*at) < self.ttl => Ok(v.clone()),
            _ => Err(st.generation),
        }
    }

    /// Caches `value` read at `now`, unless an invalidation happened since
    /// `generation` was taken.
    fn store(&self, key: K, value: V, generation: u64, now: Instant) {
        let mut st = self.lock();
        if st.generation != generation {
            return;
        }
        if st.map.len() >= self.max && !st.map.contains_key(&key) {
            let ttl = self.ttl;
            st.map
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
            if st.map.len() >= self.max {
                st.map.clear();
            }
        }
        st.map.insert(key, (now, value));
    }

    /// The last value read for `key`, however old (for a store outage).
    fn last<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.lock().map.get(key).map(|(_, v)| v.clone())
    }

    /// `read`'s result, cached under `key`; when the store fails, the last
    /// known value of `key` (if any) instead of the error.
    async fn read_through(
        &self,
        key: K,
        read: impl std::future::Future<Output = Result<V, StoreError>>,
    ) -> Result<V, StoreError>
    where
        K: Borrow<str>,
    {
        let now = Instant::now();
        let generation = match self.get(key.borrow(), now) {
            Ok(hit) => return Ok(hit),
            Err(g) => g,
        };
        match within(read).await {
            Ok(found) => {
                self.store(key, found.clone(), generation, now);
                Ok(found)
            }
            Err(e) => match self.last(key.borrow()) {
                Some(known) => {
                    tracing::warn!(error = %e, "account store unavailable: using the last known value");
                    Ok(known)
                }
                None => Err(e),
            },
        }
    }

    /// Forgets `key` (after a change made through this process).
    fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let mut st = self.lock();
        st.generation = st.generation.wrapping_add(1);
        st.map.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

/// A [`Directory`] whose `extension` lookups are cached (see the module).
pub(crate) struct CachedDirectory {
    inner: Arc<dyn Directory>,
    extensions: TtlCache<String, Option<ExtensionRecord>>,
}

impl CachedDirectory {
    /// Caches `inner`'s extension lookups for `ttl`.
    pub(crate) fn new(inner: Arc<dyn Directory>, ttl: Duration) -> Self {
        Self {
            inner,
            extensions: TtlCache::new(ttl, MAX_ENTRIES),
        }
    }
}

impl fmt::Debug for CachedDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedDirectory")
            .field("inner", &self.inner)
            .field("ttl", &self.extensions.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Directory for CachedDirectory {
    async fn insert_tenant(&self, tenant: TenantRecord) -> Result<(), StoreError> {
        self.inner.insert_tenant(tenant).await
    }
    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        self.inner.tenant(id).await
    }
    async fn list_tenants(&self, page: Page) -> Result<PageOf<TenantRecord>, StoreError> {
        self.inner.list_tenants(page).await
    }
    async fn insert_user(&self, user: UserRecord) -> Result<(), StoreError> {
        self.inner.insert_user(user).await
    }
    async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
        self.inner.user(id).await
    }
    async fn save_user(&self, user: UserRecord) -> Result<(), StoreError> {
        self.inner.save_user(user).await
    }
    async fn list_users(&self, home: &Owner, page: Page) -> Result<PageOf<UserRecord>, StoreError> {
        self.inner.list_users(home, page).await
    }
    async fn user_count(&self) -> Result<usize, StoreError> {
        self.inner.user_count().await
    }
    async fn insert_extension(&self, ext: ExtensionRecord) -> Result<(), StoreError> {
        let name = ext.name.clone();
        let r = self.inner.insert_extension(ext).await;
        self.extensions.invalidate(name.as_str());
        r
    }
    async fn extension(&self, name: &str) -> Result<Option<ExtensionRecord>, StoreError> {
        self.extensions
            .read_through(name.to_owned(), self.inner.extension(name))
            .await
    }
    async fn list_extensions(
        &self,
        owner: &Owner,
        page: Page,
    ) -> Result<PageOf<ExtensionRecord>, StoreError> {
        self.inner.list_extensions(owner, page).await
    }
    async fn all_extensions(&self, page: Page) -> Result<PageOf<ExtensionRecord>, StoreError> {
        self.inner.all_extensions(page).await
    }
    async fn remove_extension(&self, name: &str) -> Result<Option<ExtensionRecord>, StoreError> {
        let r = self.inner.remove_extension(name).await;
        self.extensions.invalidate(name);
        r
    }
}

/// A [`CredentialStore`] whose SIP credential lookups are cached (see the
/// module). Web logins are never cached.
pub(crate) struct CachedCredentials {
    inner: Arc<dyn CredentialStore>,
    /// Keyed by realm, NUL, user.
    sip: TtlCache<String, Option<SipCredential>>,
}

impl CachedCredentials {
    /// Caches `inner`'s SIP credential lookups for `ttl`.
    pub(crate) fn new(inner: Arc<dyn CredentialStore>, ttl: Duration) -> Self {
        Self {
            inner,
            sip: TtlCache::new(ttl, MAX_ENTRIES),
        }
    }
}

fn sip_key(user: &str, realm: &str) -> String {
    format!("{realm}\0{user}")
}

impl fmt::Debug for CachedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredentials")
            .field("inner", &self.inner)
            .field("ttl", &self.sip.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CredentialStore for CachedCredentials {
    async fn set_web_login(&self, user: &UserId, login: WebLogin) -> Result<(), StoreError> {
        self.inner.set_web_login(user, login).await
    }
    async fn web_login(&self, user: &UserId) -> Result<Option<PhcHash>, StoreError> {
        self.inner.web_login(user).await
    }
    async fn set_sip_credential(&self, credential: SipCredential) -> Result<(), StoreError> {
        let key = sip_key(credential.user(), credential.realm());
        let r = self.inner.set_sip_credential(credential).await;
        self.sip.invalidate(key.as_str());
        r
    }
    async fn sip_credential(
        &self,
        user: &str,
        realm: &str,
    ) -> Result<Option<SipCredential>, StoreError> {
        self.sip
            .read_through(sip_key(user, realm), self.inner.sip_credential(user, realm))
            .await
    }
    async fn list_sip_credentials(&self, page: Page) -> Result<PageOf<SipCredential>, StoreError> {
        self.inner.list_sip_credentials(page).await
    }
    async fn remove_sip_credential(&self, user: &str, realm: &str) -> Result<(), StoreError> {
        let r = self.inner.remove_sip_credential(user, realm).await;
        self.sip.invalidate(sip_key(user, realm).as_str());
        r
    }
}

/// `stores` with cached directory and credential lookups (`ttl`).
pub(crate) fn cached(mut stores: crate::backup::Stores, ttl: Duration) -> crate::backup::Stores {
    stores.directory = Arc::new(CachedDirectory::new(stores.directory, ttl));
    stores.credentials = Arc::new(CachedCredentials::new(stores.credentials, ttl));
    stores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::MemoryDirectory;
    use okcc_core::PasswordPolicy;
    use okcc_core::credential::DigestAlgorithm;
    use okcc_core::credential::MemoryCredentialStore;

    fn ext(name: &str, display: &str) -> ExtensionRecord {
        ExtensionRecord {
            name: name.to_owned(),
            owner: Owner::Platform,
            display_name: display.to_owned(),
        }
    }

    fn cred(user: &str, password: &str) -> SipCredential {
        let p = PasswordPolicy::permissive()
            .check(password, &[])
            .expect("permissive");
        SipCredential::derive(user, "okcc", &p)
    }

    #[tokio::test]
    async fn req_9_directory_cache_sees_own_changes_at_once_and_others_within_ttl() {
        let inner: Arc<dyn Directory> = Arc::new(MemoryDirectory::default());
        let ttl = Duration::from_millis(300);
        let cached = CachedDirectory::new(Arc::clone(&inner), ttl);
        assert_eq!(cached.extension("1000").await.unwrap(), None);
        // Another process adds it: the cached "absent" holds for the TTL...
        inner.insert_extension(ext("1000", "a")).await.unwrap();
        assert_eq!(cached.extension("1000").await.unwrap(), None);
        // ...and no longer.
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        assert_eq!(
            cached.extension("1000").await.unwrap(),
            Some(ext("1000", "a"))
        );
        // Changes through the cache apply at once.
        cached.remove_extension("1000").await.unwrap();
        assert_eq!(cached.extension("1000").await.unwrap(), None);
        cached.insert_extension(ext("1000", "b")).await.unwrap();
        assert_eq!(
            cached.extension("1000").await.unwrap(),
            Some(ext("1000", "b"))
        );
    }

    #[tokio::test]
    async fn req_9_credential_cache_sees_own_changes_at_once_and_others_within_ttl() {
        let inner: Arc<dyn CredentialStore> = Arc::new(MemoryCredentialStore::new());
        let ttl = Duration::from_millis(300);
        let cached = CachedCredentials::new(Arc::clone(&inner), ttl);
        let md5 =
            |c: Option<SipCredential>| c.map(|c| c.ha1(DigestAlgorithm::Md5).as_bytes().to_vec());
        inner
            .set_sip_credential(cred("1000", "old-secret"))
            .await
            .unwrap();
        let old = md5(cached.sip_credential("1000", "okcc").await.unwrap());
        assert!(old.is_some());
        // A password change by another process shows after the TTL.
        inner
            .set_sip_credential(cred("1000", "new-secret"))
            .await
            .unwrap();
        assert_eq!(
            md5(cached.sip_credential("1000", "okcc").await.unwrap()),
            old
        );
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        let new = md5(cached.sip_credential("1000", "okcc").await.unwrap());
        assert!(new.is_some() && new != old);
        // Removal through the cache applies at once; other realms are apart.
        cached.remove_sip_credential("1000", "okcc").await.unwrap();
        assert!(
            cached
                .sip_credential("1000", "okcc")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            cached
                .sip_credential("1000", "other")
                .await
                .unwrap()
                .is_none()
        );
        cached
            .set_sip_credential(cred("1000", "third-secret"))
            .await
            .unwrap();
        let third = md5(cached.sip_credential("1000", "okcc").await.unwrap());
        assert!(third.is_some() && third != new);
    }

    #[test]
    fn req_9_account_cache_is_bounded_and_ignores_stale_lookups() {
        let c: TtlCache<String, u32> = TtlCache::new(Duration::from_secs(60), 4);
        let now = Instant::now();
        for i in 0..10u32 {
            let g = c.get(i.to_string().as_str(), now).unwrap_err();
            c.store(i.to_string(), i, g, now);
            assert!(c.len() <= 4, "cache grew to {}", c.len());
        }
        assert_eq!(c.get("9", now), Ok(9));
        // A lookup that started before an invalidation does not store.
        let g = c.get("x", now).unwrap_err();
        c.invalidate("x");
        c.store("x".to_owned(), 1, g, now);
        assert!(c.get("x", now).is_err());
    }

    /// A directory whose reads fail while `down` is set.
    #[derive(Debug, Default)]
    struct Flaky {
        inner: MemoryDirectory,
        down: std::sync::atomic::AtomicBool,
    }

    impl Flaky {
        fn check(&self) -> Result<(), StoreError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                Err(StoreError::Unavailable("database down".into()))
            } else {
                Ok(())
            }
        }
    }

    #[async_trait]
    impl Directory for Flaky {
        async fn insert_tenant(&self, t: TenantRecord) -> Result<(), StoreError> {
            self.inner.insert_tenant(t).await
        }
        async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
            self.inner.tenant(id).await
        }
        async fn list_tenants(&self, page: Page) -> Result<PageOf<TenantRecord>, StoreError> {
            self.inner.list_tenants(page).await
        }
        async fn insert_user(&self, u: UserRecord) -> Result<(), StoreError> {
            self.inner.insert_user(u).await
        }
        async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
            self.inner.user(id).await
        }
        async fn save_user(&self, u: UserRecord) -> Result<(), StoreError> {
            self.inner.save_user(u).await
        }
        async fn list_users(&self, h: &Owner, p: Page) -> Result<PageOf<UserRecord>, StoreError> {
            self.inner.list_users(h, p).await
        }
        async fn user_count(&self) -> Result<usize, StoreError> {
            self.inner.user_count().await
        }
        async fn insert_extension(&self, e: ExtensionRecord) -> Result<(), StoreError> {
            self.inner.insert_extension(e).await
        }
        async fn extension(&self, name: &str) -> Result<Option<ExtensionRecord>, StoreError> {
            self.check()?;
            self.inner.extension(name).await
        }
        async fn list_extensions(
            &self,
            o: &Owner,
            p: Page,
        ) -> Result<PageOf<ExtensionRecord>, StoreError> {
            self.inner.list_extensions(o, p).await
        }
        async fn all_extensions(&self, p: Page) -> Result<PageOf<ExtensionRecord>, StoreError> {
            self.inner.all_extensions(p).await
        }
        async fn remove_extension(&self, n: &str) -> Result<Option<ExtensionRecord>, StoreError> {
            self.inner.remove_extension(n).await
        }
    }

    #[tokio::test]
    async fn req_7_outage_serves_known_accounts_from_memory_and_unknown_ones_fail() {
        let flaky = Arc::new(Flaky::default());
        flaky.insert_extension(ext("1000", "a")).await.unwrap();
        let ttl = Duration::from_millis(50);
        let cached = CachedDirectory::new(Arc::clone(&flaky) as Arc<dyn Directory>, ttl);
        assert_eq!(
            cached.extension("1000").await.unwrap(),
            Some(ext("1000", "a"))
        );
        flaky.down.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(ttl + Duration::from_millis(20)).await;
        // Expired, store down: the last known value.
        assert_eq!(
            cached.extension("1000").await.unwrap(),
            Some(ext("1000", "a"))
        );
        // Never read: the store's error, not a made-up "absent".
        assert!(matches!(
            cached.extension("2000").await,
            Err(StoreError::Unavailable(_))
        ));
        // Back up: fresh reads again (and errors were never cached).
        flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
        flaky.insert_extension(ext("2000", "b")).await.unwrap();
        assert_eq!(
            cached.extension("2000").await.unwrap(),
            Some(ext("2000", "b"))
        );
    }
}
