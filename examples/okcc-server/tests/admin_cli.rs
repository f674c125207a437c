//! `okcc-server admin set-password` and `admin reset-totp` against the data
//! of a running server: the policy applies, must-change is cleared, TOTP is
//! removed, every change is audited, bad input changes nothing.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{ADMIN_PASSWORD, Server, cli, free_port, free_tcp_port, login};
use hmac::{KeyInit, Mac};
use serde_json::json;

/// RFC 4648 base32 without padding.
fn base32_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u64, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {c}"),
        };
        buf = (buf << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buf >> bits) & 0xff) as u8);
        }
    }
    out
}

/// RFC 6238 TOTP (SHA-1, 30 s, 6 digits) for `secret` at step `step`.
fn totp(secret: &[u8], step: u64) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let n = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", n % 1_000_000)
}

fn step_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

#[test]
fn req_10_admin_set_password_and_reset_totp_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), free_port(), free_tcp_port());
    let first = server
        .bootstrap_password(Duration::from_secs(10))
        .expect("bootstrap password");

    // Refusals change nothing.
    let weak = cli(
        &[
            "admin",
            "set-password",
            "--user",
            "admin",
            "--password-stdin",
        ],
        dir.path(),
        "123456\n",
    );
    let err = String::from_utf8_lossy(&weak.stderr);
    assert_eq!(weak.status.code(), Some(2), "{err}");
    assert!(
        err.contains("password refused") && err.matches("\n  - ").count() >= 1,
        "{err}"
    );
    let ghost = cli(
        &[
            "admin",
            "set-password",
            "--user",
            "ghost",
            "--password-stdin",
        ],
        dir.path(),
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(String::from_utf8_lossy(&ghost.stderr).contains("no user `ghost`"));
    let no_stdin = cli(
        &["admin", "set-password", "--user", "admin"],
        dir.path(),
        "",
    );
    assert_eq!(no_stdin.status.code(), Some(2));
    assert_eq!(login(&server, "admin", &first).status, 201);

    // set-password: the policy-checked password works at once, no must-change.
    let ok = cli(
        &[
            "admin",
            "set-password",
            "--user",
            "admin",
            "--password-stdin",
        ],
        dir.path(),
        &format!("{ADMIN_PASSWORD}\n"),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!String::from_utf8_lossy(&ok.stdout).contains(ADMIN_PASSWORD));
    assert_eq!(login(&server, "admin", &first).status, 401);
    let r = login(&server, "admin", ADMIN_PASSWORD);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["must_change_password"], json!(false));
    let token = r.body["token"].as_str().unwrap().to_owned();

    // Enrol TOTP; a login without the code is then refused.
    let e = server.request("POST", "/api/v1/me/totp", Some(&token), None);
    assert_eq!(e.status, 200, "{}", e.text);
    let secret = base32_decode(e.body["secret"].as_str().unwrap());
    let c = server.request(
        "POST",
        "/api/v1/me/totp/confirm",
        Some(&token),
        Some(json!({"code": totp(&secret, step_now())})),
    );
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(login(&server, "admin", ADMIN_PASSWORD).status, 401);

    // reset-totp: password-only login again.
    let reset = cli(&["admin", "reset-totp", "--user", "admin"], dir.path(), "");
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let r = login(&server, "admin", ADMIN_PASSWORD);
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let ghost = cli(&["admin", "reset-totp", "--user", "ghost"], dir.path(), "");
    assert_eq!(ghost.status.code(), Some(2));

    // Both changes are in the operation log, by the CLI, with no secret.
    let log = server.request(
        "GET",
        "/api/v1/audit/events?scope=platform&limit=200",
        Some(&token),
        None,
    );
    assert_eq!(log.status, 200, "{}", log.text);
    assert!(log.text.contains("auth.mfa-reset"), "{}", log.text);
    assert!(log.text.contains("okcc-server-cli"), "{}", log.text);
    assert!(!log.text.contains(ADMIN_PASSWORD) && !log.text.contains(&first));
}
