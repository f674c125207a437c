//! The server's [`Directory`] in SQL: [`SqliteDirectory`] (the embedded
//! default, `<data-dir>/okcc.db`) and [`PostgresDirectory`] (several
//! nodes). Both apply the embedded migrations in
//! `examples/okcc-server/migrations/{sqlite,postgres}` (history table
//! `okcc_server_migrations`, versions from 9001) when opened.
//!
//! Scopes are stored as text: `''` for the platform, else the tenant id
//! (tenant ids are never empty). Recovery-code hashes are one blob of
//! 32-byte SHA-256 values.

use async_trait::async_trait;
use okcc_core::store::sql::{db_err, run_migrations};
use okcc_core::store::{Page, PageOf};
use okcc_core::{Owner, StoreError, TenantId, UserId};

use super::directory::{Directory, ExtensionRecord, TenantRecord, UserRecord};

/// The migration history table of okcc-server's own tables.
const MIGRATIONS_TABLE: &str = "okcc_server_migrations";

fn scope_text(owner: &Owner) -> &str {
    match owner {
        Owner::Platform => "",
        Owner::Tenant(t) => t.as_str(),
    }
}

fn owner_of(text: &str) -> Result<Owner, StoreError> {
    if text.is_empty() {
        return Ok(Owner::Platform);
    }
    TenantId::new(text)
        .map(Owner::Tenant)
        .map_err(|_| corrupt("scope"))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("stored directory row is invalid: {what}").into())
}

/// An insert error: a key that exists is a conflict naming `what`.
fn insert_err(e: sqlx::Error, what: String) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        return StoreError::conflict(what);
    }
    db_err(e)
}

fn recovery_blob(hashes: &[[u8; 32]]) -> Vec<u8> {
    hashes.iter().flatten().copied().collect()
}

fn recovery_hashes(blob: &[u8]) -> Result<Vec<[u8; 32]>, StoreError> {
    if blob.len() % 32 != 0 {
        return Err(corrupt("recovery_hashes length"));
    }
    Ok(blob
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

fn step_to_db(step: Option<u64>) -> Result<Option<i64>, StoreError> {
    step.map(|s| i64::try_from(s).map_err(|_| corrupt("totp_last_step out of range")))
        .transpose()
}

/// The page limit plus one (to know whether a next page exists).
fn fetch_limit(page: &Page) -> i64 {
    i64::try_from(page.effective_limit())
        .unwrap_or(i64::MAX - 1)
        .saturating_add(1)
}

/// Cuts `rows` (fetched with [`fetch_limit`]) to a page; the cursor is the
/// last key.
fn paged<T>(mut rows: Vec<T>, page: &Page, key: impl Fn(&T) -> String) -> PageOf<T> {
    let limit = page.effective_limit();
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(key) } else { None };
    PageOf::new(rows, next)
}

const USER_COLUMNS: &str = "id, scope, display_name, disabled, must_change_password, \
     totp_secret, totp_pending, totp_last_step, recovery_hashes";

macro_rules! sql_directory {
    ($(#[$doc:meta])* $name:ident, $pool:ty, $row:ty, $migrations:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub(crate) struct $name {
            pool: $pool,
        }

        impl $name {
            /// The directory on `pool`, after applying the embedded
            /// migrations.
            pub(crate) async fn from_pool(pool: $pool) -> Result<Self, StoreError> {
                run_migrations(sqlx::migrate!($migrations), MIGRATIONS_TABLE, &pool).await?;
                Ok(Self { pool })
            }

            fn user_of(row: &$row) -> Result<UserRecord, StoreError> {
                use sqlx::Row as _;
                let id: String = row.try_get(0).map_err(db_err)?;
                let scope: String = row.try_get(1).map_err(db_err)?;
                let step: Option<i64> = row.try_get(7).map_err(db_err)?;
                let blob: Vec<u8> = row.try_get(8).map_err(db_err)?;
                Ok(UserRecord {
                    id: UserId::new(&id).map_err(|_| corrupt("user id"))?,
                    home: owner_of(&scope)?,
                    display_name: row.try_get(2).map_err(db_err)?,
                    disabled: row.try_get(3).map_err(db_err)?,
                    must_change_password: row.try_get(4).map_err(db_err)?,
                    totp_secret: row.try_get(5).map_err(db_err)?,
                    totp_pending: row.try_get(6).map_err(db_err)?,
                    totp_last_step: step
                        .map(|s| u64::try_from(s).map_err(|_| corrupt("totp_last_step")))
                        .transpose()?,
                    recovery_hashes: recovery_hashes(&blob)?,
                })
            }

            fn tenant_of(row: &$row) -> Result<TenantRecord, StoreError> {
                use sqlx::Row as _;
                let id: String = row.try_get(0).map_err(db_err)?;
                Ok(TenantRecord {
                    id: TenantId::new(&id).map_err(|_| corrupt("tenant id"))?,
                    name: row.try_get(1).map_err(db_err)?,
                })
            }

            fn extension_of(row: &$row) -> Result<ExtensionRecord, StoreError> {
                use sqlx::Row as _;
                let scope: String = row.try_get(1).map_err(db_err)?;
                Ok(ExtensionRecord {
                    name: row.try_get(0).map_err(db_err)?,
                    owner: owner_of(&scope)?,
                    display_name: row.try_get(2).map_err(db_err)?,
                })
            }
        }

        #[async_trait]
        impl Directory for $name {
            async fn insert_tenant(&self, tenant: TenantRecord) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO okcc_dir_tenants (id, name) VALUES ($1, $2)")
                    .bind(tenant.id.as_str())
                    .bind(&tenant.name)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| insert_err(e, format!("tenant {} exists", tenant.id)))?;
                Ok(())
            }

            async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
                sqlx::query("SELECT id, name FROM okcc_dir_tenants WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .as_ref()
                    .map(Self::tenant_of)
                    .transpose()
            }

            async fn list_tenants(&self, page: Page) -> Result<PageOf<TenantRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, name FROM okcc_dir_tenants WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(page.after.as_deref().unwrap_or(""))
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let items = rows.iter().map(Self::tenant_of).collect::<Result<Vec<_>, _>>()?;
                Ok(paged(items, &page, |t| t.id.as_str().to_owned()))
            }

            async fn insert_user(&self, user: UserRecord) -> Result<(), StoreError> {
                let sql = format!(
                    "INSERT INTO okcc_dir_users ({USER_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(user.id.as_str())
                    .bind(scope_text(&user.home))
                    .bind(&user.display_name)
                    .bind(user.disabled)
                    .bind(user.must_change_password)
                    .bind(user.totp_secret.as_deref())
                    .bind(user.totp_pending.as_deref())
                    .bind(step_to_db(user.totp_last_step)?)
                    .bind(recovery_blob(&user.recovery_hashes))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| insert_err(e, format!("user {} exists", user.id)))?;
                Ok(())
            }

            async fn user(&self, id: &UserId) -> Result<Option<UserRecord>, StoreError> {
                let sql = format!("SELECT {USER_COLUMNS} FROM okcc_dir_users WHERE id = $1");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .as_ref()
                    .map(Self::user_of)
                    .transpose()
            }

            async fn save_user(&self, user: UserRecord) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "UPDATE okcc_dir_users SET scope = $2, display_name = $3, disabled = $4, \
                     must_change_password = $5, totp_secret = $6, totp_pending = $7, \
                     totp_last_step = $8, recovery_hashes = $9 WHERE id = $1",
                )
                .bind(user.id.as_str())
                .bind(scope_text(&user.home))
                .bind(&user.display_name)
                .bind(user.disabled)
                .bind(user.must_change_password)
                .bind(user.totp_secret.as_deref())
                .bind(user.totp_pending.as_deref())
                .bind(step_to_db(user.totp_last_step)?)
                .bind(recovery_blob(&user.recovery_hashes))
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn list_users(
                &self,
                home: &Owner,
                page: Page,
            ) -> Result<PageOf<UserRecord>, StoreError> {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM okcc_dir_users \
                     WHERE scope = $1 AND id > $2 ORDER BY id LIMIT $3"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(scope_text(home))
                    .bind(page.after.as_deref().unwrap_or(""))
                    .bind(fetch_limit(&page))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                let items = rows.iter().map(Self::user_of).collect::<Result<Vec<_>, _>>()?;
                Ok(paged(items, &page, |u| u.id.as_str().to_owned()))
            }

            async fn user_count(&self) -> Result<usize, StoreError> {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM okcc_dir_users")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(usize::try_from(n).unwrap_or(0))
            }

            async fn insert_extension(&self, ext: ExtensionRecord) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO okcc_dir_extensions (name, scope, display_name) \
                     VALUES ($1, $2, $3)",
                )
                .bind(&ext.name)
                .bind(scope_text(&ext.owner))
                .bind(&ext.display_name)
                .execute(&self.pool)
                .await
                .map_err(|e| insert_err(e, format!("extension {} exists", ext.name)))?;
                Ok(())
            }

            async fn extension(&self, name: &str) -> Result<Option<ExtensionRecord>, StoreError> {
                sqlx::query(
                    "SELECT name, scope, display_name FROM okcc_dir_extensions WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .as_ref()
                .map(Self::extension_of)
                .transpose()
            }

            async fn list_extensions(
                &self,
                owner: &Owner,
                page: Page,
            ) -> Result<PageOf<ExtensionRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT name, scope, display_name FROM okcc_dir_extensions \
                     WHERE scope = $1 AND name > $2 ORDER BY name LIMIT $3",
                )
                .bind(scope_text(owner))
                .bind(page.after.as_deref().unwrap_or(""))
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let items = rows
                    .iter()
                    .map(Self::extension_of)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(paged(items, &page, |e| e.name.clone()))
            }

            async fn all_extensions(&self, page: Page) -> Result<PageOf<ExtensionRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT name, scope, display_name FROM okcc_dir_extensions \
                     WHERE name > $1 ORDER BY name LIMIT $2",
                )
                .bind(page.after.as_deref().unwrap_or(""))
                .bind(fetch_limit(&page))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                let items = rows
                    .iter()
                    .map(Self::extension_of)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(paged(items, &page, |e| e.name.clone()))
            }

            async fn remove_extension(&self, name: &str) -> Result<Option<ExtensionRecord>, StoreError> {
                sqlx::query(
                    "DELETE FROM okcc_dir_extensions WHERE name = $1 \
                     RETURNING name, scope, display_name",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .as_ref()
                .map(Self::extension_of)
                .transpose()
            }
        }
    };
}

sql_directory!(
    /// The directory in SQLite.
    SqliteDirectory,
    sqlx::SqlitePool,
    sqlx::sqlite::SqliteRow,
    "./migrations/sqlite"
);

sql_directory!(
    /// The directory in PostgreSQL.
    PostgresDirectory,
    sqlx::PgPool,
    sqlx::postgres::PgRow,
    "./migrations/postgres"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::directory::MemoryDirectory;

    fn user(id: &str, home: Owner) -> UserRecord {
        UserRecord::new(UserId::new(id).unwrap(), home, "Someone")
    }

    /// One conformance run: the same behaviour from every backend.
    async fn conformance(d: &dyn Directory) {
        let acme = TenantId::new("acme").unwrap();
        assert_eq!(d.user_count().await.unwrap(), 0);
        d.insert_tenant(TenantRecord {
            id: acme.clone(),
            name: "Acme".into(),
        })
        .await
        .unwrap();
        let dup = d
            .insert_tenant(TenantRecord {
                id: acme.clone(),
                name: "Other".into(),
            })
            .await
            .unwrap_err();
        assert!(matches!(dup, StoreError::Conflict { .. }), "{dup:?}");
        assert_eq!(d.tenant(&acme).await.unwrap().unwrap().name, "Acme");
        assert!(
            d.tenant(&TenantId::new("nope").unwrap())
                .await
                .unwrap()
                .is_none()
        );

        // users: every field round-trips, including TOTP state
        let mut u = user("alice", Owner::Tenant(acme.clone()));
        u.totp_secret = Some(vec![1, 2, 3]);
        u.totp_last_step = Some(u64::from(u32::MAX) + 7);
        u.recovery_hashes = vec![[7u8; 32], [9u8; 32]];
        d.insert_user(u.clone()).await.unwrap();
        assert_eq!(d.user(&u.id).await.unwrap().unwrap(), u);
        assert!(matches!(
            d.insert_user(u.clone()).await.unwrap_err(),
            StoreError::Conflict { .. }
        ));
        u.must_change_password = false;
        u.totp_pending = Some(vec![4; 20]);
        u.totp_secret = None;
        d.save_user(u.clone()).await.unwrap();
        assert_eq!(d.user(&u.id).await.unwrap().unwrap(), u);
        assert!(matches!(
            d.save_user(user("ghost", Owner::Platform))
                .await
                .unwrap_err(),
            StoreError::NotFound
        ));
        for n in ["bob", "carol", "dave"] {
            d.insert_user(user(n, Owner::Tenant(acme.clone())))
                .await
                .unwrap();
        }
        d.insert_user(user("root", Owner::Platform)).await.unwrap();
        assert_eq!(d.user_count().await.unwrap(), 5);
        let p1 = d
            .list_users(&Owner::Tenant(acme.clone()), Page::first(3))
            .await
            .unwrap();
        let names: Vec<_> = p1.items.iter().map(|u| u.id.as_str().to_owned()).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
        let p2 = d
            .list_users(
                &Owner::Tenant(acme.clone()),
                Page::after(p1.next.clone().unwrap(), 3),
            )
            .await
            .unwrap();
        assert_eq!(p2.items.len(), 1);
        assert!(p2.next.is_none());
        let plat = d
            .list_users(&Owner::Platform, Page::first(10))
            .await
            .unwrap();
        assert_eq!(plat.items.len(), 1);
        assert_eq!(plat.items[0].home, Owner::Platform);

        // extensions: ownership, paging per scope and over all, removal
        for (n, o) in [
            ("1001", Owner::Tenant(acme.clone())),
            ("1002", Owner::Tenant(acme.clone())),
            ("2001", Owner::Platform),
        ] {
            d.insert_extension(ExtensionRecord {
                name: n.into(),
                owner: o,
                display_name: format!("ext {n}"),
            })
            .await
            .unwrap();
        }
        assert!(matches!(
            d.insert_extension(ExtensionRecord {
                name: "1001".into(),
                owner: Owner::Platform,
                display_name: String::new(),
            })
            .await
            .unwrap_err(),
            StoreError::Conflict { .. }
        ));
        let e = d.extension("1001").await.unwrap().unwrap();
        assert_eq!(e.owner, Owner::Tenant(acme.clone()));
        let p = d
            .list_extensions(&Owner::Tenant(acme.clone()), Page::first(1))
            .await
            .unwrap();
        assert_eq!(p.items[0].name, "1001");
        let p = d
            .list_extensions(
                &Owner::Tenant(acme.clone()),
                Page::after(p.next.unwrap(), 1),
            )
            .await
            .unwrap();
        assert_eq!(p.items[0].name, "1002");
        assert!(p.next.is_none());
        let all = d.all_extensions(Page::first(10)).await.unwrap();
        assert_eq!(all.items.len(), 3);
        let removed = d.remove_extension("1001").await.unwrap().unwrap();
        assert_eq!(removed.name, "1001");
        assert!(d.remove_extension("1001").await.unwrap().is_none());
        assert!(d.extension("1001").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn req_7_directory_conformance_memory() {
        conformance(&MemoryDirectory::default()).await;
    }

    #[tokio::test]
    async fn req_7_directory_conformance_sqlite_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("okcc.db");
        let opts = okcc_core::store::sql::SqliteOptions::default();
        let pool = okcc_core::store::sql::open_sqlite(&path, &opts)
            .await
            .unwrap();
        let d = SqliteDirectory::from_pool(pool.clone()).await.unwrap();
        conformance(&d).await;
        pool.close().await;
        // migrations are applied once; the data survives a reopen
        let pool = okcc_core::store::sql::open_sqlite(&path, &opts)
            .await
            .unwrap();
        let d = SqliteDirectory::from_pool(pool).await.unwrap();
        assert_eq!(d.user_count().await.unwrap(), 5);
    }

    #[tokio::test]
    async fn req_7_directory_conformance_postgres() {
        let Some(pool) = okcc_core::store::sql::test_postgres_pool().await else {
            return;
        };
        let d = PostgresDirectory::from_pool(pool).await.unwrap();
        conformance(&d).await;
    }
}
