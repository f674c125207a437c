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
