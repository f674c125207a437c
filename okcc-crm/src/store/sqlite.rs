//! The SQLite [`CustomerStore`](super::CustomerStore) (feature `sqlite`):
//! the embedded default. Writes run in `BEGIN IMMEDIATE` transactions;
//! search by number goes through the `crm_phone_keys` primary key.

use std::path::Path;

use okcc_core::StoreError;
use okcc_core::store::sql::{SqliteOptions, open_sqlite, run_migrations};

/// Customers in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteCustomerStore {
    pool: sqlx::SqlitePool,
}

impl SqliteCustomerStore {
    /// Opens (creating if missing) the database file at `path` and
    /// applies the embedded migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::from_pool(open_sqlite(path, &SqliteOptions::default()).await?).await
    }

    /// Uses an open pool (shared with the other stores) and applies the
    /// embedded migrations.
    pub async fn from_pool(pool: sqlx::SqlitePool) -> Result<Self, StoreError> {
        run_migrations(
            sqlx::migrate!("./migrations/sqlite"),
            "okcc_crm_migrations",
            &pool,
        )
        .await?;
        Ok(Self { pool })
    }

    /// The pool (readiness checks, backups, query plans).
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}

super::sql::impl_sql_customer_store!(
    SqliteCustomerStore,
    sqlx::SqliteConnection,
    "BEGIN IMMEDIATE",
    ""
);
