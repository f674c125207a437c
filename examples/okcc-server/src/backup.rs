//! Opening the stores, `okcc-server backup --to FILE` and
//! `okcc-server restore --from FILE`.
//!
//! SQLite (the default, `<data-dir>/okcc.db`): `backup` runs
//! `VACUUM INTO`, a consistent copy taken while the server keeps running;
//! `restore` checks the file (integrity, okcc tables, audit chain) and
//! atomically replaces the database of a stopped server. PostgreSQL:
//! use `pg_dump` / `pg_restore` (see the README).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use okcc_audit::AuditStore;
use okcc_audit::VerifyOptions;
use okcc_audit::store::postgres::PostgresAuditStore;
use okcc_audit::store::sqlite::SqliteAuditStore;
use okcc_core::StoreError;
use okcc_core::credential::CredentialStore;
use okcc_core::rbac::RoleStore;
use okcc_core::review::ReviewStore;
use okcc_core::store::sql::{SqliteOptions, connect_postgres, db_err, open_sqlite};
use okcc_crm::CustomerStore;
use okcc_crm::store::RevealStore;
use okcc_crm::store::postgres::{PostgresCustomerStore, PostgresRevealStore};
use okcc_crm::store::sqlite::{SqliteCustomerStore, SqliteRevealStore};

use crate::http::{Directory, PostgresDirectory, SqliteDirectory};
use crate::serve::config::Config;

/// The database file name inside `--data-dir`.
pub(crate) const DB_FILE: &str = "okcc.db";

/// Where the stores live: a data directory (SQLite) or a PostgreSQL URL.
#[derive(Debug, Clone, Args)]
pub(crate) struct DbArgs {
    /// Directory of the SQLite database (`okcc.db`).
    #[arg(long, env = "OKCC_DATA_DIR", conflicts_with = "database_url")]
    pub(crate) data_dir: Option<PathBuf>,
    /// PostgreSQL URL (`postgres://user@host:5432/db`) instead of SQLite.
    #[arg(long, env = "OKCC_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
}

/// The persistent stores of one server, on one pool: what `serve`, the
/// REST API and the data subcommands (`extension`, `admin`) share.
#[derive(Debug, Clone)]
pub(crate) struct Stores {
    /// The audit chain.
    pub(crate) audit: Arc<dyn AuditStore>,
    /// Customers and their recycle bin.
    pub(crate) customers: Arc<dyn CustomerStore>,
    /// Tenants, web users (TOTP state) and extension ownership.
    pub(crate) directory: Arc<dyn Directory>,
    /// Web password hashes and SIP HA1 values.
    pub(crate) credentials: Arc<dyn CredentialStore>,
    /// Roles and assignments.
    pub(crate) roles: Arc<dyn RoleStore>,
    /// Content review items (voice files, TTS and SMS templates).
    pub(crate) review: Arc<dyn ReviewStore>,
    /// Reveal requests and grants of the CRM.
    pub(crate) reveals: Arc<dyn RevealStore>,
    /// The pool, for readiness checks.
    pub(crate) pool: Pool,
}

/// The database behind [`Stores`].
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    /// The embedded default.
    Sqlite(sqlx::SqlitePool),
    /// Several nodes.
    Postgres(sqlx::PgPool),
}

impl Stores {
    /// `true` when the database answers now (readiness).
    #[allow(dead_code)] // kept for callers that only need the pool
    pub(crate) async fn ready(&self) -> bool {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.is_ok(),
            Pool::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.is_ok(),
        }
    }
}

/// Opens the stores at `db` (migrations applied). A database that is down
/// gives [`StoreError::Unavailable`] naming it (never the password).
pub(crate) async fn open_stores(db: &DbArgs) -> Result<Stores, StoreError> {
    if let Some(url) = &db.database_url {
        let pool = connect_postgres(url, None, 8).await?;
        let audit = PostgresAuditStore::from_pool(pool.clone()).await?;
        let customers = PostgresCustomerStore::from_pool(pool.clone()).await?;
        let directory = PostgresDirectory::from_pool(pool.clone()).await?;
        let (credentials, roles) = access_stores_postgres(&pool).await?;
        let review = okcc_core::review::PostgresReviewStore::from_pool(pool.clone()).await?;
        let reveals = PostgresRevealStore::from_pool(pool.clone()).await?;
        return Ok(Stores {
            audit: Arc::new(audit),
            customers: Arc::new(customers),
            directory: Arc::new(directory),
            credentials,
            roles,
            review: Arc::new(review),
            reveals: Arc::new(reveals),
            pool: Pool::Postgres(pool),
        });
    }
    let dir = db.data_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    let pool = open_sqlite(&dir.join(DB_FILE), &SqliteOptions::default()).await?;
    let audit = SqliteAuditStore::from_pool(pool.clone()).await?;
    let customers = SqliteCustomerStore::from_pool(pool.clone()).await?;
    let directory = SqliteDirectory::from_pool(pool.clone()).await?;
    let (credentials, roles) = access_stores_sqlite(&pool).await?;
    let review = okcc_core::review::SqliteReviewStore::from_pool(pool.clone()).await?;
    let reveals = SqliteRevealStore::from_pool(pool.clone()).await?;
    Ok(Stores {
        audit: Arc::new(audit),
        customers: Arc::new(customers),
        directory: Arc::new(directory),
        credentials,
        roles,
        review: Arc::new(review),
        reveals: Arc::new(reveals),
        pool: Pool::Sqlite(pool),
    })
}

type AccessStores = (Arc<dyn CredentialStore>, Arc<dyn RoleStore>);

async fn access_stores_sqlite(pool: &sqlx::SqlitePool) -> Result<AccessStores, StoreError> {
    Ok((
        Arc::new(okcc_core::credential::SqliteCredentialStore::from_pool(pool.clone()).await?),
        Arc::new(okcc_core::rbac::SqliteRoleStore::from_pool(pool.clone()).await?),
    ))
}

async fn access_stores_postgres(pool: &sqlx::PgPool) -> Result<AccessStores, StoreError> {
    Ok((
        Arc::new(okcc_core::credential::PostgresCredentialStore::from_pool(pool.clone()).await?),
        Arc::new(okcc_core::rbac::PostgresRoleStore::from_pool(pool.clone()).await?),
    ))
}

/// Opens the stores a loaded configuration names, with a readable error.
pub(crate) async fn open_config(cfg: &Config) -> Result<Stores, String> {
    open_stores(&DbArgs {
        data_dir: Some(cfg.data_dir.clone()),
        database_url: cfg.database_url.clone(),
    })
    .await
    .map_err(|e| format!("cannot open the database: {}", report(&e)))
}

/// `okcc-server backup`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The backup file to create (must not exist).
    #[arg(long)]
    to: PathBuf,
}

/// `okcc-server restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The backup file made by `okcc-server backup`.
    #[arg(long)]
    from: PathBuf,
}

/// A single-threaded runtime for a CLI command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// A store error with its causes, for messages.
pub(crate) fn report(e: &StoreError) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A path as an SQL string literal.
fn sql_literal(path: &Path) -> Result<String, String> {
    let s = path
        .to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))?;
    if s.contains('\0') {
        return Err("path contains a NUL byte".into());
    }
    Ok(format!("'{}'", s.replace('\'', "''")))
}

pub(crate) fn run_backup(args: &BackupArgs) -> ExitCode {
    match backup(args) {
        Ok(()) => {
            println!("backup written to {}", args.to.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn backup(args: &BackupArgs) -> Result<(), String> {
    if args.db.database_url.is_some() {
        return Err(
            "backup covers the SQLite database; for PostgreSQL use pg_dump -Fc (see README)".into(),
        );
    }
    if args.to.exists() {
        return Err(format!(
            "{} exists; refusing to overwrite",
            args.to.display()
        ));
    }
    let dir = args
        .db
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let db = dir.join(DB_FILE);
    if !db.is_file() {
        return Err(format!("no database at {}", db.display()));
    }
    let target = sql_literal(&args.to)?;
    runtime()?.block_on(async {
        let pool = open_sqlite(&db, &SqliteOptions::default())
            .await
            .map_err(|e| report(&e))?;
        // VACUUM INTO reads one consistent snapshot; writers keep going.
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO {target}")))
            .execute(&pool)
            .await
            .map_err(|e| format!("backup failed: {}", report(&db_err(e))))?;
        pool.close().await;
        Ok(())
    })
}

pub(crate) fn run_restore(args: &RestoreArgs) -> ExitCode {
    match restore(args) {
        Ok(events) => {
            println!(
                "restored {} ({events} audit events, chain intact)",
                args.from.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn restore(args: &RestoreArgs) -> Result<u64, String> {
    if args.db.database_url.is_some() {
        return Err(
            "restore covers the SQLite database; for PostgreSQL use pg_restore (see README)".into(),
        );
    }
    let dir = args
        .db
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let db = dir.join(DB_FILE);
    let staged = dir.join(format!("{DB_FILE}.restore"));
    // Work on a copy: the backup file is never changed, and the live
    // database is only replaced once the copy checks out.
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(&args.from, &staged)
        .map_err(|e| format!("cannot read {}: {e}", args.from.display()))?;
    let checked = runtime()?.block_on(async {
        let pool = open_sqlite(&staged, &SqliteOptions::default())
            .await
            .map_err(|e| report(&e))?;
        let ok: Result<String, _> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await;
        match ok {
            Ok(s) if s == "ok" => {}
            Ok(s) => return Err(format!("{} is damaged: {s}", args.from.display())),
            Err(_) => {
                return Err(format!("{} is not an SQLite database", args.from.display()));
            }
        }
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
             AND name IN ('okcc_audit_migrations', 'okcc_crm_migrations')",
        )
        .fetch_one(&pool)
        .await
        .map_err(|e| report(&db_err(e)))?;
        if tables != 2 {
            return Err(format!(
                "{} is not an okcc backup (okcc tables missing)",
                args.from.display()
            ));
        }
        let audit = SqliteAuditStore::from_pool(pool.clone())
            .await
            .map_err(|e| report(&e))?;
        SqliteCustomerStore::from_pool(pool.clone())
            .await
            .map_err(|e| report(&e))?;
        let verdict = audit
            .verify(&VerifyOptions::all())
            .await
            .map_err(|e| report(&e))?;
        // Leave one self-contained file (no -wal) before the rename.
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await;
        pool.close().await;
        match verdict.tamper {
            None => Ok(verdict.checked),
            Some(t) => Err(format!("the audit chain in the backup is broken: {t:?}")),
        }
    });
    let events = match checked {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("{DB_FILE}{suffix}")));
        let _ = std::fs::remove_file(dir.join(format!("{DB_FILE}.restore{suffix}")));
    }
    std::fs::rename(&staged, &db).map_err(|e| format!("cannot replace {}: {e}", db.display()))?;
    Ok(events)
}
