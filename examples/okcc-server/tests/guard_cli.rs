//! `okcc-server guard explain` end to end.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_okcc-server"))
}

fn explain(args: &[&str], rules: Option<&std::path::Path>) -> (i32, serde_json::Value) {
    let mut cmd = bin();
    cmd.args(["guard", "explain"]).args(args);
    if let Some(r) = rules {
        cmd.arg("--rules").arg(r);
    }
    let out = cmd.output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn req_9_guard_explain_prints_decision_and_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    std::fs::write(
        &rules,
        "deny 203.0.113.0/24  # scanner net\ntrust 192.0.2.10\n",
    )
    .unwrap();

    let (code, j) = explain(
        &[
            "--source",
            "203.0.113.7",
            "--method",
            "REGISTER",
            "--user",
            "1001",
        ],
        Some(&rules),
    );
    assert_eq!(code, 1, "{j}");
    assert_eq!(j["decision"]["decision"], "deny");
    assert_eq!(j["decision"]["rule"], "rules.txt:1");
    assert_eq!(j["decision"]["reason"], "blocked-network");
    assert_eq!(j["decided_by"], "blacklist");
    let stages = j["stages"].as_array().unwrap();
    let names: Vec<_> = stages
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "trusted",
            "bans",
            "scanner",
            "flood",
            "blacklist",
            "region",
            "whitelist",
            "digest",
            "toll-fraud"
        ]
    );

    let (code, j) = explain(
        &[
            "--source",
            "198.51.100.7",
            "--method",
            "register",
            "--user",
            "1001",
        ],
        Some(&rules),
    );
    assert_eq!(code, 0);
    assert_eq!(j["decision"]["decision"], "challenge");
    assert_eq!(j["decided_by"], "digest");

    let (code, j) = explain(
        &[
            "--source",
            "192.0.2.10",
            "--method",
            "INVITE",
            "--user",
            "1001",
            "--to",
            "0044123",
        ],
        Some(&rules),
    );
    assert_eq!(code, 0);
    assert_eq!(j["decision"]["decision"], "allow");
    assert_eq!(j["decided_by"], "trusted");

    let (code, j) = explain(
        &[
            "--source",
            "198.51.100.8",
            "--method",
            "REGISTER",
            "--user",
            "1001",
            "--user-agent",
            "friendly-scanner",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert_eq!(j["decision"]["reason"], "scanner");
}

#[test]
fn req_9_guard_explain_refuses_bad_input_clearly() {
    let out = bin()
        .args([
            "guard",
            "explain",
            "--source",
            "not-an-ip",
            "--method",
            "REGISTER",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--source"));
    let out = bin()
        .args([
            "guard",
            "explain",
            "--source",
            "192.0.2.1",
            "--method",
            "BYE",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("REGISTER or INVITE"));
}

#[test]
fn req_9_1_guard_explain_runs_the_toll_fraud_stage() {
    let base = [
        "--source",
        "198.51.100.20",
        "--method",
        "INVITE",
        "--user",
        "1001",
        "--authenticated",
    ];
    // Defaults: international calling is off.
    let mut args = base.to_vec();
    args.extend(["--to", "+4930123456"]);
    let (code, j) = explain(&args, None);
    assert_eq!(code, 1, "{j}");
    assert_eq!(j["decision"]["reason"], "toll-fraud");
    assert_eq!(j["decided_by"], "toll-fraud");

    // A local extension is fine.
    let mut args = base.to_vec();
    args.extend(["--to", "1002"]);
    let (code, j) = explain(&args, None);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["decision"]["decision"], "allow");

    // A bad policy file is refused with the reason.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("toll.json");
    std::fs::write(&policy, "{\"no_such_field\": 1}").unwrap();
    let out = bin()
        .args(["guard", "explain"])
        .args(base)
        .args(["--to", "1002", "--toll-policy"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("toll.json"));
}
