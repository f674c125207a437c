//! The [`AuditStore`] conformance suite, for every backend (feature
//! `testkit`).
//!
//! Each case takes a fresh, empty store. Run them all with the macro,
//! one `#[tokio::test]` per case:
//!
//! ```text
//! okcc_audit::audit_store_contract!(fresh_sqlite_store());
//! ```

use time::OffsetDateTime;

use crate::store::AuditStore;
use crate::{
    Action, Actor, ActorFilter, AuditEvent, AuditQuery, ChainAnchor, EventId, Outcome,
    ResultFilter, Target, VerifyOptions,
};
use okcc_core::store::Page;
use okcc_core::{DenyReason, RuleId, TenantId, UserId};

/// Event number `n` of the suite: alternating tenants and actions, one
/// second apart from 2026-09-21.
pub fn sample_event(n: u64) -> AuditEvent {
    let t0 =
        OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let tenant = TenantId::new(if n.is_multiple_of(2) {
        "acme"
    } else {
        "globex"
    })
    .ok();
    let user = UserId::new(&format!("user{}", n % 3)).ok();
    let actor = user.map_or(Actor::Anonymous, |u| Actor::user(u, tenant));
    let outcome = if n.is_multiple_of(5) {
        Outcome::denied(RuleId::new("rules.txt:12"), DenyReason::BlockedRegion)
    } else {
        Outcome::Success
    };
    let mut e = AuditEvent::at(
        EventId::from_uuid(uuid::Uuid::from_u128(u128::from(n) + 1)),
        t0 + time::Duration::seconds(i64::try_from(n).unwrap_or(0)),
        actor,
        if n.is_multiple_of(3) {
            Action::CrmDelete
        } else {
            Action::Login
        },
        outcome,
    );
    if let Ok(t) = Target::new("customer", &format!("c-{}", n % 4)) {
        e = e.with_target(t);
    }
    e
}

async fn fill(store: &dyn AuditStore, n: u64) {
    let events: Vec<_> = (0..n).map(sample_event).collect();
    let r = store.append(events).await;
    assert!(
        r.as_ref().is_ok_and(|r| r.appended as u64 == n),
        "append: {r:?}"
    );
}

/// Append links events from seq 1 and the chain verifies.
pub async fn append_links_and_verifies(store: &dyn AuditStore) {
    fill(store, 25).await;
    let head = store.head().await.expect("head");
    assert_eq!(head.seq, 25);
    let rows = store.read_chain(1, 100).await.expect("read");
    assert_eq!(rows.len(), 25);
    assert!(rows.iter().zip(1..).all(|(r, s)| r.seq == s));
    assert_eq!(
        rows.first().map(|r| r.prev_hash),
        Some(ChainAnchor::GENESIS.hash)
    );
    let report = store.verify(&VerifyOptions::all()).await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.tamper);
    assert_eq!(report.checked, 25);
}

/// Appending an event id twice stores it once.
pub async fn append_is_idempotent_by_id(store: &dyn AuditStore) {
    fill(store, 5).await;
    let again = store
        .append(vec![sample_event(3), sample_event(5)])
        .await
        .expect("append");
    assert_eq!((again.appended, again.skipped), (1, 1));
    assert_eq!(store.head().await.expect("head").seq, 6);
}

/// Repeats are skipped wherever they are: an id already stored, an id
/// twice in one batch, a repeat in a later chunk of a long batch; the rows
/// that go in link without gaps, and a borrowed append does the same.
pub async fn append_skips_repeats_anywhere(store: &dyn AuditStore) {
    fill(store, 3).await;
    let again = store
        .append(vec![
            sample_event(7),
            sample_event(7),
            sample_event(1),
            sample_event(8),
        ])
        .await
        .expect("append");
    assert_eq!((again.appended, again.skipped), (2, 2));
    // 600 events (more than one multi-row INSERT) with event 10 again near the end.
    let mut long: Vec<_> = (10..610).map(sample_event).collect();
    long.insert(590, sample_event(10));
    let r = store.append_ref(&long).await.expect("append_ref");
    assert_eq!((r.appended, r.skipped), (600, 1));
    assert_eq!(store.head().await.expect("head").seq, 3 + 2 + 600);
    let report = store.verify(&VerifyOptions::all()).await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, 605);
}

/// Queries filter by every field and page with stable cursors.
pub async fn query_filters_and_pages(store: &dyn AuditStore) {
    fill(store, 60).await;
    let q = AuditQuery::all().tenant(TenantId::new("acme").expect("t"));
    let mut seen = Vec::new();
    let mut page = Page::first(7);
    loop {
        let p = store.query(&q, page).await.expect("query");
        assert!(p.items.len() <= 7);
        seen.extend(p.items.iter().map(|e| e.seq));
        match p.next {
            Some(c) => page = Page::after(c, 7),
            None => break,
        }
    }
    let expected: Vec<u64> = (0..60u64).filter(|n| n % 2 == 0).map(|n| n + 1).collect();
    assert_eq!(seen, expected);

    let denied = AuditQuery::all().result(ResultFilter::DeniedBy(RuleId::new("rules.txt:12")));
    let p = store.query(&denied, Page::first(100)).await.expect("query");
    assert_eq!(p.items.len(), 12);
    let by = AuditQuery::all()
        .by(ActorFilter::User(UserId::new("user1").expect("u")))
        .action(Action::Login);
    let p = store.query(&by, Page::first(100)).await.expect("query");
    assert!(
        p.items
            .iter()
            .all(|e| e.event.action == Action::Login && e.event.actor.name() == Some("user1"))
    );
    assert_eq!(p.items.len(), (0..60u64).filter(|n| n % 3 == 1).count());
    let t0 = sample_event(10).time;
    let range = AuditQuery::all().between(t0, t0 + time::Duration::seconds(5));
    let p = store.query(&range, Page::first(100)).await.expect("query");
    assert_eq!(
        p.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![11, 12, 13, 14, 15]
    );
    let newest = store
        .query(&AuditQuery::all().newest_first(), Page::first(2))
        .await
        .expect("query");
    assert_eq!(
        newest.items.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![60, 59]
    );
    let target = AuditQuery::all().target(crate::TargetFilter::exact(
        crate::Label::new("customer").expect("l"),
        crate::Text::new("c-1").expect("t"),
    ));
    let p = store.query(&target, Page::first(100)).await.expect("query");
    assert_eq!(p.items.len(), 15);
}

/// Retention archives a prefix, purges it, and both halves verify.
pub async fn retention_keeps_the_chain_verifiable(store: &dyn AuditStore) {
    fill(store, 40).await;
    let cut = sample_event(30).time;
    let mut archive = Vec::new();
    let report = store
        .archive_and_purge(cut, &mut archive)
        .await
        .expect("retention");
    assert_eq!(report.purged, 30);
    assert_eq!(report.anchor.seq, 30);
    assert_eq!(store.anchor().await.expect("anchor"), report.anchor);
    let rest = store.verify(&VerifyOptions::all()).await.expect("verify");
    assert!(rest.is_intact(), "{:?}", rest.tamper);
    assert_eq!(rest.checked, 10);
    let archived = crate::export::fuzz_verify_jsonl(&archive).expect("archive parses");
    assert!(archived.is_intact());
    assert_eq!(archived.last, report.anchor);
    fill_more(store, 40, 45).await;
    assert!(
        store
            .verify(&VerifyOptions::all())
            .await
            .expect("verify")
            .is_intact()
    );
}

async fn fill_more(store: &dyn AuditStore, from: u64, to: u64) {
    let events: Vec<_> = (from..to).map(sample_event).collect();
    store.append(events).await.expect("append");
}

/// An unfiltered JSON Lines export verifies on its own; CSV has a header
/// and one row per event.
pub async fn export_round_trips(store: &dyn AuditStore) {
    fill(store, 12).await;
    let mut jsonl = Vec::new();
    let s = store
        .export(
            &AuditQuery::all(),
            crate::ExportFormat::JsonLines,
            &mut jsonl,
        )
        .await
        .expect("export");
    assert_eq!(s.events, 12);
    let report = crate::export::fuzz_verify_jsonl(&jsonl).expect("parses");
    assert!(report.is_intact() && report.checked == 12);
    let mut csv = Vec::new();
    store
        .export(
            &AuditQuery::all().action(Action::CrmDelete),
            crate::ExportFormat::Csv,
            &mut csv,
        )
        .await
        .expect("export");
    let text = String::from_utf8(csv).expect("utf8");
    assert_eq!(text.lines().count(), 1 + 4);
}

/// Runs every case of the suite as its own `#[tokio::test]`; `$make` is
/// an expression giving a future of a fresh, empty store.
#[macro_export]
macro_rules! audit_store_contract {
    ($make:expr) => {
        #[tokio::test]
        async fn append_links_and_verifies() {
            $crate::testkit::append_links_and_verifies(&$make.await).await
        }
        #[tokio::test]
        async fn append_is_idempotent_by_id() {
            $crate::testkit::append_is_idempotent_by_id(&$make.await).await
        }
        #[tokio::test]
        async fn append_skips_repeats_anywhere() {
            $crate::testkit::append_skips_repeats_anywhere(&$make.await).await
        }
        #[tokio::test]
        async fn query_filters_and_pages() {
            $crate::testkit::query_filters_and_pages(&$make.await).await
        }
        #[tokio::test]
        async fn retention_keeps_the_chain_verifiable() {
            $crate::testkit::retention_keeps_the_chain_verifiable(&$make.await).await
        }
        #[tokio::test]
        async fn export_round_trips() {
            $crate::testkit::export_round_trips(&$make.await).await
        }
    };
}
