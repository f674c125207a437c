//! `okcc-server access check|lint` end to end, with a generated .mmdb.

use std::process::Command;

use mmdb_writer::Writer;
use mmdb_writer::ipnet::IpNet;

#[derive(serde::Serialize)]
struct Country {
    iso_code: &'static str,
}

#[derive(serde::Serialize)]
struct Record {
    country: Country,
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_okcc-server"))
}

#[test]
fn req_2_4_access_check_prints_one_json_line_per_ip() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::new("Test-Country");
    for (net, cc) in [
        ("1.0.0.0/8", "CN"),
        ("5.0.0.0/8", "RU"),
        ("8.0.0.0/8", "US"),
        ("2400::/16", "CN"),
    ] {
        w.insert(
            net.parse::<IpNet>().unwrap(),
            &Record {
                country: Country { iso_code: cc },
            },
        )
        .unwrap();
    }
    let db = dir.path().join("geo.mmdb");
    std::fs::write(&db, w.to_bytes().unwrap()).unwrap();
    let rules = dir.path().join("rules.txt");
    std::fs::write(&rules, "deny 203.0.113.0/24  # scanner net\ndeny country:RU\ntrust 198.51.100.7\nhome CN\nblock-foreign on\n").unwrap();

    let out = bin()
        .args(["access", "check", "--rules"])
        .arg(&rules)
        .arg("--geoip")
        .arg(&db)
        .args([
            "203.0.113.5",
            "5.5.5.5",
            "198.51.100.7",
            "8.8.8.8",
            "::ffff:1.2.3.4",
            "2400::1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let row = |i: usize| {
        let l = &lines[i];
        (
            l["decision"].as_str().unwrap().to_owned(),
            l["rule"].as_str().map(str::to_owned),
            l["reason"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(
        row(0),
        (
            "deny".into(),
            Some("rules.txt:1".into()),
            "blocked-network".into()
        )
    );
    assert_eq!(
        row(1),
        (
            "deny".into(),
            Some("rules.txt:2".into()),
            "blocked-region".into()
        )
    );
    assert_eq!(lines[1]["country"], "RU");
    assert_eq!(
        row(2),
        ("allow".into(), Some("rules.txt:3".into()), "trusted".into())
    );
    assert_eq!(
        row(3),
        (
            "deny".into(),
            Some("rules.txt:5".into()),
            "foreign-region".into()
        )
    );
    assert_eq!(lines[3]["country"], "US");
    assert_eq!(row(4), ("allow".into(), None, "no-rule".into()));
    assert_eq!(lines[4]["country"], "CN");
    assert_eq!(lines[4]["ip"], "::ffff:1.2.3.4");
    assert_eq!(row(5).0, "allow");
    assert_eq!(lines[0]["country"], serde_json::Value::Null);

    // Without --geoip, "block-foreign on" is an error, not a silent no-op.
    let out = bin()
        .args(["access", "check", "--rules"])
        .arg(&rules)
        .arg("8.8.8.8")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no GeoIP database"));
}

#[test]
fn req_2_1_access_lint_lists_every_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "deny 10.0.0.0/8\n").unwrap();
    let out = bin().args(["access", "lint"]).arg(&good).output().unwrap();
    assert!(out.status.success());
    let bad = dir.path().join("bad.txt");
    std::fs::write(
        &bad,
        "deny 300.1.1.1\ndeny 1.1.1.1\ndeny 10.0.0.0/33\ndeny country:XX\nnope\n",
    )
    .unwrap();
    let out = bin().args(["access", "lint"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    for n in ["line 1:", "line 3:", "line 4:", "line 5:"] {
        assert!(err.contains(n), "{n} missing in {err}");
    }
    assert!(!err.contains("line 2:"));
    let json = dir.path().join("rules.json");
    std::fs::write(
        &json,
        r#"{"rules":[{"verb":"deny","target":"country:RU"}]}"#,
    )
    .unwrap();
    assert!(
        bin()
            .args(["access", "lint"])
            .arg(&json)
            .output()
            .unwrap()
            .status
            .success()
    );
}
