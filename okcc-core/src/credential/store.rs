//! Where credentials are kept: the [`CredentialStore`] trait and its memory
//! backend.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{CredentialError, DigestAlgorithm, Ha1, PhcHash, WebPasswordHasher};
use crate::ids::UserId;
use crate::password::AcceptedPassword;
use crate::store::{Page, PageOf, StoreError};

/// A web-login hash ready to store. Only [`WebLogin::derive`] makes one,
/// from an [`AcceptedPassword`], so a store cannot be handed an unchecked
/// password.
#[derive(Debug, Clone)]
pub struct WebLogin(PhcHash);

impl WebLogin {
    /// Hashes an accepted password with `hasher`.
    pub fn derive(
        hasher: &WebPasswordHasher,
        password: &AcceptedPassword,
    ) -> Result<Self, CredentialError> {
        hasher.hash(password).map(Self)
    }

    /// The PHC string.
    pub fn hash(&self) -> &PhcHash {
        &self.0
    }
}

/// A SIP account's digest credentials: HA1 for MD5, SHA-256 and
/// SHA-512-256. Only [`SipCredential::derive`] makes one for writing.
#[derive(Clone)]
pub struct SipCredential {
    user: String,
    realm: String,
    md5: Ha1,
    sha256: Ha1,
    sha512_256: Ha1,
}

impl SipCredential {
    /// Derives all three HA1 values of an accepted password.
    pub fn derive(user: &str, realm: &str, password: &AcceptedPassword) -> Self {
        Self {
            user: user.to_owned(),
            realm: realm.to_owned(),
            md5: Ha1::derive(DigestAlgorithm::Md5, user, realm, password),
            sha256: Ha1::derive(DigestAlgorithm::Sha256, user, realm, password),
            sha512_256: Ha1::derive(DigestAlgorithm::Sha512_256, user, realm, password),
        }
    }

    /// A credential read back from a store (its HA1s were derived when it
    /// was written).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn from_stored(
        user: String,
        realm: String,
        md5: Ha1,
        sha256: Ha1,
        sha512_256: Ha1,
    ) -> Self {
        Self {
            user,
            realm,
            md5,
            sha256,
            sha512_256,
        }
    }

    /// The SIP user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The HA1 for `algorithm`.
    pub fn ha1(&self, algorithm: DigestAlgorithm) -> &Ha1 {
        match algorithm {
            DigestAlgorithm::Md5 => &self.md5,
            DigestAlgorithm::Sha256 => &self.sha256,
            DigestAlgorithm::Sha512_256 => &self.sha512_256,
        }
    }
}

impl fmt::Debug for SipCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SipCredential")
            .field("user", &self.user)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

/// Storage of web-login hashes and SIP HA1 credentials.
///
/// Writes take [`WebLogin`] / [`SipCredential`], which exist only for
/// passwords the policy accepted. Backends: [`MemoryCredentialStore`] here;
/// `SqliteCredentialStore` / `PostgresCredentialStore` behind the features
/// `sqlite` / `postgres`.
#[async_trait]
pub trait CredentialStore: fmt::Debug + Send + Sync + 'static {
    /// Sets (or replaces) a web user's password hash.
    async fn set_web_login(&self, user: &UserId, login: WebLogin) -> Result<(), StoreError>;
    /// A web user's password hash, if one is set.
    async fn web_login(&self, user: &UserId) -> Result<Option<PhcHash>, StoreError>;
    /// Sets (or replaces) the credential of `credential.user()` at
    /// `credential.realm()`.
    async fn set_sip_credential(&self, credential: SipCredential) -> Result<(), StoreError>;
    /// The credential of a SIP user at a realm.
    async fn sip_credential(
        &self,
        user: &str,
        realm: &str,
    ) -> Result<Option<SipCredential>, StoreError>;
    /// SIP credentials in (realm, user) order, for audits.
    async fn list_sip_credentials(&self, page: Page) -> Result<PageOf<SipCredential>, StoreError>;
    /// Removes a SIP credential; [`StoreError::NotFound`] if there is none.
    async fn remove_sip_credential(&self, user: &str, realm: &str) -> Result<(), StoreError>;
}

/// The in-memory [`CredentialStore`], for tests and `--store memory`.
#[derive(Debug, Default)]
pub struct MemoryCredentialStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    web: BTreeMap<UserId, PhcHash>,
    sip: BTreeMap<(String, String), SipCredential>,
}

impl MemoryCredentialStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written map
        // (each write is one insert), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Cursor for SIP listings: realm and user separated by a NUL.
fn cursor(key: &(String, String)) -> String {
    format!("{}\0{}", key.0, key.1)
}

#[async_trait]
impl CredentialStore for MemoryCredentialStore {
    async fn set_web_login(&self, user: &UserId, login: WebLogin) -> Result<(), StoreError> {
        self.lock().web.insert(user.clone(), login.0);
        Ok(())
    }

    async fn web_login(&self, user: &UserId) -> Result<Option<PhcHash>, StoreError> {
        Ok(self.lock().web.get(user).cloned())
    }

    async fn set_sip_credential(&self, credential: SipCredential) -> Result<(), StoreError> {
        let key = (credential.realm.clone(), credential.user.clone());
        self.lock().sip.insert(key, credential);
        Ok(())
    }

    async fn sip_credential(
        &self,
        user: &str,
        realm: &str,
    ) -> Result<Option<SipCredential>, StoreError> {
        Ok(self
            .lock()
            .sip
            .get(&(realm.to_owned(), user.to_owned()))
            .cloned())
    }

    async fn list_sip_credentials(&self, page: Page) -> Result<PageOf<SipCredential>, StoreError> {
        let limit = page.effective_limit();
        let inner = self.lock();
        let items: Vec<_> = inner
            .sip
            .iter()
            .filter(|(k, _)| page.after.as_ref().is_none_or(|after| cursor(k) > *after))
            .take(limit + 1)
            .collect();
        let next = (items.len() > limit)
            .then(|| items.get(limit - 1).map(|(k, _)| cursor(k)))
            .flatten();
        Ok(PageOf::new(
            items
                .into_iter()
                .take(limit)
                .map(|(_, v)| v.clone())
                .collect(),
            next,
        ))
    }

    async fn remove_sip_credential(&self, user: &str, realm: &str) -> Result<(), StoreError> {
        match self.lock().sip.remove(&(realm.to_owned(), user.to_owned())) {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound),
        }
    }
}

#[cfg(test)]
mod contract {
    crate::credential_store_contract!(async { super::MemoryCredentialStore::new() });
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::password::PasswordPolicy;

    /// Polls a future that never waits (the memory store never does).
    fn ready<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("memory store future was pending"),
        }
    }

    fn accepted(pw: &str) -> AcceptedPassword {
        PasswordPolicy::default().check(pw, &[]).unwrap()
    }

    #[test]
    fn req_1_5_store_keeps_ha1_and_phc_from_accepted_passwords_only() {
        let store = MemoryCredentialStore::new();
        let pw = accepted("TAV#1532afhj@qF344");
        ready(store.set_sip_credential(SipCredential::derive("100", "pbx", &pw))).unwrap();
        let got = ready(store.sip_credential("100", "pbx")).unwrap().unwrap();
        let expect = Ha1::compute(DigestAlgorithm::Md5, "100", "pbx", "TAV#1532afhj@qF344");
        assert!(got.ha1(DigestAlgorithm::Md5).ct_eq(&expect));
        assert!(!format!("{got:?}").contains(expect.to_hex().as_str()));
        assert!(
            ready(store.sip_credential("100", "other"))
                .unwrap()
                .is_none()
        );

        let hasher = WebPasswordHasher::new(256, 1, 1).unwrap();
        let user = UserId::new("alice").unwrap();
        ready(store.set_web_login(&user, WebLogin::derive(&hasher, &pw).unwrap())).unwrap();
        let phc = ready(store.web_login(&user)).unwrap().unwrap();
        assert!(hasher.verify("TAV#1532afhj@qF344", &phc));

        ready(store.remove_sip_credential("100", "pbx")).unwrap();
        assert!(matches!(
            ready(store.remove_sip_credential("100", "pbx")),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn req_1_4_store_lists_sip_credentials_in_pages() {
        let store = MemoryCredentialStore::new();
        let pw = accepted("TAV#1532afhj@qF344");
        for u in ["100", "101", "102", "103", "104"] {
            ready(store.set_sip_credential(SipCredential::derive(u, "pbx", &pw))).unwrap();
        }
        let mut seen = Vec::new();
        let mut page = Page::first(2);
        loop {
            let got = ready(store.list_sip_credentials(page)).unwrap();
            seen.extend(got.items.iter().map(|c| c.user().to_owned()));
            match got.next {
                Some(next) => page = Page::after(next, 2),
                None => break,
            }
        }
        assert_eq!(seen, ["100", "101", "102", "103", "104"]);
    }
}
