//! `501 Not Implemented` for requests with a method rsipstack cannot parse
//! (RFC 3261 §8.2.1), on SIP/UDP.
//!
//! rsipstack 0.7.14's parser knows fourteen methods and drops any other
//! request before a hook runs (its UDP loop logs the parse error and reads
//! the next datagram), so `FOO sip:...` would get no answer at all. The
//! UDP socket rsipstack reads from is this [`UdpFront`] (rsipstack's own
//! socket seam, `UdpConnection::from_socket`): every datagram whose request
//! line names an unknown method and that okcc's view parser accepts
//! ([`okcc_sip::pipeline::reply_to_unknown_method`]) is answered here, after
//! the same defences a request gets in rsipstack's hooks:
//!
//! 1. the whitelist ([`hooks::whitelist`]'s check: trusted sources pass;
//!    bans, blacklist and region rules refuse; the flood counter counts it);
//! 2. the inspector's stages 1–7 ([`GuardInspector::judge_view`]: bans,
//!    scanner signatures and sweeps; silenced requests dropped);
//! 3. the 501 with `Allow`, sent to the datagram's source.
//!
//! Such a datagram never reaches rsipstack, so it is counted once. Every
//! other datagram (known methods, responses, keep-alives, and anything the
//! view refuses) is handed to rsipstack untouched: its behaviour for
//! those, including dropping malformed messages, is unchanged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use async_trait::async_trait;
use okcc_sip::adapter::rsipstack::GuardInspector;
use okcc_sip::pipeline::{Guard, not_implemented, unknown_method};
use okcc_sip::{Limits, SipMethod, SipRequestView};

use super::hooks::{self, Metrics};

/// What to do with one datagram, or one framed request on a stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not ours: rsipstack reads it.
    Pass,
    /// Refused by a defence: nothing is sent.
    Drop,
    /// Send these bytes (a 501) back to the source.
    Answer(Vec<u8>),
}

/// The SIP/UDP socket as rsipstack sees it: a tokio socket that answers
/// unknown methods itself (see the module documentation).
pub(crate) struct UdpFront {
    socket: tokio::net::UdpSocket,
    reply: NotImplemented,
}

/// The defences and the `501` for a whole request with an unknown method,
/// shared by the UDP front and the stream ones ([`super::tcp_front`],
/// [`super::tls_front`]).
pub(crate) struct NotImplemented {
    guard: Arc<Guard>,
    inspector: GuardInspector,
    metrics: Arc<Metrics>,
    limits: Limits,
    allow: &'static [SipMethod],
}

impl NotImplemented {
    /// Answers with `Allow: <allow>`.
    pub(crate) fn new(
        guard: Arc<Guard>,
        metrics: Arc<Metrics>,
        allow: &'static [SipMethod],
    ) -> Self {
        Self {
            inspector: GuardInspector::new(Arc::clone(&guard)),
            limits: guard.config().limits,
            guard,
            metrics,
            allow,
        }
    }

    /// rsipstack's whitelist check for `peer`, as its own listeners make it
    /// (per datagram on UDP, per connection on streams).
    pub(crate) fn admit(&self, peer: SocketAddr, now: Instant) -> bool {
        hooks::admit(&self.guard, &self.metrics, peer.ip().to_canonical(), now)
    }

    /// The verdict on `request` (a whole request with an unknown method)
    /// from `peer` at `now`: `Pass` when okcc's view refuses it (rsipstack
    /// then refuses it as before); else, after the whitelist when
    /// `whitelist` (a datagram; a stream ran it at accept) and the
    /// inspector's stages 1–7 (bans, scanner signatures and sweeps),
    /// `Drop` or the `501`. Drops and answers are counted.
    pub(crate) fn verdict(
        &self,
        request: &[u8],
        peer: SocketAddr,
        now: Instant,
        whitelist: bool,
    ) -> Verdict {
        let Ok(view) = SipRequestView::parse(request, &self.limits) else {
            // Malformed: rsipstack drops it (or closes the stream), as before.
            return Verdict::Pass;
        };
        if whitelist && !self.admit(peer, now) {
            return Verdict::Drop;
        }
        if !self
            .inspector
            .judge_view(&view, peer.ip().to_canonical(), now)
        {
            self.metrics
                .dropped_inspector
                .fetch_add(1, Ordering::Relaxed);
            return Verdict::Drop;
        }
        self.metrics.not_implemented.fetch_add(1, Ordering::Relaxed);
        Verdict::Answer(not_implemented(&view, self.allow).into_bytes())
    }
}

impl UdpFront {
    /// A front over `socket`, answering with `Allow: <allow>`.
    pub(crate) fn new(
        socket: tokio::net::UdpSocket,
        guard: Arc<Guard>,
        metrics: Arc<Metrics>,
        allow: &'static [SipMethod],
    ) -> Self {
        Self {
            socket,
            reply: NotImplemented::new(guard, metrics, allow),
        }
    }

    /// The verdict on `packet` from `peer` at `now`. Cheap for known
    /// methods: only the request line's first word is looked at.
    pub(crate) fn verdict(&self, packet: &[u8], peer: SocketAddr, now: Instant) -> Verdict {
        if unknown_method(packet).is_none() {
            return Verdict::Pass;
        }
        self.reply.verdict(packet, peer, now, true)
    }
}

#[async_trait]
impl rsipstack::platform::net::UdpSocket for UdpFront {
    async fn recv_from(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (len, peer) = self.socket.recv_from(buf).await?;
            let packet = buf.get(..len).unwrap_or_default();
            match self.verdict(packet, peer, Instant::now()) {
                Verdict::Pass => return Ok((len, peer)),
                Verdict::Drop => {}
                Verdict::Answer(reply) => {
                    if let Err(e) = self.socket.send_to(&reply, peer).await {
                        tracing::debug!(error = %e, %peer, "cannot send 501");
                    }
                }
            }
        }
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.socket.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use okcc_core::access::AccessControl;
    use okcc_core::credential::MemoryCredentialStore;
    use okcc_sip::digest::{DigestConfig, DigestServer};
    use okcc_sip::pipeline::GuardConfig;
    use std::time::Duration;

    const ALLOW: &[SipMethod] = &[SipMethod::Invite, SipMethod::Options];

    /// A guard with access rules `rules` that counts floods before parsing.
    pub(crate) fn guard(rules: &str) -> Guard {
        let access = AccessControl::new(None);
        access.load_rule_text("rules", rules).expect("rules");
        let mut config = GuardConfig::default();
        config.flood_at_pre_parse = true;
        Guard::new(
            config,
            Arc::new(access),
            Arc::new(DigestServer::new(DigestConfig::new(
                "example.com",
                vec![7; 32],
            ))),
            Arc::new(MemoryCredentialStore::new()),
        )
    }

    async fn front(rules: &str) -> UdpFront {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        UdpFront::new(
            socket,
            Arc::new(guard(rules)),
            Arc::new(Metrics::default()),
            ALLOW,
        )
    }

    fn request(method: &str, ua: &str) -> Vec<u8> {
        format!(
            "{method} sip:100@example.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1\r\n\
             From: <sip:200@example.com>;tag=1\r\nTo: <sip:100@example.com>\r\n\
             Call-ID: a@192.0.2.4\r\nCSeq: 1 {method}\r\nUser-Agent: {ua}\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn peer(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[tokio::test]
    async fn req_9_unknown_method_answered_known_and_malformed_passed_on() {
        let f = front("").await;
        let now = Instant::now();
        let Verdict::Answer(r) = f.verdict(&request("FOO", "phone"), peer("192.0.2.4:5060"), now)
        else {
            panic!("FOO must be answered");
        };
        let text = String::from_utf8(r).expect("utf-8");
        assert!(
            text.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nAllow: INVITE, OPTIONS\r\n"), "{text}");
        assert_eq!(f.reply.metrics.not_implemented.load(Ordering::Relaxed), 1);
        // Known methods, responses, keep-alives and malformed requests are
        // rsipstack's, with no defence counted here.
        let malformed = String::from_utf8(request("FOO", "phone"))
            .expect("utf-8")
            .replace("Call-ID: a@192.0.2.4\r\n", "");
        for p in [
            request("OPTIONS", "phone"),
            b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
            b"\r\n\r\n".to_vec(),
            malformed.into_bytes(),
        ] {
            assert_eq!(f.verdict(&p, peer("192.0.2.4:5060"), now), Verdict::Pass);
        }
        assert_eq!(f.reply.metrics.dropped_pre_parse.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn req_9_banned_blacklisted_scanner_and_flooding_sources_get_nothing() {
        let f = front("deny 203.0.113.0/24\n").await;
        let now = Instant::now();
        let foo = request("FOO", "phone");
        assert_eq!(
            f.verdict(&foo, peer("203.0.113.5:5060"), now),
            Verdict::Drop
        );
        f.reply.guard.ban(
            "192.0.2.7".parse().expect("ip"),
            Duration::from_secs(60),
            now,
        );
        assert_eq!(f.verdict(&foo, peer("192.0.2.7:5060"), now), Verdict::Drop);
        assert_eq!(f.reply.metrics.dropped_pre_parse.load(Ordering::Relaxed), 2);
        // A scanner's User-Agent: silenced by the inspector stage, and banned.
        let scan = request("FOO", "friendly-scanner");
        assert_eq!(
            f.verdict(&scan, peer("198.51.100.9:5060"), now),
            Verdict::Drop
        );
        assert_eq!(f.reply.metrics.dropped_inspector.load(Ordering::Relaxed), 1);
        assert_eq!(
            f.verdict(&foo, peer("198.51.100.9:5060"), now),
            Verdict::Drop
        );
        // A flood of unknown methods ends in silence too: each is counted
        // once, so exactly `max_requests` are answered.
        let limit = f.reply.guard.config().flood.max_requests;
        let answered = (0..u32::from(limit) + 10)
            .filter(|_| {
                matches!(
                    f.verdict(&foo, peer("192.0.2.30:5060"), now),
                    Verdict::Answer(_)
                )
            })
            .count();
        assert_eq!(answered, usize::from(limit));
        assert!(
            f.reply
                .guard
                .bans(now)
                .iter()
                .any(|b| b.source.to_string() == "192.0.2.30")
        );
    }

    #[tokio::test]
    async fn req_9_front_answers_on_the_socket_and_hands_other_datagrams_over() {
        use rsipstack::platform::net::UdpSocket as _;
        let f = front("").await;
        let server = f.local_addr().expect("local addr");
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        client
            .send_to(&request("FOO", "phone"), server)
            .await
            .expect("send");
        client
            .send_to(&request("OPTIONS", "phone"), server)
            .await
            .expect("send");
        let mut buf = vec![0u8; 8192];
        // The FOO is answered inside recv_from; the OPTIONS comes out.
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), f.recv_from(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        assert_eq!(from, client.local_addr().expect("addr"));
        assert!(buf[..n].starts_with(b"OPTIONS "));
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        assert!(buf[..n].starts_with(b"SIP/2.0 501 Not Implemented\r\n"));
    }
}
