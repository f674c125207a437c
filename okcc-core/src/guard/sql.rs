//! The SQLite and PostgreSQL [`BanStore`](super::BanStore)s (features
//! `sqlite` / `postgres`). Bans are rows of `core_bans`; every ban and
//! unban appends to `core_ban_changes`, numbered by the one-row counter
//! `core_ban_seq` inside the write transaction, so sequence numbers commit
//! in order and without gaps even with several nodes writing. The oldest
//! changes beyond `max_changes` are pruned in the same transaction. On
//! PostgreSQL every write also notifies channel `okcc_changes` (payload
//! `<schema>:bans`) in its
//! transaction (see `store::notify`).

use std::net::IpAddr;

use super::BanKind;
use super::store::{BanChange, BanRecord};
use crate::store::StoreError;
use crate::store::sql::{corrupt, from_json, time_of};

/// Default number of changes kept.
pub(crate) const DEFAULT_MAX_CHANGES: u64 = 100_000;

/// A stored source address.
pub(crate) fn source_of(s: &str) -> Result<IpAddr, StoreError> {
    s.parse::<IpAddr>()
        .map(|a| a.to_canonical())
        .map_err(|_| corrupt("ban source is not an IP address"))
}

/// A stored ban.
pub(crate) fn record_of(
    source: &str,
    kind: &str,
    until_ns: i64,
    offences: i64,
) -> Result<BanRecord, StoreError> {
    let kind: BanKind = from_json(kind, "ban kind is not valid")?;
    Ok(BanRecord::new(
        source_of(source)?,
        kind,
        time_of(until_ns),
        u32::try_from(offences).map_err(|_| corrupt("offences out of range"))?,
    ))
}

/// A stored change (`kind` NULL for an unban).
pub(crate) fn change_of(
    seq: i64,
    source: &str,
    kind: Option<&str>,
    until_ns: Option<i64>,
    offences: Option<i64>,
) -> Result<BanChange, StoreError> {
    let ban = match (kind, until_ns, offences) {
        (Some(k), Some(u), Some(o)) => Some(record_of(source, k, u, o)?),
        (None, _, _) => None,
        _ => return Err(corrupt("ban change is incomplete")),
    };
    Ok(BanChange {
        seq: u64::try_from(seq).map_err(|_| corrupt("negative change sequence"))?,
        source: source_of(source)?,
        ban,
    })
}

/// What a ban becomes when `record` meets the stored `old` (same rules as
/// the memory store: extend, never shorten; manual wins).
pub(crate) fn merged(old: Option<BanRecord>, record: BanRecord) -> BanRecord {
    match old {
        Some(old) if old.kind == BanKind::Manual && record.kind != BanKind::Manual => BanRecord {
            until: old.until.max(record.until),
            ..old
        },
        Some(old) if record.kind != BanKind::Manual => BanRecord {
            until: old.until.max(record.until),
            offences: old.offences.max(record.offences),
            ..record
        },
        _ => record,
    }
}

/// Implements `BanStore` for `$store` (fields `pool`, `max_changes`).
/// `$begin` starts a write transaction, `$read` a consistent read one,
/// `$notify` (an `Option<&'static str>`) is run in each write transaction.
macro_rules! impl_sql_ban_store {
    ($store:ty, $conn:ty, $begin:literal, $read:literal, $notify:expr) => {
        impl $store {
            /// Appends a change and prunes the log, in `tx`.
            async fn log_change(
                &self,
                conn: &mut $conn,
                source: &str,
                ban: Option<&$crate::guard::BanRecord>,
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, ns_of, to_json};
                let row =
                    sqlx::query("UPDATE core_ban_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq")
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db_err)?;
                let seq: i64 = row.try_get(0).map_err(db_err)?;
                let (kind, until, offences) = match ban {
                    Some(b) => (
                        Some(to_json(&b.kind)?),
                        Some(ns_of(b.until)),
                        Some(i64::from(b.offences)),
                    ),
                    None => (None, None, None),
                };
                sqlx::query(
                    "INSERT INTO core_ban_changes (seq, source, kind, until_ns, offences) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(seq)
                .bind(source)
                .bind(kind)
                .bind(until)
                .bind(offences)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
                let keep = i64::try_from(self.max_changes).unwrap_or(i64::MAX);
                sqlx::query("DELETE FROM core_ban_changes WHERE seq <= $1")
                    .bind(seq.saturating_sub(keep))
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                let notify: Option<&'static str> = $notify;
                if let Some(notify) = notify {
                    sqlx::query(notify)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::guard::BanStore for $store {
            async fn ban(
                &self,
                record: $crate::guard::BanRecord,
            ) -> Result<$crate::guard::BanRecord, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::guard::sql::{merged, record_of};
                use $crate::store::sql::{db_err, ns_of, to_json};
                let record = $crate::guard::BanRecord::new(
                    record.source,
                    record.kind,
                    record.until,
                    record.offences,
                );
                let source = record.source.to_string();
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                // Serialise writers first (the counter row), then read.
                sqlx::query("UPDATE core_ban_seq SET seq = seq WHERE id = 1")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let old = sqlx::query(
                    "SELECT source, kind, until_ns, offences FROM core_bans WHERE source = $1",
                )
                .bind(&source)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let old = match old {
                    Some(row) => Some(record_of(
                        row.try_get::<&str, _>(0).map_err(db_err)?,
                        row.try_get::<&str, _>(1).map_err(db_err)?,
                        row.try_get(2).map_err(db_err)?,
                        row.try_get(3).map_err(db_err)?,
                    )?),
                    None => None,
                };
                let stored = merged(old, record);
                sqlx::query(
                    "INSERT INTO core_bans (source, kind, until_ns, offences) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (source) DO UPDATE SET \
                     kind = excluded.kind, until_ns = excluded.until_ns, \
                     offences = excluded.offences",
                )
                .bind(&source)
                .bind(to_json(&stored.kind)?)
                .bind(ns_of(stored.until))
                .bind(i64::from(stored.offences))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                self.log_change(&mut *tx, &source, Some(&stored)).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(stored)
            }

            async fn unban(
                &self,
                source: std::net::IpAddr,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::sql::db_err;
                let source = source.to_canonical().to_string();
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                let done = sqlx::query("DELETE FROM core_bans WHERE source = $1")
                    .bind(&source)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                self.log_change(&mut *tx, &source, None).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(true)
            }

            async fn active(
                &self,
                now: std::time::SystemTime,
            ) -> Result<Vec<$crate::guard::BanRecord>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::guard::sql::record_of;
                use $crate::store::sql::{db_err, ns_of};
                let rows = sqlx::query(
                    "SELECT source, kind, until_ns, offences FROM core_bans WHERE until_ns > $1",
                )
                .bind(ns_of(now))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let mut bans = rows
                    .iter()
                    .map(|row| {
                        record_of(
                            row.try_get::<&str, _>(0).map_err(db_err)?,
                            row.try_get::<&str, _>(1).map_err(db_err)?,
                            row.try_get(2).map_err(db_err)?,
                            row.try_get(3).map_err(db_err)?,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                bans.sort_by(|a, b| a.source.cmp(&b.source));
                Ok(bans)
            }

            async fn changes_since(
                &self,
                cursor: u64,
                limit: u32,
            ) -> Result<$crate::guard::BanChanges, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::guard::sql::change_of;
                use $crate::store::sql::{db_err, int_of};
                let mut tx = self.pool.begin_with($read).await.map_err(db_err)?;
                let row = sqlx::query(
                    "SELECT (SELECT seq FROM core_ban_seq WHERE id = 1), \
                     (SELECT MIN(seq) FROM core_ban_changes)",
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                let head: i64 = row
                    .try_get::<Option<i64>, _>(0)
                    .map_err(db_err)?
                    .unwrap_or(0);
                let head = u64::try_from(head).unwrap_or(0);
                let oldest = row
                    .try_get::<Option<i64>, _>(1)
                    .map_err(db_err)?
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(head + 1);
                if cursor.saturating_add(1) < oldest && cursor < head {
                    tx.commit().await.map_err(db_err)?;
                    let mut page = $crate::guard::BanChanges::default();
                    page.cursor = head;
                    page.reset = true;
                    return Ok(page);
                }
                let rows = sqlx::query(
                    "SELECT seq, source, kind, until_ns, offences FROM core_ban_changes \
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(int_of(cursor))
                .bind(i64::from(limit.clamp(1, 10_000)))
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                let changes = rows
                    .iter()
                    .map(|row| {
                        change_of(
                            row.try_get(0).map_err(db_err)?,
                            row.try_get::<&str, _>(1).map_err(db_err)?,
                            row.try_get::<Option<&str>, _>(2).map_err(db_err)?,
                            row.try_get(3).map_err(db_err)?,
                            row.try_get(4).map_err(db_err)?,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut page = $crate::guard::BanChanges::default();
                page.cursor = changes.last().map_or(cursor, |c| c.seq);
                page.changes = changes;
                Ok(page)
            }
        }
    };
}

/// Bans in SQLite (feature `sqlite`), the embedded default (one node, or
/// several processes on one host sharing the file).
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
#[derive(Debug, Clone)]
pub struct SqliteBanStore {
    pool: sqlx::SqlitePool,
    max_changes: u64,
}

#[cfg(feature = "sqlite")]
impl SqliteBanStore {
    /// Uses an open pool (shared with the other stores), applies
    /// okcc-core's embedded migrations, keeps 100 000 changes.
    pub async fn from_pool(pool: sqlx::SqlitePool) -> Result<Self, StoreError> {
        crate::store::sql::migrate_core_sqlite(&pool).await?;
        Ok(Self {
            pool,
            max_changes: DEFAULT_MAX_CHANGES,
        })
    }

    /// Keeps `max_changes` changes (at least 1) in the log.
    #[must_use]
    pub fn with_max_changes(mut self, max_changes: u64) -> Self {
        self.max_changes = max_changes.max(1);
        self
    }

    /// The pool (readiness checks, backups).
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}

#[cfg(feature = "sqlite")]
impl_sql_ban_store!(
    SqliteBanStore,
    sqlx::SqliteConnection,
    "BEGIN IMMEDIATE",
    "BEGIN",
    None
);

/// Bans in PostgreSQL (feature `postgres`), shared by several nodes.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Debug, Clone)]
pub struct PostgresBanStore {
    pool: sqlx::PgPool,
    max_changes: u64,
}

#[cfg(feature = "postgres")]
impl PostgresBanStore {
    /// Uses a connected pool ([`crate::store::sql::connect_postgres`]),
    /// applies okcc-core's embedded migrations, keeps 100 000 changes.
    pub async fn from_pool(pool: sqlx::PgPool) -> Result<Self, StoreError> {
        crate::store::sql::migrate_core_postgres(&pool).await?;
        Ok(Self {
            pool,
            max_changes: DEFAULT_MAX_CHANGES,
        })
    }

    /// Keeps `max_changes` changes (at least 1) in the log.
    #[must_use]
    pub fn with_max_changes(mut self, max_changes: u64) -> Self {
        self.max_changes = max_changes.max(1);
        self
    }

    /// The pool (readiness checks).
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

#[cfg(feature = "postgres")]
impl_sql_ban_store!(
    PostgresBanStore,
    sqlx::PgConnection,
    "BEGIN",
    "BEGIN ISOLATION LEVEL REPEATABLE READ",
    Some("SELECT pg_notify('okcc_changes', current_schema() || ':bans')")
);
