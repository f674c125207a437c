//! The [`BanStore`] conformance suite, written once and run against every
//! backend (feature `testkit`).
//!
//! ```ignore
//! okcc_core::ban_store_contract!(async { my_backend::fresh_ban_store().await });
//! ```
//!
//! Each case takes a fresh, empty store whose change log keeps at least 8
//! entries.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::BanKind;
use super::store::{BanRecord, BanStore};

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("test address {s}: {e}"))
}

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// A ban is listed while in force, not after; unban lifts it once.
pub async fn ban_list_unban(store: &dyn BanStore) {
    let a = ip("203.0.113.7");
    store
        .ban(BanRecord::new(a, BanKind::Scanner, t(3600), 1))
        .await
        .unwrap();
    store
        .ban(BanRecord::new(
            ip("::ffff:198.51.100.1"),
            BanKind::BruteForce,
            t(600),
            2,
        ))
        .await
        .unwrap();
    let active = store.active(t(0)).await.unwrap();
    let sources: Vec<_> = active.iter().map(|b| b.source).collect();
    assert_eq!(sources, vec![ip("198.51.100.1"), a], "sorted, canonical");
    assert_eq!(active[0].offences, 2);
    assert_eq!(
        store.active(t(600)).await.unwrap().len(),
        1,
        "expired ban not listed"
    );
    assert!(store.unban(a).await.unwrap());
    assert!(!store.unban(a).await.unwrap());
    assert!(
        store
            .active(t(0))
            .await
            .unwrap()
            .iter()
            .all(|b| b.source != a)
    );
}

/// A later end extends a ban, an earlier one never shortens it, and a
/// manual ban is never turned back into a guard ban.
pub async fn bans_extend_never_shorten_manual_wins(store: &dyn BanStore) {
    let a = ip("192.0.2.1");
    store
        .ban(BanRecord::new(a, BanKind::Flood, t(100), 1))
        .await
        .unwrap();
    let b = store
        .ban(BanRecord::new(a, BanKind::Flood, t(50), 1))
        .await
        .unwrap();
    assert_eq!(b.until, t(100));
    let b = store
        .ban(BanRecord::new(a, BanKind::Flood, t(200), 1))
        .await
        .unwrap();
    assert_eq!(b.until, t(200));
    let m = store
        .ban(BanRecord::new(a, BanKind::Manual, t(150), 1))
        .await
        .unwrap();
    assert_eq!(m.kind, BanKind::Manual);
    let g = store
        .ban(BanRecord::new(a, BanKind::Scanner, t(300), 1))
        .await
        .unwrap();
    assert_eq!(g.kind, BanKind::Manual);
    assert_eq!(store.active(t(0)).await.unwrap().len(), 1);
}

/// Every ban and unban is a change, in order, paged by cursor.
pub async fn changes_are_ordered_and_paged(store: &dyn BanStore) {
    let a = ip("198.51.100.5");
    let b = ip("2001:db8::5");
    store
        .ban(BanRecord::new(a, BanKind::Flood, t(60), 1))
        .await
        .unwrap();
    store
        .ban(BanRecord::new(b, BanKind::Manual, t(60), 1))
        .await
        .unwrap();
    store.unban(a).await.unwrap();
    let first = store.changes_since(0, 2).await.unwrap();
    assert!(!first.reset);
    assert_eq!(first.changes.len(), 2);
    assert_eq!(first.changes[0].source, a);
    assert!(first.changes[0].ban.is_some());
    assert!(first.changes[0].seq < first.changes[1].seq);
    let rest = store.changes_since(first.cursor, 10).await.unwrap();
    assert_eq!(rest.changes.len(), 1);
    assert_eq!(rest.changes[0].source, a);
    assert!(rest.changes[0].ban.is_none(), "an unban is a change too");
    let none = store.changes_since(rest.cursor, 10).await.unwrap();
    assert!(none.changes.is_empty());
    assert_eq!(none.cursor, rest.cursor);
}

/// A cursor older than the kept log asks for a reload.
pub async fn pruned_changes_ask_for_a_reset(store: &dyn BanStore) {
    for i in 0..40u8 {
        store
            .ban(BanRecord::new(
                IpAddr::from([10, 0, 0, i]),
                BanKind::Flood,
                t(60),
                1,
            ))
            .await
            .unwrap();
    }
    let page = store.changes_since(0, 10).await.unwrap();
    if page.reset {
        assert!(page.changes.is_empty());
        let next = store.changes_since(page.cursor, 10).await.unwrap();
        assert!(!next.reset);
        assert!(next.changes.is_empty(), "the reset cursor is the head");
    } else {
        assert_eq!(
            page.changes.len(),
            10,
            "an unpruned log pages from the start"
        );
    }
    assert_eq!(store.active(t(0)).await.unwrap().len(), 40);
}

/// Runs the [`BanStore`] conformance suite against `$make` (an expression
/// giving a future of a fresh store), one `#[tokio::test]` per case.
#[macro_export]
macro_rules! ban_store_contract {
    ($make:expr) => {
        $crate::ban_store_contract!(@cases $make;
            ban_list_unban,
            bans_extend_never_shorten_manual_wins,
            changes_are_ordered_and_paged,
            pruned_changes_ask_for_a_reset
        );
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $make.await;
                $crate::guard::testkit::$case(&store).await;
            }
        )*
    };
}
