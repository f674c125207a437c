//! The SQLite and PostgreSQL [`AccessRuleStore`](super::AccessRuleStore)s
//! (features `sqlite` / `postgres`). One row per document in
//! `core_access_docs`; a deletion leaves a tombstone (text NULL) so that
//! `changes_since` reports it. Each write takes the next number of the
//! one-row counter `core_access_seq` first, which serialises writers, so
//! numbers commit in order. Text read back is parsed again (a row that no
//! longer parses is reported as corrupt, never used). On PostgreSQL every
//! write notifies channel `okcc_changes` (payload `<schema>:access-rules`)
//! in its transaction.

use super::store::{AccessDocChange, AccessDocKind, AccessRuleDoc, StoredAccessDoc};
use crate::store::StoreError;
use crate::store::sql::corrupt;

/// A stored document kind.
pub(crate) fn kind_of(s: &str) -> Result<AccessDocKind, StoreError> {
    AccessDocKind::parse(s).ok_or_else(|| corrupt("unknown access document kind"))
}

/// A stored count (version, sequence, size).
pub(crate) fn count_of(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| corrupt("negative count"))
}

/// A stored live document.
pub(crate) fn stored_of(
    kind: &str,
    name: &str,
    text: &str,
    version: i64,
    seq: i64,
) -> Result<StoredAccessDoc, StoreError> {
    let doc = AccessRuleDoc::new(kind_of(kind)?, name, text)
        .map_err(|_| corrupt("stored access document no longer parses"))?;
    Ok(StoredAccessDoc::new(
        doc,
        count_of(version)?,
        count_of(seq)?,
    ))
}

/// A stored change (`live` false for a deletion).
pub(crate) fn change_of(
    seq: i64,
    kind: &str,
    name: String,
    version: i64,
    live: bool,
) -> Result<AccessDocChange, StoreError> {
    Ok(AccessDocChange::new(
        count_of(seq)?,
        kind_of(kind)?,
        name,
        if live { Some(count_of(version)?) } else { None },
    ))
}

/// Implements `AccessRuleStore` for `$store` (a struct with a `pool`).
/// `$begin` starts a write transaction; `$notify` (an
/// `Option<&'static str>`) runs in each write transaction.
macro_rules! impl_sql_access_rule_store {
    ($store:ty, $begin:literal, $notify:expr) => {
        #[async_trait::async_trait]
        impl $crate::access::AccessRuleStore for $store {
            async fn put(
                &self,
                doc: $crate::access::AccessRuleDoc,
                expected_version: Option<u64>,
            ) -> Result<$crate::access::StoredAccessDoc, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::StoreError;
                use $crate::store::sql::{db_err, int_of};
                let kind = doc.kind().as_str();
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                let seq: i64 = sqlx::query(
                    "UPDATE core_access_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq",
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?;
                let current = sqlx::query(
                    "SELECT version FROM core_access_docs \
                     WHERE kind = $1 AND name = $2 AND text IS NOT NULL",
                )
                .bind(kind)
                .bind(doc.name())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let current = match current {
                    Some(row) => Some($crate::access::sql::count_of(
                        row.try_get(0).map_err(db_err)?,
                    )?),
                    None => None,
                };
                let version = match (current, expected_version) {
                    (None, None) => 1,
                    (Some(_), None) => {
                        return Err(StoreError::conflict(format!(
                            "{} {} exists",
                            doc.kind(),
                            doc.name()
                        )));
                    }
                    (None, Some(_)) => return Err(StoreError::NotFound),
                    (Some(cur), Some(v)) if cur == v => v.saturating_add(1),
                    (Some(cur), Some(v)) => {
                        return Err(StoreError::conflict(format!(
                            "{} {} is at version {cur}, not {v}",
                            doc.kind(),
                            doc.name()
                        )));
                    }
                };
                sqlx::query(
                    "INSERT INTO core_access_docs (kind, name, version, seq, bytes, text) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, name) DO UPDATE SET \
                     version = excluded.version, seq = excluded.seq, bytes = excluded.bytes, \
                     text = excluded.text",
                )
                .bind(kind)
                .bind(doc.name())
                .bind(int_of(version))
                .bind(seq)
                .bind(i64::try_from(doc.text().len()).unwrap_or(i64::MAX))
                .bind(doc.text())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                let notify: Option<&'static str> = $notify;
                if let Some(notify) = notify {
                    sqlx::query(notify).execute(&mut *tx).await.map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                Ok($crate::access::StoredAccessDoc::new(
                    doc,
                    version,
                    $crate::access::sql::count_of(seq)?,
                ))
            }

            async fn get(
                &self,
                kind: $crate::access::AccessDocKind,
                name: &str,
            ) -> Result<Option<$crate::access::StoredAccessDoc>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::db_err;
                let Some(row) = sqlx::query(
                    "SELECT text, version, seq FROM core_access_docs \
                     WHERE kind = $1 AND name = $2 AND text IS NOT NULL",
                )
                .bind(kind.as_str())
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                else {
                    return Ok(None);
                };
                $crate::access::sql::stored_of(
                    kind.as_str(),
                    name,
                    row.try_get::<&str, _>(0).map_err(db_err)?,
                    row.try_get(1).map_err(db_err)?,
                    row.try_get(2).map_err(db_err)?,
                )
                .map(Some)
            }

            async fn list(
                &self,
                kind: $crate::access::AccessDocKind,
                page: $crate::store::Page,
            ) -> Result<
                $crate::store::PageOf<$crate::access::AccessDocSummary>,
                $crate::store::StoreError,
            > {
                use sqlx::Row as _;
                use $crate::access::sql::count_of;
                use $crate::store::sql::db_err;
                let limit = page.effective_limit();
                let rows = sqlx::query(
                    "SELECT name, version, bytes FROM core_access_docs \
                     WHERE kind = $1 AND text IS NOT NULL AND name > $2 ORDER BY name LIMIT $3",
                )
                .bind(kind.as_str())
                .bind(page.after.as_deref().unwrap_or(""))
                .bind(i64::try_from(limit).unwrap_or(1000) + 1)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let mut items = rows
                    .iter()
                    .map(|row| {
                        Ok($crate::access::AccessDocSummary::new(
                            kind,
                            row.try_get(0).map_err(db_err)?,
                            count_of(row.try_get(1).map_err(db_err)?)?,
                            usize::try_from(count_of(row.try_get(2).map_err(db_err)?)?)
                                .unwrap_or(usize::MAX),
                        ))
                    })
                    .collect::<Result<Vec<_>, $crate::store::StoreError>>()?;
                let next = if items.len() > limit {
                    items.truncate(limit);
                    items.last().map(|s| s.name.clone())
                } else {
                    None
                };
                Ok($crate::store::PageOf::new(items, next))
            }

            async fn delete(
                &self,
                kind: $crate::access::AccessDocKind,
                name: &str,
                expected_version: u64,
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::StoreError;
                use $crate::store::sql::db_err;
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                let seq: i64 = sqlx::query(
                    "UPDATE core_access_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq",
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?;
                let Some(row) = sqlx::query(
                    "SELECT version FROM core_access_docs \
                     WHERE kind = $1 AND name = $2 AND text IS NOT NULL",
                )
                .bind(kind.as_str())
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                else {
                    return Err(StoreError::NotFound);
                };
                let cur = $crate::access::sql::count_of(row.try_get(0).map_err(db_err)?)?;
                if cur != expected_version {
                    return Err(StoreError::conflict(format!(
                        "{kind} {name} is at version {cur}, not {expected_version}"
                    )));
                }
                sqlx::query(
                    "UPDATE core_access_docs SET text = NULL, bytes = 0, seq = $1 \
                     WHERE kind = $2 AND name = $3",
                )
                .bind(seq)
                .bind(kind.as_str())
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                let notify: Option<&'static str> = $notify;
                if let Some(notify) = notify {
                    sqlx::query(notify).execute(&mut *tx).await.map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                Ok(())
            }

            async fn changes_since(
                &self,
                cursor: u64,
                limit: u32,
            ) -> Result<Vec<$crate::access::AccessDocChange>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, int_of};
                let limit = limit.clamp(1, $crate::store::Page::MAX_LIMIT);
                let rows = sqlx::query(
                    "SELECT seq, kind, name, version, text IS NOT NULL FROM core_access_docs \
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(int_of(cursor))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                rows.iter()
                    .map(|row| {
                        $crate::access::sql::change_of(
                            row.try_get(0).map_err(db_err)?,
                            row.try_get::<&str, _>(1).map_err(db_err)?,
                            row.try_get(2).map_err(db_err)?,
                            row.try_get(3).map_err(db_err)?,
                            row.try_get(4).map_err(db_err)?,
                        )
                    })
                    .collect()
            }
        }
    };
}

crate::store::sql::core_sql_stores! {
    /// Access rule sets and feeds in SQLite (feature `sqlite`).
    sqlite: SqliteAccessRuleStore,
    /// Access rule sets and feeds in PostgreSQL (feature `postgres`), shared
    /// by several nodes.
    postgres: PostgresAccessRuleStore,
}

#[cfg(feature = "sqlite")]
impl_sql_access_rule_store!(SqliteAccessRuleStore, "BEGIN IMMEDIATE", None);

#[cfg(feature = "postgres")]
impl_sql_access_rule_store!(
    PostgresAccessRuleStore,
    "BEGIN",
    Some("SELECT pg_notify('okcc_changes', current_schema() || ':access-rules')")
);
