//! The `CustomerStore` conformance suite against SQLite and PostgreSQL
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

#[cfg(feature = "postgres")]
mod postgres {
    use okcc_crm::store::postgres::PostgresCustomerStore;
    use okcc_crm::testkit;

    macro_rules! pg_case {
        ($($name:ident),*) => {$(
            #[tokio::test]
            async fn $name() {
                let Some(pool) = okcc_core::store::sql::test_postgres_pool().await else {
                    return;
                };
                let store = PostgresCustomerStore::from_pool(pool).await.expect("migrate");
                testkit::$name(&store).await;
            }
        )*};
    }
    pg_case!(
        restore_returns_the_same_record,
        deleted_is_invisible_to_get_and_search,
        restore_conflicts_when_number_taken,
        stale_update_is_refused,
        tenants_are_isolated,
        search_by_name_tag_number_with_pages,
        purge_one_older_than_and_all
    );
}
