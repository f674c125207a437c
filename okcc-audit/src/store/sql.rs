//! What the SQLite and PostgreSQL audit backends share: row conversion,
//! error mapping and, as a macro, the [`AuditStore`](super::AuditStore)
//! implementation itself (the fixed SQL text is the same on both: `$n`
//! placeholders; only the pool type, how the write transaction takes its
//! lock and the parameters of the generated append statements differ).

use okcc_core::store::StoreError;
use time::OffsetDateTime;

use crate::chain::{ChainAnchor, ChainHash, StoredEvent};
use crate::checkpoint::Checkpoint;
use crate::encoding;

/// Rows fetched per round trip while filtering a query in Rust.
pub(crate) const QUERY_CHUNK: i64 = 512;

pub(crate) use okcc_core::store::sql::db_err;

/// A stored value that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("corrupt audit row: {0}")]
pub(crate) struct CorruptRow(pub(crate) &'static str);

fn corrupt(what: &'static str) -> StoreError {
    StoreError::Backend(Box::new(CorruptRow(what)))
}

/// Rows per multi-row `INSERT` when appending (7 parameters each: well
/// under SQLite's and PostgreSQL's parameter limits).
pub(crate) const ROWS_PER_INSERT: usize = 256;

/// Bind parameters of the audit append statements (`SELECT … IN (…)`, the
/// multi-row `INSERT`), which are generated, not fixed text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Params {
    /// `?`, bound by position (SQLite). sqlx-sqlite binds a *named*
    /// parameter (`$n`, `?n`) by asking SQLite for its name, a linear scan
    /// of the statement's parameter list, so a statement with n named
    /// parameters costs O(n²) to bind: with 1,792 parameters per `INSERT`
    /// that was two thirds of the append time.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Positional,
    /// `$1, $2, …` (PostgreSQL).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Numbered,
}

impl Params {
    /// Appends `n` parameters, numbered from `first`, separated by `, `.
    pub(crate) fn push(self, sql: &mut String, first: usize, n: usize) {
        for i in 0..n {
            if i > 0 {
                sql.push_str(", ");
            }
            match self {
                Self::Positional => sql.push('?'),
                Self::Numbered => {
                    sql.push('$');
                    sql.push_str(&(first + i).to_string());
                }
            }
        }
    }
}

/// `SELECT id FROM audit_events WHERE id IN (…)` for `n` ids.
pub(crate) fn stored_ids_sql(params: Params, n: usize) -> String {
    let mut sql = String::with_capacity(48 + n * 6);
    sql.push_str("SELECT id FROM audit_events WHERE id IN (");
    params.push(&mut sql, 1, n);
    sql.push(')');
    sql
}

/// Columns of one `audit_events` row, in `INSERT` order.
pub(crate) const EVENT_COLUMNS: usize = 7;

/// The multi-row `INSERT` of `rows` events.
pub(crate) fn insert_events_sql(params: Params, rows: usize) -> String {
    let mut sql = String::with_capacity(96 + rows * EVENT_COLUMNS * 6);
    sql.push_str(
        "INSERT INTO audit_events (seq, id, time_ns, tenant, prev_hash, hash, body) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push('(');
        params.push(&mut sql, i * EVENT_COLUMNS + 1, EVENT_COLUMNS);
        sql.push(')');
    }
    // A repeated id inserts nothing instead of failing the transaction (a
    // PostgreSQL error would end it); the caller compares the rows
    // inserted with the rows given.
    sql.push_str(" ON CONFLICT (id) DO NOTHING");
    sql
}

/// A page of [`AuditStore::query`](super::AuditStore::query) without a
/// time range, newest first: coarse filters in SQL (`$1` cursor, `$2`..`$3`
/// time range, `$4` tenant filter on, `$5` tenant, `$6` platform only, `$7`
/// rows), the exact ones in Rust. The unary `+` keeps the time index out:
/// SQLite's planner otherwise prefers it over the primary key and sorts
/// every row of the log for each page (`USE TEMP B-TREE FOR ORDER BY`).
pub(crate) const QUERY_NEWEST_FIRST: &str = "SELECT seq, prev_hash, hash, body FROM audit_events \
     WHERE seq < $1 AND +time_ns >= $2 AND +time_ns <= $3 \
     AND ($4 = 0 OR tenant = $5) AND ($6 = 0 OR tenant IS NULL) \
     ORDER BY seq DESC LIMIT $7";

/// As [`QUERY_NEWEST_FIRST`], oldest first.
pub(crate) const QUERY_OLDEST_FIRST: &str = "SELECT seq, prev_hash, hash, body FROM audit_events \
     WHERE seq > $1 AND +time_ns >= $2 AND +time_ns <= $3 \
     AND ($4 = 0 OR tenant = $5) AND ($6 = 0 OR tenant IS NULL) \
     ORDER BY seq ASC LIMIT $7";

/// As [`QUERY_NEWEST_FIRST`] with a time range (`since` or `until` set):
/// the planner may search the time index (the rows in the range are
/// sorted by `seq`).
pub(crate) const QUERY_RANGE_NEWEST_FIRST: &str = "SELECT seq, prev_hash, hash, body FROM audit_events \
     WHERE seq < $1 AND time_ns >= $2 AND time_ns <= $3 \
     AND ($4 = 0 OR tenant = $5) AND ($6 = 0 OR tenant IS NULL) \
     ORDER BY seq DESC LIMIT $7";

/// As [`QUERY_RANGE_NEWEST_FIRST`], oldest first.
pub(crate) const QUERY_RANGE_OLDEST_FIRST: &str = "SELECT seq, prev_hash, hash, body FROM audit_events \
     WHERE seq > $1 AND time_ns >= $2 AND time_ns <= $3 \
     AND ($4 = 0 OR tenant = $5) AND ($6 = 0 OR tenant IS NULL) \
     ORDER BY seq ASC LIMIT $7";

/// Events in chain order from `$1`, at most `$2`.
pub(crate) const READ_CHAIN: &str = "SELECT seq, prev_hash, hash, body FROM audit_events \
     WHERE seq >= $1 ORDER BY seq ASC LIMIT $2";

/// The last stored event.
pub(crate) const HEAD: &str = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";

/// `u64` to an SQL `BIGINT`.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An SQL `BIGINT` to `u64` (negative values are corrupt).
pub(crate) fn to_u64(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| corrupt("negative sequence number"))
}

/// Unix nanoseconds, clamped to `i64` (monotone, so SQL range filters
/// never drop a match; the exact filter runs in Rust afterwards).
pub(crate) fn time_key(t: OffsetDateTime) -> i64 {
    let ns = t.unix_timestamp_nanos();
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

/// A 32-byte hash column.
pub(crate) fn hash_of(bytes: &[u8]) -> Result<ChainHash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(ChainHash)
        .map_err(|_| corrupt("hash is not 32 bytes"))
}

/// A stored event from its columns.
pub(crate) fn event_of(
    seq: i64,
    prev: &[u8],
    hash: &[u8],
    body: &[u8],
) -> Result<StoredEvent, StoreError> {
    let event = encoding::decode(body).map_err(|e| StoreError::Backend(Box::new(e)))?;
    Ok(StoredEvent::from_parts(
        to_u64(seq)?,
        hash_of(prev)?,
        hash_of(hash)?,
        event,
    ))
}

/// An anchor from its columns.
pub(crate) fn anchor_of(seq: i64, hash: &[u8]) -> Result<ChainAnchor, StoreError> {
    Ok(ChainAnchor::new(to_u64(seq)?, hash_of(hash)?))
}

/// A checkpoint from its columns.
pub(crate) fn checkpoint_of(seq: i64, hash: &[u8], mac: &[u8]) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint::from_parts(
        to_u64(seq)?,
        hash_of(hash)?,
        hash_of(mac)?,
    ))
}

/// Implements [`AuditStore`](crate::AuditStore) for `$store` (a struct
/// with fields `pool: $pool`, `writer: tokio::sync::Mutex<()>` and
/// `checkpoints: Option<CheckpointPolicy>`). `$begin` opens the write
/// transaction and `$lock` is run first inside it to make it the only
/// writer across processes; `$params` ([`Params`]) is how the generated
/// append statements write their bind parameters.
macro_rules! impl_sql_audit_store {
    ($store:ty, $begin:literal, $lock:literal, $params:expr) => {
        impl $store {
            /// One attempt at appending `events` in one transaction (the
            /// caller holds `self.writer`).
            ///
            /// Without `check_ids` every id is taken to be new (ids are
            /// minted fresh; a repeat comes only from a batch retried after a
            /// failure): no query for stored ids, and if a chunk inserts
            /// fewer rows than given, an id was there already, the links
            /// after it are wrong, and the transaction is rolled back:
            /// `Ok(None)`. With `check_ids`, ids already stored (or
            /// repeated in the batch) are found first and skipped, so every
            /// row inserted links onto the one before it.
            async fn append_attempt(
                &self,
                events: &[$crate::AuditEvent],
                check_ids: bool,
            ) -> Result<Option<$crate::AppendReceipt>, okcc_core::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{anchor_of, db_err, time_key, to_i64};
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                sqlx::query($lock).execute(&mut *tx).await.map_err(db_err)?;
                let head = match sqlx::query($crate::store::sql::HEAD)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                {
                    Some(row) => anchor_of(
                        row.try_get(0).map_err(db_err)?,
                        row.try_get::<&[u8], _>(1).map_err(db_err)?,
                    )?,
                    None => {
                        let row = sqlx::query("SELECT seq, hash FROM audit_anchor WHERE id = 1")
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(db_err)?;
                        anchor_of(
                            row.try_get(0).map_err(db_err)?,
                            row.try_get::<&[u8], _>(1).map_err(db_err)?,
                        )?
                    }
                };
                let mut tail = $crate::ChainTail::new(head);
                let mut appended = 0;
                let mut skipped = 0;
                let mut checkpoints = Vec::new();
                let mut in_batch = std::collections::HashSet::new();
                // Rows go in multi-row INSERTs of `ROWS_PER_INSERT`: one
                // round trip to the database per chunk, not per event.
                for chunk in events.chunks($crate::store::sql::ROWS_PER_INSERT) {
                    let stored_ids = if check_ids {
                        let sql = $crate::store::sql::stored_ids_sql($params, chunk.len());
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for e in chunk {
                            q = q.bind(e.id.as_uuid().as_bytes().to_vec());
                        }
                        let rows = q.fetch_all(&mut *tx).await.map_err(db_err)?;
                        let mut found = std::collections::HashSet::with_capacity(rows.len());
                        for row in rows {
                            found.insert(row.try_get::<Vec<u8>, _>(0).map_err(db_err)?);
                        }
                        found
                    } else {
                        std::collections::HashSet::new()
                    };
                    let mut rows = Vec::with_capacity(chunk.len());
                    for event in chunk {
                        let id = *event.id.as_uuid().as_bytes();
                        if check_ids && (stored_ids.contains(&id[..]) || !in_batch.insert(id)) {
                            skipped += 1;
                            continue;
                        }
                        // One encoding per event: the stored body is the
                        // bytes the chain hash covers.
                        let (linked, prev, body) = tail.link_ref(event);
                        if let Some(cp) = self.checkpoints.as_ref().and_then(|p| p.due(linked)) {
                            checkpoints.push(cp);
                        }
                        rows.push((
                            to_i64(linked.seq),
                            id,
                            time_key(event.time),
                            event.tenant.as_ref().map(|t| t.as_str().to_owned()),
                            prev.0,
                            linked.hash.0,
                            body,
                        ));
                    }
                    if rows.is_empty() {
                        continue;
                    }
                    let given = rows.len();
                    let sql = $crate::store::sql::insert_events_sql($params, given);
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (seq, id, time, tenant, prev, hash, body) in rows {
                        q = q
                            .bind(seq)
                            .bind(id.to_vec())
                            .bind(time)
                            .bind(tenant)
                            .bind(prev.to_vec())
                            .bind(hash.to_vec())
                            .bind(body);
                    }
                    let done = q.execute(&mut *tx).await.map_err(db_err)?;
                    if done.rows_affected() != given as u64 {
                        tx.rollback().await.map_err(db_err)?;
                        return Ok(None);
                    }
                    appended += given;
                }
                for cp in checkpoints {
                    sqlx::query(
                        "INSERT INTO audit_checkpoints (seq, hash, mac) VALUES ($1, $2, $3)",
                    )
                    .bind(to_i64(cp.seq))
                    .bind(&cp.hash.0[..])
                    .bind(&cp.mac.0[..])
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                Ok(Some($crate::AppendReceipt::new(
                    appended,
                    skipped,
                    tail.head(),
                )))
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::AuditStore for $store {
            async fn append(
                &self,
                events: Vec<$crate::AuditEvent>,
            ) -> Result<$crate::AppendReceipt, okcc_core::store::StoreError> {
                self.append_ref(&events).await
            }

            async fn append_ref(
                &self,
                events: &[$crate::AuditEvent],
            ) -> Result<$crate::AppendReceipt, okcc_core::store::StoreError> {
                let _one_writer = self.writer.lock().await;
                if let Some(receipt) = self.append_attempt(events, false).await? {
                    return Ok(receipt);
                }
                // An id was stored already: again, skipping repeats.
                self.append_attempt(events, true).await?.ok_or_else(|| {
                    okcc_core::store::StoreError::conflict(
                        "audit append: rows went missing after the id check",
                    )
                })
            }

            async fn query(
                &self,
                query: &$crate::AuditQuery,
                page: okcc_core::store::Page,
            ) -> Result<okcc_core::store::PageOf<$crate::StoredEvent>, okcc_core::store::StoreError>
            {
                use sqlx::Row as _;
                use $crate::store::sql::{QUERY_CHUNK, db_err, event_of, time_key, to_i64};
                let limit = page.effective_limit();
                let after =
                    match page.after.as_deref() {
                        None => None,
                        Some(c) => Some($crate::query::parse_cursor(c).ok_or_else(|| {
                            okcc_core::store::StoreError::conflict("invalid cursor")
                        })?),
                    };
                // Coarse filters in SQL (indexed), the exact ones in Rust.
                let sql = match (
                    query.newest_first,
                    query.since.is_some() || query.until.is_some(),
                ) {
                    (true, false) => $crate::store::sql::QUERY_NEWEST_FIRST,
                    (false, false) => $crate::store::sql::QUERY_OLDEST_FIRST,
                    (true, true) => $crate::store::sql::QUERY_RANGE_NEWEST_FIRST,
                    (false, true) => $crate::store::sql::QUERY_RANGE_OLDEST_FIRST,
                };
                let since = query.since.map_or(i64::MIN, time_key);
                let until = query.until.map_or(i64::MAX, time_key);
                let tenant = query.tenant.as_ref().map(|t| t.as_str().to_owned());
                let by_tenant = i32::from(tenant.is_some());
                let platform = i32::from(tenant.is_none() && query.platform_only);
                let mut cursor = match (after, query.newest_first) {
                    (Some(a), _) => to_i64(a),
                    (None, true) => i64::MAX,
                    (None, false) => 0,
                };
                let mut items = Vec::with_capacity(limit.min(64));
                let mut more = false;
                'fetch: loop {
                    let rows = sqlx::query(sql)
                        .bind(cursor)
                        .bind(since)
                        .bind(until)
                        .bind(by_tenant)
                        .bind(tenant.as_deref().unwrap_or(""))
                        .bind(platform)
                        .bind(QUERY_CHUNK)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) == QUERY_CHUNK;
                    for row in rows {
                        let seq: i64 = row.try_get(0).map_err(db_err)?;
                        cursor = seq;
                        let e = event_of(
                            seq,
                            row.try_get::<&[u8], _>(1).map_err(db_err)?,
                            row.try_get::<&[u8], _>(2).map_err(db_err)?,
                            row.try_get::<&[u8], _>(3).map_err(db_err)?,
                        )?;
                        if !query.matches(&e.event) {
                            continue;
                        }
                        if items.len() == limit {
                            more = true;
                            break 'fetch;
                        }
                        items.push(e);
                    }
                    if !full {
                        break;
                    }
                }
                let next = if more {
                    items
                        .last()
                        .map(|e: &$crate::StoredEvent| $crate::query::cursor_for(e.seq))
                } else {
                    None
                };
                Ok(okcc_core::store::PageOf::new(items, next))
            }

            async fn read_chain(
                &self,
                from_seq: u64,
                limit: usize,
            ) -> Result<Vec<$crate::StoredEvent>, okcc_core::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, event_of, to_i64};
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows = sqlx::query($crate::store::sql::READ_CHAIN)
                    .bind(to_i64(from_seq))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                rows.iter()
                    .map(|row| {
                        event_of(
                            row.try_get(0).map_err(db_err)?,
                            row.try_get::<&[u8], _>(1).map_err(db_err)?,
                            row.try_get::<&[u8], _>(2).map_err(db_err)?,
                            row.try_get::<&[u8], _>(3).map_err(db_err)?,
                        )
                    })
                    .collect()
            }

            async fn anchor(&self) -> Result<$crate::ChainAnchor, okcc_core::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{anchor_of, db_err};
                let row = sqlx::query("SELECT seq, hash FROM audit_anchor WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                anchor_of(
                    row.try_get(0).map_err(db_err)?,
                    row.try_get::<&[u8], _>(1).map_err(db_err)?,
                )
            }

            async fn head(&self) -> Result<$crate::ChainAnchor, okcc_core::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{anchor_of, db_err};
                match sqlx::query($crate::store::sql::HEAD)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                {
                    Some(row) => anchor_of(
                        row.try_get(0).map_err(db_err)?,
                        row.try_get::<&[u8], _>(1).map_err(db_err)?,
                    ),
                    None => self.anchor().await,
                }
            }

            async fn checkpoints(
                &self,
                from_seq: u64,
                limit: usize,
            ) -> Result<Vec<$crate::Checkpoint>, okcc_core::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{checkpoint_of, db_err, to_i64};
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows = sqlx::query(
                    "SELECT seq, hash, mac FROM audit_checkpoints \
                     WHERE seq >= $1 ORDER BY seq ASC LIMIT $2",
                )
                .bind(to_i64(from_seq))
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                rows.iter()
                    .map(|row| {
                        checkpoint_of(
                            row.try_get(0).map_err(db_err)?,
                            row.try_get::<&[u8], _>(1).map_err(db_err)?,
                            row.try_get::<&[u8], _>(2).map_err(db_err)?,
                        )
                    })
                    .collect()
            }

            async fn purge_through(
                &self,
                through_seq: u64,
            ) -> Result<$crate::ChainAnchor, okcc_core::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{anchor_of, db_err, hash_of, to_i64};
                let _one_writer = self.writer.lock().await;
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                sqlx::query($lock).execute(&mut *tx).await.map_err(db_err)?;
                let row = sqlx::query("SELECT seq, hash FROM audit_anchor WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let anchor = anchor_of(
                    row.try_get(0).map_err(db_err)?,
                    row.try_get::<&[u8], _>(1).map_err(db_err)?,
                )?;
                if through_seq <= anchor.seq {
                    return Ok(anchor);
                }
                let seq = to_i64(through_seq);
                let Some(row) = sqlx::query("SELECT hash FROM audit_events WHERE seq = $1")
                    .bind(seq)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                else {
                    return Err(okcc_core::store::StoreError::NotFound);
                };
                let hash = hash_of(row.try_get::<&[u8], _>(0).map_err(db_err)?)?;
                sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query("DELETE FROM audit_checkpoints WHERE seq <= $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query("UPDATE audit_anchor SET seq = $1, hash = $2 WHERE id = 1")
                    .bind(seq)
                    .bind(&hash.0[..])
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok($crate::ChainAnchor::new(through_seq, hash))
            }
        }
    };
}
pub(crate) use impl_sql_audit_store;
