//! The SQLite [`AuditStore`](crate::AuditStore) (feature `sqlite`): the
//! embedded default. Appends run in one `BEGIN IMMEDIATE` transaction per
//! batch (one writer at a time, also across processes); the chain is
//! linked inside it. WAL + `synchronous = NORMAL`: an acknowledged append
//! survives a process kill (see [`okcc_core::store::sql`] for power loss).

use std::path::Path;

use okcc_core::store::StoreError;
use okcc_core::store::sql::{SqliteOptions, open_sqlite, run_migrations};

use crate::checkpoint::CheckpointPolicy;

/// The audit chain in SQLite.
#[derive(Debug)]
pub struct SqliteAuditStore {
    pool: sqlx::SqlitePool,
    writer: tokio::sync::Mutex<()>,
    checkpoints: Option<CheckpointPolicy>,
}

impl SqliteAuditStore {
    /// Opens (creating if missing) the database file at `path` and
    /// applies the embedded migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = open_sqlite(path, &SqliteOptions::default()).await?;
        Self::from_pool(pool).await
    }

    /// Uses an open pool (shared with the other stores) and applies the
    /// embedded migrations.
    pub async fn from_pool(pool: sqlx::SqlitePool) -> Result<Self, StoreError> {
        run_migrations(
            sqlx::migrate!("./migrations/sqlite"),
            "okcc_audit_migrations",
            &pool,
        )
        .await?;
        Ok(Self {
            pool,
            writer: tokio::sync::Mutex::new(()),
            checkpoints: None,
        })
    }

    /// Signs keyed checkpoints with `policy` on every append.
    #[must_use]
    pub fn with_checkpoints(mut self, policy: CheckpointPolicy) -> Self {
        self.checkpoints = Some(policy);
        self
    }

    /// The pool (for readiness checks and backups).
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}

super::sql::impl_sql_audit_store!(
    SqliteAuditStore,
    "BEGIN IMMEDIATE",
    "SELECT 1",
    super::sql::Params::Positional
);

#[cfg(test)]
mod tests {
    use sqlx::Row as _;

    use super::SqliteAuditStore;
    use crate::store::sql::{
        HEAD, Params, QUERY_NEWEST_FIRST, QUERY_OLDEST_FIRST, QUERY_RANGE_NEWEST_FIRST,
        QUERY_RANGE_OLDEST_FIRST, READ_CHAIN, stored_ids_sql,
    };

    async fn plan(store: &SqliteAuditStore, sql: &str, params: usize) -> Vec<String> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for i in 0..params {
            q = q.bind(i64::try_from(i).expect("small"));
        }
        let rows = q.fetch_all(store.pool()).await.expect("plan");
        rows.iter()
            .map(|r| r.try_get::<String, _>(3).expect("detail"))
            .collect()
    }

    /// Every read of the log and the duplicate check of an append search
    /// an index (the sequence number or the event id); none scans the
    /// table, and reads without a time range never sort (issue 7,
    /// performance).
    #[tokio::test]
    async fn req_7_audit_reads_use_an_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteAuditStore::open(&dir.path().join("audit.db"))
            .await
            .expect("open");
        for (sql, params, index) in [
            (QUERY_NEWEST_FIRST.to_owned(), 7, "INTEGER PRIMARY KEY"),
            (QUERY_OLDEST_FIRST.to_owned(), 7, "INTEGER PRIMARY KEY"),
            (QUERY_RANGE_NEWEST_FIRST.to_owned(), 7, ""),
            (QUERY_RANGE_OLDEST_FIRST.to_owned(), 7, ""),
            (READ_CHAIN.to_owned(), 2, "INTEGER PRIMARY KEY"),
            (
                stored_ids_sql(Params::Positional, 3),
                3,
                "sqlite_autoindex_audit_events",
            ),
        ] {
            let steps = plan(&store, &sql, params).await;
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with("SEARCH audit_events USING") && s.contains(index)),
                "{sql}: {steps:?}"
            );
            assert!(
                !steps.iter().any(|s| s.starts_with("SCAN")),
                "{sql}: {steps:?}"
            );
            if !index.is_empty() {
                assert!(
                    !steps.iter().any(|s| s.contains("TEMP B-TREE")),
                    "{sql}: {steps:?}"
                );
            }
        }
        // The head is the last row of the primary key, read backwards.
        let steps = plan(&store, HEAD, 0).await;
        assert!(
            steps
                .iter()
                .all(|s| s.starts_with("SCAN audit_events") && !s.contains("TEMP")),
            "{steps:?}"
        );
    }
}
