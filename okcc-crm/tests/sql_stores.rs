//! The `CustomerStore` and `RevealStore` conformance suites against SQLite and PostgreSQL
//! (requirement 7; issue 7), and the query plan of search by number.
#![cfg(any(feature = "sqlite", feature = "postgres"))]

#[cfg(feature = "sqlite")]
mod sqlite {
    use okcc_crm::store::sqlite::SqliteCustomerStore;

    async fn fresh() -> SqliteCustomerStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("crm.db");
        // The directory lives as long as the test process.
        std::mem::forget(dir);
        SqliteCustomerStore::open(&path).await.expect("open")
    }

    okcc_crm::customer_store_contract!(fresh());

    /// Search by number is an index lookup, never a scan of the
    /// customers table (issue 7, performance).
    #[tokio::test]
    async fn req_7_search_by_number_uses_an_index() {
        use sqlx::Row as _;
        let store = fresh().await;
        let plan = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT c.id, c.version, c.fields, c.created_ns, c.updated_ns \
             FROM crm_phone_keys k JOIN crm_customers c ON c.id = k.customer_id \
             WHERE k.tenant = $1 AND k.key = $2 AND c.id > $3 AND c.deletion IS NULL \
             ORDER BY c.id LIMIT $4",
        )
        .bind("acme")
        .bind("+8613812345678")
        .bind(0i64)
        .bind(2i64)
        .fetch_all(store.pool())
        .await
        .expect("plan");
        let steps: Vec<String> = plan
            .iter()
            .map(|r| r.try_get::<String, _>(3).expect("detail"))
            .collect();
        println!("{steps:#?}");
        assert!(
            steps.iter().any(|s| s.contains("SEARCH k USING")
                && (s.contains("sqlite_autoindex_crm_phone_keys") || s.contains("PRIMARY KEY"))),
            "{steps:?}"
        );
        assert!(
            steps
                .iter()
                .any(|s| s.contains("SEARCH c USING INTEGER PRIMARY KEY")),
            "{steps:?}"
        );
        assert!(!steps.iter().any(|s| s.starts_with("SCAN")), "{steps:?}");
    }
}

/// Reveal requests and grants in SQLite, and that they survive closing
/// and reopening the database (a restart).
#[cfg(feature = "sqlite")]
mod sqlite_reveals {
    use okcc_crm::store::sqlite::SqliteRevealStore;

    async fn fresh() -> SqliteRevealStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("crm.db");
        // The directory lives as long as the test process.
        std::mem::forget(dir);
        SqliteRevealStore::open(&path).await.expect("open")
    }

    okcc_crm::reveal_store_contract!(fresh());

    #[tokio::test]
    async fn req_8_2_reveal_approval_survives_reopening_the_database() {
        use std::time::{Duration, SystemTime};

        use okcc_core::{TenantId, UserId};
        use okcc_crm::customer::CustomerId;
        use okcc_crm::reveal::{RevealBook, RevealPolicy, utc_day_start};
        use okcc_crm::store::RevealStore;

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("crm.db");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_050_000);
        let acme = TenantId::new("acme").expect("tenant");
        let agent = UserId::new("agent").expect("user");
        let rules = RevealBook::new(RevealPolicy::default());
        let id = {
            let store = SqliteRevealStore::open(&path).await.expect("open");
            let day = utc_day_start(at);
            let counts = store.counts(&acme, &agent, day).await.expect("counts");
            let new = rules
                .request(&acme, CustomerId(1), &agent, "callback", counts, at)
                .expect("request");
            let r = store.insert(new, counts, day).await.expect("insert");
            let ok = rules
                .decide(&acme, &r, &UserId::new("boss").expect("user"), true, at)
                .expect("decide");
            store.set_state(&acme, r.id, ok, 1).await.expect("approve");
            store.pool().close().await;
            r.id
        };
        let store = SqliteRevealStore::open(&path).await.expect("reopen");
        let grant = store
            .grant(&acme, CustomerId(1), &agent, at + Duration::from_secs(60))
            .await
            .expect("grant");
        assert_eq!(grant.map(|g| g.id), Some(id));
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use okcc_crm::store::postgres::PostgresCustomerStore;

    okcc_crm::customer_store_contract!(optional: async {
        match okcc_core::store::sql::test_postgres_pool().await {
            Some(pool) => Some(PostgresCustomerStore::from_pool(pool).await.expect("migrate")),
            None => None,
        }
    });
}

#[cfg(feature = "postgres")]
mod postgres_reveals {
    use okcc_crm::store::postgres::PostgresRevealStore;

    okcc_crm::reveal_store_contract!(optional: async {
        match okcc_core::store::sql::test_postgres_pool().await {
            Some(pool) => Some(PostgresRevealStore::from_pool(pool).await.expect("migrate")),
            None => None,
        }
    });
}
