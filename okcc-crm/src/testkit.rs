//! The [`CustomerStore`] conformance suite, written once and run against
//! every backend (feature `testkit`).
//!
//! Each case is a function taking a fresh, empty store;
//! [`customer_store_contract!`](crate::customer_store_contract) turns them
//! into one `#[tokio::test]` per case:
//!
//! ```ignore
//! okcc_crm::customer_store_contract!(async { my_backend::fresh_store().await });
//! ```

pub mod reveal;

use std::time::{Duration, SystemTime};

use okcc_core::recycle::{DeleteReason, Deletion};
use okcc_core::store::Page;
use okcc_core::{StoreError, TenantId, UserId};

use crate::customer::{CustomerFields, Phone, PhoneKind};
use crate::store::{CustomerQuery, CustomerStore};

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap_or_else(|e| panic!("test tenant: {e}"))
}

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn deletion(at: u64) -> Deletion {
    Deletion::new(
        UserId::new("admin").unwrap_or_else(|e| panic!("{e}")),
        t(at),
        DeleteReason::new("duplicate entry").unwrap_or_else(|e| panic!("{e}")),
    )
}

fn with_phone(name: &str, number: &str) -> CustomerFields {
    let mut f = CustomerFields::named(name);
    f.phones
        .push(Phone::parse(PhoneKind::Mobile, number).unwrap_or_else(|e| panic!("{e}")));
    f
}

/// Insert, delete, restore: the restored record equals the original, and
/// the bin recorded who, when and why.
pub async fn restore_returns_the_same_record(store: &dyn CustomerStore) {
    let a = tenant("acme");
    let c = store
        .insert(&a, with_phone("Zhang", "13812345678"), t(0))
        .await
        .unwrap();
    store.soft_delete(&a, c.id, deletion(5)).await.unwrap();
    let bin = store.list_deleted(&a, Page::first(10)).await.unwrap();
    assert_eq!(bin.items.len(), 1);
    assert_eq!(bin.items[0].deletion.by.as_str(), "admin");
    assert_eq!(bin.items[0].deletion.at, t(5));
    assert_eq!(bin.items[0].deletion.reason.as_str(), "duplicate entry");
    assert_eq!(store.restore(&a, c.id).await.unwrap(), c);
    assert_eq!(store.get(&a, c.id).await.unwrap(), Some(c));
    assert!(
        store
            .list_deleted(&a, Page::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// A deleted record is invisible to `get` and `search`.
pub async fn deleted_is_invisible_to_get_and_search(store: &dyn CustomerStore) {
    let a = tenant("acme");
    let c = store
        .insert(&a, with_phone("Zhang", "13812345678"), t(0))
        .await
        .unwrap();
    store.soft_delete(&a, c.id, deletion(1)).await.unwrap();
    assert_eq!(store.get(&a, c.id).await.unwrap(), None);
    let found = store
        .search(&a, &CustomerQuery::All, Page::first(10))
        .await
        .unwrap();
    assert!(found.items.is_empty());
    assert!(matches!(
        store.soft_delete(&a, c.id, deletion(2)).await,
        Err(StoreError::Conflict { .. })
    ));
}

/// Restoring a record whose number a live record took is a conflict, and
/// the record stays in the bin.
pub async fn restore_conflicts_when_number_taken(store: &dyn CustomerStore) {
    let a = tenant("acme");
    let old = store
        .insert(&a, with_phone("Old", "13812345678"), t(0))
        .await
        .unwrap();
    store.soft_delete(&a, old.id, deletion(1)).await.unwrap();
    store
        .insert(&a, with_phone("New", "138-1234-5678"), t(2))
        .await
        .unwrap();
    let err = store.restore(&a, old.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("1381"),
        "no number in the message: {err}"
    );
    assert_eq!(
        store
            .list_deleted(&a, Page::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

/// A stale update is refused; a current one bumps the version.
pub async fn stale_update_is_refused(store: &dyn CustomerStore) {
    let a = tenant("acme");
    let c = store
        .insert(&a, CustomerFields::named("Zhang"), t(0))
        .await
        .unwrap();
    let v2 = store
        .update(
            &a,
            c.id,
            c.version,
            CustomerFields::named("Zhang San"),
            t(1),
        )
        .await
        .unwrap();
    assert_eq!(v2.version, c.version + 1);
    let stale = store
        .update(&a, c.id, c.version, CustomerFields::named("Li"), t(2))
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })));
    assert_eq!(
        store.get(&a, c.id).await.unwrap().map(|c| c.fields.name),
        Some("Zhang San".into())
    );
}

/// Records of one tenant are invisible to another.
pub async fn tenants_are_isolated(store: &dyn CustomerStore) {
    let (a, b) = (tenant("acme"), tenant("globex"));
    let c = store
        .insert(&a, with_phone("Zhang", "13812345678"), t(0))
        .await
        .unwrap();
    // The same number may live in another tenant.
    store
        .insert(&b, with_phone("Other", "13812345678"), t(0))
        .await
        .unwrap();
    assert_eq!(store.get(&b, c.id).await.unwrap(), None);
    assert!(store.soft_delete(&b, c.id, deletion(1)).await.is_err());
    assert!(
        store
            .update(&b, c.id, 1, CustomerFields::named("x"), t(1))
            .await
            .is_err()
    );
    assert_eq!(store.get(&a, c.id).await.unwrap().map(|c| c.id), Some(c.id));
}

/// Search by name, tag and number; pages follow the cursor.
pub async fn search_by_name_tag_number_with_pages(store: &dyn CustomerStore) {
    let a = tenant("acme");
    for i in 0..5u32 {
        let mut f = with_phone(&format!("Customer {i}"), &format!("1381234567{i}"));
        if i % 2 == 0 {
            f.tags.insert("vip".into());
        }
        store.insert(&a, f, t(0)).await.unwrap();
    }
    let q = |q| async move {
        store
            .search(&tenant("acme"), &q, Page::first(100))
            .await
            .unwrap()
            .items
    };
    assert_eq!(q(CustomerQuery::Name("customer 3".into())).await.len(), 1);
    assert_eq!(q(CustomerQuery::Tag("vip".into())).await.len(), 3);
    assert_eq!(
        q(CustomerQuery::NumberKey("13812345674".into()))
            .await
            .len(),
        1
    );
    let first = store
        .search(&a, &CustomerQuery::All, Page::first(2))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let cursor = first.next.unwrap_or_else(|| panic!("more pages"));
    let second = store
        .search(&a, &CustomerQuery::All, Page::after(cursor, 10))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 3);
    assert!(second.next.is_none());
    assert!(
        second
            .items
            .iter()
            .all(|c| first.items.iter().all(|f| f.id < c.id))
    );
}

/// Purge one, purge older than a cutoff, purge all.
pub async fn purge_one_older_than_and_all(store: &dyn CustomerStore) {
    let a = tenant("acme");
    let mut ids = Vec::new();
    for i in 0..4u64 {
        let c = store
            .insert(&a, CustomerFields::named("x"), t(0))
            .await
            .unwrap();
        store
            .soft_delete(&a, c.id, deletion(i * 100))
            .await
            .unwrap();
        ids.push(c.id);
    }
    let live = store
        .insert(&a, CustomerFields::named("live"), t(0))
        .await
        .unwrap();
    assert!(matches!(
        store.purge(&a, live.id).await,
        Err(StoreError::Conflict { .. })
    ));
    store.purge(&a, ids[3]).await.unwrap();
    assert!(matches!(
        store.restore(&a, ids[3]).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.purge_deleted_before(&a, t(150)).await.unwrap(), 2);
    assert_eq!(store.purge_all(&a).await.unwrap(), 1);
    assert!(store.get(&a, live.id).await.unwrap().is_some());
}

/// One `#[tokio::test]` per conformance case, for the store that `$make`
/// (an expression giving a future of a fresh store) builds; with
/// `optional:`, a future of `Option<store>`, where `None` skips the case
/// (e.g. no PostgreSQL configured).
#[macro_export]
macro_rules! customer_store_contract {
    (optional: $make:expr) => {
        $crate::customer_store_contract!(@cases (optional $make);
            restore_returns_the_same_record,
            deleted_is_invisible_to_get_and_search,
            restore_conflicts_when_number_taken,
            stale_update_is_refused,
            tenants_are_isolated,
            search_by_name_tag_number_with_pages,
            purge_one_older_than_and_all
        );
    };
    ($make:expr) => {
        $crate::customer_store_contract!(@cases (required $make);
            restore_returns_the_same_record,
            deleted_is_invisible_to_get_and_search,
            restore_conflicts_when_number_taken,
            stale_update_is_refused,
            tenants_are_isolated,
            search_by_name_tag_number_with_pages,
            purge_one_older_than_and_all
        );
    };
    (@cases ($how:ident $make:expr); $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::customer_store_contract!(@run $how $make, $case);
            }
        )*
    };
    (@run required $make:expr, $case:ident) => {
        let store = $make.await;
        $crate::testkit::$case(&store).await;
    };
    (@run optional $make:expr, $case:ident) => {
        if let Some(store) = $make.await {
            $crate::testkit::$case(&store).await;
        }
    };
}
