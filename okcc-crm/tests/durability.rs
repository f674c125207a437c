//! Durability (issue 7): a child process appends audit events and inserts
//! customers, printing an acknowledgement after each commit, and is
//! killed with SIGKILL. After reopening, everything acknowledged is there
//! and the audit chain verifies. SQLite always; PostgreSQL when
//! `OKCC_TEST_POSTGRES_URL` is set.
//!
//! The child is this test binary itself, re-run with
//! `OKCC_DURABILITY_CHILD` set on the `child_writer` test.
#![cfg(all(unix, feature = "sqlite"))]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use okcc_audit::testkit::sample_event;
use okcc_audit::{AuditStore, VerifyOptions};
use okcc_core::TenantId;
use okcc_crm::CustomerStore;
use okcc_crm::customer::{CustomerFields, CustomerId};

const CHILD: &str = "OKCC_DURABILITY_CHILD";
/// Acknowledgements the parent waits for before the kill.
const ACKS_BEFORE_KILL: usize = 300;

type Stores = (Arc<dyn AuditStore>, Arc<dyn CustomerStore>);

/// `sqlite:<path>` or `postgres:<schema>` (URL from the environment).
async fn open(target: &str) -> Stores {
    if let Some(path) = target.strip_prefix("sqlite:") {
        let pool = okcc_core::store::sql::open_sqlite(
            std::path::Path::new(path),
            &okcc_core::store::sql::SqliteOptions::default(),
        )
        .await
        .expect("open sqlite");
        let audit = okcc_audit::store::sqlite::SqliteAuditStore::from_pool(pool.clone())
            .await
            .expect("audit");
        let crm = okcc_crm::store::sqlite::SqliteCustomerStore::from_pool(pool)
            .await
            .expect("crm");
        return (Arc::new(audit), Arc::new(crm));
    }
    open_pg(target).await
}

#[cfg(feature = "postgres")]
async fn open_pg(target: &str) -> Stores {
    let schema = target.strip_prefix("postgres:").expect("target");
    let url = std::env::var(okcc_core::store::sql::TEST_POSTGRES_URL_VAR).expect("url");
    let pool = okcc_core::store::sql::connect_postgres(&url, Some(schema), 4)
        .await
        .expect("connect");
    let audit = okcc_audit::store::postgres::PostgresAuditStore::from_pool(pool.clone())
        .await
        .expect("audit");
    let crm = okcc_crm::store::postgres::PostgresCustomerStore::from_pool(pool)
        .await
        .expect("crm");
    (Arc::new(audit), Arc::new(crm))
}

#[cfg(not(feature = "postgres"))]
async fn open_pg(target: &str) -> Stores {
    panic!("unknown target {target}")
}

fn tenant() -> TenantId {
    TenantId::new("acme").expect("tenant")
}

/// The child side: writes until killed (bounded), acknowledging each
/// commit on stdout. Does nothing unless started by a durability test.
#[tokio::test]
async fn child_writer() {
    let Ok(target) = std::env::var(CHILD) else {
        return;
    };
    let (audit, crm) = open(&target).await;
    let mut out = std::io::stdout().lock();
    for n in 0..100_000u64 {
        let batch: Vec<_> = (n * 4..n * 4 + 4).map(sample_event).collect();
        audit.append(batch).await.expect("append");
        writeln!(out, "audit {}", n * 4 + 3).expect("stdout");
        let c = crm
            .insert(
                &tenant(),
                CustomerFields::named(&format!("customer {n}")),
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000 + n),
            )
            .await
            .expect("insert");
        writeln!(out, "crm {}", c.id.0).expect("stdout");
        out.flush().expect("flush");
    }
}

/// Runs the child on `target`, SIGKILLs it after enough
/// acknowledgements, reopens and checks.
async fn kill_and_check(target: &str) {
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD, target)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut last_audit = None;
    let mut customers = Vec::new();
    let mut acks = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(n) = line.strip_prefix("audit ") {
            last_audit = Some(n.parse::<u64>().expect("n"));
        } else if let Some(id) = line.strip_prefix("crm ") {
            customers.push(CustomerId(id.parse().expect("id")));
        } else {
            continue;
        }
        acks += 1;
        if acks >= ACKS_BEFORE_KILL {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "child was killed");
    assert!(acks >= ACKS_BEFORE_KILL, "child stopped early: {acks} acks");

    let (audit, crm) = open(target).await;
    let last = last_audit.expect("audit acks");
    let head = audit.head().await.expect("head");
    assert!(
        head.seq > last,
        "acked event {last} lost (head {})",
        head.seq
    );
    let rows = audit.read_chain(1, usize::MAX).await.expect("read");
    let ids: std::collections::HashSet<_> = rows.iter().map(|r| r.event.id).collect();
    assert!((0..=last).all(|n| ids.contains(&sample_event(n).id)));
    let report = audit.verify(&VerifyOptions::all()).await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.tamper);
    for id in &customers {
        assert!(
            crm.get(&tenant(), *id).await.expect("get").is_some(),
            "acked {id} lost"
        );
    }
}

#[tokio::test]
async fn req_5_1_sqlite_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("okcc.db");
    kill_and_check(&format!("sqlite:{}", path.display())).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn req_5_1_postgres_survives_sigkill() {
    use sqlx::Row as _;
    let Some(pool) = okcc_core::store::sql::test_postgres_pool().await else {
        return;
    };
    let schema: String = sqlx::query("SELECT current_schema()")
        .fetch_one(&pool)
        .await
        .expect("schema")
        .try_get(0)
        .expect("schema");
    pool.close().await;
    kill_and_check(&format!("postgres:{schema}")).await;
}
