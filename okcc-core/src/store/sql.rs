//! Opening the SQL databases every okcc store shares (features `sqlite`
//! and `postgres`): one pool per database, handed to each crate's
//! `store::sqlite` / `store::postgres` backend, which applies its own
//! embedded migrations.
//!
//! Durability: SQLite runs in WAL mode with `synchronous = NORMAL`. A
//! committed transaction survives the process being killed (SIGKILL,
//! panic, OOM); after a power loss or OS crash the last transactions
//! before the crash may be rolled back (never corrupted). Use
//! [`SqliteOptions::full_sync`] for power-loss durability at a lower
//! write rate.

use std::time::Duration;

use super::StoreError;

/// Maps a driver error: connection-level failures are
/// [`StoreError::Unavailable`] (callers spill or report not ready), the
/// rest [`StoreError::Backend`]. Messages never include bound values.
pub fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(e)),
        other => StoreError::Backend(Box::new(other)),
    }
}

/// Runs a crate's embedded migrations, each crate in its own history
/// table (`table`) so several crates share one database.
pub async fn run_migrations<'a, A>(
    mut migrator: sqlx::migrate::Migrator,
    table: &'static str,
    conn: A,
) -> Result<(), StoreError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    migrator.dangerous_set_table_name(table);
    migrator.run(conn).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(inner) => db_err(inner),
        other => StoreError::Backend(Box::new(other)),
    })
}

/// A stored value that does not decode (written by something else, or
/// a newer okcc).
#[derive(Debug, thiserror::Error)]
#[error("corrupt row: {0}")]
pub struct CorruptRow(&'static str);

/// [`StoreError::Backend`] for a row that does not decode.
pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::Backend(Box::new(CorruptRow(what)))
}

/// JSON of a value okcc owns (cannot fail for these types; mapped anyway).
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// The value of a JSON column, or [`CorruptRow`] naming `what`.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    json: &str,
    what: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|_| corrupt(what))
}

/// An [`Owner`](crate::ids::Owner) as a key column: `platform` or
/// `tenant:<id>`.
pub(crate) fn owner_key(owner: &crate::ids::Owner) -> String {
    owner.to_string()
}

/// The inverse of [`owner_key`].
pub(crate) fn owner_of(key: &str) -> Result<crate::ids::Owner, StoreError> {
    use crate::ids::{Owner, TenantId};
    if key == "platform" {
        return Ok(Owner::Platform);
    }
    key.strip_prefix("tenant:")
        .and_then(|t| TenantId::new(t).ok())
        .map(Owner::Tenant)
        .ok_or_else(|| corrupt("owner is neither platform nor tenant:<id>"))
}

/// A stored `u64` (revision, sequence) as `BIGINT`.
pub(crate) fn int_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `SystemTime` as signed nanoseconds since the Unix epoch (saturating).
pub(crate) fn ns_of(t: std::time::SystemTime) -> i64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// The inverse of [`ns_of`].
pub(crate) fn time_of(ns: i64) -> std::time::SystemTime {
    let d = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        std::time::UNIX_EPOCH + d
    } else {
        std::time::UNIX_EPOCH - d
    }
}

/// Applies okcc-core's embedded SQLite migrations (history table
/// `okcc_core_migrations`).
#[cfg(feature = "sqlite")]
pub(crate) async fn migrate_core_sqlite(pool: &sqlx::SqlitePool) -> Result<(), StoreError> {
    run_migrations(
        sqlx::migrate!("./migrations/sqlite"),
        "okcc_core_migrations",
        pool,
    )
    .await
}

/// Applies okcc-core's embedded PostgreSQL migrations (history table
/// `okcc_core_migrations`).
#[cfg(feature = "postgres")]
pub(crate) async fn migrate_core_postgres(pool: &sqlx::PgPool) -> Result<(), StoreError> {
    run_migrations(
        sqlx::migrate!("./migrations/postgres"),
        "okcc_core_migrations",
        pool,
    )
    .await
}

/// Declares the SQLite and PostgreSQL structs of one store trait (the
/// open-pool-and-migrate boilerplate every okcc SQL store shares): each
/// holds its pool and applies its crate's embedded migrations when built
/// (`from_pool`, and `open` for SQLite). `migrate_sqlite` / `migrate_postgres`
/// name an `async fn(&Pool) -> Result<(), StoreError>` (usually
/// [`run_migrations`] on the crate's `sqlx::migrate!` directory). The
/// `cfg(feature = "sqlite" / "postgres")` gates are the calling crate's
/// features; the trait is implemented separately.
#[doc(hidden)]
#[macro_export]
macro_rules! sql_store_structs {
    (
        migrate_sqlite: $migrate_sqlite:path,
        migrate_postgres: $migrate_pg:path,
        $(#[$sqlite_doc:meta])* sqlite: $sqlite:ident,
        $(#[$pg_doc:meta])* postgres: $pg:ident $(,)?
    ) => {
        $crate::sql_store_structs! {
            migrate_sqlite: $migrate_sqlite,
            $(#[$sqlite_doc])* sqlite: $sqlite,
        }
        $crate::sql_store_structs! {
            migrate_postgres: $migrate_pg,
            $(#[$pg_doc])* postgres: $pg,
        }
    };
    (migrate_sqlite: $migrate:path, $($(#[$doc:meta])* sqlite: $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[cfg(feature = "sqlite")]
        #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
        #[derive(Debug, Clone)]
        pub struct $name {
            pool: sqlx::SqlitePool,
        }

        #[cfg(feature = "sqlite")]
        impl $name {
            /// Opens (creating if missing) the database file at `path` and
            /// applies the embedded migrations.
            pub async fn open(
                path: &std::path::Path,
            ) -> Result<Self, $crate::store::StoreError> {
                use $crate::store::sql::{SqliteOptions, open_sqlite};
                Self::from_pool(open_sqlite(path, &SqliteOptions::default()).await?).await
            }

            /// Uses an open pool (shared with the other stores) and applies
            /// the embedded migrations.
            pub async fn from_pool(
                pool: sqlx::SqlitePool,
            ) -> Result<Self, $crate::store::StoreError> {
                $migrate(&pool).await?;
                Ok(Self { pool })
            }

            /// The pool (readiness checks, backups, query plans).
            pub fn pool(&self) -> &sqlx::SqlitePool {
                &self.pool
            }
        }
    )+};
    (migrate_postgres: $migrate:path, $($(#[$doc:meta])* postgres: $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[cfg(feature = "postgres")]
        #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
        #[derive(Debug, Clone)]
        pub struct $name {
            pool: sqlx::PgPool,
        }

        #[cfg(feature = "postgres")]
        impl $name {
            /// Uses a connected pool
            /// (`okcc_core::store::sql::connect_postgres`)
            /// and applies the embedded migrations.
            pub async fn from_pool(pool: sqlx::PgPool) -> Result<Self, $crate::store::StoreError> {
                $migrate(&pool).await?;
                Ok(Self { pool })
            }

            /// The pool (readiness checks).
            pub fn pool(&self) -> &sqlx::PgPool {
                &self.pool
            }
        }
    )+};
}

/// [`sql_store_structs!`] for okcc-core's own stores (its migrations).
macro_rules! core_sql_stores {
    ($($rest:tt)*) => {
        $crate::sql_store_structs! {
            migrate_sqlite: $crate::store::sql::migrate_core_sqlite,
            migrate_postgres: $crate::store::sql::migrate_core_postgres,
            $($rest)*
        }
    };
}
pub(crate) use core_sql_stores;

/// How to open the SQLite file.
#[cfg(feature = "sqlite")]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Pool size (readers; writes are serialised by SQLite).
    pub max_connections: u32,
    /// How long a statement waits for another writer's lock.
    pub busy_timeout: Duration,
    /// `synchronous = FULL` instead of `NORMAL`.
    pub full_sync: bool,
}

#[cfg(feature = "sqlite")]
impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            full_sync: false,
        }
    }
}

/// Opens (creating if missing) the SQLite database at `path`: WAL,
/// foreign keys on, busy timeout. A path that cannot be opened is
/// [`StoreError::Unavailable`] with the path in the message.
#[cfg(feature = "sqlite")]
pub async fn open_sqlite(
    path: &std::path::Path,
    options: &SqliteOptions,
) -> Result<sqlx::SqlitePool, StoreError> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if options.full_sync {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout);
    SqlitePoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(connect)
        .await
        .map_err(|e| {
            StoreError::Unavailable(Box::new(OpenError {
                what: format!("cannot open SQLite database {}", path.display()),
                source: e,
            }))
        })
}

/// A database could not be opened; says which.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct OpenError {
    what: String,
    #[source]
    source: sqlx::Error,
}

/// Connects a pool to PostgreSQL at `url` (`postgres://…`; add
/// `?sslmode=require` with the `tls` feature of the backend crates). With
/// `schema`, every pooled connection uses it as `search_path` (tests and
/// several okcc installations in one database). The password in `url` is
/// never part of an error message.
#[cfg(feature = "postgres")]
pub async fn connect_postgres(
    url: &str,
    schema: Option<&str>,
    max_connections: u32,
) -> Result<sqlx::PgPool, StoreError> {
    use sqlx::Executor as _;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let options: PgConnectOptions = url
        .parse()
        .map_err(|_| StoreError::Backend(Box::new(BadUrl)))?;
    let host = format!(
        "PostgreSQL at {}:{}",
        options.get_host(),
        options.get_port()
    );
    let mut pool = PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5));
    if let Some(schema) = schema {
        if !is_identifier(schema) {
            return Err(StoreError::conflict("schema name must be [a-z0-9_]"));
        }
        let set = format!("SET search_path TO {schema}");
        pool = pool.after_connect(move |conn, _meta| {
            let set = set.clone();
            Box::pin(async move {
                // `schema` is checked to be a plain identifier above.
                conn.execute(sqlx::AssertSqlSafe(set)).await?;
                Ok(())
            })
        });
    }
    pool.connect_with(options).await.map_err(|e| {
        StoreError::Unavailable(Box::new(OpenError {
            what: format!("cannot connect to {host}"),
            source: e,
        }))
    })
}

/// The database URL does not parse.
#[derive(Debug, thiserror::Error)]
#[error("the PostgreSQL URL does not parse (postgres://user@host:port/db)")]
pub struct BadUrl;

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// The environment variable that points the PostgreSQL test suites at a
/// server (`postgres://postgres@127.0.0.1:5432/test` in CI).
pub const TEST_POSTGRES_URL_VAR: &str = "OKCC_TEST_POSTGRES_URL";

/// A pool on a fresh schema `okcc_test_t<unix secs>_<random>` of the test
/// server, or `None` (with a notice on stderr) when
/// [`TEST_POSTGRES_URL_VAR`] is not set. When the variable is set and the
/// server is unreachable this panics: a configured suite must not pass
/// silently.
///
/// Test schemas do not pile up: the first call of each process drops the
/// test schemas left by earlier runs (those created more than
/// [`STALE_TEST_SCHEMA`] ago, and those of the older unstamped naming that
/// no session holds a lock in).
#[cfg(all(feature = "postgres", feature = "testkit"))]
pub async fn test_postgres_pool() -> Option<sqlx::PgPool> {
    let Ok(url) = std::env::var(TEST_POSTGRES_URL_VAR) else {
        eprintln!("skipped: set {TEST_POSTGRES_URL_VAR} to run the PostgreSQL suite");
        return None;
    };
    let now = unix_secs();
    let schema = format!("okcc_test_t{now}_{:012x}", rand::random::<u64>() >> 16);
    let admin = match connect_postgres(&url, None, 1).await {
        Ok(p) => p,
        Err(e) => panic!("{TEST_POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e:?}"),
    };
    static CLEANED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !CLEANED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        drop_stale_test_schemas(&admin, now).await;
    }
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
    {
        panic!("cannot create test schema: {e}");
    }
    admin.close().await;
    match connect_postgres(&url, Some(&schema), 4).await {
        Ok(p) => Some(p),
        Err(e) => panic!("{TEST_POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e:?}"),
    }
}

/// How old a stamped test schema must be before another test process
/// drops it (no PostgreSQL test runs this long).
#[cfg(all(feature = "postgres", feature = "testkit"))]
pub const STALE_TEST_SCHEMA: Duration = Duration::from_secs(20 * 60);

#[cfg(all(feature = "postgres", feature = "testkit"))]
#[allow(clippy::disallowed_methods)] // test support: schema names carry the wall-clock time
fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether the test schema `name` is left over from an earlier run, seen
/// at `now` (unix seconds); `locked` says whether a session holds a lock
/// in it (only consulted for unstamped names).
#[cfg(all(feature = "postgres", feature = "testkit"))]
fn is_stale_test_schema(name: &str, now: u64, locked: bool) -> bool {
    let Some(rest) = name.strip_prefix("okcc_test_") else {
        return false;
    };
    if let Some(stamped) = rest.strip_prefix('t') {
        let Some((secs, _)) = stamped.split_once('_') else {
            return false;
        };
        return secs
            .parse::<u64>()
            .is_ok_and(|t| now.saturating_sub(t) > STALE_TEST_SCHEMA.as_secs());
    }
    // The older naming, okcc_test_<16 hex digits>, had no time stamp.
    rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit()) && !locked
}

/// Drops the stale test schemas (best effort: a failure only leaves them
/// for the next run, with a notice).
#[cfg(all(feature = "postgres", feature = "testkit"))]
async fn drop_stale_test_schemas(admin: &sqlx::PgPool, now: u64) {
    use sqlx::Row as _;
    let rows = match sqlx::query(
        "SELECT n.nspname::text, EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c \
         ON c.oid = l.relation WHERE c.relnamespace = n.oid) \
         FROM pg_namespace n WHERE n.nspname LIKE 'okcc\\_test\\_%'",
    )
    .fetch_all(admin)
    .await
    {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("cannot list old test schemas: {e}");
            return;
        }
    };
    for row in rows {
        let (Ok(name), Ok(locked)) = (row.try_get::<String, _>(0), row.try_get::<bool, _>(1))
        else {
            continue;
        };
        if !is_identifier(&name) || !is_stale_test_schema(&name, now, locked) {
            continue;
        }
        // `name` is checked to be a plain identifier above.
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE"
        )))
        .execute(admin)
        .await
        {
            eprintln!("cannot drop old test schema {name}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(is_identifier("okcc_test_00ff"));
        assert!(!is_identifier("a;drop table x"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier(""));
    }

    #[cfg(all(feature = "postgres", feature = "testkit"))]
    #[test]
    fn req_7_only_stale_test_schemas_are_dropped() {
        let now = 1_800_000_000;
        let old = now - STALE_TEST_SCHEMA.as_secs() - 1;
        assert!(is_stale_test_schema(
            &format!("okcc_test_t{old}_0123456789ab"),
            now,
            true
        ));
        assert!(!is_stale_test_schema(
            &format!("okcc_test_t{now}_0123456789ab"),
            now,
            false
        ));
        assert!(!is_stale_test_schema("okcc_test_tx_1", now, false));
        assert!(is_stale_test_schema(
            "okcc_test_00ff00ff00ff00ff",
            now,
            false
        ));
        assert!(!is_stale_test_schema(
            "okcc_test_00ff00ff00ff00ff",
            now,
            true
        ));
        assert!(!is_stale_test_schema("public", now, false));
        assert!(!is_stale_test_schema("okcc_test_prod", now, false));
    }
}
