//! Properties of tenancy and review together: random sequences of actions
//! by random principals, run through the memory store (requirements 3.2,
//! 6.2).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use okcc_core::ids::{Owner, TenantId, UserId};
use okcc_core::rbac::{BuiltinRole, Permission, Principal, TenantCeiling};
use okcc_core::review::{
    ItemId, MemoryReviewStore, ReviewAction, ReviewContent, ReviewError, ReviewItem, ReviewStore,
    Transition, Variables,
};
use okcc_core::store::Page;
use proptest::prelude::*;

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn owners() -> [Owner; 3] {
    [
        Owner::Platform,
        Owner::Tenant(TenantId::new("acme").unwrap()),
        Owner::Tenant(TenantId::new("globex").unwrap()),
    ]
}

fn principals() -> Vec<Principal> {
    let [platform, acme, globex] = owners();
    let c = TenantCeiling::default();
    let mk = |name: &str, home: &Owner, b: BuiltinRole| {
        let role = b.role(home.clone(), c).unwrap();
        Principal::new(UserId::new(name).unwrap(), home.clone(), [&role], c)
    };
    vec![
        mk("root", &platform, BuiltinRole::PlatformAdmin),
        mk("rev", &platform, BuiltinRole::PlatformReviewer),
        mk("rev2", &platform, BuiltinRole::PlatformReviewer),
        mk("a-admin", &acme, BuiltinRole::TenantAdmin),
        mk("a-sup", &acme, BuiltinRole::Supervisor),
        mk("a-agent", &acme, BuiltinRole::Agent),
        mk("g-admin", &globex, BuiltinRole::TenantAdmin),
        mk("g-sup", &globex, BuiltinRole::Supervisor),
    ]
}

#[derive(Clone, Debug)]
enum Act {
    Create { owner: usize, text: usize },
    Edit { text: usize },
    Submit,
    Approve,
    Reject,
    Revoke,
    Read,
    List { owner: usize },
}

const TEXTS: [&str; 3] = ["Hello {name}", "Your balance is {amount}", "Call us back"];

fn arb_act() -> impl Strategy<Value = Act> {
    prop_oneof![
        (0..3usize, 0..3usize).prop_map(|(owner, text)| Act::Create { owner, text }),
        (0..3usize).prop_map(|text| Act::Edit { text }),
        Just(Act::Submit),
        Just(Act::Approve),
        Just(Act::Reject),
        Just(Act::Revoke),
        Just(Act::Read),
        (0..3usize).prop_map(|owner| Act::List { owner }),
    ]
}

fn content(i: usize) -> ReviewContent {
    ReviewContent::tts(TEXTS[i], &Variables::default()).unwrap()
}

/// Applies `act` by `who` to item `id`; returns whether it succeeded and
/// what it saw (the owners of the items it could read).
fn run(
    store: &MemoryReviewStore,
    who: &Principal,
    id: &ItemId,
    act: &Act,
) -> (bool, Vec<Owner>, Option<Transition>) {
    block_on(async {
        let current = store.get(id).await.unwrap();
        if let Act::Create { owner, text } = act {
            if current.is_some() {
                return (false, vec![], None);
            }
            return match ReviewItem::create(
                who,
                id.clone(),
                owners()[*owner].clone(),
                content(*text),
            ) {
                Ok((item, t)) => {
                    store.insert(item).await.unwrap();
                    (true, vec![], Some(t))
                }
                Err(_) => (false, vec![], None),
            };
        }
        if let Act::List { owner } = act {
            let owner = &owners()[*owner];
            // What a handler does: check review.read on the owner, then list.
            if okcc_core::rbac::authorize(who, Permission::ReviewRead, owner).is_err() {
                return (false, vec![], None);
            }
            let page = store.list(owner, None, Page::first(100)).await.unwrap();
            return (
                true,
                page.items.iter().map(|i| i.owner().clone()).collect(),
                None,
            );
        }
        let Some(mut item) = current else {
            return (false, vec![], None);
        };
        let rev = item.revision();
        let result: Result<Option<Transition>, ReviewError> = match act {
            Act::Edit { text } => item.edit(who, content(*text)).map(Some),
            Act::Submit => item.submit(who).map(Some),
            Act::Approve => item.approve(who).map(Some),
            Act::Reject => item.reject(who, "not acceptable").map(Some),
            Act::Revoke => item.revoke(who, "complaint").map(Some),
            Act::Read => {
                return match item.read(who) {
                    Ok(_) => (true, vec![item.owner().clone()], None),
                    Err(_) => (false, vec![], None),
                };
            }
            Act::Create { .. } | Act::List { .. } => unreachable!("handled above"),
        };
        match result {
            Ok(t) => {
                let owner = item.owner().clone();
                store.save(item, rev).await.unwrap();
                (true, vec![owner], t)
            }
            Err(_) => (false, vec![], None),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random actions by random principals: a tenant user never sees or
    /// changes another tenant's data, and no item is usable without an
    /// approval by someone other than the submitter of that version.
    #[test]
    fn req_3_2_and_6_2_random_actions_keep_tenants_apart_and_maker_checker(
        steps in proptest::collection::vec((0..8usize, 0..2usize, arb_act()), 1..100),
    ) {
        let store = MemoryReviewStore::new();
        let people = principals();
        let ids: Vec<ItemId> = (0..2).map(|i| ItemId::new(&format!("item{i}")).unwrap()).collect();
        for (p, i, act) in &steps {
            let who = &people[*p];
            let id = &ids[*i];
            let before = block_on(store.get(id)).unwrap();
            let (ok, seen, transition) = run(&store, who, id, act);
            let after = block_on(store.get(id)).unwrap();
            if !ok {
                prop_assert_eq!(&before, &after, "a refused action changes nothing");
            }
            if let Owner::Tenant(_) = who.home() {
                for owner in &seen {
                    prop_assert_eq!(owner, who.home(), "{:?} saw another tenant's data", who.user());
                }
                if before != after {
                    let item = after.as_ref().unwrap();
                    prop_assert_eq!(item.owner(), who.home(), "{:?} changed another tenant's data", who.user());
                }
            }
            if let Some(t) = &transition {
                prop_assert_eq!(&t.actor, who.user());
                prop_assert_eq!(Some(&t.owner), after.as_ref().map(|i| i.owner()));
                prop_assert_eq!(Some(t.content_hash), after.as_ref().map(|i| i.content_hash()));
                if t.action == ReviewAction::Approve {
                    prop_assert!(who.is_platform(), "only the operator approves");
                }
            }
            // Every usable item was approved by someone else than its submitter.
            for id in &ids {
                if let Some(item) = block_on(store.get(id)).unwrap()
                    && let Ok(ok) = item.is_usable(&item.content_hash())
                {
                    let submitter = item.submitted_by();
                    prop_assert!(submitter.is_some());
                    prop_assert!(ok.approved_by().is_some());
                    prop_assert_ne!(ok.approved_by(), submitter);
                    let approver = people.iter().find(|p| Some(p.user()) == ok.approved_by()).unwrap();
                    prop_assert!(approver.permissions().contains(Permission::ReviewApprove));
                }
            }
        }
    }
}
