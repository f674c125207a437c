//! The `AuditStore` conformance suite against SQLite and PostgreSQL
//! (requirement 5.1; issue 7).
#![cfg(any(feature = "sqlite", feature = "postgres"))]

#[cfg(feature = "sqlite")]
mod sqlite {
    use okcc_audit::store::sqlite::SqliteAuditStore;

    async fn fresh() -> SqliteAuditStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.db");
        // The directory lives as long as the test process.
        std::mem::forget(dir);
        SqliteAuditStore::open(&path).await.expect("open")
    }

    okcc_audit::audit_store_contract!(fresh());
}

#[cfg(feature = "postgres")]
mod postgres {
    use okcc_audit::store::postgres::PostgresAuditStore;
    use okcc_audit::testkit;

    macro_rules! pg_case {
        ($name:ident) => {
            #[tokio::test]
            async fn $name() {
                let Some(pool) = okcc_core::store::sql::test_postgres_pool().await else {
                    return;
                };
                let store = PostgresAuditStore::from_pool(pool).await.expect("migrate");
                testkit::$name(&store).await;
            }
        };
    }
    pg_case!(append_links_and_verifies);
    pg_case!(append_is_idempotent_by_id);
    pg_case!(append_skips_repeats_anywhere);
    pg_case!(query_filters_and_pages);
    pg_case!(retention_keeps_the_chain_verifiable);
    pg_case!(export_round_trips);
}
