//! The PostgreSQL [`AuditStore`](crate::AuditStore) (feature `postgres`),
//! for several nodes on one database. Every append locks the anchor row
//! (`SELECT … FOR UPDATE`) so writers from all nodes link the chain one
//! after the other.

use okcc_core::store::StoreError;
use okcc_core::store::sql::run_migrations;

use crate::checkpoint::CheckpointPolicy;

/// The audit chain in PostgreSQL.
#[derive(Debug)]
pub struct PostgresAuditStore {
    pool: sqlx::PgPool,
    writer: tokio::sync::Mutex<()>,
    checkpoints: Option<CheckpointPolicy>,
}

impl PostgresAuditStore {
    /// Uses a connected pool ([`okcc_core::store::sql::connect_postgres`])
    /// and applies the embedded migrations.
    pub async fn from_pool(pool: sqlx::PgPool) -> Result<Self, StoreError> {
        run_migrations(
            sqlx::migrate!("./migrations/postgres"),
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

    /// The pool (for readiness checks).
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

super::sql::impl_sql_audit_store!(
    PostgresAuditStore,
    "BEGIN",
    "SELECT seq FROM audit_anchor WHERE id = 1 FOR UPDATE",
    super::sql::Params::Numbered
);
