//! What the SQLite and PostgreSQL [`RevealStore`](super::RevealStore)s
//! share: row conversion and, as a macro, the implementation (same SQL on
//! both; only the pool, how a write transaction starts and the per-requester
//! lock differ). One row of `crm_reveals` per request.

use okcc_core::{StoreError, TenantId, UserId};

use super::sql::{corrupt, ns_of, time_of};
use crate::customer::CustomerId;
use crate::reveal::{RevealId, RevealRequest, RevealState};

/// The columns every query reads, in the order of [`reveal_of`].
macro_rules! reveal_cols {
    () => {
        "id, customer, requester, reason, requested_ns, state, decided_by, decided_ns, \
         expires_ns, version"
    };
}
pub(crate) use reveal_cols;

/// Decodes a row of [`reveal_cols!`] into a `StoredReveal` of `$tenant`.
macro_rules! stored_reveal_of {
    ($row:expr, $tenant:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        $crate::store::reveal_sql::stored_of(
            $tenant,
            [
                row.try_get::<i64, _>(0).map_err(db_err)?,
                row.try_get::<i64, _>(1).map_err(db_err)?,
                row.try_get::<i64, _>(4).map_err(db_err)?,
                row.try_get::<i64, _>(9).map_err(db_err)?,
            ],
            row.try_get::<&str, _>(2).map_err(db_err)?,
            row.try_get::<String, _>(3).map_err(db_err)?,
            row.try_get::<&str, _>(5).map_err(db_err)?,
            row.try_get::<Option<&str>, _>(6).map_err(db_err)?,
            row.try_get::<Option<i64>, _>(7).map_err(db_err)?,
            row.try_get::<Option<i64>, _>(8).map_err(db_err)?,
        )
    }};
}
pub(crate) use stored_reveal_of;

/// The state columns of `state`: code, decider, decision time, expiry.
pub(crate) fn state_columns(
    state: &RevealState,
) -> (&'static str, Option<String>, Option<i64>, Option<i64>) {
    match state {
        RevealState::Pending => ("pending", None, None, None),
        RevealState::Approved { by, at, expires } => (
            "approved",
            by.as_ref().map(|u| u.as_str().to_owned()),
            Some(ns_of(*at)),
            Some(ns_of(*expires)),
        ),
        RevealState::Denied { by, at } => (
            "denied",
            Some(by.as_str().to_owned()),
            Some(ns_of(*at)),
            None,
        ),
    }
}

/// A stored request from its columns (`ints`: id, customer, requested_ns,
/// version), checked.
#[allow(clippy::too_many_arguments)] // one argument per column
pub(crate) fn stored_of(
    tenant: &TenantId,
    ints: [i64; 4],
    requester: &str,
    reason: String,
    state: &str,
    by: Option<&str>,
    at: Option<i64>,
    expires: Option<i64>,
) -> Result<super::StoredReveal, StoreError> {
    let [id, customer, requested_ns, version] = ints;
    let user = |s: &str| UserId::new(s).map_err(|_| corrupt("reveal user is not a valid id"));
    let state = match (state, by, at, expires) {
        ("pending", None, None, None) => RevealState::Pending,
        ("approved", by, Some(at), Some(expires)) => RevealState::Approved {
            by: by.map(user).transpose()?,
            at: time_of(at),
            expires: time_of(expires),
        },
        ("denied", Some(by), Some(at), None) => RevealState::Denied {
            by: user(by)?,
            at: time_of(at),
        },
        _ => return Err(corrupt("reveal state columns do not agree")),
    };
    let request = RevealRequest {
        id: RevealId(u64::try_from(id).map_err(|_| corrupt("negative reveal id"))?),
        tenant: tenant.clone(),
        customer: CustomerId(u64::try_from(customer).map_err(|_| corrupt("negative customer id"))?),
        requester: user(requester)?,
        reason,
        requested_at: time_of(requested_ns),
        state,
    };
    let version = u64::try_from(version).map_err(|_| corrupt("negative reveal version"))?;
    Ok(super::StoredReveal::new(request, version))
}

/// Implements `RevealStore` for `$store` (a struct with a `pool` whose
/// connections are `$conn`). `$begin` starts a write transaction; `$lock` (an `Option<&'static str>`
/// taking `$1` tenant and `$2` requester) runs first in a transaction that
/// files a request, so that concurrent filings by one requester queue.
macro_rules! impl_sql_reveal_store {
    ($store:ty, $conn:ty, $begin:literal, $lock:expr) => {
        /// The requester's counts, on `conn` (a transaction when filing).
        async fn reveal_counts_in(
            conn: &mut $conn,
            tenant: &okcc_core::TenantId,
            requester: &okcc_core::UserId,
            day_start: std::time::SystemTime,
        ) -> Result<$crate::reveal::RevealCounts, okcc_core::StoreError> {
            use sqlx::Row as _;
            use $crate::store::sql::db_err;
            let row = sqlx::query(
                "SELECT CAST(COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) \
                 AS BIGINT), CAST(COALESCE(SUM(CASE WHEN state = 'approved' AND decided_by IS \
                 NULL AND requested_ns >= $3 THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM crm_reveals WHERE tenant = $1 AND requester = $2",
            )
            .bind(tenant.as_str())
            .bind(requester.as_str())
            .bind($crate::store::sql::ns_of(day_start))
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
            let count = |i: usize| -> Result<u64, okcc_core::StoreError> {
                let n: i64 = row.try_get(i).map_err(db_err)?;
                u64::try_from(n).map_err(|_| $crate::store::sql::corrupt("negative count"))
            };
            Ok($crate::reveal::RevealCounts::new(count(0)?, count(1)?))
        }

        #[async_trait::async_trait]
        impl $crate::store::RevealStore for $store {
            async fn counts(
                &self,
                tenant: &okcc_core::TenantId,
                requester: &okcc_core::UserId,
                day_start: std::time::SystemTime,
            ) -> Result<$crate::reveal::RevealCounts, okcc_core::StoreError> {
                use $crate::store::sql::db_err;
                let mut conn = self.pool.acquire().await.map_err(db_err)?;
                reveal_counts_in(&mut *conn, tenant, requester, day_start).await
            }

            async fn insert(
                &self,
                new: $crate::reveal::NewReveal,
                seen: $crate::reveal::RevealCounts,
                day_start: std::time::SystemTime,
            ) -> Result<$crate::reveal::RevealRequest, okcc_core::StoreError> {
                use sqlx::Row as _;
                use $crate::store::reveal_sql::state_columns;
                use $crate::store::sql::{db_err, id_of, ns_of};
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                let lock: Option<&'static str> = $lock;
                if let Some(lock) = lock {
                    sqlx::query(lock)
                        .bind(new.tenant.as_str())
                        .bind(new.requester.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                let now = reveal_counts_in(&mut *tx, &new.tenant, &new.requester, day_start).await?;
                if now != seen {
                    return Err(okcc_core::StoreError::conflict(
                        "the requester's requests changed",
                    ));
                }
                let (state, by, at, expires) = state_columns(&new.state);
                let id: i64 = sqlx::query(
                    "INSERT INTO crm_reveals (tenant, customer, requester, reason, \
                     requested_ns, state, decided_by, decided_ns, expires_ns, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1) RETURNING id",
                )
                .bind(new.tenant.as_str())
                .bind(id_of(new.customer))
                .bind(new.requester.as_str())
                .bind(&new.reason)
                .bind(ns_of(new.requested_at))
                .bind(state)
                .bind(by)
                .bind(at)
                .bind(expires)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                let id = u64::try_from(id)
                    .map_err(|_| $crate::store::sql::corrupt("negative reveal id"))?;
                Ok(new.into_request($crate::reveal::RevealId(id)))
            }

            async fn get(
                &self,
                tenant: &okcc_core::TenantId,
                id: $crate::reveal::RevealId,
            ) -> Result<Option<$crate::store::StoredReveal>, okcc_core::StoreError> {
                use $crate::store::sql::db_err;
                let row = sqlx::query(concat!(
                    "SELECT ",
                    $crate::store::reveal_sql::reveal_cols!(),
                    " FROM crm_reveals WHERE id = $1 AND tenant = $2"
                ))
                .bind(i64::try_from(id.0).unwrap_or(i64::MAX))
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                match row {
                    Some(row) => {
                        $crate::store::reveal_sql::stored_reveal_of!(&row, tenant).map(Some)
                    }
                    None => Ok(None),
                }
            }

            async fn set_state(
                &self,
                tenant: &okcc_core::TenantId,
                id: $crate::reveal::RevealId,
                state: $crate::reveal::RevealState,
                expected_version: u64,
            ) -> Result<$crate::store::StoredReveal, okcc_core::StoreError> {
                use $crate::store::sql::db_err;
                let (code, by, at, expires) =
                    $crate::store::reveal_sql::state_columns(&state);
                let row = sqlx::query(concat!(
                    "UPDATE crm_reveals SET state = $1, decided_by = $2, decided_ns = $3, \
                     expires_ns = $4, version = version + 1 \
                     WHERE id = $5 AND tenant = $6 AND version = $7 RETURNING ",
                    $crate::store::reveal_sql::reveal_cols!()
                ))
                .bind(code)
                .bind(by)
                .bind(at)
                .bind(expires)
                .bind(i64::try_from(id.0).unwrap_or(i64::MAX))
                .bind(tenant.as_str())
                .bind(i64::try_from(expected_version).unwrap_or(i64::MAX))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                if let Some(row) = row {
                    return $crate::store::reveal_sql::stored_reveal_of!(&row, tenant);
                }
                match self.get(tenant, id).await? {
                    None => Err(okcc_core::StoreError::NotFound),
                    Some(current) => Err(okcc_core::StoreError::conflict(format!(
                        "{id} changed (version {})",
                        current.version
                    ))),
                }
            }

            async fn grant(
                &self,
                tenant: &okcc_core::TenantId,
                customer: $crate::customer::CustomerId,
                user: &okcc_core::UserId,
                now: std::time::SystemTime,
            ) -> Result<Option<$crate::reveal::RevealRequest>, okcc_core::StoreError> {
                use $crate::store::sql::{db_err, id_of, ns_of};
                let row = sqlx::query(concat!(
                    "SELECT ",
                    $crate::store::reveal_sql::reveal_cols!(),
                    " FROM crm_reveals WHERE tenant = $1 AND customer = $2 AND requester = $3 \
                     AND state = 'approved' AND decided_ns <= $4 AND expires_ns > $4 \
                     ORDER BY id LIMIT 1"
                ))
                .bind(tenant.as_str())
                .bind(id_of(customer))
                .bind(user.as_str())
                .bind(ns_of(now))
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                match row {
                    Some(row) => $crate::store::reveal_sql::stored_reveal_of!(&row, tenant)
                        .map(|s| Some(s.request)),
                    None => Ok(None),
                }
            }

            async fn pending(
                &self,
                tenant: &okcc_core::TenantId,
                page: okcc_core::store::Page,
            ) -> Result<
                okcc_core::store::PageOf<$crate::reveal::RevealRequest>,
                okcc_core::StoreError,
            > {
                use $crate::store::sql::db_err;
                let after = $crate::store::reveal::cursor_of(&page)?;
                let limit = page.effective_limit();
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    $crate::store::reveal_sql::reveal_cols!(),
                    " FROM crm_reveals WHERE tenant = $1 AND state = 'pending' AND id > $2 \
                     ORDER BY id LIMIT $3"
                ))
                .bind(tenant.as_str())
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::try_from(limit).unwrap_or(1000) + 1)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let mut items = Vec::with_capacity(rows.len());
                for row in &rows {
                    items.push($crate::store::reveal_sql::stored_reveal_of!(row, tenant)?.request);
                }
                let next = if items.len() > limit {
                    items.truncate(limit);
                    items.last().map(|r| r.id.0.to_string())
                } else {
                    None
                };
                Ok(okcc_core::store::PageOf::new(items, next))
            }

            async fn prune(
                &self,
                before: std::time::SystemTime,
            ) -> Result<u64, okcc_core::StoreError> {
                use $crate::store::sql::db_err;
                let done = sqlx::query(
                    "DELETE FROM crm_reveals WHERE (state = 'pending' AND requested_ns < $1) \
                     OR (state = 'approved' AND expires_ns < $1) \
                     OR (state = 'denied' AND decided_ns < $1)",
                )
                .bind($crate::store::sql::ns_of(before))
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_sql_reveal_store;
