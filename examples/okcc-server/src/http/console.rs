//! The admin web console (issue 11): plain HTML, CSS and ES modules with no
//! build step, embedded in the binary and served at `/` and `/console/…`.
//!
//! The console talks only to the public REST API with the same bearer
//! sessions, so it can never do what the API forbids. Its pages are served
//! with a strict content security policy (`default-src 'self'`: no inline
//! script, no CDN, no external font), `nosniff`, no framing, and an `ETag`
//! so browsers revalidate instead of running a stale console after an
//! upgrade.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The console's content security policy: only its own origin; audio
/// fetched with the session token is played from a `blob:` URL and the TOTP
/// QR code is drawn on a canvas.
pub(crate) const CSP: &str = "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Name under `/console/`.
    name: &'static str,
    /// `Content-Type`.
    content_type: &'static str,
    /// The bytes.
    body: &'static [u8],
}

/// Every file of the console.
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../console/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../console/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../console/api.js"),
    },
    Asset {
        name: "qr.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../console/qr.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../console/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../console/favicon.svg"),
    },
];

/// Strong ETags of [`ASSETS`], computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                format!("\"{}\"", base16ct::lower::encode_string(&digest[..12]))
            })
            .collect()
    })
}

/// The console routes: `/` (the page), `/console/` (the same page) and
/// `/console/{file}` (its scripts, style and icon). Merge them outside the
/// API's header layers: they set their own, looser CSP.
pub(crate) fn routes() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

fn serve(name: &str, req: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return with_headers(ApiError::not_found("console file").into_response());
    };
    let asset = &ASSETS[i];
    let etag = &etags()[i];
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    // Revalidate every time (cheap with the ETag): a console never runs
    // stale after an upgrade.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    with_headers(resp)
}

fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    async fn get(app: &Router, uri: &str, etag: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::builder().uri(uri);
        if let Some(t) = etag {
            req = req.header("if-none-match", t);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = to_bytes(resp.into_body(), 1 << 22).await.expect("body");
        (status, headers, body.to_vec())
    }

    #[tokio::test]
    async fn req_11_console_is_served_with_types_csp_and_etag() {
        let app = routes();
        for (uri, ty) in [
            ("/", "text/html; charset=utf-8"),
            ("/console/", "text/html; charset=utf-8"),
            ("/console/app.js", "text/javascript; charset=utf-8"),
            ("/console/api.js", "text/javascript; charset=utf-8"),
            ("/console/qr.js", "text/javascript; charset=utf-8"),
            ("/console/style.css", "text/css; charset=utf-8"),
            ("/console/favicon.svg", "image/svg+xml"),
        ] {
            let (status, h, body) = get(&app, uri, None).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(h["content-type"], ty, "{uri}");
            assert_eq!(h["content-security-policy"], CSP, "{uri}");
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["cache-control"], "no-cache");
            assert!(!body.is_empty(), "{uri}");
            let etag = h["etag"].to_str().expect("etag").to_owned();
            let (again, h2, body2) = get(&app, uri, Some(&etag)).await;
            assert_eq!(again, StatusCode::NOT_MODIFIED, "{uri}");
            assert!(body2.is_empty());
            assert_eq!(h2["etag"].to_str().expect("etag"), etag);
            let (changed, _, _) = get(&app, uri, Some("\"stale\"")).await;
            assert_eq!(changed, StatusCode::OK, "{uri}");
        }
        assert!(CSP.starts_with("default-src 'self';"));
    }

    #[tokio::test]
    async fn req_11_console_refuses_unknown_files_and_traversal() {
        let app = routes();
        for uri in [
            "/console/nope.js",
            "/console/..%2FCargo.toml",
            "/console/../src/main.rs",
            "/console/index.html/x",
        ] {
            let (status, h, _) = get(&app, uri, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert!(h.get("etag").is_none(), "{uri}");
        }
    }

    /// Every asset the page loads exists, and nothing is loaded from
    /// another origin, inline, or by `eval`.
    #[test]
    fn req_11_console_has_no_external_or_inline_code() {
        for a in ASSETS {
            let text = String::from_utf8_lossy(a.body);
            for bad in ["http://", "https://", "eval(", "new Function", "innerHTML"] {
                if a.name == "favicon.svg" && bad == "http://" {
                    continue; // the SVG namespace URI is not a fetch
                }
                assert!(!text.contains(bad), "{} contains {bad}", a.name);
            }
        }
        let index = String::from_utf8_lossy(ASSETS[0].body);
        assert!(!index.contains("<script>"), "inline script in index.html");
        assert!(!index.contains(" style=\""), "inline style in index.html");
        for src in ["/console/app.js", "/console/style.css"] {
            assert!(index.contains(src), "index.html does not load {src}");
        }
    }
}
