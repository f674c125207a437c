//! Router tests of the review queue, bans, alerts and the monitor: allowed,
//! denied by permission, cross-tenant refused, bad input answered with a
//! 4xx problem and nothing changed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use okcc_core::review::voice::{build_mp3, build_wav};
use serde_json::{Value, json};

use super::{Api, Reply, World, assert_problem};
use crate::monitor::{Monitor, Sample};
use crate::serve::config::MonitorConfig;

impl Api {
    /// Sends a raw body with `content_type`.
    async fn call_raw(&self, uri: &str, token: Option<&str>, body: Vec<u8>) -> Reply {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("content-type", "application/octet-stream");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Body::from(body)).expect("request");
        self.send(req, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40001))
            .await
    }

    async fn review_count(&self, tenant: &str) -> usize {
        let owner = okcc_core::Owner::Tenant(okcc_core::TenantId::new(tenant).expect("tenant"));
        self.state
            .inner
            .review
            .list(&owner, None, okcc_core::store::Page::first(1000))
            .await
            .expect("list")
            .items
            .len()
    }

    async fn audit_actions(&self) -> Vec<String> {
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
            .iter()
            .map(|e| e.event.action.code().to_owned())
            .collect()
    }
}

fn wav() -> Vec<u8> {
    // 8 kHz, 16 bit mono, one second.
    build_wav(1, 1, 8000, 16, 16_000)
}

const ITEMS: &str = "/api/v1/tenants/acme/review/items";

#[tokio::test]
async fn req_3_review_voice_upload_listen_decide_and_usable() {
    let (api, w) = Api::world().await;
    let World {
        root,
        boss,
        agent,
        gboss,
    } = &w;
    let voice = "/api/v1/tenants/acme/review/voice?name=welcome";

    // Refused: no token, no permission, other tenant, bad name, bad audio,
    // unknown tenant. Nothing is stored.
    let r = api.call_raw(voice, None, wav()).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = api.call_raw(voice, Some(agent), wav()).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = api.call_raw(voice, Some(gboss), wav()).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    for bad in ["bad%20name", "a@b", "", "-x"] {
        let r = api
            .call_raw(
                &format!("/api/v1/tenants/acme/review/voice?name={bad}"),
                Some(boss),
                wav(),
            )
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-input");
    }
    let r = api
        .call_raw("/api/v1/tenants/acme/review/voice", Some(boss), wav())
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-input");
    let r = api
        .call_raw(voice, Some(boss), b"#!/bin/sh\nrm -rf /\n".to_vec())
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-content");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("WAV or MP3")
    );
    let mut cut = wav();
    cut.truncate(30);
    let r = api.call_raw(voice, Some(boss), cut).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-content");
    let r = api
        .call_raw(
            "/api/v1/tenants/nosuch/review/voice?name=x",
            Some(root),
            wav(),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found");
    // Over the voice body limit (10 MiB): 413, while the JSON limit stays 1 MiB.
    let limit = api.state.inner.config.voice_body_limit;
    let r = api.call_raw(voice, Some(boss), vec![0; limit + 1]).await;
    assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");
    assert_eq!(api.review_count("acme").await, 0);

    // A supervisor-level tenant admin submits: 201, pending, sniffed.
    let before = api.audit_len().await;
    let r = api.call_raw(voice, Some(boss), wav()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let item = r.body.clone();
    assert_eq!(item["id"], "welcome@acme");
    assert_eq!(item["name"], "welcome");
    assert_eq!(item["tenant"], "acme");
    assert_eq!(item["kind"], "voice");
    assert_eq!(item["status"], "pending");
    assert_eq!(item["version"], 1);
    assert_eq!(item["submitted_by"], "boss");
    assert_eq!(item["content_type"], "audio/wav");
    assert_eq!(item["content"]["info"]["duration_ms"], 1000);
    assert_eq!(item["content"]["info"]["sample_rate"], 8000);
    assert_eq!(api.audit_len().await, before + 2, "create + submit audited");
    let hash = item["content_hash"].as_str().expect("hash").to_owned();

    // Listening: the bytes with the sniffed type; not across tenants.
    let audio = format!("{ITEMS}/welcome@acme/audio");
    let r = api.call(Method::GET, &audio, Some(boss), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "audio/wav");
    assert_eq!(r.raw, wav());
    let r = api.call(Method::GET, &audio, Some(gboss), None).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = api
        .call(
            Method::GET,
            "/api/v1/tenants/globex/review/items/welcome@acme/audio",
            Some(gboss),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found");
    let r = api
        .call(
            Method::GET,
            "/api/v1/tenants/globex/review/items/welcome@acme",
            Some(gboss),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found");
    let r = api
        .call(
            Method::GET,
            &format!("{ITEMS}/welcome@acme"),
            Some(agent),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = api
        .call(Method::GET, &format!("{ITEMS}/no%20such"), Some(boss), None)
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-input");
    let r = api
        .call(
            Method::GET,
            &format!("{ITEMS}/nosuch@acme"),
            Some(boss),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found");

    // Listing by status, paged; a bad status is refused.
    let r = api
        .call(
            Method::GET,
            &format!("{ITEMS}?status=pending"),
            Some(boss),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    let r = api
        .call(
            Method::GET,
            &format!("{ITEMS}?status=approved"),
            Some(boss),
            None,
        )
        .await;
    assert_eq!(r.body["items"], json!([]));
    let r = api
        .call(
            Method::GET,
            &format!("{ITEMS}?status=maybe"),
            Some(boss),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-input");
    let r = api.call(Method::GET, ITEMS, Some(gboss), None).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");

    // Deciding: tenants cannot, a reject needs a reason, the platform
    // approves once.
    let decision = format!("{ITEMS}/welcome@acme/decision");
    let r = api
        .call(
            Method::POST,
            &decision,
            Some(boss),
            Some(json!({"approve": true})),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = api
        .call(
            Method::POST,
            &decision,
            Some(root),
            Some(json!({"approve": false, "note": "  "})),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-reason");
    let r = api
        .call(
            Method::POST,
            &decision,
            Some(root),
            Some(json!({"approve": "yes"})),
        )
        .await;
    assert!(r.status.is_client_error(), "{:?}", r.status);
    let usable = format!("{ITEMS}/welcome@acme/usable");
    let r = api.call(Method::GET, &usable, Some(boss), None).await;
    assert_eq!(r.body["usable"], false);
    assert_eq!(r.body["reason"], "the item is pending, not approved");

    let r = api
        .call(
            Method::POST,
            &decision,
            Some(root),
            Some(json!({"approve": true, "note": "fine"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["decided_by"], "root");
    let r = api
        .call(
            Method::POST,
            &decision,
            Some(root),
            Some(json!({"approve": true})),
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "invalid-transition");

    let r = api.call(Method::GET, &usable, Some(boss), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["usable"], true);
    assert_eq!(r.body["content_hash"], json!(hash));
    let r = api
        .call(
            Method::GET,
            &format!("{usable}?hash={hash}"),
            Some(boss),
            None,
        )
        .await;
    assert_eq!(r.body["usable"], true);
    let other = "0".repeat(64);
    let r = api
        .call(
            Method::GET,
            &format!("{usable}?hash={other}"),
            Some(boss),
            None,
        )
        .await;
    assert_eq!(r.body["usable"], false);
    let r = api
        .call(Method::GET, &format!("{usable}?hash=xyz"), Some(boss), None)
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-input");
    let r = api.call(Method::GET, &usable, Some(gboss), None).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");

    // A changed file goes back to review as version 2.
    let r = api
        .call_raw(voice, Some(boss), build_wav(1, 1, 8000, 16, 32_000))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["version"], 2);
    let r = api.call(Method::GET, &usable, Some(boss), None).await;
    assert_eq!(r.body["usable"], false);

    // Maker-checker: the platform admin cannot approve what it submitted.
    let r = api
        .call_raw(
            "/api/v1/tenants/acme/review/voice?name=own",
            Some(root),
            build_mp3(40),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["content_type"], "audio/mpeg");
    let r = api
        .call(
            Method::POST,
            &format!("{ITEMS}/own@acme/decision"),
            Some(root),
            Some(json!({"approve": true})),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "self-approval");
    let r = api
        .call(
            Method::POST,
            &format!("{ITEMS}/own@acme/decision"),
            Some(root),
            Some(json!({"approve": false, "note": "too loud"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(r.body["reason"], "too loud");
    let r = api
        .call(Method::GET, &format!("{ITEMS}?limit=1"), Some(boss), None)
        .await;
    assert_eq!(r.body["items"][0]["id"], "own@acme");
    let next = r.body["next"].as_str().expect("next page").to_owned();
    let r = api
        .call(
            Method::GET,
            &format!("{ITEMS}?limit=1&cursor={next}"),
            Some(boss),
            None,
        )
        .await;
    assert_eq!(r.body["items"][0]["id"], "welcome@acme");
    assert_eq!(r.body["next"], Value::Null);

    let actions = api.audit_actions().await;
    for a in [
        "review.submit",
        "review.approve",
        "review.reject",
        "review.edit",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
}

#[tokio::test]
async fn req_3_review_templates_show_sms_segments_and_encoding() {
    let (api, w) = Api::world().await;
    let url = "/api/v1/tenants/acme/review/templates";
    let r = api
        .call(
            Method::POST,
            url,
            Some(&w.boss),
            Some(json!({"kind": "sms", "name": "hangup", "text": "您好{name}，欢迎致电"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["kind"], "sms");
    assert_eq!(r.body["encoding"], "ucs2");
    assert_eq!(r.body["segments"], 1);
    assert_eq!(r.body["content"]["preview"], "您好Zhang Wei，欢迎致电");
    let r = api
        .call(
            Method::POST,
            url,
            Some(&w.boss),
            Some(json!({"kind": "tts", "name": "greeting", "text": "Hello {name}"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["kind"], "tts");
    assert_eq!(r.body["segments"], Value::Null);
    let r = api
        .call(
            Method::GET,
            &format!("{ITEMS}/greeting@acme/audio"),
            Some(&w.boss),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found");

    for (body, status, code) in [
        (
            json!({"kind": "sms", "name": "long", "text": "x".repeat(1000)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-content",
        ),
        (
            json!({"kind": "tts", "name": "bad", "text": "Hi {password}"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-content",
        ),
        (
            json!({"kind": "tts", "name": "bad", "text": "unclosed {name"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-content",
        ),
        (
            json!({"kind": "fax", "name": "bad", "text": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid-input",
        ),
        (
            json!({"kind": "tts", "name": "bad name", "text": "x"}),
            StatusCode::BAD_REQUEST,
            "invalid-input",
        ),
    ] {
        let r = api.call(Method::POST, url, Some(&w.boss), Some(body)).await;
        assert_problem(&r, status, code);
    }
    let r = api
        .call(
            Method::POST,
            url,
            Some(&w.boss),
            Some(json!({"kind": "tts", "name": "x", "text": "x", "extra": 1})),
        )
        .await;
    assert!(r.status.is_client_error());
    let r = api
        .call(
            Method::POST,
            url,
            Some(&w.gboss),
            Some(json!({"kind": "tts", "name": "x", "text": "hi"})),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = api
        .call(
            Method::POST,
            url,
            Some(&w.agent),
            Some(json!({"kind": "tts", "name": "x", "text": "hi"})),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    // The JSON endpoints keep the 1 MiB limit.
    let r = api
        .call(
            Method::POST,
            url,
            Some(&w.boss),
            Some(json!({"kind": "tts", "name": "big", "text": "x".repeat(2 << 20)})),
        )
        .await;
    assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");
    assert_eq!(api.review_count("acme").await, 2);
    assert_eq!(api.review_count("globex").await, 0);
}

#[tokio::test]
async fn req_10_bans_list_manual_ban_and_unban() {
    let (api, w) = Api::world().await;
    let target: IpAddr = "203.0.113.9".parse().expect("ip");
    let ban = json!({"ip": "203.0.113.9", "duration_secs": 600, "reason": "SIP scanner seen"});

    // Platform only; bad input refused; nothing banned.
    for token in [&w.boss, &w.agent, &w.gboss] {
        let r = api
            .call(Method::GET, "/api/v1/bans", Some(token), None)
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
        let r = api
            .call(Method::POST, "/api/v1/bans", Some(token), Some(ban.clone()))
            .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    }
    let r = api
        .call(Method::POST, "/api/v1/bans", None, Some(ban.clone()))
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    for bad in [
        json!({"ip": "203.0.113.300", "duration_secs": 600, "reason": "x"}),
        json!({"ip": "example.com", "duration_secs": 600, "reason": "x"}),
        json!({"ip": "203.0.113.9", "duration_secs": 0, "reason": "x"}),
        json!({"ip": "203.0.113.9", "duration_secs": 40_000_000u64, "reason": "x"}),
        json!({"ip": "203.0.113.9", "duration_secs": 600, "reason": "  "}),
        json!({"ip": "203.0.113.9", "duration_secs": 600, "reason": "a\nb"}),
        json!({"ip": "203.0.113.9", "duration_secs": 600, "reason": "x".repeat(201)}),
    ] {
        let r = api
            .call(Method::POST, "/api/v1/bans", Some(&w.root), Some(bad))
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-input");
    }
    let r = api
        .call(
            Method::POST,
            "/api/v1/bans",
            Some(&w.root),
            Some(json!({"ip": "203.0.113.9", "duration_secs": -5, "reason": "x"})),
        )
        .await;
    assert!(r.status.is_client_error());
    assert!(api.state.inner.guard.bans(Instant::now()).is_empty());

    // A manual ban: listed with its reason, enforced by the SIP guard, audited.
    let before = api.audit_len().await;
    let r = api
        .call(
            Method::POST,
            "/api/v1/bans",
            Some(&w.root),
            Some(ban.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["ip"], "203.0.113.9");
    assert_eq!(r.body["kind"], "manual");
    assert_eq!(r.body["reason"], "SIP scanner seen");
    assert!(r.body["remaining_secs"].as_u64().unwrap_or(0) > 590);
    assert!(r.body["until"].as_str().unwrap_or("").ends_with('Z'));
    assert_eq!(api.audit_len().await, before + 1);
    assert!(api.audit_actions().await.iter().any(|a| a == "access.ban"));
    assert!(
        !api.state
            .inner
            .guard
            .pre_parse(target, Instant::now())
            .is_allow(),
        "the SIP side refuses the banned source"
    );
    let r = api
        .call(
            Method::POST,
            "/api/v1/bans",
            Some(&w.root),
            Some(json!({"ip": "::ffff:198.51.100.1", "duration_secs": 60, "reason": "test"})),
        )
        .await;
    assert_eq!(r.body["ip"], "198.51.100.1", "IPv4-mapped shown as IPv4");
    let r = api
        .call(Method::GET, "/api/v1/bans?limit=1", Some(&w.root), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"][0]["ip"], "198.51.100.1");
    let next = r.body["next"].as_str().expect("next").to_owned();
    let r = api
        .call(
            Method::GET,
            &format!("/api/v1/bans?limit=1&cursor={next}"),
            Some(&w.root),
            None,
        )
        .await;
    assert_eq!(r.body["items"][0]["ip"], "203.0.113.9");
    assert_eq!(r.body["items"][0]["reason"], "SIP scanner seen");
    assert_eq!(r.body["next"], Value::Null);
    let r = api
        .call(Method::GET, "/api/v1/bans?cursor=junk", Some(&w.root), None)
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-input");

    // Unban: tenants refused, bad address refused, then lifted once.
    let r = api
        .call(
            Method::DELETE,
            "/api/v1/bans/203.0.113.9",
            Some(&w.boss),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = api
        .call(
            Method::DELETE,
            "/api/v1/bans/not-an-ip",
            Some(&w.root),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-input");
    assert_eq!(api.state.inner.guard.bans(Instant::now()).len(), 2);
    let r = api
        .call(
            Method::DELETE,
            "/api/v1/bans/203.0.113.9",
            Some(&w.root),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert!(
        api.state
            .inner
            .guard
            .pre_parse(target, Instant::now())
            .is_allow()
    );
    let r = api
        .call(
            Method::DELETE,
            "/api/v1/bans/203.0.113.9",
            Some(&w.root),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found");
    assert!(
        api.audit_actions()
            .await
            .iter()
            .any(|a| a == "access.unban")
    );
}

#[tokio::test]
async fn req_4_alerts_and_monitor_are_platform_only() {
    let (api, w) = Api::world().await;
    for token in [&w.boss, &w.agent, &w.gboss] {
        for uri in ["/api/v1/alerts", "/api/v1/monitor"] {
            let r = api.call(Method::GET, uri, Some(token), None).await;
            assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
        }
    }
    let r = api.call(Method::GET, "/api/v1/alerts", None, None).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let r = api
        .call(Method::GET, "/api/v1/monitor", Some(&w.root), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["sample"], Value::Null);

    // The monitor raises an alert into the state's book.
    api.state.inner.gauges.set_sip_queue_depth(900);
    let mut m = Monitor::new(
        &MonitorConfig::default(),
        api.state.inner.alerts.clone(),
        api.state.inner.audit.clone(),
        None,
    );
    let raised = m
        .ingest(Sample {
            at: "2026-11-23T18:00:00Z".to_owned(),
            disk_used_percent: Some(97.5),
            sip_queue_depth: 900,
            ..Sample::default()
        })
        .await;
    assert_eq!(raised.len(), 2);
    let r = api
        .call(Method::GET, "/api/v1/alerts", Some(&w.root), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let metrics: Vec<&str> = r.body["active"]
        .as_array()
        .expect("active")
        .iter()
        .filter_map(|a| a["metric"].as_str())
        .collect();
    assert_eq!(metrics, ["disk", "sip-queue"]);
    assert_eq!(r.body["recent"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["webhook"]["dropped"], 0);
    let r = api
        .call(Method::GET, "/api/v1/monitor", Some(&w.root), None)
        .await;
    assert_eq!(r.body["sip_queue_depth"], 900);
    assert_eq!(r.body["active_alerts"], 2);
    assert_eq!(r.body["sample"]["disk_used_percent"], 97.5);
    assert!(api.audit_actions().await.iter().any(|a| a == "alert.raise"));
}

#[tokio::test]
async fn req_10_openapi_lists_review_bans_and_alerts() {
    let api = Api::new();
    let doc = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let paths = doc.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/tenants/{tenant}/review/voice",
        "/api/v1/tenants/{tenant}/review/templates",
        "/api/v1/tenants/{tenant}/review/items",
        "/api/v1/tenants/{tenant}/review/items/{id}",
        "/api/v1/tenants/{tenant}/review/items/{id}/audio",
        "/api/v1/tenants/{tenant}/review/items/{id}/decision",
        "/api/v1/tenants/{tenant}/review/items/{id}/usable",
        "/api/v1/bans",
        "/api/v1/bans/{ip}",
        "/api/v1/alerts",
        "/api/v1/monitor",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }
}
