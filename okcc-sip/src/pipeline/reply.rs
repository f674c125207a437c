//! The one place a [`Decision`] becomes bytes on the wire (or silence).
//!
//! | decision | UDP | TCP / TLS / WS |
//! |---|---|---|
//! | `Allow` | no reply from the guard (`None`): the host goes on | same |
//! | `Challenge` on REGISTER | `401`, one `WWW-Authenticate` per algorithm (SHA-256 first, then MD5) | same |
//! | `Challenge` on other methods | `407`, one `Proxy-Authenticate` per algorithm | same |
//! | `Deny` by a dynamic defence (`banned`, `brute-force`, `flood`, `scanner`) | **silence** | `403 Forbidden` |
//! | `Deny` by `guard:digest:store-unavailable` (the credential store failed) | `503 Service Unavailable` | same |
//! | any other `Deny` (blacklist, region, whitelist, failed auth, user mismatch, toll fraud) | `403 Forbidden` | same |
//! | malformed, Via/From/To/Call-ID/CSeq readable | `400 Bad Request` (`505` for a wrong version) | same |
//! | malformed otherwise, or over the size cap | dropped (silence) | same |
//! | well-formed, method unknown to the host stack ([`super::reply_to_unknown_method`]) | `501 Not Implemented` with `Allow` | same |
//!
//! A failed authentication gets the same `403` whether the user exists or
//! not. Responses copy every Via (in order), From, To (adding a tag when
//! it has none), Call-ID and CSeq, and end with `Content-Length: 0`.

use std::hash::{BuildHasher, Hash};
use std::time::SystemTime;

use okcc_core::{Decision, DenyReason};

use crate::digest::DigestServer;
use crate::view::{HeaderName, ParseError, SipMethod, SipRequestView};

/// How the request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// UDP: denials of scanners and floods get silence.
    Udp,
    /// WebSocket (plain or secure).
    WebSocket,
}

impl Transport {
    /// `true` for datagram transports (UDP), where silence is cheap and a
    /// reply would feed a scanner.
    pub fn is_datagram(self) -> bool {
        matches!(self, Self::Udp)
    }
}

/// What the guard sends back.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// Send this response.
    Respond(Response),
    /// Send nothing.
    Silence,
}

/// A complete SIP response, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The bytes to send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// `true` for denials that are answered with silence on UDP.
pub fn is_silent_on_udp(reason: DenyReason) -> bool {
    matches!(
        reason,
        DenyReason::Banned | DenyReason::BruteForce | DenyReason::Flood | DenyReason::Scanner
    )
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        407 => "Proxy Authentication Required",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        _ => "Error",
    }
}

/// Maps a decision on `view` to the reply: `None` for `Allow` (the host
/// handles the request), else a response or silence. Challenges take
/// their `WWW-Authenticate` / `Proxy-Authenticate` values from `digest`
/// at `now`.
pub fn reply_for(
    decision: &Decision,
    view: &SipRequestView<'_>,
    transport: Transport,
    digest: &DigestServer,
    now: SystemTime,
) -> Option<Reply> {
    match decision {
        Decision::Allow => None,
        Decision::Challenge(c) => {
            let (status, header) = if view.method == SipMethod::Register {
                (401, "WWW-Authenticate")
            } else {
                (407, "Proxy-Authenticate")
            };
            let extra: Vec<(&str, String)> = digest
                .challenges(now, c.stale)
                .into_iter()
                .map(|v| (header, v))
                .collect();
            Some(Reply::Respond(respond(view, status, &extra)))
        }
        Decision::Deny(d) => {
            if d.rule.as_str() == super::DIGEST_STORE_RULE {
                // Not the client's fault: let it retry later.
                Some(Reply::Respond(respond(view, 503, &[])))
            } else if transport.is_datagram() && is_silent_on_udp(d.reason) {
                Some(Reply::Silence)
            } else {
                Some(Reply::Respond(respond(view, 403, &[])))
            }
        }
    }
}

/// Builds a response with `status` to `view`, copying the dialog headers.
pub fn respond(view: &SipRequestView<'_>, status: u16, extra: &[(&str, String)]) -> Response {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {status} {}\r\n", reason_phrase(status)).as_bytes());
    for (name, _, value) in view.headers() {
        if name == HeaderName::Via {
            push_header(&mut out, "Via", value);
        }
    }
    push_header(&mut out, "From", view.from.raw);
    if view.to.tag.is_some() {
        push_header(&mut out, "To", view.to.raw);
    } else {
        let tag = to_tag(
            view.call_id,
            view.from.tag.unwrap_or(""),
            view.via.branch.unwrap_or(""),
        );
        push_header(&mut out, "To", &format!("{};tag={tag}", view.to.raw));
    }
    push_header(&mut out, "Call-ID", view.call_id);
    push_header(
        &mut out,
        "CSeq",
        &format!("{} {}", view.cseq.seq, view.cseq.method),
    );
    for (name, value) in extra {
        push_header(&mut out, name, value);
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Response { status, bytes: out }
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A To tag for our own responses: stable for retransmissions of one
/// request, unpredictable across processes.
fn to_tag(call_id: &str, from_tag: &str, branch: &str) -> String {
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let key = KEY.get_or_init(std::collections::hash_map::RandomState::new);
    let mut h = key.build_hasher();
    (call_id, from_tag, branch).hash(&mut h);
    format!("okcc{:016x}", std::hash::Hasher::finish(&h))
}

/// The reply to a message the parser refused: `400` (or `505`) when
/// [`ParseError::answerable`], copying Via, From, To, Call-ID and CSeq from
/// the raw bytes; `None` (drop and count) otherwise.
pub fn reply_for_malformed(bytes: &[u8], error: &ParseError) -> Option<Reply> {
    if !error.answerable {
        return None;
    }
    let head_end = memchr::memmem::find(bytes, b"\r\n\r\n").unwrap_or(bytes.len());
    let head = std::str::from_utf8(bytes.get(..head_end)?).ok()?;
    let status = error.status();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("SIP/2.0 {status} {}\r\n", reason_phrase(status)).as_bytes());
    let mut seen = [false; 5];
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let canonical = match HeaderName::classify(name.trim()) {
            HeaderName::Via => Some((0, "Via")),
            HeaderName::From => Some((1, "From")),
            HeaderName::To => Some((2, "To")),
            HeaderName::CallId => Some((3, "Call-ID")),
            HeaderName::CSeq => Some((4, "CSeq")),
            _ => None,
        };
        let Some((i, canon)) = canonical else {
            continue;
        };
        if i != 0 && seen.get(i).copied().unwrap_or(true) {
            continue;
        }
        if let Some(s) = seen.get_mut(i) {
            *s = true;
        }
        if i == 2 && !value.to_ascii_lowercase().contains(";tag=") {
            push_header(
                &mut out,
                canon,
                &format!("{value};tag={}", to_tag(head, "", "")),
            );
        } else {
            push_header(&mut out, canon, value);
        }
    }
    if seen.iter().any(|s| !s) {
        return None;
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(Reply::Respond(Response { status, bytes: out }))
}
