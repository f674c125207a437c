//! The SQLite and PostgreSQL [`RoleStore`](super::RoleStore)s (features
//! `sqlite` / `postgres`). Roles are rows of `core_roles` keyed by
//! `(scope, id)` (the role itself as JSON, its revision in a column for
//! version-checked replaces); assignments reference their role with
//! `ON DELETE CASCADE`; the tenant ceiling is the one row of
//! `core_tenant_ceiling`. The same SQL runs on both, written once by a
//! macro.

/// Implements `RoleStore` for `$store` (a struct with a `pool`); `$begin`
/// starts a write transaction.
macro_rules! impl_sql_role_store {
    ($store:ty, $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::rbac::RoleStore for $store {
            async fn insert_role(
                &self,
                role: $crate::rbac::Role,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::{db_err, int_of, owner_key, to_json};
                let done = sqlx::query(
                    "INSERT INTO core_roles (scope, id, revision, role) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (scope, id) DO NOTHING",
                )
                .bind(owner_key(&role.scope))
                .bind(role.id.as_str())
                .bind(int_of(role.revision))
                .bind(to_json(&role)?)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err($crate::store::StoreError::conflict(format!(
                        "role {} exists",
                        role.id
                    )));
                }
                Ok(())
            }

            async fn role(
                &self,
                scope: &$crate::ids::Owner,
                id: &$crate::rbac::RoleId,
            ) -> Result<Option<$crate::rbac::Role>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, from_json, owner_key};
                let Some(row) =
                    sqlx::query("SELECT role FROM core_roles WHERE scope = $1 AND id = $2")
                        .bind(owner_key(scope))
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                else {
                    return Ok(None);
                };
                from_json(
                    row.try_get::<&str, _>(0).map_err(db_err)?,
                    "role is not valid JSON",
                )
                .map(Some)
            }

            async fn list_roles(
                &self,
                scope: &$crate::ids::Owner,
                page: $crate::store::Page,
            ) -> Result<$crate::store::PageOf<$crate::rbac::Role>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, from_json, owner_key};
                let limit = page.effective_limit();
                let rows = sqlx::query(
                    "SELECT role FROM core_roles WHERE scope = $1 AND id > $2 \
                     ORDER BY id LIMIT $3",
                )
                .bind(owner_key(scope))
                .bind(page.after.as_deref().unwrap_or(""))
                .bind(i64::try_from(limit).unwrap_or(1000) + 1)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let mut items = rows
                    .iter()
                    .map(|row| {
                        from_json::<$crate::rbac::Role>(
                            row.try_get::<&str, _>(0).map_err(db_err)?,
                            "role is not valid JSON",
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let next = if items.len() > limit {
                    items.truncate(limit);
                    items.last().map(|r| r.id.to_string())
                } else {
                    None
                };
                Ok($crate::store::PageOf::new(items, next))
            }

            async fn replace_role(
                &self,
                role: $crate::rbac::Role,
                expected_revision: u64,
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, int_of, owner_key, to_json};
                let scope = owner_key(&role.scope);
                let done = sqlx::query(
                    "UPDATE core_roles SET revision = $1, role = $2 \
                     WHERE scope = $3 AND id = $4 AND revision = $5",
                )
                .bind(int_of(role.revision))
                .bind(to_json(&role)?)
                .bind(&scope)
                .bind(role.id.as_str())
                .bind(int_of(expected_revision))
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                if done.rows_affected() == 1 {
                    return Ok(());
                }
                let current =
                    sqlx::query("SELECT revision FROM core_roles WHERE scope = $1 AND id = $2")
                        .bind(&scope)
                        .bind(role.id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                match current {
                    None => Err($crate::store::StoreError::NotFound),
                    Some(row) => Err($crate::store::StoreError::conflict(format!(
                        "role {} changed (revision {})",
                        role.id,
                        row.try_get::<i64, _>(0).map_err(db_err)?
                    ))),
                }
            }

            async fn delete_role(
                &self,
                scope: &$crate::ids::Owner,
                id: &$crate::rbac::RoleId,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::{db_err, owner_key};
                let scope = owner_key(scope);
                let mut tx = self.pool.begin_with($begin).await.map_err(db_err)?;
                sqlx::query("DELETE FROM core_role_assignments WHERE scope = $1 AND role_id = $2")
                    .bind(&scope)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let done = sqlx::query("DELETE FROM core_roles WHERE scope = $1 AND id = $2")
                    .bind(&scope)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    // Dropping `tx` rolls back (nothing was deleted anyway).
                    return Err($crate::store::StoreError::NotFound);
                }
                tx.commit().await.map_err(db_err)?;
                Ok(())
            }

            async fn assign(
                &self,
                home: &$crate::ids::Owner,
                user: &$crate::ids::UserId,
                role: &$crate::rbac::RoleId,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::sql::{db_err, owner_key};
                let scope = owner_key(home);
                let done = sqlx::query(
                    "INSERT INTO core_role_assignments (scope, user_id, role_id) \
                     SELECT $1, $2, $3 WHERE EXISTS \
                     (SELECT 1 FROM core_roles WHERE scope = $1 AND id = $3) \
                     ON CONFLICT (scope, user_id, role_id) DO NOTHING",
                )
                .bind(&scope)
                .bind(user.as_str())
                .bind(role.as_str())
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    // The role was deleted between the check and the insert.
                    if e.as_database_error()
                        .is_some_and(|d| d.is_foreign_key_violation())
                    {
                        $crate::store::StoreError::NotFound
                    } else {
                        db_err(e)
                    }
                })?;
                if done.rows_affected() == 1 {
                    return Ok(true);
                }
                let exists = sqlx::query("SELECT 1 FROM core_roles WHERE scope = $1 AND id = $2")
                    .bind(&scope)
                    .bind(role.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                if exists.is_none() {
                    return Err($crate::store::StoreError::NotFound);
                }
                Ok(false)
            }

            async fn unassign(
                &self,
                home: &$crate::ids::Owner,
                user: &$crate::ids::UserId,
                role: &$crate::rbac::RoleId,
            ) -> Result<bool, $crate::store::StoreError> {
                use $crate::store::sql::{db_err, owner_key};
                let done = sqlx::query(
                    "DELETE FROM core_role_assignments \
                     WHERE scope = $1 AND user_id = $2 AND role_id = $3",
                )
                .bind(owner_key(home))
                .bind(user.as_str())
                .bind(role.as_str())
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() > 0)
            }

            async fn roles_of(
                &self,
                home: &$crate::ids::Owner,
                user: &$crate::ids::UserId,
            ) -> Result<Vec<$crate::rbac::Role>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, from_json, owner_key};
                let rows = sqlx::query(
                    "SELECT r.role FROM core_role_assignments a \
                     JOIN core_roles r ON r.scope = a.scope AND r.id = a.role_id \
                     WHERE a.scope = $1 AND a.user_id = $2 ORDER BY a.role_id",
                )
                .bind(owner_key(home))
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                rows.iter()
                    .map(|row| {
                        from_json(
                            row.try_get::<&str, _>(0).map_err(db_err)?,
                            "role is not valid JSON",
                        )
                    })
                    .collect()
            }

            async fn ceiling(
                &self,
            ) -> Result<$crate::rbac::TenantCeiling, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::sql::{db_err, from_json};
                let row = sqlx::query("SELECT permissions FROM core_tenant_ceiling WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                match row {
                    None => Ok($crate::rbac::TenantCeiling::default()),
                    Some(row) => from_json(
                        row.try_get::<&str, _>(0).map_err(db_err)?,
                        "tenant ceiling is not a valid permission set",
                    ),
                }
            }

            async fn set_ceiling(
                &self,
                ceiling: $crate::rbac::TenantCeiling,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::sql::{db_err, to_json};
                sqlx::query(
                    "INSERT INTO core_tenant_ceiling (id, permissions) VALUES (1, $1) \
                     ON CONFLICT (id) DO UPDATE SET permissions = excluded.permissions",
                )
                .bind(to_json(&ceiling)?)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }
        }
    };
}

crate::store::sql::core_sql_stores! {
    /// Roles in SQLite (feature `sqlite`), the embedded default.
    sqlite: SqliteRoleStore,
    /// Roles in PostgreSQL (feature `postgres`), for several nodes.
    postgres: PostgresRoleStore,
}

#[cfg(feature = "sqlite")]
impl_sql_role_store!(SqliteRoleStore, "BEGIN IMMEDIATE");

#[cfg(feature = "postgres")]
impl_sql_role_store!(PostgresRoleStore, "BEGIN");
