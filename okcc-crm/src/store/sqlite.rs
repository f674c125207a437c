//! The SQLite [`CustomerStore`](super::CustomerStore) and
//! [`RevealStore`](super::RevealStore) (feature `sqlite`): the embedded
//! default. Writes run in `BEGIN IMMEDIATE` transactions; search by number
//! goes through the `crm_phone_keys` primary key.

okcc_core::sql_store_structs! {
    migrate_sqlite: super::sql::migrate_sqlite,
    /// Customers in SQLite.
    sqlite: SqliteCustomerStore,
    /// Reveal requests and grants in SQLite.
    sqlite: SqliteRevealStore,
}

super::sql::impl_sql_customer_store!(
    SqliteCustomerStore,
    sqlx::SqliteConnection,
    "BEGIN IMMEDIATE",
    ""
);

super::reveal_sql::impl_sql_reveal_store!(
    SqliteRevealStore,
    sqlx::SqliteConnection,
    "BEGIN IMMEDIATE",
    None
);
