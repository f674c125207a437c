//! The [`CredentialStore`] conformance suite, written once and run against
//! every backend (feature `testkit`).
//!
//! Each case takes a fresh, empty store. Run them all with the macro, one
//! `#[tokio::test]` per case (the calling crate needs `tokio` with the
//! `macros` and `rt` features):
//!
//! ```text
//! okcc_core::credential_store_contract!(fresh_sqlite_store());
//! // `make` yields Option<store>; None skips (e.g. no PostgreSQL configured):
//! okcc_core::credential_store_contract!(optional: maybe_postgres_store());
//! ```

use super::{CredentialStore, DigestAlgorithm, Ha1, SipCredential, WebLogin, WebPasswordHasher};
use crate::UserId;
use crate::password::{AcceptedPassword, PasswordPolicy};
use crate::store::{Page, StoreError};

const PW1: &str = "TAV#1532afhj@qF344";
const PW2: &str = "Qm7!rtzW#p2Lx90vK";

fn accepted(pw: &str) -> AcceptedPassword {
    PasswordPolicy::default()
        .check(pw, &[])
        .unwrap_or_else(|e| panic!("test password refused: {e:?}"))
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap_or_else(|e| panic!("test user: {e}"))
}

fn hasher() -> WebPasswordHasher {
    WebPasswordHasher::new(256, 1, 1).unwrap_or_else(|e| panic!("hasher: {e}"))
}

fn same_ha1s(got: &SipCredential, user: &str, realm: &str, pw: &str) -> bool {
    [
        DigestAlgorithm::Md5,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha512_256,
    ]
    .into_iter()
    .all(|alg| {
        got.ha1(alg)
            .ct_eq(&Ha1::dangerous_from_unchecked_secret(alg, user, realm, pw))
    })
}

/// A web login is stored, read back (it verifies), replaced, and a user
/// without one reads `None`.
pub async fn web_login_set_get_replace(store: &dyn CredentialStore) {
    let h = hasher();
    let alice = user("alice");
    assert!(store.web_login(&alice).await.unwrap().is_none());
    let login = WebLogin::derive(&h, &accepted(PW1)).unwrap();
    store.set_web_login(&alice, login).await.unwrap();
    let phc = store.web_login(&alice).await.unwrap().expect("stored");
    assert!(h.verify(PW1, &phc));
    assert!(!h.verify(PW2, &phc));

    let login = WebLogin::derive(&h, &accepted(PW2)).unwrap();
    store.set_web_login(&alice, login).await.unwrap();
    let phc = store.web_login(&alice).await.unwrap().expect("stored");
    assert!(h.verify(PW2, &phc));
    assert!(!h.verify(PW1, &phc));
    assert!(store.web_login(&user("bob")).await.unwrap().is_none());
}

/// A SIP credential keeps all three HA1s per (user, realm); another realm
/// is a different credential; setting again replaces.
pub async fn sip_credential_per_realm(store: &dyn CredentialStore) {
    store
        .set_sip_credential(SipCredential::derive("100", "pbx", &accepted(PW1)))
        .await
        .unwrap();
    store
        .set_sip_credential(SipCredential::derive("100", "other", &accepted(PW2)))
        .await
        .unwrap();
    let got = store.sip_credential("100", "pbx").await.unwrap().unwrap();
    assert_eq!((got.user(), got.realm()), ("100", "pbx"));
    assert!(same_ha1s(&got, "100", "pbx", PW1));
    let other = store.sip_credential("100", "other").await.unwrap().unwrap();
    assert!(same_ha1s(&other, "100", "other", PW2));
    assert!(store.sip_credential("101", "pbx").await.unwrap().is_none());

    store
        .set_sip_credential(SipCredential::derive("100", "pbx", &accepted(PW2)))
        .await
        .unwrap();
    let got = store.sip_credential("100", "pbx").await.unwrap().unwrap();
    assert!(same_ha1s(&got, "100", "pbx", PW2));
    assert!(!same_ha1s(&got, "100", "pbx", PW1));
}

/// Listing pages through every credential once, in (realm, user) byte
/// order, whatever the page size.
pub async fn sip_credentials_list_in_pages(store: &dyn CredentialStore) {
    let pw = accepted(PW1);
    // Inserted out of order; "B" sorts before "a" in byte order.
    for (u, r) in [
        ("102", "pbx"),
        ("100", "pbx"),
        ("200", "B"),
        ("101", "pbx"),
        ("1", "zz"),
        ("alice", "a"),
    ] {
        store
            .set_sip_credential(SipCredential::derive(u, r, &pw))
            .await
            .unwrap();
    }
    let expect = [
        ("B", "200"),
        ("a", "alice"),
        ("pbx", "100"),
        ("pbx", "101"),
        ("pbx", "102"),
        ("zz", "1"),
    ];
    for size in [1, 2, 4, 100] {
        let mut seen = Vec::new();
        let mut page = Page::first(size);
        for _ in 0..20 {
            let got = store.list_sip_credentials(page.clone()).await.unwrap();
            assert!(got.items.len() <= size as usize);
            seen.extend(
                got.items
                    .iter()
                    .map(|c| (c.realm().to_owned(), c.user().to_owned())),
            );
            match got.next {
                Some(next) => page = Page::after(next, size),
                None => break,
            }
        }
        let expect: Vec<_> = expect
            .iter()
            .map(|(r, u)| ((*r).to_owned(), (*u).to_owned()))
            .collect();
        assert_eq!(seen, expect, "page size {size}");
    }
    let empty = store
        .list_sip_credentials(Page::after("zz\u{0}1", 10))
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
}

/// Removing takes the credential away once; the second time, and for one
/// never set, it is `NotFound`. Other credentials stay.
pub async fn sip_credential_remove(store: &dyn CredentialStore) {
    let pw = accepted(PW1);
    for u in ["100", "101"] {
        store
            .set_sip_credential(SipCredential::derive(u, "pbx", &pw))
            .await
            .unwrap();
    }
    store.remove_sip_credential("100", "pbx").await.unwrap();
    assert!(store.sip_credential("100", "pbx").await.unwrap().is_none());
    assert!(matches!(
        store.remove_sip_credential("100", "pbx").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.remove_sip_credential("101", "elsewhere").await,
        Err(StoreError::NotFound)
    ));
    assert!(store.sip_credential("101", "pbx").await.unwrap().is_some());
}

/// Runs the [`CredentialStore`] conformance suite: one `#[tokio::test]`
/// per case, each on a fresh store from `$make` (an expression evaluating
/// to a future of the store; with `optional:`, of `Option<store>`, where
/// `None` skips the case).
#[macro_export]
macro_rules! credential_store_contract {
    (optional: $make:expr) => {
        $crate::credential_store_contract!(@cases (optional $make);
            web_login_set_get_replace,
            sip_credential_per_realm,
            sip_credentials_list_in_pages,
            sip_credential_remove
        );
    };
    ($make:expr) => {
        $crate::credential_store_contract!(@cases (required $make);
            web_login_set_get_replace,
            sip_credential_per_realm,
            sip_credentials_list_in_pages,
            sip_credential_remove
        );
    };
    (@cases ($how:ident $make:expr); $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::credential_store_contract!(@run $how $make, $case);
            }
        )*
    };
    (@run required $make:expr, $case:ident) => {
        let store = $make.await;
        $crate::credential::testkit::$case(&store).await;
    };
    (@run optional $make:expr, $case:ident) => {
        if let Some(store) = $make.await {
            $crate::credential::testkit::$case(&store).await;
        }
    };
}
