//! Entry points for the fuzz targets and the corpus replay tests (not a stable API).

use crate::view::{Limits, SipRequestView};

/// Parses raw bytes as a SIP request and walks every part of the view.
/// Returns `true` when the bytes parsed.
pub fn sip_parse(data: &[u8]) -> bool {
    match SipRequestView::parse(data, &Limits::default()) {
        Ok(view) => {
            let mut n = 0usize;
            for (_, name, value) in view.headers() {
                n = n.wrapping_add(name.len()).wrapping_add(value.len());
            }
            let _ = view.request_uri.user_unescaped();
            let _ = view.from.uri.user_unescaped();
            std::hint::black_box(n);
            assert!(view.body.len() <= data.len());
            if let Some(cl) = view.content_length {
                assert_eq!(view.body.len(), cl);
            }
            true
        }
        Err(e) => {
            let _ = e.status();
            false
        }
    }
}

/// Raw bytes through the unknown-method work-around
/// ([`crate::pipeline::reply_to_unknown_method`]). Returns `true` when it
/// answered; panics if an answer is not a complete `501` echoing the
/// request's Call-ID.
pub fn sip_unknown_method(data: &[u8]) -> bool {
    use crate::pipeline::{reply_to_unknown_method, unknown_method};
    use crate::view::SipMethod;
    let limits = Limits::default();
    let Some(r) = reply_to_unknown_method(data, &limits, &[SipMethod::Invite, SipMethod::Options])
    else {
        return false;
    };
    assert_eq!(r.status(), 501);
    assert!(unknown_method(data).is_some());
    let bytes = r.as_bytes();
    assert!(bytes.starts_with(b"SIP/2.0 501 Not Implemented\r\n"));
    assert!(bytes.ends_with(b"Allow: INVITE, OPTIONS\r\nContent-Length: 0\r\n\r\n"));
    let view = SipRequestView::parse(data, &limits).expect("answered, so it parsed");
    let call_id = format!("\r\nCall-ID: {}\r\n", view.call_id);
    assert!(memchr::memmem::find(bytes, call_id.as_bytes()).is_some());
    true
}

/// Parses a raw `Authorization` value and, when it parses, computes the
/// expected response with a fixed HA1. Returns `true` when it parsed.
pub fn sip_authorization(data: &[u8]) -> bool {
    use crate::digest::{DigestAuthorization, response};
    use okcc_core::credential::Ha1;
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    match DigestAuthorization::parse(text) {
        Ok(auth) => {
            let ha1 = Ha1::dangerous_from_unchecked_secret(auth.algorithm.hash(), "u", "r", "p");
            let r = response(&auth, "REGISTER", b"", &ha1);
            assert_eq!(r.len(), auth.algorithm.hex_len());
            true
        }
        Err(_) => false,
    }
}

/// Raw bytes through the whole guard pipeline (size cap, pre-parse check,
/// parse, stages 1–9, reply) on one shared guard. Returns `true` when the
/// bytes parsed as a request. Panics only if an invariant breaks: an allowed
/// request gets no reply, every response is a SIP response.
pub fn sip_pipeline(data: &[u8]) -> bool {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::{Arc, OnceLock};
    use std::task::{Context, Poll, Waker};
    use std::time::{Duration, Instant, SystemTime};

    use okcc_core::access::AccessControl;
    use okcc_core::credential::MemoryCredentialStore;

    use crate::digest::{DigestConfig, DigestServer};
    use crate::pipeline::{Guard, GuardConfig, Now, Reply, Transport};

    static GUARD: OnceLock<(Guard, Instant)> = OnceLock::new();
    let (guard, t0) = GUARD.get_or_init(|| {
        let access = Arc::new(AccessControl::new(None));
        let _ = access.load_rule_text("fuzz", "deny 203.0.113.0/24\ntrust 192.0.2.200/32\n");
        let guard = Guard::new(
            GuardConfig::default(),
            access,
            Arc::new(DigestServer::new(DigestConfig::new(
                "example.com",
                vec![1; 32],
            ))),
            Arc::new(MemoryCredentialStore::new()),
        );
        (guard, Instant::now())
    });
    // Vary source and transport with the input, deterministically.
    let n = data.len();
    let source = std::net::IpAddr::from([198, 51, 100, (n % 7) as u8]);
    let transport = if n.is_multiple_of(2) {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let now = Now::new(
        *t0 + Duration::from_millis(n as u64),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    );
    let mut fut = pin!(guard.handle(data, source, transport, now));
    // The memory credential store never waits, so one poll completes.
    let Poll::Ready(handled) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
        return false;
    };
    if handled.decision.is_allow() {
        assert!(handled.reply.is_none());
    }
    if let Some(Reply::Respond(r)) = &handled.reply {
        assert!(r.as_bytes().starts_with(b"SIP/2.0 "));
        assert!(r.as_bytes().ends_with(b"\r\n\r\n"));
    }
    // "Parsed" regardless of what earlier inputs did to the shared guard.
    handled.view.is_some() || SipRequestView::parse(data, &Limits::default()).is_ok()
}
