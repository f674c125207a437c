//! `okcc-server backup --to FILE` while the database is open and being
//! written, then `okcc-server restore --from FILE` into a new data
//! directory: every event and customer is back and the chain verifies
//! (issue 7).

use std::process::Command;
use std::time::SystemTime;

use okcc_audit::store::sqlite::SqliteAuditStore;
use okcc_audit::testkit::sample_event;
use okcc_audit::{AuditStore, VerifyOptions};
use okcc_core::TenantId;
use okcc_core::store::sql::{SqliteOptions, open_sqlite};
use okcc_crm::CustomerStore;
use okcc_crm::customer::CustomerFields;
use okcc_crm::store::sqlite::SqliteCustomerStore;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_okcc-server"))
}

async fn stores(dir: &std::path::Path) -> (SqliteAuditStore, SqliteCustomerStore) {
    let pool = open_sqlite(&dir.join("okcc.db"), &SqliteOptions::default())
        .await
        .expect("open");
    (
        SqliteAuditStore::from_pool(pool.clone())
            .await
            .expect("audit"),
        SqliteCustomerStore::from_pool(pool).await.expect("crm"),
    )
}

#[tokio::test]
async fn req_5_1_backup_of_a_running_database_restores_round_trip() {
    let tmp = tempfile::tempdir().expect("tmp");
    let live = tmp.path().join("live");
    std::fs::create_dir_all(&live).expect("dir");
    let (audit, crm) = stores(&live).await;
    let acme = TenantId::new("acme").expect("tenant");
    audit
        .append((0..50).map(sample_event).collect())
        .await
        .expect("append");
    let mut ids = Vec::new();
    for i in 0..20 {
        let c = crm
            .insert(
                &acme,
                CustomerFields::named(&format!("c{i}")),
                SystemTime::UNIX_EPOCH,
            )
            .await
            .expect("insert");
        ids.push(c.id);
    }

    // Online: the pool above stays open.
    let file = tmp.path().join("okcc.backup");
    let out = bin()
        .args(["backup", "--data-dir"])
        .arg(&live)
        .arg("--to")
        .arg(&file)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Never overwrites.
    let again = bin()
        .args(["backup", "--data-dir"])
        .arg(&live)
        .arg("--to")
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(2));

    // Later writes are not in the backup.
    audit
        .append((50..60).map(sample_event).collect())
        .await
        .expect("append");

    let restored = tmp.path().join("restored");
    let out = bin()
        .args(["restore", "--data-dir"])
        .arg(&restored)
        .arg("--from")
        .arg(&file)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("50 audit events"));

    let (audit2, crm2) = stores(&restored).await;
    assert_eq!(audit2.head().await.expect("head").seq, 50);
    assert!(
        audit2
            .verify(&VerifyOptions::all())
            .await
            .expect("verify")
            .is_intact()
    );
    for id in ids {
        assert!(crm2.get(&acme, id).await.expect("get").is_some());
    }
}

#[test]
fn req_5_1_restore_refuses_a_file_that_is_not_a_backup() {
    let tmp = tempfile::tempdir().expect("tmp");
    let junk = tmp.path().join("junk");
    std::fs::write(&junk, b"not a database at all, just some bytes").expect("write");
    let out = bin()
        .args(["restore", "--data-dir"])
        .arg(tmp.path().join("d"))
        .arg("--from")
        .arg(&junk)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not an SQLite database") || err.contains("error"),
        "{err}"
    );
    assert!(!tmp.path().join("d").join("okcc.db").exists());
}
