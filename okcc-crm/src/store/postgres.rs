//! The PostgreSQL [`CustomerStore`](super::CustomerStore) and
//! [`RevealStore`](super::RevealStore) (feature `postgres`), for several
//! nodes on one database. The customer row read before a change takes
//! `FOR UPDATE`; a number taken concurrently by another node is caught by
//! the `crm_phone_keys` primary key. Filing a reveal request takes a
//! transaction-scoped advisory lock on (tenant, requester), so the
//! per-requester limits hold across nodes.

okcc_core::sql_store_structs! {
    migrate_postgres: super::sql::migrate_postgres,
    /// Customers in PostgreSQL.
    postgres: PostgresCustomerStore,
    /// Reveal requests and grants in PostgreSQL.
    postgres: PostgresRevealStore,
}

super::sql::impl_sql_customer_store!(
    PostgresCustomerStore,
    sqlx::PgConnection,
    "BEGIN",
    " FOR UPDATE"
);

super::reveal_sql::impl_sql_reveal_store!(
    PostgresRevealStore,
    sqlx::PgConnection,
    "BEGIN",
    Some("SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))::text")
);
