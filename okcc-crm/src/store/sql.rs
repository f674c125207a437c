//! What the SQLite and PostgreSQL customer stores share: row conversion
//! and, as a macro, the [`CustomerStore`](super::CustomerStore)
//! implementation (same SQL on both; only the pool type, how a write
//! transaction starts and the row-lock suffix differ).
//!
//! Layout: one row per customer (fields as JSON, `deletion` NULL while
//! live) and `crm_phone_keys (tenant, key) PRIMARY KEY` holding the
//! numbers of live customers: the uniqueness rule of the recycle bin and
//! the index behind search by number.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use okcc_core::recycle::{Binned, Deletion, RecycleError};
use okcc_core::{StoreError, TenantId};

use crate::customer::{Customer, CustomerFields, CustomerId};

pub(crate) use okcc_core::store::sql::db_err;

/// Rows fetched per round trip while filtering a search in Rust.
pub(crate) const SCAN_CHUNK: i64 = 512;

/// Applies okcc-crm's embedded SQLite migrations (history table
/// `okcc_crm_migrations`).
#[cfg(feature = "sqlite")]
pub(crate) async fn migrate_sqlite(pool: &sqlx::SqlitePool) -> Result<(), StoreError> {
    okcc_core::store::sql::run_migrations(
        sqlx::migrate!("./migrations/sqlite"),
        "okcc_crm_migrations",
        pool,
    )
    .await
}

/// Applies okcc-crm's embedded PostgreSQL migrations (history table
/// `okcc_crm_migrations`).
#[cfg(feature = "postgres")]
pub(crate) async fn migrate_postgres(pool: &sqlx::PgPool) -> Result<(), StoreError> {
    okcc_core::store::sql::run_migrations(
        sqlx::migrate!("./migrations/postgres"),
        "okcc_crm_migrations",
        pool,
    )
    .await
}

/// A stored value that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("corrupt customer row: {0}")]
pub(crate) struct CorruptRow(&'static str);

pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::Backend(Box::new(CorruptRow(what)))
}

/// `SystemTime` as signed nanoseconds since the Unix epoch (saturating).
pub(crate) fn ns_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// The inverse of [`ns_of`].
pub(crate) fn time_of(ns: i64) -> SystemTime {
    let d = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// A stored id (`u64`) as `BIGINT`.
pub(crate) fn id_of(id: CustomerId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

/// JSON of a value we own (cannot fail for these types; mapped anyway).
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// A customer from its columns.
pub(crate) fn customer_of(
    tenant: &TenantId,
    id: i64,
    version: i64,
    fields: &str,
    created_ns: i64,
    updated_ns: i64,
) -> Result<Customer, StoreError> {
    let fields: CustomerFields =
        serde_json::from_str(fields).map_err(|_| corrupt("fields are not valid JSON"))?;
    Ok(Customer {
        id: CustomerId(u64::try_from(id).map_err(|_| corrupt("negative id"))?),
        tenant: tenant.clone(),
        version: u64::try_from(version).map_err(|_| corrupt("negative version"))?,
        fields,
        created_at: time_of(created_ns),
        updated_at: time_of(updated_ns),
    })
}

/// A binned customer from its record and deletion JSON.
pub(crate) fn binned_of(record: Customer, deletion: &str) -> Result<Binned<Customer>, StoreError> {
    let deletion: Deletion =
        serde_json::from_str(deletion).map_err(|_| corrupt("deletion is not valid JSON"))?;
    Ok(Binned::new(record, deletion))
}

/// A phone key held by another live customer.
pub(crate) fn key_taken(holder: i64) -> StoreError {
    let holder =
        u64::try_from(holder).map_or_else(|_| holder.to_string(), |h| CustomerId(h).to_string());
    RecycleError::KeyTaken { holder }.into()
}

/// A unique-key violation raced past the pre-check: same answer as the
/// pre-check gives.
pub(crate) fn write_err(e: sqlx::Error) -> StoreError {
    if e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
    {
        return StoreError::conflict(
            "a phone number of this customer is held by another live customer",
        );
    }
    db_err(e)
}

/// Implements `CustomerStore` for `$store` (a struct with a field
/// `pool`; `$conn` is its connection type). `$begin` starts a write transaction; `$lock` is appended to
/// the row read that precedes a change.
macro_rules! impl_sql_customer_store {
    ($store:ty, $conn:ty, $begin:literal, $lock:literal) => {
        impl $store {
            /// Fails with `Conflict` when a key of `fields` is held by a
            /// live customer other than `except`.
            async fn check_keys(
                conn: &mut $conn,
                tenant: &okcc_core::TenantId,
                fields: &$crate::customer::CustomerFields,
                except: i64,
            ) -> Result<(), okcc_core::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, key_taken};
                for phone in &fields.phones {
                    if let Some(row) = sqlx::query(
                        "SELECT customer_id FROM crm_phone_keys WHERE tenant = $1 AND key = $2",
                    )
                    .bind(tenant.as_str())
                    .bind(phone.key.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?
                    {
                        let holder: i64 = row.try_get(0).map_err(db_err)?;
                        if holder != except {
                            return Err(key_taken(holder));
                        }
                    }
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::CustomerStore for $store {
            async fn insert(
                &self,
                tenant: &okcc_core::TenantId,
                fields: $crate::customer::CustomerFields,
                at: std::time::SystemTime,
            ) -> Result<$crate::customer::Customer, okcc_core::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{customer_of, db_err, ns_of, to_json, write_err};
                let json = to_json(&fields)?;
                let now = ns_of(at);
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                Self::check_keys(&mut *tx, tenant, &fields, -1).await?;
                let row = sqlx::query(
                    "INSERT INTO crm_customers (tenant, version, fields, created_ns, updated_ns) \
                     VALUES ($1, 1, $2, $3, $3) RETURNING id",
                )
                .bind(tenant.as_str())
                .bind(&json)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(write_err)?;
                let id: i64 = row.try_get(0).map_err(db_err)?;
                for phone in &fields.phones {
                    sqlx::query(
                        "INSERT INTO crm_phone_keys (tenant, key, customer_id) VALUES ($1, $2, $3)",
                    )
                    .bind(tenant.as_str())
                    .bind(phone.key.as_str())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(write_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                customer_of(tenant, id, 1, &json, now, now)
            }

            async fn get(
                &self,
                tenant: &okcc_core::TenantId,
                id: $crate::customer::CustomerId,
            ) -> Result<Option<$crate::customer::Customer>, okcc_core::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{customer_of, db_err, id_of};
                let Some(row) = sqlx::query(
                    "SELECT id, version, fields, created_ns, updated_ns FROM crm_customers \
                     WHERE tenant = $1 AND id = $2 AND deletion IS NULL",
                )
                .bind(tenant.as_str())
                .bind(id_of(id))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                else {
                    return Ok(None);
                };
                customer_of(
                    tenant,
                    row.try_get(0).map_err(db_err)?,
                    row.try_get(1).map_err(db_err)?,
                    row.try_get::<&str, _>(2).map_err(db_err)?,
                    row.try_get(3).map_err(db_err)?,
                    row.try_get(4).map_err(db_err)?,
                )
                .map(Some)
            }

            async fn update(
                &self,
                tenant: &okcc_core::TenantId,
                id: $crate::customer::CustomerId,
                expected_version: u64,
                fields: $crate::customer::CustomerFields,
                at: std::time::SystemTime,
            ) -> Result<$crate::customer::Customer, okcc_core::StoreError> {
                use okcc_core::recycle::RecycleError;
                use sqlx::Row as _;
                use $crate::store::sql::{customer_of, db_err, id_of, ns_of, to_json, write_err};
                let key = id_of(id);
                let json = to_json(&fields)?;
                let now = ns_of(at);
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                let Some(row) = sqlx::query(concat!(
                    "SELECT version, created_ns, deletion IS NOT NULL FROM crm_customers \
                     WHERE tenant = $1 AND id = $2",
                    $lock
                ))
                .bind(tenant.as_str())
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                else {
                    return Err(okcc_core::StoreError::NotFound);
                };
                let version: i64 = row.try_get(0).map_err(db_err)?;
                let created: i64 = row.try_get(1).map_err(db_err)?;
                let deleted: bool = row.try_get(2).map_err(db_err)?;
                if deleted {
                    return Err(RecycleError::AlreadyDeleted.into());
                }
                if u64::try_from(version).ok() != Some(expected_version) {
                    return Err(okcc_core::StoreError::conflict(format!(
                        "stale update of {id}: expected version {expected_version}, current {version}"
                    )));
                }
                Self::check_keys(&mut *tx, tenant, &fields, key).await?;
                sqlx::query("DELETE FROM crm_phone_keys WHERE customer_id = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                for phone in &fields.phones {
                    sqlx::query(
                        "INSERT INTO crm_phone_keys (tenant, key, customer_id) VALUES ($1, $2, $3)",
                    )
                    .bind(tenant.as_str())
                    .bind(phone.key.as_str())
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(write_err)?;
                }
                let next = version.saturating_add(1);
                let done = sqlx::query(
                    "UPDATE crm_customers SET version = $1, fields = $2, updated_ns = $3 \
                     WHERE id = $4 AND version = $5",
                )
                .bind(next)
                .bind(&json)
                .bind(now)
                .bind(key)
                .bind(version)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if done.rows_affected() != 1 {
                    return Err(okcc_core::StoreError::conflict(format!(
                        "stale update of {id}: changed concurrently"
                    )));
                }
                tx.commit().await.map_err(db_err)?;
                customer_of(tenant, key, next, &json, created, now)
            }

            async fn search(
                &self,
                tenant: &okcc_core::TenantId,
                query: &$crate::store::CustomerQuery,
                page: okcc_core::store::Page,
            ) -> Result<okcc_core::store::PageOf<$crate::customer::Customer>, okcc_core::StoreError>
            {
                use sqlx::Row as _;
                use $crate::store::CustomerQuery;
                use $crate::store::sql::{SCAN_CHUNK, customer_of, db_err};
                let limit = page.effective_limit();
                let mut after = $crate::store::cursor(&page)?
                    .map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX));
                let mut items = Vec::with_capacity(limit.min(64));
                let mut more = false;
                let (sql, key, chunk) = match query {
                    CustomerQuery::NumberKey(k) => (
                        "SELECT c.id, c.version, c.fields, c.created_ns, c.updated_ns \
                         FROM crm_phone_keys k JOIN crm_customers c ON c.id = k.customer_id \
                         WHERE k.tenant = $1 AND k.key = $2 AND c.id > $3 AND c.deletion IS NULL \
                         ORDER BY c.id LIMIT $4",
                        k.as_str(),
                        2,
                    ),
                    CustomerQuery::All => (
                        "SELECT id, version, fields, created_ns, updated_ns FROM crm_customers \
                         WHERE tenant = $1 AND $2 = $2 AND id > $3 AND deletion IS NULL \
                         ORDER BY id LIMIT $4",
                        "",
                        i64::try_from(limit).unwrap_or(SCAN_CHUNK) + 1,
                    ),
                    _ => (
                        "SELECT id, version, fields, created_ns, updated_ns FROM crm_customers \
                         WHERE tenant = $1 AND $2 = $2 AND id > $3 AND deletion IS NULL \
                         ORDER BY id LIMIT $4",
                        "",
                        SCAN_CHUNK,
                    ),
                };
                'fetch: loop {
                    let rows = sqlx::query(sql)
                        .bind(tenant.as_str())
                        .bind(key)
                        .bind(after)
                        .bind(chunk)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) == chunk;
                    for row in rows {
                        let id: i64 = row.try_get(0).map_err(db_err)?;
                        after = id;
                        let c = customer_of(
                            tenant,
                            id,
                            row.try_get(1).map_err(db_err)?,
                            row.try_get::<&str, _>(2).map_err(db_err)?,
                            row.try_get(3).map_err(db_err)?,
                            row.try_get(4).map_err(db_err)?,
                        )?;
                        if !query.matches(&c) {
                            continue;
                        }
                        if items.len() == limit {
                            more = true;
                            break 'fetch;
                        }
                        items.push(c);
                    }
                    if !full {
                        break;
                    }
                }
                let next = if more {
                    items
                        .last()
                        .map(|c: &$crate::customer::Customer| c.id.0.to_string())
                } else {
                    None
                };
                Ok(okcc_core::store::PageOf::new(items, next))
            }

            async fn soft_delete(
                &self,
                tenant: &okcc_core::TenantId,
                id: $crate::customer::CustomerId,
                deletion: okcc_core::recycle::Deletion,
            ) -> Result<(), okcc_core::StoreError> {
                use okcc_core::recycle::RecycleError;
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, id_of, ns_of, to_json};
                let key = id_of(id);
                let json = to_json(&deletion)?;
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                let Some(row) = sqlx::query(concat!(
                    "SELECT deletion IS NOT NULL FROM crm_customers WHERE tenant = $1 AND id = $2",
                    $lock
                ))
                .bind(tenant.as_str())
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                else {
                    return Err(okcc_core::StoreError::NotFound);
                };
                if row.try_get::<bool, _>(0).map_err(db_err)? {
                    return Err(RecycleError::AlreadyDeleted.into());
                }
                sqlx::query("DELETE FROM crm_phone_keys WHERE customer_id = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query("UPDATE crm_customers SET deletion = $1, deleted_ns = $2 WHERE id = $3")
                    .bind(&json)
                    .bind(ns_of(deletion.at))
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(())
            }

            async fn restore(
                &self,
                tenant: &okcc_core::TenantId,
                id: $crate::customer::CustomerId,
            ) -> Result<$crate::customer::Customer, okcc_core::StoreError> {
                use okcc_core::recycle::RecycleError;
                use sqlx::Row as _;
                use $crate::store::sql::{customer_of, db_err, id_of, write_err};
                let key = id_of(id);
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                let Some(row) = sqlx::query(concat!(
                    "SELECT id, version, fields, created_ns, updated_ns, deletion IS NOT NULL \
                     FROM crm_customers WHERE tenant = $1 AND id = $2",
                    $lock
                ))
                .bind(tenant.as_str())
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                else {
                    return Err(okcc_core::StoreError::NotFound);
                };
                if !row.try_get::<bool, _>(5).map_err(db_err)? {
                    return Err(RecycleError::NotDeleted.into());
                }
                let customer = customer_of(
                    tenant,
                    row.try_get(0).map_err(db_err)?,
                    row.try_get(1).map_err(db_err)?,
                    row.try_get::<&str, _>(2).map_err(db_err)?,
                    row.try_get(3).map_err(db_err)?,
                    row.try_get(4).map_err(db_err)?,
                )?;
                Self::check_keys(&mut *tx, tenant, &customer.fields, -1).await?;
                for phone in &customer.fields.phones {
                    sqlx::query(
                        "INSERT INTO crm_phone_keys (tenant, key, customer_id) VALUES ($1, $2, $3)",
                    )
                    .bind(tenant.as_str())
                    .bind(phone.key.as_str())
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(write_err)?;
                }
                sqlx::query(
                    "UPDATE crm_customers SET deletion = NULL, deleted_ns = NULL WHERE id = $1",
                )
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(customer)
            }

            async fn list_deleted(
                &self,
                tenant: &okcc_core::TenantId,
                page: okcc_core::store::Page,
            ) -> Result<
                okcc_core::store::PageOf<okcc_core::recycle::Binned<$crate::customer::Customer>>,
                okcc_core::StoreError,
            > {
                use sqlx::Row as _;
                use $crate::store::sql::{binned_of, customer_of, db_err};
                let limit = page.effective_limit();
                let after = $crate::store::cursor(&page)?
                    .map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX));
                let rows = sqlx::query(
                    "SELECT id, version, fields, created_ns, updated_ns, deletion FROM crm_customers \
                     WHERE tenant = $1 AND id > $2 AND deletion IS NOT NULL ORDER BY id LIMIT $3",
                )
                .bind(tenant.as_str())
                .bind(after)
                .bind(i64::try_from(limit).unwrap_or(1000) + 1)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let mut items = rows
                    .iter()
                    .map(|row| {
                        let c = customer_of(
                            tenant,
                            row.try_get(0).map_err(db_err)?,
                            row.try_get(1).map_err(db_err)?,
                            row.try_get::<&str, _>(2).map_err(db_err)?,
                            row.try_get(3).map_err(db_err)?,
                            row.try_get(4).map_err(db_err)?,
                        )?;
                        binned_of(c, row.try_get::<&str, _>(5).map_err(db_err)?)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let next = if items.len() > limit {
                    items.truncate(limit);
                    items.last().map(|b| b.record.id.0.to_string())
                } else {
                    None
                };
                Ok(okcc_core::store::PageOf::new(items, next))
            }

            async fn purge(
                &self,
                tenant: &okcc_core::TenantId,
                id: $crate::customer::CustomerId,
            ) -> Result<(), okcc_core::StoreError> {
                use okcc_core::recycle::RecycleError;
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, id_of};
                let key = id_of(id);
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                let Some(row) = sqlx::query(concat!(
                    "SELECT deletion IS NOT NULL FROM crm_customers WHERE tenant = $1 AND id = $2",
                    $lock
                ))
                .bind(tenant.as_str())
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                else {
                    return Err(okcc_core::StoreError::NotFound);
                };
                if !row.try_get::<bool, _>(0).map_err(db_err)? {
                    return Err(RecycleError::NotDeleted.into());
                }
                sqlx::query("DELETE FROM crm_customers WHERE id = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(())
            }

            async fn purge_all(&self, tenant: &okcc_core::TenantId) -> Result<u64, okcc_core::StoreError> {
                use $crate::store::sql::db_err;
                let done = sqlx::query(
                    "DELETE FROM crm_customers WHERE tenant = $1 AND deletion IS NOT NULL",
                )
                .bind(tenant.as_str())
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected())
            }

            async fn purge_deleted_before(
                &self,
                tenant: &okcc_core::TenantId,
                cutoff: std::time::SystemTime,
            ) -> Result<u64, okcc_core::StoreError> {
                use $crate::store::sql::{db_err, ns_of};
                let done = sqlx::query(
                    "DELETE FROM crm_customers \
                     WHERE tenant = $1 AND deletion IS NOT NULL AND deleted_ns < $2",
                )
                .bind(tenant.as_str())
                .bind(ns_of(cutoff))
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_sql_customer_store;
