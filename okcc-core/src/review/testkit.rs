//! The [`ReviewStore`] conformance suite, written once and run against
//! every backend (feature `testkit`).
//!
//! Each case takes a fresh, empty store. Run them all with the macro, one
//! `#[tokio::test]` per case (the calling crate needs `tokio` with the
//! `macros` and `rt` features):
//!
//! ```text
//! okcc_core::review_store_contract!(fresh_sqlite_store());
//! // `make` yields Option<store>; None skips (e.g. no PostgreSQL configured):
//! okcc_core::review_store_contract!(optional: maybe_postgres_store());
//! ```

use super::{
    ItemId, ReviewContent, ReviewItem, ReviewState, ReviewStore, SmsLimits, Variables, VoiceLimits,
};
use crate::ids::{Owner, TenantId, UserId};
use crate::rbac::{BuiltinRole, Principal, TenantCeiling};
use crate::store::{Page, StoreError};

fn tenant(s: &str) -> Owner {
    Owner::Tenant(TenantId::new(s).unwrap_or_else(|e| panic!("test tenant: {e}")))
}

fn who(name: &str, home: Owner, role: BuiltinRole) -> Principal {
    let c = TenantCeiling::default();
    let r = role
        .role(home.clone(), c)
        .unwrap_or_else(|e| panic!("test role: {e}"));
    let user = UserId::new(name).unwrap_or_else(|e| panic!("test user: {e}"));
    Principal::new(user, home, [&r], c)
}

/// Who submits content for `owner`: a tenant's supervisor, or the
/// platform admin for platform content.
fn supervisor(owner: &Owner) -> Principal {
    match owner {
        Owner::Platform => who("root", Owner::Platform, BuiltinRole::PlatformAdmin),
        Owner::Tenant(_) => who("sup", owner.clone(), BuiltinRole::Supervisor),
    }
}

fn reviewer() -> Principal {
    who("rev", Owner::Platform, BuiltinRole::PlatformReviewer)
}

fn tts(text: &str) -> ReviewContent {
    ReviewContent::tts(text, &Variables::default()).unwrap_or_else(|e| panic!("test tts: {e}"))
}

fn sms(text: &str) -> ReviewContent {
    ReviewContent::sms(text, &Variables::default(), &SmsLimits::default())
        .unwrap_or_else(|e| panic!("test sms: {e}"))
}

fn voice() -> ReviewContent {
    // One second of 8 kHz mono 16-bit PCM.
    let wav = super::voice::build_wav(1, 1, 8000, 16, 16_000);
    ReviewContent::voice(wav, &VoiceLimits::default()).unwrap_or_else(|e| panic!("test wav: {e}"))
}

fn item(id: &str, owner: &Owner, content: ReviewContent) -> ReviewItem {
    let id = ItemId::new(id).unwrap_or_else(|e| panic!("test item id: {e}"));
    ReviewItem::create(&supervisor(owner), id, owner.clone(), content)
        .unwrap_or_else(|e| panic!("create: {e}"))
        .0
}

fn item_id(s: &str) -> ItemId {
    ItemId::new(s).unwrap_or_else(|e| panic!("test item id: {e}"))
}

/// Insert, read back equal, refuse a second insert of the same id (even
/// for another owner); an unknown id reads as `None`.
pub async fn insert_get_and_conflict(store: &dyn ReviewStore) {
    let acme = tenant("acme");
    let greet = item("greet", &acme, tts("Hello {name}"));
    store.insert(greet.clone()).await.unwrap();
    assert_eq!(store.get(&item_id("greet")).await.unwrap(), Some(greet));
    let again = item("greet", &tenant("globex"), tts("Other"));
    assert!(matches!(
        store.insert(again).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store
            .get(&item_id("greet"))
            .await
            .unwrap()
            .map(|i| i.owner().clone()),
        Some(acme)
    );
    assert_eq!(store.get(&item_id("nope")).await.unwrap(), None);
}

/// Every kind of content and every state comes back exactly as saved: the
/// voice file's bytes, the template source and preview, the SMS segment
/// count, the submitter, the decider and the reason; an approved item is
/// usable with its hash after the round trip.
pub async fn every_kind_and_state_round_trips(store: &dyn ReviewStore) {
    let acme = tenant("acme");
    let sup = supervisor(&acme);
    let rev = reviewer();
    let root = who("root", Owner::Platform, BuiltinRole::PlatformAdmin);

    let mut wav = item("wav", &acme, voice());
    store.insert(wav.clone()).await.unwrap();
    let before = wav.revision();
    wav.submit(&sup).unwrap();
    wav.approve(&rev).unwrap();
    store.save(wav.clone(), before).await.unwrap();
    let back = store.get(wav.id()).await.unwrap().unwrap();
    assert_eq!(back, wav);
    assert!(back.is_usable(&voice().hash()).is_ok());
    assert_eq!(back.read(&sup).unwrap(), &voice());

    let mut text = item("sms", &acme, sms("您好{name}，欢迎致电"));
    store.insert(text.clone()).await.unwrap();
    let before = text.revision();
    text.submit(&sup).unwrap();
    text.reject(&rev, "needs an opt-out line").unwrap();
    store.save(text.clone(), before).await.unwrap();
    let back = store.get(text.id()).await.unwrap().unwrap();
    assert_eq!(back, text);
    assert_eq!(back.state(), ReviewState::Rejected);
    assert_eq!(back.reason(), Some("needs an opt-out line"));
    assert_eq!(back.decided_by().map(UserId::as_str), Some("rev"));

    let mut speech = item("tts", &Owner::Platform, tts("Press {{1}} for {agent}"));
    store.insert(speech.clone()).await.unwrap();
    let before = speech.revision();
    speech.submit(&root).unwrap();
    speech.approve(&rev).unwrap();
    speech.revoke(&rev, "complaint received").unwrap();
    store.save(speech.clone(), before).await.unwrap();
    assert_eq!(store.get(speech.id()).await.unwrap().unwrap(), speech);

    let draft = item("draft", &acme, tts("Draft text"));
    store.insert(draft.clone()).await.unwrap();
    assert_eq!(store.get(draft.id()).await.unwrap().unwrap(), draft);
}

/// A save must name the stored revision: a stale one is a conflict and
/// changes nothing, a missing item is `NotFound`, the owner never changes.
pub async fn save_is_revision_checked(store: &dyn ReviewStore) {
    let acme = tenant("acme");
    let sup = supervisor(&acme);
    let rev = reviewer();
    let mut a = item("promo", &acme, tts("v1"));
    store.insert(a.clone()).await.unwrap();
    let r0 = a.revision();
    a.submit(&sup).unwrap();
    store.save(a.clone(), r0).await.unwrap();

    // A second writer that read revision r0 loses.
    let mut stale = store.get(a.id()).await.unwrap().unwrap();
    stale.approve(&rev).unwrap();
    assert!(matches!(
        store.save(stale, r0).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.get(a.id()).await.unwrap().unwrap(), a);

    let r1 = a.revision();
    a.approve(&rev).unwrap();
    store.save(a.clone(), r1).await.unwrap();
    assert_eq!(
        store.get(a.id()).await.unwrap().unwrap().state(),
        ReviewState::Approved
    );

    let ghost = item("ghost", &acme, tts("never stored"));
    assert!(matches!(
        store.save(ghost, 0).await,
        Err(StoreError::NotFound)
    ));

    let moved = item("promo", &tenant("globex"), tts("v1"));
    let current = a.revision();
    assert!(matches!(
        store.save(moved, current).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.get(a.id()).await.unwrap().unwrap(), a);
}

/// Listing is per owner, optionally per state, ordered by id, in pages
/// whose cursor is the last id.
pub async fn list_by_owner_and_state_in_pages(store: &dyn ReviewStore) {
    let acme = tenant("acme");
    let sup = supervisor(&acme);
    for (n, id) in ["e", "a", "d", "b", "c"].into_iter().enumerate() {
        let mut i = item(id, &acme, tts(&format!("text {n}")));
        if n % 2 == 0 {
            i.submit(&sup).unwrap();
        }
        store.insert(i).await.unwrap();
    }
    store
        .insert(item("aa", &tenant("globex"), tts("other tenant")))
        .await
        .unwrap();
    store
        .insert(item("ab", &Owner::Platform, tts("platform")))
        .await
        .unwrap();

    let ids = |p: &crate::store::PageOf<ReviewItem>| -> Vec<String> {
        p.items.iter().map(|i| i.id().to_string()).collect()
    };
    let p1 = store.list(&acme, None, Page::first(2)).await.unwrap();
    assert_eq!(ids(&p1), ["a", "b"]);
    assert_eq!(p1.next.as_deref(), Some("b"));
    let p2 = store.list(&acme, None, Page::after("b", 2)).await.unwrap();
    assert_eq!(ids(&p2), ["c", "d"]);
    let p3 = store.list(&acme, None, Page::after("d", 2)).await.unwrap();
    assert_eq!(ids(&p3), ["e"]);
    assert_eq!(p3.next, None);

    let pending = store
        .list(&acme, Some(ReviewState::Pending), Page::first(10))
        .await
        .unwrap();
    assert_eq!(ids(&pending), ["c", "d", "e"]);
    assert_eq!(pending.next, None);
    let drafts = store
        .list(&acme, Some(ReviewState::Draft), Page::first(10))
        .await
        .unwrap();
    assert_eq!(ids(&drafts), ["a", "b"]);
    let platform = store
        .list(&Owner::Platform, None, Page::first(10))
        .await
        .unwrap();
    assert_eq!(ids(&platform), ["ab"]);
    let none = store
        .list(&tenant("initech"), None, Page::first(10))
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next.is_none());
}

/// Runs the [`ReviewStore`] conformance suite: one `#[tokio::test]` per
/// case, each on a fresh store from `$make` (an expression evaluating to a
/// future of the store; with `optional:`, of `Option<store>`, where `None`
/// skips the case).
#[macro_export]
macro_rules! review_store_contract {
    (optional: $make:expr) => {
        $crate::review_store_contract!(@cases (optional $make);
            insert_get_and_conflict,
            every_kind_and_state_round_trips,
            save_is_revision_checked,
            list_by_owner_and_state_in_pages
        );
    };
    ($make:expr) => {
        $crate::review_store_contract!(@cases (required $make);
            insert_get_and_conflict,
            every_kind_and_state_round_trips,
            save_is_revision_checked,
            list_by_owner_and_state_in_pages
        );
    };
    (@cases ($how:ident $make:expr); $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::review_store_contract!(@run $how $make, $case);
            }
        )*
    };
    (@run required $make:expr, $case:ident) => {
        let store = $make.await;
        $crate::review::testkit::$case(&store).await;
    };
    (@run optional $make:expr, $case:ident) => {
        if let Some(store) = $make.await {
            $crate::review::testkit::$case(&store).await;
        }
    };
}
