//! The [`RoleStore`] conformance suite, written once and run against every
//! backend (feature `testkit`).
//!
//! Each case takes a fresh, empty store. Run them all with the macro, one
//! `#[tokio::test]` per case (the calling crate needs `tokio` with the
//! `macros` and `rt` features):
//!
//! ```text
//! okcc_core::role_store_contract!(fresh_sqlite_store());
//! // `make` yields Option<store>; None skips (e.g. no PostgreSQL configured):
//! okcc_core::role_store_contract!(optional: maybe_postgres_store());
//! ```

use super::{Permission, PermissionSet, Role, RoleId, RoleStore, TenantCeiling};
use crate::ids::{Owner, TenantId, UserId};
use crate::store::{Page, StoreError};

fn id(s: &str) -> RoleId {
    RoleId::new(s).unwrap_or_else(|e| panic!("test role id: {e}"))
}

fn tenant(s: &str) -> Owner {
    Owner::Tenant(TenantId::new(s).unwrap_or_else(|e| panic!("test tenant: {e}")))
}

fn user(s: &str) -> UserId {
    UserId::new(s).unwrap_or_else(|e| panic!("test user: {e}"))
}

fn role(rid: &str, scope: Owner, perms: &[Permission]) -> Role {
    Role::new(
        id(rid),
        &format!("Role {rid}"),
        scope,
        perms.iter().copied().collect(),
    )
    .unwrap_or_else(|e| panic!("test role: {e}"))
}

/// Insert, read back equal, refuse a second insert of the same
/// `(scope, id)`; the same id in another scope is a different role.
pub async fn insert_get_and_conflict(store: &dyn RoleStore) {
    let acme = tenant("acme");
    let r = role("agent", acme.clone(), &[Permission::CrmRead]);
    store.insert_role(r.clone()).await.unwrap();
    assert_eq!(store.role(&acme, &id("agent")).await.unwrap(), Some(r));
    assert!(matches!(
        store
            .insert_role(role("agent", acme.clone(), &[Permission::CrmWrite]))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store
            .role(&acme, &id("agent"))
            .await
            .unwrap()
            .map(|r| r.permissions),
        Some(PermissionSet::from([Permission::CrmRead]))
    );
    let globex = tenant("globex");
    assert_eq!(store.role(&globex, &id("agent")).await.unwrap(), None);
    store
        .insert_role(role("agent", globex.clone(), &[Permission::CrmWrite]))
        .await
        .unwrap();
    store
        .insert_role(role("agent", Owner::Platform, &[Permission::AuditRead]))
        .await
        .unwrap();
    assert_eq!(
        store
            .role(&globex, &id("agent"))
            .await
            .unwrap()
            .map(|r| r.permissions),
        Some(PermissionSet::from([Permission::CrmWrite]))
    );
}

/// Listing one scope pages by id, in byte order, and never shows another
/// scope's roles.
pub async fn list_pages_by_id_within_scope(store: &dyn RoleStore) {
    let acme = tenant("acme");
    for r in ["e", "b", "d", "a", "c"] {
        store
            .insert_role(role(r, acme.clone(), &[Permission::CrmRead]))
            .await
            .unwrap();
    }
    store
        .insert_role(role("aa", tenant("globex"), &[]))
        .await
        .unwrap();
    store
        .insert_role(role("ab", Owner::Platform, &[]))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut page = Page::first(2);
    for _ in 0..10 {
        let got = store.list_roles(&acme, page.clone()).await.unwrap();
        assert!(got.items.len() <= 2);
        assert!(got.items.iter().all(|r| r.scope == acme));
        seen.extend(got.items.iter().map(|r| r.id.to_string()));
        match got.next {
            Some(next) => page = Page::after(next, 2),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let all = store
        .list_roles(&Owner::Platform, Page::first(10))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
    assert!(all.next.is_none());
}

/// A replace with the stored revision wins and stores the new revision; a
/// stale one is a conflict and changes nothing; a missing role is
/// `NotFound`.
pub async fn replace_is_revision_checked(store: &dyn RoleStore) {
    let acme = tenant("acme");
    store
        .insert_role(role("sup", acme.clone(), &[Permission::CrmRead]))
        .await
        .unwrap();
    let mut next = role(
        "sup",
        acme.clone(),
        &[Permission::CrmRead, Permission::CrmWrite],
    );
    next.revision = 1;
    store.replace_role(next.clone(), 0).await.unwrap();
    assert_eq!(
        store.role(&acme, &id("sup")).await.unwrap(),
        Some(next.clone())
    );

    let mut stale = role("sup", acme.clone(), &[]);
    stale.revision = 1;
    assert!(matches!(
        store.replace_role(stale, 0).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.role(&acme, &id("sup")).await.unwrap(), Some(next));
    assert!(matches!(
        store.replace_role(role("ghost", acme, &[]), 0).await,
        Err(StoreError::NotFound)
    ));
}

/// Assign and unassign report whether anything changed; assigning a
/// missing role is `NotFound`; `roles_of` lists a user's roles of its home
/// scope only, ordered by id.
pub async fn assign_unassign_roles_of(store: &dyn RoleStore) {
    let acme = tenant("acme");
    let globex = tenant("globex");
    for r in ["sup", "agent"] {
        store
            .insert_role(role(r, acme.clone(), &[Permission::CrmRead]))
            .await
            .unwrap();
    }
    store
        .insert_role(role("agent", globex.clone(), &[Permission::CrmWrite]))
        .await
        .unwrap();
    let alice = user("alice");
    assert!(store.assign(&acme, &alice, &id("sup")).await.unwrap());
    assert!(store.assign(&acme, &alice, &id("agent")).await.unwrap());
    assert!(!store.assign(&acme, &alice, &id("agent")).await.unwrap());
    assert!(matches!(
        store.assign(&acme, &alice, &id("ghost")).await,
        Err(StoreError::NotFound)
    ));
    let ids: Vec<String> = store
        .roles_of(&acme, &alice)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["agent", "sup"]);
    // Same user name in another tenant: nothing assigned there.
    assert!(store.roles_of(&globex, &alice).await.unwrap().is_empty());
    assert!(store.unassign(&acme, &alice, &id("sup")).await.unwrap());
    assert!(!store.unassign(&acme, &alice, &id("sup")).await.unwrap());
    let ids: Vec<String> = store
        .roles_of(&acme, &alice)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["agent"]);
}

/// Deleting a role removes every assignment of it (a role of the same id
/// recreated later is not assigned to anyone); deleting again is
/// `NotFound`.
pub async fn delete_removes_assignments(store: &dyn RoleStore) {
    let acme = tenant("acme");
    store
        .insert_role(role("sup", acme.clone(), &[Permission::CrmRead]))
        .await
        .unwrap();
    store
        .insert_role(role("agent", acme.clone(), &[Permission::CrmRead]))
        .await
        .unwrap();
    for u in ["alice", "bob"] {
        store.assign(&acme, &user(u), &id("sup")).await.unwrap();
        store.assign(&acme, &user(u), &id("agent")).await.unwrap();
    }
    store.delete_role(&acme, &id("sup")).await.unwrap();
    assert_eq!(store.role(&acme, &id("sup")).await.unwrap(), None);
    assert!(matches!(
        store.delete_role(&acme, &id("sup")).await,
        Err(StoreError::NotFound)
    ));
    store
        .insert_role(role("sup", acme.clone(), &[Permission::CrmRead]))
        .await
        .unwrap();
    for u in ["alice", "bob"] {
        let ids: Vec<String> = store
            .roles_of(&acme, &user(u))
            .await
            .unwrap()
            .iter()
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(ids, ["agent"], "{u}");
    }
}

/// The ceiling reads as the default until set, then as set.
pub async fn ceiling_defaults_then_persists(store: &dyn RoleStore) {
    assert_eq!(store.ceiling().await.unwrap(), TenantCeiling::default());
    let low = TenantCeiling::new(PermissionSet::from([Permission::CrmRead]))
        .unwrap_or_else(|e| panic!("{e}"));
    store.set_ceiling(low).await.unwrap();
    assert_eq!(store.ceiling().await.unwrap(), low);
    let other = TenantCeiling::new(PermissionSet::from([
        Permission::CrmRead,
        Permission::CrmWrite,
    ]))
    .unwrap_or_else(|e| panic!("{e}"));
    store.set_ceiling(other).await.unwrap();
    assert_eq!(store.ceiling().await.unwrap(), other);
}

/// Runs the [`RoleStore`] conformance suite: one `#[tokio::test]` per
/// case, each on a fresh store from `$make` (an expression evaluating to a
/// future of the store; with `optional:`, of `Option<store>`, where `None`
/// skips the case).
#[macro_export]
macro_rules! role_store_contract {
    (optional: $make:expr) => {
        $crate::role_store_contract!(@cases (optional $make);
            insert_get_and_conflict,
            list_pages_by_id_within_scope,
            replace_is_revision_checked,
            assign_unassign_roles_of,
            delete_removes_assignments,
            ceiling_defaults_then_persists
        );
    };
    ($make:expr) => {
        $crate::role_store_contract!(@cases (required $make);
            insert_get_and_conflict,
            list_pages_by_id_within_scope,
            replace_is_revision_checked,
            assign_unassign_roles_of,
            delete_removes_assignments,
            ceiling_defaults_then_persists
        );
    };
    (@cases ($how:ident $make:expr); $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::role_store_contract!(@run $how $make, $case);
            }
        )*
    };
    (@run required $make:expr, $case:ident) => {
        let store = $make.await;
        $crate::rbac::testkit::$case(&store).await;
    };
    (@run optional $make:expr, $case:ident) => {
        if let Some(store) = $make.await {
            $crate::rbac::testkit::$case(&store).await;
        }
    };
}
