//! The [`RevealStore`] conformance suite, written once and run against
//! every backend (feature `testkit`), with
//! [`reveal_store_contract!`](crate::reveal_store_contract):
//!
//! ```ignore
//! okcc_crm::reveal_store_contract!(async { my_backend::fresh_store().await });
//! // `make` yields Option<store>; None skips (e.g. no PostgreSQL configured):
//! okcc_crm::reveal_store_contract!(optional: async { maybe_postgres().await });
//! ```

use std::time::{Duration, SystemTime};

use okcc_core::store::Page;
use okcc_core::{StoreError, TenantId, UserId};

use crate::customer::CustomerId;
use crate::reveal::{RevealBook, RevealCounts, RevealId, RevealPolicy, RevealState, utc_day_start};
use crate::store::RevealStore;

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap_or_else(|e| panic!("test tenant: {e}"))
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap_or_else(|e| panic!("test user: {e}"))
}

/// Noon of a UTC day, plus `secs`.
fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_006_400 + 43_200 + secs)
}

fn book(auto: u32) -> RevealBook {
    RevealBook::new(RevealPolicy {
        auto_approve_per_day: auto,
        ..RevealPolicy::default()
    })
}

/// Files a request the way the service does (counts, rules, insert).
async fn file(
    store: &dyn RevealStore,
    rules: &RevealBook,
    tenant: &TenantId,
    customer: u64,
    who: &UserId,
    at: SystemTime,
) -> crate::reveal::RevealRequest {
    let day = utc_day_start(at);
    let counts = store.counts(tenant, who, day).await.unwrap();
    let new = rules
        .request(
            tenant,
            CustomerId(customer),
            who,
            "customer asked",
            counts,
            at,
        )
        .unwrap();
    store.insert(new, counts, day).await.unwrap()
}

/// Filed requests get distinct, growing ids, read back equal at version
/// 1, and only inside their tenant.
pub async fn insert_get_inside_the_tenant(store: &dyn RevealStore) {
    let acme = tenant("acme");
    let rules = book(0);
    let a = file(store, &rules, &acme, 1, &user("agent"), t(0)).await;
    let b = file(store, &rules, &acme, 2, &user("agent"), t(1)).await;
    assert!(b.id > a.id, "{a:?} {b:?}");
    assert_eq!(a.state, RevealState::Pending);
    let got = store.get(&acme, a.id).await.unwrap().unwrap();
    assert_eq!(got.request, a);
    assert_eq!(got.version, 1);
    assert_eq!(store.get(&tenant("globex"), a.id).await.unwrap(), None);
    assert_eq!(
        store.get(&acme, RevealId(b.id.0 + 1000)).await.unwrap(),
        None
    );
}

/// Counts report pending requests and today's automatic approvals; a
/// filing based on counts that changed meanwhile is refused and files
/// nothing, and of two concurrent filings on the same counts one loses.
pub async fn filing_is_checked_against_the_counts(store: &dyn RevealStore) {
    let acme = tenant("acme");
    let agent = user("agent");
    let day = utc_day_start(t(0));
    assert_eq!(
        store.counts(&acme, &agent, day).await.unwrap(),
        RevealCounts::default()
    );
    let auto = book(1);
    let first = file(store, &auto, &acme, 1, &agent, t(0)).await;
    assert!(matches!(
        first.state,
        RevealState::Approved { by: None, .. }
    ));
    let second = file(store, &auto, &acme, 2, &agent, t(1)).await;
    assert_eq!(second.state, RevealState::Pending);
    let counts = store.counts(&acme, &agent, day).await.unwrap();
    assert_eq!(counts, RevealCounts::new(1, 1));
    // The next UTC day starts a new allowance.
    let tomorrow = utc_day_start(t(86_400));
    assert_eq!(
        store.counts(&acme, &agent, tomorrow).await.unwrap(),
        RevealCounts::new(1, 0)
    );
    // Other requesters and tenants are counted apart.
    assert_eq!(
        store.counts(&acme, &user("other"), day).await.unwrap(),
        RevealCounts::default()
    );
    assert_eq!(
        store.counts(&tenant("globex"), &agent, day).await.unwrap(),
        RevealCounts::default()
    );

    let stale = RevealCounts::new(0, 1);
    let new = auto
        .request(&acme, CustomerId(3), &agent, "why", stale, t(2))
        .unwrap();
    assert!(matches!(
        store.insert(new, stale, day).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.counts(&acme, &agent, day).await.unwrap(), counts);

    let rules = book(0);
    let mk = |c| {
        rules
            .request(&acme, CustomerId(c), &agent, "why", counts, t(3))
            .unwrap()
    };
    let (x, y) = tokio::join!(
        store.insert(mk(4), counts, day),
        store.insert(mk(5), counts, day)
    );
    assert!(
        x.is_ok() != y.is_ok(),
        "exactly one concurrent filing wins: {x:?} {y:?}"
    );
    assert!(matches!(
        x.err().or_else(|| y.err()),
        Some(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store.counts(&acme, &agent, day).await.unwrap(),
        RevealCounts::new(2, 1)
    );
}

/// A decision replaces only the version it was taken on; unknown ids and
/// other tenants' requests are `NotFound`.
pub async fn decisions_are_version_checked(store: &dyn RevealStore) {
    let acme = tenant("acme");
    let rules = book(0);
    let r = file(store, &rules, &acme, 1, &user("agent"), t(0)).await;
    let approved = rules.decide(&acme, &r, &user("boss"), true, t(5)).unwrap();
    let denied = rules
        .decide(&acme, &r, &user("boss2"), false, t(5))
        .unwrap();
    let after = store
        .set_state(&acme, r.id, approved.clone(), 1)
        .await
        .unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(after.request.state, approved);
    assert!(matches!(
        store.set_state(&acme, r.id, denied.clone(), 1).await,
        Err(StoreError::Conflict { .. })
    ));
    let stored = store.get(&acme, r.id).await.unwrap().unwrap();
    assert_eq!(stored, after);
    assert!(matches!(
        store
            .set_state(&tenant("globex"), r.id, denied.clone(), 2)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .set_state(&acme, RevealId(r.id.0 + 1000), denied, 1)
            .await,
        Err(StoreError::NotFound)
    ));
    // A denial round-trips too.
    let r2 = file(store, &rules, &acme, 2, &user("agent"), t(6)).await;
    let no = rules
        .decide(&acme, &r2, &user("boss"), false, t(7))
        .unwrap();
    let after = store.set_state(&acme, r2.id, no.clone(), 1).await.unwrap();
    assert_eq!(after.request.state, no);
    assert_eq!(store.get(&acme, r2.id).await.unwrap().unwrap(), after);
}

/// A grant is for the requester and that record only, from approval until
/// it expires (15 minutes by default); pending and denied requests grant
/// nothing.
pub async fn grants_are_per_user_record_and_time(store: &dyn RevealStore) {
    let acme = tenant("acme");
    let agent = user("agent");
    let rules = book(0);
    let r = file(store, &rules, &acme, 7, &agent, t(0)).await;
    assert_eq!(
        store
            .grant(&acme, CustomerId(7), &agent, t(1))
            .await
            .unwrap(),
        None
    );
    let ok = rules.decide(&acme, &r, &user("boss"), true, t(10)).unwrap();
    store.set_state(&acme, r.id, ok, 1).await.unwrap();
    let g = |c, u: &str, at| {
        let u = user(u);
        let acme = acme.clone();
        async move {
            store
                .grant(&acme, CustomerId(c), &u, at)
                .await
                .unwrap()
                .map(|r| r.id)
        }
    };
    assert_eq!(g(7, "agent", t(10)).await, Some(r.id));
    assert_eq!(g(7, "agent", t(10 + 899)).await, Some(r.id));
    assert_eq!(g(7, "agent", t(10 + 900)).await, None);
    assert_eq!(g(7, "agent", t(9)).await, None);
    assert_eq!(g(8, "agent", t(11)).await, None);
    assert_eq!(g(7, "other", t(11)).await, None);
    assert_eq!(
        store
            .grant(&tenant("globex"), CustomerId(7), &agent, t(11))
            .await
            .unwrap(),
        None
    );
    let d = file(store, &rules, &acme, 9, &agent, t(20)).await;
    let no = rules
        .decide(&acme, &d, &user("boss"), false, t(21))
        .unwrap();
    store.set_state(&acme, d.id, no, 1).await.unwrap();
    assert_eq!(g(9, "agent", t(22)).await, None);
}

/// Pending requests list by id in pages, per tenant; pruning drops what
/// is older than the cut-off by the kind of each request.
pub async fn pending_pages_and_prune(store: &dyn RevealStore) {
    let acme = tenant("acme");
    let rules = book(0);
    let mut ids = Vec::new();
    for (i, who) in ["a1", "a2", "a3", "a4"].into_iter().enumerate() {
        let at = t(u64::try_from(i).unwrap_or(0));
        ids.push(file(store, &rules, &acme, 1, &user(who), at).await);
    }
    file(store, &rules, &tenant("globex"), 1, &user("g1"), t(0)).await;
    let decided = rules
        .decide(&acme, &ids[1], &user("boss"), false, t(100))
        .unwrap();
    store.set_state(&acme, ids[1].id, decided, 1).await.unwrap();

    let p1 = store.pending(&acme, Page::first(2)).await.unwrap();
    let got: Vec<RevealId> = p1.items.iter().map(|r| r.id).collect();
    assert_eq!(got, [ids[0].id, ids[2].id]);
    let next = p1.next.clone().unwrap();
    let p2 = store.pending(&acme, Page::after(next, 2)).await.unwrap();
    let got: Vec<RevealId> = p2.items.iter().map(|r| r.id).collect();
    assert_eq!(got, [ids[3].id]);
    assert_eq!(p2.next, None);
    assert!(matches!(
        store.pending(&acme, Page::after("nope", 2)).await,
        Err(StoreError::Conflict { .. })
    ));

    // Cut-off between the first and the later filings: only the first
    // pending one goes; the denial (at t(100)) stays.
    assert_eq!(store.prune(t(1)).await.unwrap(), 2, "acme's and globex's");
    assert_eq!(store.get(&acme, ids[0].id).await.unwrap(), None);
    assert!(store.get(&acme, ids[1].id).await.unwrap().is_some());
    assert_eq!(store.prune(t(101)).await.unwrap(), 3);
    assert!(
        store
            .pending(&acme, Page::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// Runs the [`RevealStore`] conformance suite: one `#[tokio::test]` per
/// case, each on a fresh store from `$make` (an expression evaluating to a
/// future of the store; with `optional:`, of `Option<store>`, where `None`
/// skips the case).
#[macro_export]
macro_rules! reveal_store_contract {
    (optional: $make:expr) => {
        $crate::reveal_store_contract!(@cases (optional $make);
            insert_get_inside_the_tenant,
            filing_is_checked_against_the_counts,
            decisions_are_version_checked,
            grants_are_per_user_record_and_time,
            pending_pages_and_prune
        );
    };
    ($make:expr) => {
        $crate::reveal_store_contract!(@cases (required $make);
            insert_get_inside_the_tenant,
            filing_is_checked_against_the_counts,
            decisions_are_version_checked,
            grants_are_per_user_record_and_time,
            pending_pages_and_prune
        );
    };
    (@cases ($how:ident $make:expr); $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::reveal_store_contract!(@run $how $make, $case);
            }
        )*
    };
    (@run required $make:expr, $case:ident) => {
        let store = $make.await;
        $crate::testkit::reveal::$case(&store).await;
    };
    (@run optional $make:expr, $case:ident) => {
        if let Some(store) = $make.await {
            $crate::testkit::reveal::$case(&store).await;
        }
    };
}
