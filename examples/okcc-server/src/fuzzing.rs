//! Entry points for the fuzz targets in `fuzz/` and for the unit tests that
//! replay their corpora. Not a stable API.
//!
//! [`rest_request`] sends one request with an arbitrary JSON body (or query
//! string) to the REST router, in process, over memory stores, as a platform
//! admin; the property is that no input makes the API answer 5xx (a bad body
//! is the caller's fault: 4xx problem, nothing changed) or panic.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use okcc_core::PasswordPolicy;
use okcc_core::access::AccessControl;
use okcc_core::credential::WebPasswordHasher;
use okcc_core::guard::brute_force::BruteForceConfig;
use tower::ServiceExt;

use crate::http::{ApiConfig, AppState, Stores, router};

/// Requests per world: the memory stores grow with accepted changes, so the
/// world is rebuilt now and then (bounded memory in long fuzz runs).
const REQUESTS_PER_WORLD: u32 = 256;
/// The admin's password after the forced change.
const ADMIN_PASSWORD: &str = "Fuzz-Harness-Admin-Pw-7319";

/// How the input's tail is sent to the selected endpoint.
#[derive(Clone, Copy)]
enum Carry {
    /// As a JSON body.
    Json,
    /// As a raw body with an audio content type.
    Raw,
    /// As the query string of a GET.
    Query,
}

/// The endpoints that read a body or a query, with fixed path parameters.
const ENDPOINTS: &[(Method, &str, Carry)] = &[
    (Method::POST, "/api/v1/sessions", Carry::Json),
    (Method::PUT, "/api/v1/me/password", Carry::Json),
    (Method::POST, "/api/v1/me/totp/confirm", Carry::Json),
    (Method::POST, "/api/v1/tenants", Carry::Json),
    (Method::POST, "/api/v1/scopes/acme/users", Carry::Json),
    (Method::POST, "/api/v1/scopes/acme/roles", Carry::Json),
    (Method::PUT, "/api/v1/scopes/acme/roles/r1", Carry::Json),
    (Method::POST, "/api/v1/scopes/acme/extensions", Carry::Json),
    (
        Method::PUT,
        "/api/v1/scopes/acme/extensions/1001/password",
        Carry::Json,
    ),
    (Method::POST, "/api/v1/tenants/acme/customers", Carry::Json),
    (Method::PUT, "/api/v1/tenants/acme/customers/1", Carry::Json),
    (
        Method::POST,
        "/api/v1/tenants/acme/customers/1/reveal-requests",
        Carry::Json,
    ),
    (
        Method::POST,
        "/api/v1/tenants/acme/reveal-requests/1/decision",
        Carry::Json,
    ),
    (Method::PUT, "/api/v1/access/rules", Carry::Json),
    (Method::PUT, "/api/v1/access/block-foreign", Carry::Json),
    (
        Method::POST,
        "/api/v1/tenants/acme/review/templates",
        Carry::Json,
    ),
    (
        Method::POST,
        "/api/v1/tenants/acme/review/voice?name=v1",
        Carry::Raw,
    ),
    (
        Method::POST,
        "/api/v1/tenants/acme/review/items/t1@acme/decision",
        Carry::Json,
    ),
    (Method::POST, "/api/v1/bans", Carry::Json),
    (Method::GET, "/api/v1/audit/events", Carry::Query),
    (Method::GET, "/api/v1/access/explain", Carry::Query),
    (Method::GET, "/api/v1/tenants/acme/customers", Carry::Query),
    (
        Method::GET,
        "/api/v1/tenants/acme/review/items",
        Carry::Query,
    ),
    (Method::GET, "/api/v1/bans", Carry::Query),
];

struct World {
    rt: tokio::runtime::Runtime,
    app: Router,
    token: String,
    used: u32,
}

thread_local! {
    static WORLD: RefCell<Option<World>> = const { RefCell::new(None) };
}

/// Frames `data` as SIP/TCP bytes the way the server's TCP filter does
/// (`serve/tcp_front.rs`), cut into two reads at the first byte's
/// position; returns how many unknown-method requests were picked out.
///
/// # Panics
///
/// When a byte is lost, duplicated or reordered, an empty piece comes out,
/// or more than one message's worth of bytes stays buffered.
pub fn sip_tcp_frame(data: &[u8]) -> usize {
    use crate::serve::tcp_front::{Framer, MAX_MESSAGE, Piece};
    let Some((&cut, rest)) = data.split_first() else {
        return 0;
    };
    let cut = (usize::from(cut) * rest.len()) / 255;
    let mut framer = Framer::default();
    let mut pieces = Vec::new();
    framer.push(&rest[..cut], &mut pieces);
    framer.push(&rest[cut..], &mut pieces);
    let mut joined = Vec::with_capacity(rest.len());
    let mut unknown = 0;
    for p in &pieces {
        match p {
            Piece::Copy(b) => {
                assert!(!b.is_empty(), "empty piece");
                joined.extend_from_slice(b);
            }
            Piece::Unknown(b) => {
                assert!(
                    okcc_sip::pipeline::unknown_method(b).is_some(),
                    "picked out a request with a known method"
                );
                joined.extend_from_slice(b);
                unknown += 1;
            }
        }
    }
    joined.extend_from_slice(framer.pending());
    assert_eq!(joined, rest, "bytes lost or reordered");
    assert!(
        framer.pending().len() <= MAX_MESSAGE + rest.len().saturating_sub(cut).max(cut),
        "unbounded buffer"
    );
    unknown
}

/// Sends `data` to the REST router: the first byte picks the endpoint, the
/// second the source address, the rest is the body (or query string).
///
/// # Panics
///
/// When the API answers 5xx, or when the harness itself cannot be set up.
pub fn rest_request(data: &[u8]) {
    let [pick, source, rest @ ..] = data else {
        return;
    };
    let (method, path, send) = &ENDPOINTS[usize::from(*pick) % ENDPOINTS.len()];
    WORLD.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|w| w.used >= REQUESTS_PER_WORLD) {
            *slot = Some(World::new());
        }
        let Some(world) = slot.as_mut() else { return };
        world.used += 1;
        let uri = match send {
            Carry::Query => match std::str::from_utf8(rest) {
                Ok(q) => format!("{path}?{q}"),
                Err(_) => return,
            },
            Carry::Json | Carry::Raw => (*path).to_owned(),
        };
        let Ok(uri) = uri.parse::<axum::http::Uri>() else {
            return;
        };
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header("authorization", format!("Bearer {}", world.token));
        let body = match send {
            Carry::Json => {
                req = req.header("content-type", "application/json");
                Body::from(rest.to_vec())
            }
            Carry::Raw => {
                req = req.header("content-type", "audio/wav");
                Body::from(rest.to_vec())
            }
            Carry::Query => Body::empty(),
        };
        let Ok(mut req) = req.body(body) else { return };
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, *source));
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 40000)));
        let status = world.rt.block_on(async {
            let resp = world.app.clone().oneshot(req).await.expect("infallible");
            let status = resp.status();
            // Drain the body: a handler that fails while streaming counts too.
            let _ = to_bytes(resp.into_body(), 1 << 24).await;
            status
        });
        assert!(
            !status.is_server_error(),
            "{method} {path} answered {status}"
        );
    });
}

impl World {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let state = AppState::new(
            ApiConfig::default(),
            Stores::in_memory(Arc::new(AccessControl::new(None))),
            PasswordPolicy::default(),
            WebPasswordHasher::new(8, 1, 1).expect("hasher"),
            BruteForceConfig::default(),
        )
        .expect("state");
        let app = router(state.clone());
        let token = rt.block_on(async {
            let first = crate::http::bootstrap_admin(&state, "root")
                .await
                .ok()
                .flatten()
                .expect("first start creates the admin");
            let login = call(
                &app,
                Method::POST,
                "/api/v1/sessions",
                None,
                &serde_json::json!({"user": "root", "password": first}),
            )
            .await;
            let token = login["token"].as_str().expect("token").to_owned();
            call(
                &app,
                Method::PUT,
                "/api/v1/me/password",
                Some(&token),
                &serde_json::json!({"current": first, "new": ADMIN_PASSWORD}),
            )
            .await;
            call(
                &app,
                Method::POST,
                "/api/v1/tenants",
                Some(&token),
                &serde_json::json!({"id": "acme", "name": "Acme"}),
            )
            .await;
            token
        });
        Self {
            rt,
            app,
            token,
            used: 0,
        }
    }
}

/// One set-up request; returns the JSON answer (`null` when empty).
async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> serde_json::Value {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut req = req
        .body(Body::from(serde_json::to_vec(body).expect("json")))
        .expect("request");
    req.extensions_mut().insert(ConnectInfo(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        40000,
    )));
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 1 << 24)
        .await
        .expect("set-up body");
    assert!(
        status.is_success(),
        "harness set-up {uri} answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the committed corpus of `fuzz/fuzz_targets/rest_json.rs`.
    #[test]
    fn req_10_rest_json_corpus_never_gets_a_5xx() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/rest_json");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus dir") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("seed");
            rest_request(&bytes);
            n += 1;
        }
        assert!(n >= ENDPOINTS.len(), "only {n} seeds in {}", dir.display());
    }

    /// Replays the committed corpus of `fuzz/fuzz_targets/sip_tcp_frame.rs`.
    #[test]
    fn req_9_sip_tcp_frame_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/sip_tcp_frame");
        let (mut n, mut unknown) = (0, 0);
        for entry in std::fs::read_dir(&dir).expect("corpus dir") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("seed");
            unknown += sip_tcp_frame(&bytes);
            n += 1;
        }
        assert!(
            n >= 6 && unknown >= 3,
            "{n} seeds, {unknown} unknown requests"
        );
    }

    #[test]
    fn req_10_every_endpoint_with_junk_gets_no_5xx() {
        for (i, _) in ENDPOINTS.iter().enumerate() {
            for junk in [
                &b""[..],
                b"{",
                b"null",
                b"[]",
                b"{\"id\": 1e999}",
                b"\xff\xfe",
                b"{\"a\":\"\\ud800\"}",
            ] {
                let mut data = vec![u8::try_from(i).expect("few endpoints"), 7];
                data.extend_from_slice(junk);
                rest_request(&data);
            }
        }
    }
}
