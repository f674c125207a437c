//! The SQLite and PostgreSQL [`ReviewStore`](super::ReviewStore)s
//! (features `sqlite` / `postgres`). One row of `core_review_items` per
//! item: id, owner, state and revision as columns (listing, version-checked
//! saves), the rest as JSON, a voice file's bytes in `voice`.
//!
//! Nothing read back is trusted: the content is checked again (voice files
//! sniffed, templates parsed), must match its stored hash, and the state
//! must be one the state machine can reach; a row that fails is reported
//! as corrupt ([`StoreError::Backend`]), never used.
//!
//! A listing page holds at most [`PAGE_VOICE_BYTES`] of voice files (at
//! least one item), so memory stays bounded whatever the page limit.

use serde::{Deserialize, Serialize};

use super::content::{ContentHash, ContentKind, ReviewContent};
use super::item::{ItemId, ReviewItem, ReviewState};
use crate::ids::UserId;
use crate::store::StoreError;
use crate::store::sql::{corrupt, from_json, int_of, owner_key, owner_of, to_json};

/// The most voice bytes one listing page carries.
pub(crate) const PAGE_VOICE_BYTES: u64 = 64 * 1024 * 1024;

/// The JSON column: everything but id, owner, state, revision and voice
/// bytes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredItem {
    version: u32,
    kind: ContentKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preview: Option<String>,
    hash: String,
    submitted_by: Option<UserId>,
    decided_by: Option<UserId>,
    reason: Option<String>,
}

/// The columns of one item.
pub(crate) struct Row {
    pub(crate) owner: String,
    pub(crate) state: &'static str,
    pub(crate) revision: i64,
    pub(crate) item: String,
    pub(crate) voice: Option<Vec<u8>>,
}

/// An item as columns.
pub(crate) fn row_of(item: &ReviewItem) -> Result<Row, StoreError> {
    let (kind, source, preview, voice) = match item.content_for_store() {
        ReviewContent::Voice { bytes, .. } => {
            (ContentKind::Voice, None, None, Some(bytes.to_vec()))
        }
        ReviewContent::Tts { template, preview } => (
            ContentKind::Tts,
            Some(template.source().to_owned()),
            Some(preview.clone()),
            None,
        ),
        ReviewContent::Sms {
            template, preview, ..
        } => (
            ContentKind::Sms,
            Some(template.source().to_owned()),
            Some(preview.clone()),
            None,
        ),
    };
    let stored = StoredItem {
        version: item.version(),
        kind,
        source,
        preview,
        hash: item.content_hash().to_string(),
        submitted_by: item.submitted_by().cloned(),
        decided_by: item.decided_by().cloned(),
        reason: item.reason().map(str::to_owned),
    };
    Ok(Row {
        owner: owner_key(item.owner()),
        state: item.state().code(),
        revision: int_of(item.revision()),
        item: to_json(&stored)?,
        voice,
    })
}

/// An item from its columns, checked (see the module docs).
pub(crate) fn item_of(
    id: &str,
    owner: &str,
    state: &str,
    revision: i64,
    item: &str,
    voice: Option<Vec<u8>>,
) -> Result<ReviewItem, StoreError> {
    let id = ItemId::new(id).map_err(|_| corrupt("review item id is not a valid id"))?;
    let owner = owner_of(owner)?;
    let state = ReviewState::parse(state).ok_or_else(|| corrupt("unknown review item state"))?;
    let revision = u64::try_from(revision).map_err(|_| corrupt("negative review revision"))?;
    let stored: StoredItem = from_json(item, "review item JSON does not decode")?;
    let hash = ContentHash::from_hex(&stored.hash)
        .ok_or_else(|| corrupt("review item hash is not 64 hex digits"))?;
    let content =
        ReviewContent::restore(stored.kind, stored.source.as_deref(), stored.preview, voice)
            .map_err(corrupt)?;
    ReviewItem::restore(
        id,
        owner,
        stored.version,
        content,
        hash,
        state,
        stored.submitted_by,
        stored.decided_by,
        stored.reason,
        revision,
    )
    .map_err(corrupt)
}

/// How many of the first rows (id order, with their voice sizes) one page
/// takes: up to `limit`, and no more voice bytes than
/// [`PAGE_VOICE_BYTES`] unless the first alone is larger.
pub(crate) fn page_take(sizes: &[i64], limit: usize) -> usize {
    let mut total = 0u64;
    let mut n = 0;
    for size in sizes.iter().take(limit) {
        total = total.saturating_add(u64::try_from(*size).unwrap_or(0));
        if n > 0 && total > PAGE_VOICE_BYTES {
            break;
        }
        n += 1;
    }
    n
}

/// Implements `ReviewStore` for `$store` (a struct with a `pool`).
macro_rules! impl_sql_review_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::review::ReviewStore for $store {
            async fn insert(
                &self,
                item: $crate::review::ReviewItem,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::db_err;
                let row = $crate::review::sql::row_of(&item)?;
                let done = sqlx::query(
                    "INSERT INTO core_review_items (id, owner, state, revision, item, voice) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                )
                .bind(item.id().as_str())
                .bind(row.owner)
                .bind(row.state)
                .bind(row.revision)
                .bind(row.item)
                .bind(row.voice)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err($crate::store::StoreError::conflict(format!(
                        "item {} exists",
                        item.id()
                    )));
                }
                Ok(())
            }

            async fn get(
                &self,
                id: &$crate::review::ItemId,
            ) -> Result<Option<$crate::review::ReviewItem>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::db_err;
                let Some(row) = sqlx::query(
                    "SELECT owner, state, revision, item, voice FROM core_review_items \
                     WHERE id = $1",
                )
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                else {
                    return Ok(None);
                };
                $crate::review::sql::item_of(
                    id.as_str(),
                    row.try_get::<&str, _>(0).map_err(db_err)?,
                    row.try_get::<&str, _>(1).map_err(db_err)?,
                    row.try_get(2).map_err(db_err)?,
                    row.try_get::<&str, _>(3).map_err(db_err)?,
                    row.try_get(4).map_err(db_err)?,
                )
                .map(Some)
            }

            async fn save(
                &self,
                item: $crate::review::ReviewItem,
                expected_revision: u64,
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::StoreError;
                use $crate::store::sql::{db_err, int_of};
                let row = $crate::review::sql::row_of(&item)?;
                let done = sqlx::query(
                    "UPDATE core_review_items SET state = $1, revision = $2, item = $3, \
                     voice = $4 WHERE id = $5 AND owner = $6 AND revision = $7",
                )
                .bind(row.state)
                .bind(row.revision)
                .bind(row.item)
                .bind(row.voice)
                .bind(item.id().as_str())
                .bind(&row.owner)
                .bind(int_of(expected_revision))
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                // Why not: the row is gone, owned by someone else, or moved on.
                let current = sqlx::query(
                    "SELECT owner, revision FROM core_review_items WHERE id = $1",
                )
                .bind(item.id().as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                let Some(current) = current else {
                    return Err(StoreError::NotFound);
                };
                let owner: &str = current.try_get(0).map_err(db_err)?;
                if owner != row.owner {
                    return Err(StoreError::conflict("an item's owner never changes"));
                }
                let revision: i64 = current.try_get(1).map_err(db_err)?;
                Err(StoreError::conflict(format!(
                    "item {} changed (revision {revision})",
                    item.id()
                )))
            }

            async fn list(
                &self,
                owner: &$crate::ids::Owner,
                state: Option<$crate::review::ReviewState>,
                page: $crate::store::Page,
            ) -> Result<
                $crate::store::PageOf<$crate::review::ReviewItem>,
                $crate::store::StoreError,
            > {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, owner_key};
                let limit = page.effective_limit();
                let owner = owner_key(owner);
                let after = page.after.clone().unwrap_or_default();
                // "" matches every state: codes are never empty.
                let state = state.map_or("", |s| s.code());
                let sizes = sqlx::query(
                    "SELECT id, CAST(COALESCE(length(voice), 0) AS BIGINT) FROM core_review_items \
                     WHERE owner = $1 AND ($2 = '' OR state = $2) AND id > $3 \
                     ORDER BY id LIMIT $4",
                )
                .bind(&owner)
                .bind(state)
                .bind(&after)
                .bind(i64::try_from(limit).unwrap_or(1000) + 1)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let mut ids = Vec::with_capacity(sizes.len());
                let mut lengths = Vec::with_capacity(sizes.len());
                for row in &sizes {
                    ids.push(row.try_get::<String, _>(0).map_err(db_err)?);
                    lengths.push(row.try_get::<i64, _>(1).map_err(db_err)?);
                }
                let take = $crate::review::sql::page_take(&lengths, limit);
                let Some(last) = take.checked_sub(1).and_then(|i| ids.get(i)).cloned() else {
                    return Ok($crate::store::PageOf::new(Vec::new(), None));
                };
                let more = ids.len() > take;
                let rows = sqlx::query(
                    "SELECT id, owner, state, revision, item, voice FROM core_review_items \
                     WHERE owner = $1 AND ($2 = '' OR state = $2) AND id > $3 AND id <= $4 \
                     ORDER BY id LIMIT $5",
                )
                .bind(&owner)
                .bind(state)
                .bind(&after)
                .bind(&last)
                .bind(i64::try_from(take).unwrap_or(1000))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let items = rows
                    .iter()
                    .map(|row| {
                        $crate::review::sql::item_of(
                            row.try_get::<&str, _>(0).map_err(db_err)?,
                            row.try_get::<&str, _>(1).map_err(db_err)?,
                            row.try_get::<&str, _>(2).map_err(db_err)?,
                            row.try_get(3).map_err(db_err)?,
                            row.try_get::<&str, _>(4).map_err(db_err)?,
                            row.try_get(5).map_err(db_err)?,
                        )
                    })
                    .collect::<Result<Vec<_>, $crate::store::StoreError>>()?;
                let next = if more {
                    items.last().map(|i| i.id().to_string())
                } else {
                    None
                };
                Ok($crate::store::PageOf::new(items, next))
            }
        }
    };
}

crate::store::sql::core_sql_stores! {
    /// Review items in SQLite (feature `sqlite`), the embedded default.
    sqlite: SqliteReviewStore,
    /// Review items in PostgreSQL (feature `postgres`), for several nodes.
    postgres: PostgresReviewStore,
}

#[cfg(feature = "sqlite")]
impl_sql_review_store!(SqliteReviewStore);

#[cfg(feature = "postgres")]
impl_sql_review_store!(PostgresReviewStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_7_pages_stop_at_the_voice_byte_budget_but_hold_at_least_one() {
        let big = i64::try_from(PAGE_VOICE_BYTES).unwrap_or(i64::MAX);
        assert_eq!(page_take(&[0, 0, 0], 2), 2);
        assert_eq!(page_take(&[0, 0], 5), 2);
        assert_eq!(page_take(&[big + 1, 0], 5), 1);
        assert_eq!(page_take(&[big / 2, big / 2, 1], 5), 2);
        assert_eq!(page_take(&[], 5), 0);
    }
}
