//! `okcc-server audit verify|export|tail` against an exported JSONL file and
//! against the server's own database.

use std::process::Command;

use okcc_audit::export::{JsonlRecord, write_jsonl_line};
use okcc_audit::{Action, Actor, AuditEvent, ChainAnchor, ChainTail, EventId, Outcome};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_okcc-server"))
}

fn write_export(path: &std::path::Path, n: u64) {
    let mut tail = ChainTail::new(ChainAnchor::GENESIS);
    let mut out = Vec::new();
    write_jsonl_line(&JsonlRecord::Anchor(ChainAnchor::GENESIS), &mut out).expect("ser");
    for i in 0..n {
        let e = AuditEvent::at(
            EventId::from_uuid(uuid_from(i)),
            time_at(i),
            Actor::Anonymous,
            Action::Login,
            Outcome::failure("wrong password").expect("text"),
        );
        write_jsonl_line(&JsonlRecord::Event(Box::new(tail.link(e))), &mut out).expect("ser");
    }
    std::fs::write(path, out).expect("write");
}

fn uuid_from(i: u64) -> uuid::Uuid {
    uuid::Uuid::from_u128(u128::from(i) + 1)
}

fn time_at(i: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(1_790_000_000 + i64::try_from(i).expect("small"))
        .expect("time")
}

#[test]
fn req_5_1_cli_verifies_exports_and_tails_a_jsonl_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("audit.jsonl");
    write_export(&file, 10);

    let ok = bin()
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok: 10 events verified"));

    let csv = dir.path().join("audit.csv");
    let out = bin()
        .args(["audit", "export", "--format", "csv", "--file"])
        .arg(&file)
        .arg("--out")
        .arg(&csv)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&csv).expect("csv");
    assert_eq!(text.lines().count(), 11);
    assert!(text.starts_with("seq,time,id,"));

    let tail = bin()
        .args(["audit", "tail", "-n", "2", "--file"])
        .arg(&file)
        .output()
        .expect("runs");
    let tail = String::from_utf8_lossy(&tail.stdout).to_string();
    assert_eq!(tail.lines().count(), 2);
    assert!(
        tail.lines()
            .next()
            .is_some_and(|l| l.trim_start().starts_with("9 ")),
        "{tail}"
    );
}

#[test]
fn req_5_1_cli_names_the_tampered_event_and_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("audit.jsonl");
    write_export(&file, 10);
    let text = std::fs::read_to_string(&file).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    // Line 0 is the anchor; line 5 is event seq 5.
    let edited: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 5 {
                l.replace("wrong password", "right password")
            } else {
                (*l).to_owned()
            }
        })
        .collect();
    std::fs::write(&file, edited.join("\n")).expect("write");
    let out = bin()
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("event 5 was modified"));

    std::fs::write(&file, "{not json}\n").expect("write");
    let out = bin()
        .args(["audit", "verify", "--file"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

/// The CLI reads the server's own database (the data subcommands' flags):
/// `extension add` is audited there; verify, tail and export read it; a
/// removed row is found; `--file` and `--data-dir` together are refused.
#[test]
fn req_9_cli_reads_the_servers_database() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().to_str().expect("utf-8");
    for user in ["1001", "1002"] {
        let mut add = bin()
            .args([
                "extension",
                "add",
                user,
                "--password-stdin",
                "--data-dir",
                data,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::io::Write::write_all(&mut add.stdin.take().expect("stdin"), b"Zr#9vK!q2mPw7xLt\n")
            .expect("password");
        assert!(add.wait().expect("add").success());
    }
    let ok = bin()
        .args(["audit", "verify", "--data-dir", data])
        .output()
        .expect("verify");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}");
    assert!(text.starts_with("ok: 2 events verified"), "{text}");
    let tail = bin()
        .args(["audit", "tail", "--data-dir", data, "-n", "1"])
        .output()
        .expect("tail");
    let text = String::from_utf8_lossy(&tail.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("target=extension:1002"), "{text}");
    let csv = bin()
        .args(["audit", "export", "--data-dir", data, "--format", "csv"])
        .output()
        .expect("export");
    assert!(csv.status.success());
    assert_eq!(String::from_utf8_lossy(&csv.stdout).lines().count(), 3);

    // Remove the first event behind the server's back: verify names it.
    let db = dir.path().join("okcc.db");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&db);
            let pool = sqlx::SqlitePool::connect_with(opts).await.expect("open");
            sqlx::query("DELETE FROM audit_events WHERE seq = 1")
                .execute(&pool)
                .await
                .expect("delete");
            pool.close().await;
        });
    let bad = bin()
        .args(["audit", "verify", "--data-dir", data])
        .output()
        .expect("verify");
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.starts_with("TAMPERED"), "{text}");

    let empty = tempfile::tempdir().expect("tmp");
    let none = bin()
        .args(["audit", "tail", "--data-dir"])
        .arg(empty.path())
        .output()
        .expect("tail");
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no database at"));
    assert!(
        !empty.path().join("okcc.db").exists(),
        "reading creates nothing"
    );

    let both = bin()
        .args(["audit", "verify", "--data-dir", data, "--file", "x.jsonl"])
        .output()
        .expect("verify");
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
}
