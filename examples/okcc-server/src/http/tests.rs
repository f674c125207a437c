//! In-process router tests (`tower::ServiceExt::oneshot`): every endpoint
//! allowed and denied by permission, cross-tenant access refused, bad input
//! answered with a 4xx problem and nothing changed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use okcc_core::access::AccessControl;
use okcc_core::credential::{SipCredential, WebPasswordHasher};
use okcc_core::guard::brute_force::BruteForceConfig;
use okcc_core::{PasswordPolicy, UserId};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{ApiConfig, AppState, Stores, auth, router, totp};

/// Review queue, bans, alerts and monitor endpoints.
mod rest_tests;

const STRONG: &str = "Correct-Horse-Battery-9-Staple";
const STRONG2: &str = "Purple-Monkey-Dish-42-Lamp";

struct Api {
    state: AppState,
    app: Router,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

impl Api {
    fn new() -> Self {
        let access = Arc::new(AccessControl::new(None));
        let state = AppState::new(
            ApiConfig::default(),
            Stores::in_memory(access),
            PasswordPolicy::default(),
            WebPasswordHasher::new(8, 1, 1).expect("hasher"),
            BruteForceConfig::default(),
        )
        .expect("state");
        let app = router(state.clone());
        Self { state, app }
    }

    async fn call_from(
        &self,
        ip: IpAddr,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&v).expect("json"))
            }
            None => Body::empty(),
        };
        self.send(req.body(body).expect("request"), SocketAddr::new(ip, 40000))
            .await
    }

    /// Sends `req` as if from `peer` and reads the whole reply (at most
    /// 32 MiB; a JSON body is parsed, any other is `Value::Null`).
    async fn send(&self, mut req: Request<Body>, peer: SocketAddr) -> Reply {
        req.extensions_mut().insert(ConnectInfo(peer));
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = to_bytes(resp.into_body(), 1 << 25)
            .await
            .expect("body")
            .to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            raw,
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.call_from(IpAddr::V4(Ipv4Addr::LOCALHOST), method, uri, token, body)
            .await
    }

    /// Logs in and, when required, changes the password to `STRONG2`.
    async fn login(&self, user: &str, password: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/v1/sessions",
                None,
                Some(json!({"user": user, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let token = r.body["token"].as_str().expect("token").to_owned();
        if r.body["must_change_password"] == json!(true) {
            let c = self
                .call(
                    Method::PUT,
                    "/api/v1/me/password",
                    Some(&token),
                    Some(json!({"current": password, "new": STRONG2})),
                )
                .await;
            assert_eq!(c.status, StatusCode::NO_CONTENT, "{:?}", c.body);
        }
        token
    }

    /// Root (platform admin), tenants acme and globex, `boss` tenant admin
    /// of acme, `agent1` agent of acme, `gboss` tenant admin of globex.
    async fn world() -> (Self, World) {
        let api = Self::new();
        let pw = auth::bootstrap_admin(&api.state, "root")
            .await
            .expect("bootstrap")
            .expect("first start");
        let root = api.login("root", &pw).await;
        for t in ["acme", "globex"] {
            let r = api
                .call(
                    Method::POST,
                    "/api/v1/tenants",
                    Some(&root),
                    Some(json!({"id": t, "name": t})),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            for b in ["tenant-admin", "agent"] {
                let r = api
                    .call(
                        Method::POST,
                        &format!("/api/v1/scopes/{t}/roles"),
                        Some(&root),
                        Some(json!({"builtin": b})),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            }
        }
        for (t, u, role) in [
            ("acme", "boss", "tenant-admin"),
            ("acme", "agent1", "agent"),
            ("globex", "gboss", "tenant-admin"),
        ] {
            let r = api
                .call(
                    Method::POST,
                    &format!("/api/v1/scopes/{t}/users"),
                    Some(&root),
                    Some(json!({"id": u, "display_name": u, "password": STRONG})),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            let r = api
                .call(
                    Method::PUT,
                    &format!("/api/v1/scopes/{t}/users/{u}/roles/{role}"),
                    Some(&root),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
        }
        let boss = api.login("boss", STRONG).await;
        let agent = api.login("agent1", STRONG).await;
        let gboss = api.login("gboss", STRONG).await;
        (
            api,
            World {
                root,
                boss,
                agent,
                gboss,
            },
        )
    }

    async fn audit_len(&self) -> usize {
        self.state
            .inner
            .audit
            .query(
                &okcc_audit::AuditQuery::all(),
                okcc_core::store::Page::first(1000),
            )
            .await
            .expect("audit")
            .items
            .len()
    }
}

struct World {
    root: String,
    boss: String,
    agent: String,
    gboss: String,
}

fn assert_problem(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.raw));
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(r.body["code"], json!(code), "{:?}", r.body);
    assert!(!r.body["detail"].as_str().unwrap_or("").is_empty());
}

#[tokio::test]
async fn req_10_health_openapi_and_security_headers() {
    let api = Api::new();
    let r = api.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert!(r.headers.get("access-control-allow-origin").is_none());
    assert_eq!(
        api.call(Method::GET, "/readyz", None, None).await.status,
        StatusCode::OK
    );
    let doc = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(
        doc.body["openapi"]
            .as_str()
            .expect("version")
            .starts_with('3')
    );
    let paths = doc.body["paths"].as_object().expect("paths");
    for p in [
        "/healthz",
        "/readyz",
        "/api/v1/openapi.json",
        "/api/v1/sessions",
        "/api/v1/sessions/current",
        "/api/v1/me",
        "/api/v1/me/password",
        "/api/v1/me/totp",
        "/api/v1/me/totp/confirm",
        "/api/v1/tenants",
        "/api/v1/scopes/{scope}/users",
        "/api/v1/scopes/{scope}/roles",
        "/api/v1/scopes/{scope}/roles/{role}",
        "/api/v1/scopes/{scope}/users/{user}/roles/{role}",
        "/api/v1/scopes/{scope}/extensions",
        "/api/v1/scopes/{scope}/extensions/{ext}/password",
        "/api/v1/tenants/{tenant}/customers",
        "/api/v1/tenants/{tenant}/customers/{id}",
        "/api/v1/tenants/{tenant}/recycle-bin",
        "/api/v1/tenants/{tenant}/recycle-bin/{id}",
        "/api/v1/tenants/{tenant}/recycle-bin/{id}/restore",
        "/api/v1/tenants/{tenant}/customers/{id}/reveal-requests",
        "/api/v1/tenants/{tenant}/reveal-requests",
        "/api/v1/tenants/{tenant}/reveal-requests/{rid}/decision",
        "/api/v1/audit/events",
        "/api/v1/access/rules",
        "/api/v1/access/block-foreign",
        "/api/v1/audit/verify",
        "/api/v1/audit/export",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }
    let missing = api.call(Method::GET, "/api/v1/nope", None, None).await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test]
async fn req_10_bootstrap_admin_must_change_password_first() {
    let api = Api::new();
    let pw = auth::bootstrap_admin(&api.state, "root")
        .await
        .expect("bootstrap")
        .expect("first start");
    assert!(
        auth::bootstrap_admin(&api.state, "root2")
            .await
            .expect("second")
            .is_none()
    );
    let r = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "root", "password": pw})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["must_change_password"], json!(true));
    let token = r.body["token"].as_str().expect("token").to_owned();
    let denied = api
        .call(Method::GET, "/api/v1/tenants", Some(&token), None)
        .await;
    assert_problem(&denied, StatusCode::FORBIDDEN, "password-change-required");
    let me = api
        .call(Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(me.body["must_change_password"], json!(true));
    let weak = api
        .call(
            Method::PUT,
            "/api/v1/me/password",
            Some(&token),
            Some(json!({"current": pw, "new": "password1"})),
        )
        .await;
    assert_problem(&weak, StatusCode::UNPROCESSABLE_ENTITY, "weak-password");
    assert!(!weak.body["errors"].as_array().expect("errors").is_empty());
    let ok = api
        .call(
            Method::PUT,
            "/api/v1/me/password",
            Some(&token),
            Some(json!({"current": pw, "new": STRONG})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    let list = api
        .call(Method::GET, "/api/v1/tenants", Some(&token), None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let old = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "root", "password": pw})),
        )
        .await;
    assert_problem(&old, StatusCode::UNAUTHORIZED, "invalid-credentials");
}

#[tokio::test]
async fn req_10_login_refuses_bad_input_bans_brute_force_and_honours_access_rules() {
    let api = Api::new();
    auth::bootstrap_admin(&api.state, "root")
        .await
        .expect("bootstrap");
    let bad_json = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": 5})),
        )
        .await;
    assert!(bad_json.status.is_client_error());
    assert_eq!(bad_json.headers["content-type"], "application/problem+json");
    let unknown = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "ghost", "password": "x"})),
        )
        .await;
    assert_problem(&unknown, StatusCode::UNAUTHORIZED, "invalid-credentials");
    for _ in 0..4 {
        let r = api
            .call(
                Method::POST,
                "/api/v1/sessions",
                None,
                Some(json!({"user": "root", "password": "wrong"})),
            )
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid-credentials");
    }
    let banned = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "root", "password": "wrong"})),
        )
        .await;
    assert!(
        banned.status == StatusCode::TOO_MANY_REQUESTS
            || banned.headers.contains_key("retry-after")
    );
    let r = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "root", "password": "wrong"})),
        )
        .await;
    assert_problem(&r, StatusCode::TOO_MANY_REQUESTS, "too-many-failures");
    assert!(r.headers.contains_key("retry-after"));

    api.state
        .inner
        .access
        .load_rule_text("test", "deny 198.51.100.7\n")
        .expect("rules");
    let blocked = api
        .call_from(
            "198.51.100.7".parse().expect("ip"),
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "root", "password": "wrong"})),
        )
        .await;
    assert_problem(&blocked, StatusCode::FORBIDDEN, "access-denied");
    let no_token = api.call(Method::GET, "/api/v1/me", None, None).await;
    assert_problem(&no_token, StatusCode::UNAUTHORIZED, "unauthorized");
    let bad_token = api
        .call(Method::GET, "/api/v1/me", Some("okcc_nope"), None)
        .await;
    assert_problem(&bad_token, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn req_10_totp_enrolment_login_replay_and_recovery_codes() {
    let (api, w) = Api::world().await;
    let enrol = api
        .call(Method::POST, "/api/v1/me/totp", Some(&w.boss), None)
        .await;
    assert_eq!(enrol.status, StatusCode::OK);
    let uri = enrol.body["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/okcc:boss%40acme?secret="));
    let user = api
        .state
        .inner
        .directory
        .user(&UserId::new("boss").expect("id"))
        .await
        .expect("store")
        .expect("boss");
    let secret = user.totp_pending.expect("pending");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let wrong = api
        .call(
            Method::POST,
            "/api/v1/me/totp/confirm",
            Some(&w.boss),
            Some(json!({"code": "000000x"})),
        )
        .await;
    assert_problem(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "bad-totp-code");
    let step = totp::step_of(now);
    let code = format!("{:06}", totp::hotp(&secret, step));
    let ok = api
        .call(
            Method::POST,
            "/api/v1/me/totp/confirm",
            Some(&w.boss),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let codes: Vec<String> =
        serde_json::from_value(ok.body["recovery_codes"].clone()).expect("codes");
    assert_eq!(codes.len(), 10);

    let no_code = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "boss", "password": STRONG2})),
        )
        .await;
    assert_problem(&no_code, StatusCode::UNAUTHORIZED, "mfa-required");
    // The confirming code was used: replaying it fails.
    let replay = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "boss", "password": STRONG2, "totp": code})),
        )
        .await;
    assert_problem(&replay, StatusCode::UNAUTHORIZED, "invalid-credentials");
    let next = format!("{:06}", totp::hotp(&secret, step + 1));
    let fresh = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "boss", "password": STRONG2, "totp": next})),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::CREATED, "{:?}", fresh.body);
    let rc = json!({"user": "boss", "password": STRONG2, "recovery_code": codes[0]});
    let first = api
        .call(Method::POST, "/api/v1/sessions", None, Some(rc.clone()))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = api
        .call(Method::POST, "/api/v1/sessions", None, Some(rc))
        .await;
    assert_problem(&again, StatusCode::UNAUTHORIZED, "invalid-credentials");
}

#[tokio::test]
async fn req_10_logout_revokes_the_token() {
    let (api, w) = Api::world().await;
    let r = api
        .call(
            Method::DELETE,
            "/api/v1/sessions/current",
            Some(&w.agent),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let after = api
        .call(Method::GET, "/api/v1/me", Some(&w.agent), None)
        .await;
    assert_problem(&after, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn req_6_tenants_are_platform_only_and_validated() {
    let (api, w) = Api::world().await;
    let before = api.audit_len().await;
    let denied = api
        .call(
            Method::POST,
            "/api/v1/tenants",
            Some(&w.boss),
            Some(json!({"id": "evil", "name": "Evil"})),
        )
        .await;
    assert_problem(&denied, StatusCode::FORBIDDEN, "forbidden");
    let list = api
        .call(Method::GET, "/api/v1/tenants", Some(&w.boss), None)
        .await;
    assert_problem(&list, StatusCode::FORBIDDEN, "forbidden");
    let bad = api
        .call(
            Method::POST,
            "/api/v1/tenants",
            Some(&w.root),
            Some(json!({"id": "a b", "name": "x"})),
        )
        .await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "invalid-input");
    let reserved = api
        .call(
            Method::POST,
            "/api/v1/tenants",
            Some(&w.root),
            Some(json!({"id": "platform", "name": "x"})),
        )
        .await;
    assert_problem(&reserved, StatusCode::BAD_REQUEST, "invalid-input");
    let dup = api
        .call(
            Method::POST,
            "/api/v1/tenants",
            Some(&w.root),
            Some(json!({"id": "acme", "name": "x"})),
        )
        .await;
    assert_problem(&dup, StatusCode::CONFLICT, "conflict");
    let page = api
        .call(Method::GET, "/api/v1/tenants?limit=1", Some(&w.root), None)
        .await;
    assert_eq!(page.body["items"].as_array().expect("items").len(), 1);
    let cursor = page.body["next"].as_str().expect("next").to_owned();
    let page2 = api
        .call(
            Method::GET,
            &format!("/api/v1/tenants?limit=1&cursor={cursor}"),
            Some(&w.root),
            None,
        )
        .await;
    assert_eq!(page2.body["items"][0]["id"], json!("globex"));
    assert!(page2.body["next"].is_null());
    let bad_limit = api
        .call(Method::GET, "/api/v1/tenants?limit=0", Some(&w.root), None)
        .await;
    assert_problem(&bad_limit, StatusCode::BAD_REQUEST, "invalid-input");
    // Two denials were audited; nothing else changed.
    assert_eq!(api.audit_len().await, before + 2);
}

#[tokio::test]
async fn req_6_users_and_roles_stay_in_their_tenant() {
    let (api, w) = Api::world().await;
    let ok = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/users",
            Some(&w.boss),
            Some(json!({"id": "sue", "display_name": "Sue", "password": STRONG})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    assert_eq!(ok.body["must_change_password"], json!(true));
    let cross = api
        .call(
            Method::POST,
            "/api/v1/scopes/globex/users",
            Some(&w.boss),
            Some(json!({"id": "mole", "display_name": "Mole", "password": STRONG})),
        )
        .await;
    assert_problem(&cross, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        cross.body["detail"]
            .as_str()
            .expect("detail")
            .contains("cross-tenant")
    );
    let weak = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/users",
            Some(&w.boss),
            Some(json!({"id": "weak", "display_name": "Weak", "password": "123456"})),
        )
        .await;
    assert_problem(&weak, StatusCode::UNPROCESSABLE_ENTITY, "weak-password");
    assert!(
        api.state
            .inner
            .directory
            .user(&UserId::new("weak").expect("id"))
            .await
            .expect("store")
            .is_none()
    );
    let unknown_field = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/users",
            Some(&w.boss),
            Some(json!({"id": "x1", "display_name": "X", "password": STRONG, "admin": true})),
        )
        .await;
    assert!(unknown_field.status.is_client_error());
    assert_eq!(
        unknown_field.headers["content-type"],
        "application/problem+json"
    );
    let agent_list = api
        .call(
            Method::GET,
            "/api/v1/scopes/acme/users",
            Some(&w.agent),
            None,
        )
        .await;
    assert_problem(&agent_list, StatusCode::FORBIDDEN, "forbidden");
    let list = api
        .call(
            Method::GET,
            "/api/v1/scopes/acme/users",
            Some(&w.boss),
            None,
        )
        .await;
    let ids: Vec<&str> = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(ids, ["agent1", "boss", "sue"]);

    let roles = api
        .call(
            Method::GET,
            "/api/v1/scopes/acme/roles",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(roles.status, StatusCode::OK);
    let custom = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/roles",
            Some(&w.boss),
            Some(json!({"id": "reader", "name": "Reader", "permissions": ["crm.read"]})),
        )
        .await;
    assert_eq!(custom.status, StatusCode::CREATED, "{:?}", custom.body);
    let platform_perm = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/roles",
            Some(&w.boss),
            Some(json!({"id": "bad", "name": "Bad", "permissions": ["tenant.manage"]})),
        )
        .await;
    assert_problem(
        &platform_perm,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-role",
    );
    let unknown_perm = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/roles",
            Some(&w.boss),
            Some(json!({"id": "bad", "name": "Bad", "permissions": ["crm.fly"]})),
        )
        .await;
    assert_problem(&unknown_perm, StatusCode::BAD_REQUEST, "invalid-input");
    let upd = api
        .call(
            Method::PUT,
            "/api/v1/scopes/acme/roles/reader",
            Some(&w.boss),
            Some(json!({"permissions": ["crm.read", "crm.write"]})),
        )
        .await;
    assert_eq!(upd.body["revision"], json!(1));
    let cross_role = api
        .call(
            Method::PUT,
            "/api/v1/scopes/globex/roles/agent",
            Some(&w.boss),
            Some(json!({"permissions": []})),
        )
        .await;
    assert_problem(&cross_role, StatusCode::FORBIDDEN, "forbidden");
    let assign = api
        .call(
            Method::PUT,
            "/api/v1/scopes/acme/users/sue/roles/reader",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(assign.status, StatusCode::NO_CONTENT);
    let foreign_user = api
        .call(
            Method::PUT,
            "/api/v1/scopes/acme/users/gboss/roles/reader",
            Some(&w.boss),
            None,
        )
        .await;
    assert_problem(&foreign_user, StatusCode::NOT_FOUND, "not-found");
    let unassign = api
        .call(
            Method::DELETE,
            "/api/v1/scopes/acme/users/sue/roles/reader",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(unassign.status, StatusCode::NO_CONTENT);
    let del = api
        .call(
            Method::DELETE,
            "/api/v1/scopes/acme/roles/reader",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = api
        .call(
            Method::DELETE,
            "/api/v1/scopes/acme/roles/reader",
            Some(&w.boss),
            None,
        )
        .await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test]
async fn req_1_extensions_use_the_policy_and_flag_weak_secrets() {
    let (api, w) = Api::world().await;
    let weak = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/extensions",
            Some(&w.boss),
            Some(json!({"name": "1001", "display_name": "Desk", "password": "1001"})),
        )
        .await;
    assert_problem(&weak, StatusCode::UNPROCESSABLE_ENTITY, "weak-password");
    assert!(
        api.state
            .inner
            .directory
            .extension("1001")
            .await
            .expect("store")
            .is_none()
    );
    let ok = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/extensions",
            Some(&w.boss),
            Some(json!({"name": "1001", "display_name": "Desk", "password": STRONG})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    let agent = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/extensions",
            Some(&w.agent),
            Some(json!({"name": "1002", "display_name": "Desk", "password": STRONG})),
        )
        .await;
    assert_problem(&agent, StatusCode::FORBIDDEN, "forbidden");
    let cross = api
        .call(
            Method::GET,
            "/api/v1/scopes/acme/extensions",
            Some(&w.gboss),
            None,
        )
        .await;
    assert_problem(&cross, StatusCode::FORBIDDEN, "forbidden");
    let bad_name = api
        .call(
            Method::POST,
            "/api/v1/scopes/acme/extensions",
            Some(&w.boss),
            Some(json!({"name": "10 01", "display_name": "Desk", "password": STRONG})),
        )
        .await;
    assert_problem(&bad_name, StatusCode::BAD_REQUEST, "invalid-input");
    // A legacy extension imported with its own name as password.
    let legacy = PasswordPolicy::permissive()
        .check("1003", &[])
        .expect("permissive");
    api.state
        .inner
        .credentials
        .set_sip_credential(SipCredential::derive("1003", "okcc", &legacy))
        .await
        .expect("store");
    api.state
        .inner
        .directory
        .insert_extension(super::directory::ExtensionRecord {
            name: "1003".to_owned(),
            owner: okcc_core::Owner::Tenant(okcc_core::TenantId::new("acme").expect("id")),
            display_name: "Legacy".to_owned(),
        })
        .await
        .expect("store");
    let list = api
        .call(
            Method::GET,
            "/api/v1/scopes/acme/extensions",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items[0]["name"], json!("1001"));
    assert_eq!(items[0]["weak"], json!(false));
    assert_eq!(items[1]["name"], json!("1003"));
    assert_eq!(items[1]["weak"], json!(true));
    assert_eq!(
        items[1]["weak_reasons"][0],
        json!("the password equals the extension name")
    );
    let fix = api
        .call(
            Method::PUT,
            "/api/v1/scopes/acme/extensions/1003/password",
            Some(&w.boss),
            Some(json!({"password": STRONG2})),
        )
        .await;
    assert_eq!(fix.status, StatusCode::NO_CONTENT);
    let list = api
        .call(
            Method::GET,
            "/api/v1/scopes/acme/extensions",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(list.body["items"][1]["weak"], json!(false));
    let foreign = api
        .call(
            Method::PUT,
            "/api/v1/scopes/globex/extensions/1003/password",
            Some(&w.gboss),
            Some(json!({"password": STRONG2})),
        )
        .await;
    assert_problem(&foreign, StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test]
async fn req_8_crm_masks_numbers_and_keeps_tenants_apart() {
    let (api, w) = Api::world().await;
    let create = api
        .call(
            Method::POST,
            "/api/v1/tenants/acme/customers",
            Some(&w.agent),
            Some(
                json!({"name": "Li Lei", "phones": [{"kind": "mobile", "number": "13812345678"}]}),
            ),
        )
        .await;
    assert_eq!(create.status, StatusCode::CREATED, "{:?}", create.body);
    let id = create.body["id"].as_u64().expect("id");
    let shown = create.body["phones"][0]["number"].as_str().expect("number");
    assert!(!shown.contains("12345678"), "agent saw {shown}");
    let full = api
        .call(
            Method::GET,
            &format!("/api/v1/tenants/acme/customers/{id}"),
            Some(&w.root),
            None,
        )
        .await;
    assert_eq!(full.body["phones"][0]["number"], json!("13812345678"));
    let cross = api
        .call(
            Method::GET,
            &format!("/api/v1/tenants/acme/customers/{id}"),
            Some(&w.gboss),
            None,
        )
        .await;
    assert_problem(&cross, StatusCode::FORBIDDEN, "forbidden");
    let invalid = api
        .call(
            Method::POST,
            "/api/v1/tenants/acme/customers",
            Some(&w.agent),
            Some(json!({"name": "", "phones": []})),
        )
        .await;
    assert_problem(
        &invalid,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-customer",
    );
    let search = api
        .call(
            Method::GET,
            "/api/v1/tenants/acme/customers?number=13812345678",
            Some(&w.agent),
            None,
        )
        .await;
    assert_eq!(search.status, StatusCode::OK);
    assert_eq!(search.body["items"].as_array().expect("items").len(), 1);
    assert!(
        !search.body["query"]
            .as_str()
            .expect("echo")
            .contains("12345678")
    );
    let two = api
        .call(
            Method::GET,
            "/api/v1/tenants/acme/customers?name=a&tag=b",
            Some(&w.agent),
            None,
        )
        .await;
    assert_problem(&two, StatusCode::BAD_REQUEST, "invalid-input");
    let version = create.body["version"].as_u64().expect("version");
    let upd = api
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/acme/customers/{id}"),
            Some(&w.agent),
            Some(
                json!({"name": "Li Lei", "company": "ACME", "version": version,
                "phones": [{"kind": "mobile", "number": "13812345678"}]}),
            ),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{:?}", upd.body);
    let stale = api
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/acme/customers/{id}"),
            Some(&w.agent),
            Some(json!({"name": "X", "version": version})),
        )
        .await;
    assert_problem(&stale, StatusCode::CONFLICT, "conflict");
    // The agent may not delete; the tenant admin may.
    let uri = format!("/api/v1/tenants/acme/customers/{id}");
    let no = api
        .call(
            Method::DELETE,
            &uri,
            Some(&w.agent),
            Some(json!({"reason": "dup"})),
        )
        .await;
    assert_problem(&no, StatusCode::FORBIDDEN, "forbidden");
    let del = api
        .call(
            Method::DELETE,
            &uri,
            Some(&w.boss),
            Some(json!({"reason": "duplicate"})),
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{:?}", del.body);
    let bin = api
        .call(
            Method::GET,
            "/api/v1/tenants/acme/recycle-bin",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(bin.body["items"][0]["deleted_by"], json!("boss"));
    let restore = api
        .call(
            Method::POST,
            &format!("/api/v1/tenants/acme/recycle-bin/{id}/restore"),
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(restore.status, StatusCode::OK, "{:?}", restore.body);
    api.call(
        Method::DELETE,
        &uri,
        Some(&w.boss),
        Some(json!({"reason": "again"})),
    )
    .await;
    let purge_cross = api
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/acme/recycle-bin/{id}"),
            Some(&w.gboss),
            None,
        )
        .await;
    assert_problem(&purge_cross, StatusCode::FORBIDDEN, "forbidden");
    let purge = api
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/acme/recycle-bin/{id}"),
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(purge.status, StatusCode::NO_CONTENT, "{:?}", purge.body);
    let gone = api.call(Method::GET, &uri, Some(&w.boss), None).await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test]
async fn req_8_reveal_requests_are_decided_by_someone_else() {
    let (api, w) = Api::world().await;
    let create = api
        .call(
            Method::POST,
            "/api/v1/tenants/acme/customers",
            Some(&w.agent),
            Some(json!({"name": "Han Meimei", "phones": [{"kind": "work", "number": "13912345678"}]})),
        )
        .await;
    let id = create.body["id"].as_u64().expect("id");
    let req = api
        .call(
            Method::POST,
            &format!("/api/v1/tenants/acme/customers/{id}/reveal-requests"),
            Some(&w.agent),
            Some(json!({"reason": "callback"})),
        )
        .await;
    assert_eq!(req.status, StatusCode::CREATED, "{:?}", req.body);
    let rid = req.body["id"].as_u64().expect("rid");
    let agent_list = api
        .call(
            Method::GET,
            "/api/v1/tenants/acme/reveal-requests",
            Some(&w.agent),
            None,
        )
        .await;
    assert_problem(&agent_list, StatusCode::FORBIDDEN, "forbidden");
    let cross = api
        .call(
            Method::POST,
            &format!("/api/v1/tenants/acme/reveal-requests/{rid}/decision"),
            Some(&w.gboss),
            Some(json!({"approve": true})),
        )
        .await;
    assert_problem(&cross, StatusCode::FORBIDDEN, "forbidden");
    let list = api
        .call(
            Method::GET,
            "/api/v1/tenants/acme/reveal-requests",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let decide = api
        .call(
            Method::POST,
            &format!("/api/v1/tenants/acme/reveal-requests/{rid}/decision"),
            Some(&w.boss),
            Some(json!({"approve": true})),
        )
        .await;
    assert_eq!(decide.status, StatusCode::OK, "{:?}", decide.body);
    let seen = api
        .call(
            Method::GET,
            &format!("/api/v1/tenants/acme/customers/{id}"),
            Some(&w.agent),
            None,
        )
        .await;
    assert_eq!(seen.body["phones"][0]["number"], json!("13912345678"));
}

#[tokio::test]
async fn req_5_audit_log_query_export_and_verify_by_scope() {
    let (api, w) = Api::world().await;
    let acme = api
        .call(
            Method::GET,
            "/api/v1/audit/events?scope=acme",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(acme.status, StatusCode::OK, "{:?}", acme.body);
    let items = acme.body["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|e| e["tenant"] == json!("acme")),
        "{items:?}"
    );
    // Newest first on request (the console's "recent" cards), the same
    // events in the reverse order; an unknown order is refused.
    let newest = api
        .call(
            Method::GET,
            "/api/v1/audit/events?scope=acme&order=newest",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(newest.status, StatusCode::OK, "{:?}", newest.body);
    let mut reversed = items.clone();
    reversed.reverse();
    assert_eq!(newest.body["items"].as_array(), Some(&reversed));
    let bad = api
        .call(
            Method::GET,
            "/api/v1/audit/events?scope=acme&order=sideways",
            Some(&w.boss),
            None,
        )
        .await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "invalid-input");
    let cross = api
        .call(
            Method::GET,
            "/api/v1/audit/events?scope=globex",
            Some(&w.boss),
            None,
        )
        .await;
    assert_problem(&cross, StatusCode::FORBIDDEN, "forbidden");
    let platform = api
        .call(
            Method::GET,
            "/api/v1/audit/events?scope=platform",
            Some(&w.boss),
            None,
        )
        .await;
    assert_problem(&platform, StatusCode::FORBIDDEN, "forbidden");
    let agent = api
        .call(
            Method::GET,
            "/api/v1/audit/events?scope=acme",
            Some(&w.agent),
            None,
        )
        .await;
    assert_problem(&agent, StatusCode::FORBIDDEN, "forbidden");
    let missing = api
        .call(Method::GET, "/api/v1/audit/events", Some(&w.root), None)
        .await;
    assert_problem(&missing, StatusCode::BAD_REQUEST, "invalid-input");
    let verify = api
        .call(Method::GET, "/api/v1/audit/verify", Some(&w.root), None)
        .await;
    assert_eq!(verify.body["intact"], json!(true), "{:?}", verify.body);
    let verify_t = api
        .call(Method::GET, "/api/v1/audit/verify", Some(&w.boss), None)
        .await;
    assert_problem(&verify_t, StatusCode::FORBIDDEN, "forbidden");
    let csv = api
        .call(
            Method::GET,
            "/api/v1/audit/export?scope=acme&format=csv",
            Some(&w.boss),
            None,
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/csv")
    );
    let text = String::from_utf8(csv.raw).expect("utf8");
    assert!(text.lines().count() > 1);
    assert!(!text.contains(STRONG) && !text.contains(STRONG2));
    let bad = api
        .call(
            Method::GET,
            "/api/v1/audit/export?scope=acme&format=xml",
            Some(&w.boss),
            None,
        )
        .await;
    assert_problem(&bad, StatusCode::BAD_REQUEST, "invalid-input");
}

#[tokio::test]
async fn req_10_body_limit_and_malformed_json_are_problems() {
    let api = Api::new();
    let big = "x".repeat(2 << 20);
    let r = api
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": big, "password": "x"})),
        )
        .await;
    assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/sessions")
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .expect("request");
    req.extensions_mut().insert(ConnectInfo(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        1,
    )));
    let resp = api.app.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn req_2_access_rules_and_block_foreign_switch() {
    let (api, w) = Api::world().await;
    let denied = api
        .call(
            Method::PUT,
            "/api/v1/access/rules",
            Some(&w.boss),
            Some(json!({"text": "deny 10.0.0.0/8"})),
        )
        .await;
    assert_problem(&denied, StatusCode::FORBIDDEN, "forbidden");
    let get_denied = api
        .call(Method::GET, "/api/v1/access/rules", Some(&w.boss), None)
        .await;
    assert_problem(&get_denied, StatusCode::FORBIDDEN, "forbidden");
    let ok = api
        .call(
            Method::PUT,
            "/api/v1/access/rules",
            Some(&w.root),
            Some(json!({"text": "deny 198.51.100.0/24\n"})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    let before = api
        .call(Method::GET, "/api/v1/access/rules", Some(&w.root), None)
        .await;
    let bad = api
        .call(
            Method::PUT,
            "/api/v1/access/rules",
            Some(&w.root),
            Some(json!({"text": "deny 300.1.1.1\nallow 10.0.0.0/8\n"})),
        )
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid-rules");
    let after = api
        .call(Method::GET, "/api/v1/access/rules", Some(&w.root), None)
        .await;
    assert_eq!(before.body, after.body);
    let blocked = api
        .call_from(
            "198.51.100.9".parse().expect("ip"),
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"user": "root", "password": STRONG2})),
        )
        .await;
    assert_problem(&blocked, StatusCode::FORBIDDEN, "access-denied");
    // No GeoIP database: the switch cannot be turned on, and stays off.
    let switch = api
        .call(
            Method::PUT,
            "/api/v1/access/block-foreign",
            Some(&w.root),
            Some(json!({"on": true})),
        )
        .await;
    assert_problem(
        &switch,
        StatusCode::UNPROCESSABLE_ENTITY,
        "block-foreign-unavailable",
    );
    assert_eq!(after.body["block_foreign"], json!(false));
    let off = api
        .call(
            Method::PUT,
            "/api/v1/access/block-foreign",
            Some(&w.root),
            Some(json!({"on": false})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
}

#[tokio::test]
async fn req_2_explain_says_why_an_address_is_blocked() {
    let (api, w) = Api::world().await;
    let doc = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert!(
        doc.body["paths"]
            .as_object()
            .expect("paths")
            .contains_key("/api/v1/access/explain")
    );
    let denied = api
        .call(
            Method::GET,
            "/api/v1/access/explain?ip=198.51.100.9",
            Some(&w.boss),
            None,
        )
        .await;
    assert_problem(&denied, StatusCode::FORBIDDEN, "forbidden");
    let anonymous = api
        .call(Method::GET, "/api/v1/access/explain?ip=1.2.3.4", None, None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let set = api
        .call(
            Method::PUT,
            "/api/v1/access/rules",
            Some(&w.root),
            Some(json!({"text": "deny 198.51.100.0/24 channel:sip-register\n"})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    let before = api.audit_len().await;
    let r = api
        .call(
            Method::GET,
            "/api/v1/access/explain?ip=198.51.100.9",
            Some(&w.root),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["ip"], json!("198.51.100.9"));
    assert_eq!(r.body["block_foreign"], json!(false));
    let channels = r.body["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 3);
    let by = |name: &str| {
        channels
            .iter()
            .find(|c| c["channel"] == json!(name))
            .unwrap_or_else(|| panic!("no {name} in {channels:?}"))
            .clone()
    };
    let reg = by("sip-register");
    assert_eq!(reg["verdict"], json!("denied"));
    assert!(
        reg["rule"].as_str().is_some_and(|s| !s.is_empty()),
        "{reg:?}"
    );
    assert_ne!(reg["reason"], json!("no-rule"));
    let web = by("web-login");
    assert_eq!(web["verdict"], json!("allowed"));
    assert_eq!(web["reason"], json!("no-rule"));
    assert_eq!(web["rule"], Value::Null);
    assert_eq!(r.body["login_ban"], Value::Null);
    // A dry run: nothing was logged or counted.
    assert_eq!(api.audit_len().await, before);
    // IPv4-mapped IPv6 is judged (and shown) as IPv4.
    let mapped = api
        .call(
            Method::GET,
            "/api/v1/access/explain?ip=::ffff:198.51.100.9",
            Some(&w.root),
            None,
        )
        .await;
    assert_eq!(mapped.status, StatusCode::OK, "{:?}", mapped.body);
    assert_eq!(mapped.body["ip"], json!("198.51.100.9"));
    for bad in ["not-an-ip", "300.1.1.1", "", "10.0.0.0%2F8"] {
        let r = api
            .call(
                Method::GET,
                &format!("/api/v1/access/explain?ip={bad}"),
                Some(&w.root),
                None,
            )
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-input");
    }
    let missing = api
        .call(Method::GET, "/api/v1/access/explain", Some(&w.root), None)
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn req_11_router_serves_the_console_beside_the_api() {
    let api = Api::new();
    let page = api.call(Method::GET, "/", None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&page.raw).starts_with("<!doctype html>"));
    assert_eq!(
        page.headers["content-security-policy"],
        super::console::CSP,
        "the console keeps its own policy"
    );
    let script = api.call(Method::GET, "/console/app.js", None, None).await;
    assert_eq!(script.status, StatusCode::OK);
    // The API keeps its stricter headers, and unknown paths stay problems.
    let me = api.call(Method::GET, "/api/v1/me", None, None).await;
    assert_eq!(
        me.headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    let missing = api.call(Method::GET, "/console-nope", None, None).await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not-found");
}
