//! Black-box test against the running binary (issue 7): a review decision
//! and a reveal approval are kept in the database, so both survive a
//! restart of the server on the same data directory.

mod common;

use std::time::Duration;

use common::{ADMIN_PASSWORD, Server, free_port, free_tcp_port, login};
use serde_json::json;

const USER_PASSWORD: &str = "Purple-Monkey-Dish-42-Lamp";
const USER_PASSWORD2: &str = "Quiet-Otter-Lantern-77-Fig";

/// Logs in; changes the password to `USER_PASSWORD2` when required.
fn token(server: &Server, user: &str, password: &str) -> String {
    let r = login(server, user, password);
    assert_eq!(r.status, 201, "{user}: {}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    if r.body["must_change_password"] == json!(true) {
        let c = server.request(
            "PUT",
            "/api/v1/me/password",
            Some(&token),
            Some(json!({"current": password, "new": USER_PASSWORD2})),
        );
        assert_eq!(c.status, 204, "{}", c.text);
    }
    token
}

#[test]
fn req_7_review_decision_and_reveal_approval_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (sip_port, http_port) = (free_port(), free_tcp_port());
    let server = Server::start(dir.path(), sip_port, http_port);
    let first = server
        .bootstrap_password(Duration::from_secs(10))
        .expect("bootstrap password on stdout");
    let r = login(&server, "admin", &first);
    assert_eq!(r.status, 201, "{}", r.text);
    let root = r.body["token"].as_str().unwrap().to_owned();
    let c = server.request(
        "PUT",
        "/api/v1/me/password",
        Some(&root),
        Some(json!({"current": first, "new": ADMIN_PASSWORD})),
    );
    assert_eq!(c.status, 204, "{}", c.text);

    // Tenant acme with a tenant admin and an agent.
    let t = server.request(
        "POST",
        "/api/v1/tenants",
        Some(&root),
        Some(json!({"id": "acme", "name": "Acme Ltd"})),
    );
    assert_eq!(t.status, 201, "{}", t.text);
    for b in ["tenant-admin", "agent"] {
        let r = server.request(
            "POST",
            "/api/v1/scopes/acme/roles",
            Some(&root),
            Some(json!({"builtin": b})),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }
    for (u, role) in [("boss", "tenant-admin"), ("agent1", "agent")] {
        let r = server.request(
            "POST",
            "/api/v1/scopes/acme/users",
            Some(&root),
            Some(json!({"id": u, "display_name": u, "password": USER_PASSWORD})),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let r = server.request(
            "PUT",
            &format!("/api/v1/scopes/acme/users/{u}/roles/{role}"),
            Some(&root),
            None,
        );
        assert_eq!(r.status, 204, "{}", r.text);
    }
    let boss = token(&server, "boss", USER_PASSWORD);
    let agent = token(&server, "agent1", USER_PASSWORD);

    // A template submitted by the tenant, approved by the platform.
    let items = "/api/v1/tenants/acme/review/items";
    let r = server.request(
        "POST",
        "/api/v1/tenants/acme/review/templates",
        Some(&boss),
        Some(json!({"kind": "tts", "name": "greeting", "text": "Hello {name}"})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = server.request(
        "POST",
        &format!("{items}/greeting@acme/decision"),
        Some(&root),
        Some(json!({"approve": true})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "approved", "{}", r.text);

    // A customer whose numbers the agent asks to see; the boss approves.
    let r = server.request(
        "POST",
        "/api/v1/tenants/acme/customers",
        Some(&agent),
        Some(json!({"name": "Han Meimei", "phones": [{"kind": "work", "number": "13912345678"}]})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_u64().expect("customer id");
    let customer = format!("/api/v1/tenants/acme/customers/{id}");
    let masked = server.request("GET", &customer, Some(&agent), None);
    assert_ne!(masked.body["phones"][0]["number"], json!("13912345678"));
    let r = server.request(
        "POST",
        &format!("{customer}/reveal-requests"),
        Some(&agent),
        Some(json!({"reason": "customer asked for a callback"})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let rid = r.body["id"].as_u64().expect("reveal id");
    // A second request stays pending across the restart.
    let r = server.request(
        "POST",
        &format!("{customer}/reveal-requests"),
        Some(&agent),
        Some(json!({"reason": "second look"})),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let pending_id = r.body["id"].as_u64().expect("reveal id");
    let r = server.request(
        "POST",
        &format!("/api/v1/tenants/acme/reveal-requests/{rid}/decision"),
        Some(&boss),
        Some(json!({"approve": true})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let seen = server.request("GET", &customer, Some(&agent), None);
    assert_eq!(seen.body["phones"][0]["number"], json!("13912345678"));

    // Restart on the same data.
    drop(server);
    let server = Server::start(dir.path(), sip_port, http_port);
    let root = token(&server, "admin", ADMIN_PASSWORD);
    let boss = token(&server, "boss", USER_PASSWORD2);
    let agent = token(&server, "agent1", USER_PASSWORD2);

    let r = server.request("GET", &format!("{items}/greeting@acme"), Some(&root), None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "approved", "{}", r.text);
    let r = server.request(
        "GET",
        &format!("{items}?status=approved"),
        Some(&boss),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("greeting"), "{}", r.text);

    // The grant still lets the agent see the number; the other request
    // is still pending, and the approved one cannot be decided again.
    let seen = server.request("GET", &customer, Some(&agent), None);
    assert_eq!(
        seen.body["phones"][0]["number"],
        json!("13912345678"),
        "{}",
        seen.text
    );
    let list = server.request(
        "GET",
        "/api/v1/tenants/acme/reveal-requests",
        Some(&boss),
        None,
    );
    assert_eq!(list.status, 200, "{}", list.text);
    let ids: Vec<u64> = list.body["items"]
        .as_array()
        .or(list.body.as_array())
        .expect("a list")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .collect();
    assert_eq!(ids, [pending_id], "{}", list.text);
    let again = server.request(
        "POST",
        &format!("/api/v1/tenants/acme/reveal-requests/{rid}/decision"),
        Some(&boss),
        Some(json!({"approve": false})),
    );
    assert_eq!(again.status, 409, "{}", again.text);
}
