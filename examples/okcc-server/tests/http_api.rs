//! Black-box test of the REST API over real HTTP against the running
//! binary: first start prints the bootstrap admin password once, the admin
//! logs in and must change it, creates a tenant and an extension (a weak
//! password is refused), the REST-made extension REGISTERs over SIP with
//! sipp, and after a restart the new password still logs in.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{ADMIN_PASSWORD, BIN, SIP_PASSWORD, Server, free_port, free_tcp_port, login};
use serde_json::json;

/// sipp, or `None` with a message when it is missing outside CI.
fn sipp() -> Option<&'static str> {
    if Command::new("sipp").arg("-v").output().is_ok() {
        return Some("sipp");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "sipp is missing (apt-get install sip-tester)"
    );
    eprintln!("skipping the SIP part: sipp is not installed (apt-get install sip-tester)");
    None
}

fn sipp_register(server: &Server, user: &str) -> std::process::Output {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/register_md5.xml");
    Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .args([
            "-s",
            user,
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-m", "1", "-timeout", "15s", "-timeout_error", "-nostdin"])
        .arg(server.sip.to_string())
        .output()
        .unwrap()
}

#[test]
fn req_10_http_api_black_box_bootstrap_extension_sip_register_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (sip_port, http_port) = (free_port(), free_tcp_port());
    let server = Server::start(dir.path(), sip_port, http_port);

    // The bootstrap password: printed once on stdout.
    let first = server
        .bootstrap_password(Duration::from_secs(10))
        .expect("bootstrap password on stdout");
    assert_eq!(server.request("GET", "/readyz", None, None).status, 200);
    let doc = server.request("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(doc.status, 200);
    assert!(doc.body["paths"]["/api/v1/sessions"].is_object());
    assert!(
        doc.headers
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{}",
        doc.headers
    );

    // Wrong password: refused, no token.
    let bad = login(&server, "admin", "not-the-password-1X!");
    assert_eq!(bad.status, 401, "{}", bad.text);

    // First login: must change the password before anything else.
    let r = login(&server, "admin", &first);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["must_change_password"], json!(true));
    let token = r.body["token"].as_str().unwrap().to_owned();
    let blocked = server.request("GET", "/api/v1/tenants", Some(&token), None);
    assert_eq!(blocked.status, 403, "{}", blocked.text);
    assert_eq!(blocked.body["code"], json!("password-change-required"));
    let c = server.request(
        "PUT",
        "/api/v1/me/password",
        Some(&token),
        Some(json!({"current": first, "new": ADMIN_PASSWORD})),
    );
    assert_eq!(c.status, 204, "{}", c.text);

    // A tenant and an extension in it; a weak password is refused with reasons.
    let t = server.request(
        "POST",
        "/api/v1/tenants",
        Some(&token),
        Some(json!({"id": "acme", "name": "Acme Ltd"})),
    );
    assert_eq!(t.status, 201, "{}", t.text);
    let weak = server.request(
        "POST",
        "/api/v1/scopes/acme/extensions",
        Some(&token),
        Some(json!({"name": "1002", "display_name": "Weak", "password": "123456"})),
    );
    assert_eq!(weak.status, 422, "{}", weak.text);
    assert_eq!(weak.body["code"], json!("weak-password"));
    assert!(
        weak.body["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{}",
        weak.text
    );
    let e = server.request(
        "POST",
        "/api/v1/scopes/acme/extensions",
        Some(&token),
        Some(json!({"name": "1001", "display_name": "Front desk", "password": SIP_PASSWORD})),
    );
    assert_eq!(e.status, 201, "{}", e.text);
    let list = server.request("GET", "/api/v1/scopes/acme/extensions", Some(&token), None);
    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.text);
    assert_eq!(items[0]["name"], json!("1001"));
    assert_eq!(items[0]["weak"], json!(false));

    // The REST-made extension is listed by the CLI on the same data...
    let cli = Command::new(BIN)
        .args(["extension", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let cli_out = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success() && cli_out.contains("1001") && cli_out.contains("acme"),
        "{cli_out}{}",
        String::from_utf8_lossy(&cli.stderr)
    );

    // ...and authenticates on SIP.
    if let Some(_sipp) = sipp() {
        let out = sipp_register(&server, "1001");
        assert!(
            out.status.success(),
            "sipp REGISTER of a REST-made extension failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let m = server.request("GET", "/metrics", None, None);
        assert!(
            m.text.contains("okcc_sip_registrations_total 1"),
            "{}",
            m.text
        );
    }

    // The changes are in the operation log.
    let log = server.request(
        "GET",
        "/api/v1/audit/events?scope=platform&limit=100",
        Some(&token),
        None,
    );
    assert_eq!(log.status, 200, "{}", log.text);
    for action in ["auth.password-change", "tenant.change", "user.change"] {
        assert!(log.text.contains(action), "{action} missing: {}", log.text);
    }
    assert!(!log.text.contains(SIP_PASSWORD) && !log.text.contains(&first));

    // Restart on the same data: no new bootstrap, the new password logs in.
    drop(server);
    let server = Server::start(dir.path(), sip_port, http_port);
    assert_eq!(
        server.bootstrap_password(Duration::from_secs(2)),
        None,
        "a second start must not create another admin"
    );
    assert_eq!(login(&server, "admin", &first).status, 401);
    let r = login(&server, "admin", ADMIN_PASSWORD);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["must_change_password"], json!(false));
    let token = r.body["token"].as_str().unwrap().to_owned();
    let list = server.request("GET", "/api/v1/scopes/acme/extensions", Some(&token), None);
    assert_eq!(
        list.body["items"][0]["name"],
        json!("1001"),
        "{}",
        list.text
    );
}
