//! The PostgreSQL [`CustomerStore`](super::CustomerStore) (feature
//! `postgres`), for several nodes on one database. The row read before a
//! change takes `FOR UPDATE`; a number taken concurrently by another node
//! is caught by the `crm_phone_keys` primary key.

use okcc_core::StoreError;
use okcc_core::store::sql::run_migrations;

/// Customers in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresCustomerStore {
    pool: sqlx::PgPool,
}

impl PostgresCustomerStore {
    /// Uses a connected pool ([`okcc_core::store::sql::connect_postgres`])
    /// and applies the embedded migrations.
    pub async fn from_pool(pool: sqlx::PgPool) -> Result<Self, StoreError> {
        run_migrations(
            sqlx::migrate!("./migrations/postgres"),
            "okcc_crm_migrations",
            &pool,
        )
        .await?;
        Ok(Self { pool })
    }

    /// The pool (readiness checks).
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

super::sql::impl_sql_customer_store!(
    PostgresCustomerStore,
    sqlx::PgConnection,
    "BEGIN",
    " FOR UPDATE"
);
