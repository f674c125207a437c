//! The [`AccessRuleStore`] conformance suite, for every backend (feature
//! `testkit`).
//!
//! Each case takes a fresh, empty store. Run them all with the macro, one
//! `#[tokio::test]` per case (the calling crate needs `tokio` with the
//! `macros` and `rt` features):
//!
//! ```text
//! okcc_core::access_rule_store_contract!(fresh_sqlite_store());
//! ```

use super::store::{AccessDocKind, AccessRuleDoc, AccessRuleStore};
use crate::store::{Page, StoreError};

fn rules(name: &str, text: &str) -> AccessRuleDoc {
    AccessRuleDoc::rule_set(name, text).expect("valid rule text")
}

fn feed(name: &str, text: &str) -> AccessRuleDoc {
    AccessRuleDoc::feed(name, text).expect("valid feed text")
}

/// Create, get and replace with a version check; a stale replace is a
/// conflict and changes nothing.
pub async fn put_get_and_version_check(store: &dyn AccessRuleStore) {
    let s = store
        .put(rules("main", "deny 10.0.0.0/8\n"), None)
        .await
        .expect("create");
    assert_eq!(s.version, 1);
    let got = store
        .get(AccessDocKind::RuleSet, "main")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.doc.text(), "deny 10.0.0.0/8\n");
    assert_eq!(got.version, 1);
    assert!(matches!(
        store.put(rules("main", "deny 1.2.3.4\n"), None).await,
        Err(StoreError::Conflict { .. })
    ));
    let s2 = store
        .put(rules("main", "deny 192.0.2.0/24\n"), Some(1))
        .await
        .expect("replace");
    assert_eq!(s2.version, 2);
    assert!(s2.seq > s.seq);
    assert!(matches!(
        store.put(rules("main", "deny 1.2.3.4\n"), Some(1)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.put(rules("other", "deny 1.2.3.4\n"), Some(1)).await,
        Err(StoreError::NotFound)
    ));
    let got = store
        .get(AccessDocKind::RuleSet, "main")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.doc.text(), "deny 192.0.2.0/24\n");
    assert_eq!(got.version, 2);
    // The same name in the other kind is a different document.
    assert!(
        store
            .get(AccessDocKind::Feed, "main")
            .await
            .expect("get")
            .is_none()
    );
    let f = store
        .put(feed("main", "1.2.3.4\n"), None)
        .await
        .expect("feed");
    assert_eq!(f.version, 1);
    let back = store
        .get(AccessDocKind::Feed, "main")
        .await
        .expect("get")
        .expect("present");
    assert!(
        back.doc
            .to_feed()
            .expect("a feed")
            .expect("parses")
            .contains("1.2.3.4".parse().expect("ip"))
    );
}

/// Listing is per kind, ordered by name, paged by cursor.
pub async fn list_pages_by_name(store: &dyn AccessRuleStore) {
    for name in ["c", "a", "e", "b", "d"] {
        store
            .put(rules(name, "deny 10.0.0.0/8\n"), None)
            .await
            .expect("put");
    }
    store
        .put(feed("zz", "1.2.3.4\n"), None)
        .await
        .expect("feed");
    let p1 = store
        .list(AccessDocKind::RuleSet, Page::first(2))
        .await
        .expect("list");
    let names: Vec<_> = p1.items.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(p1.items.first().map(|s| s.bytes), Some(16));
    let p2 = store
        .list(
            AccessDocKind::RuleSet,
            Page::after(p1.next.expect("more"), 10),
        )
        .await
        .expect("list");
    let names: Vec<_> = p2.items.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["c", "d", "e"]);
    assert_eq!(p2.next, None);
    let feeds = store
        .list(AccessDocKind::Feed, Page::first(10))
        .await
        .expect("list");
    assert_eq!(feeds.items.len(), 1);
    assert_eq!(feeds.items.first().map(|s| s.version), Some(1));
}

/// Delete is version-checked; a deleted name can be created again.
pub async fn delete_is_version_checked(store: &dyn AccessRuleStore) {
    store
        .put(feed("apiban", "1.2.3.4\n"), None)
        .await
        .expect("put");
    store
        .put(feed("apiban", "5.6.7.8\n"), Some(1))
        .await
        .expect("replace");
    assert!(matches!(
        store.delete(AccessDocKind::Feed, "apiban", 1).await,
        Err(StoreError::Conflict { .. })
    ));
    store
        .delete(AccessDocKind::Feed, "apiban", 2)
        .await
        .expect("delete");
    assert!(
        store
            .get(AccessDocKind::Feed, "apiban")
            .await
            .expect("get")
            .is_none()
    );
    assert!(matches!(
        store.delete(AccessDocKind::Feed, "apiban", 2).await,
        Err(StoreError::NotFound)
    ));
    let again = store
        .put(feed("apiban", "9.9.9.9\n"), None)
        .await
        .expect("recreate");
    assert_eq!(again.version, 1);
}

/// `changes_since` reports the latest write per document after a cursor,
/// in order, folding older writes and reporting deletions.
pub async fn changes_since_folds_and_orders(store: &dyn AccessRuleStore) {
    assert!(
        store
            .changes_since(0, 100)
            .await
            .expect("changes")
            .is_empty()
    );
    let a = store
        .put(rules("a", "deny 10.0.0.0/8\n"), None)
        .await
        .expect("a");
    let b = store.put(feed("b", "1.2.3.4\n"), None).await.expect("b");
    let a2 = store
        .put(rules("a", "deny 10.0.0.0/16\n"), Some(1))
        .await
        .expect("a2");
    store
        .delete(AccessDocKind::Feed, "b", 1)
        .await
        .expect("delete b");
    let all = store.changes_since(0, 100).await.expect("changes");
    let seen: Vec<_> = all
        .iter()
        .map(|c| (c.kind, c.name.as_str(), c.version))
        .collect();
    assert_eq!(
        seen,
        [
            (AccessDocKind::RuleSet, "a", Some(2)),
            (AccessDocKind::Feed, "b", None),
        ]
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(all.first().map(|c| c.seq), Some(a2.seq));
    assert!(a.seq < b.seq && b.seq < a2.seq);
    // Following from a cursor returns only later writes.
    let last = all.last().map_or(0, |c| c.seq);
    assert!(
        store
            .changes_since(last, 100)
            .await
            .expect("changes")
            .is_empty()
    );
    let c = store
        .put(rules("c", "deny 1.2.3.4\n"), None)
        .await
        .expect("c");
    let later = store.changes_since(last, 100).await.expect("changes");
    assert_eq!(later.len(), 1);
    assert_eq!(later.first().map(|x| x.seq), Some(c.seq));
    // The limit is honoured.
    assert_eq!(store.changes_since(0, 1).await.expect("changes").len(), 1);
}

/// Runs the whole [`AccessRuleStore`] suite, one `#[tokio::test]` per case;
/// `$make` is an expression giving a future of a fresh, empty store.
#[macro_export]
macro_rules! access_rule_store_contract {
    ($make:expr) => {
        #[tokio::test]
        async fn put_get_and_version_check() {
            $crate::access::testkit::put_get_and_version_check(&$make.await).await
        }
        #[tokio::test]
        async fn list_pages_by_name() {
            $crate::access::testkit::list_pages_by_name(&$make.await).await
        }
        #[tokio::test]
        async fn delete_is_version_checked() {
            $crate::access::testkit::delete_is_version_checked(&$make.await).await
        }
        #[tokio::test]
        async fn changes_since_folds_and_orders() {
            $crate::access::testkit::changes_since_folds_and_orders(&$make.await).await
        }
    };
}
