//! rsipstack 0.7 adapter (feature `rsipstack`): the request bytes a
//! [`SipRequestView`] borrows from, and ready-made implementations of
//! rsipstack's hooks wired to a [`Guard`]:
//!
//! - [`whitelist`]: a `TransportWhitelist` closure over
//!   [`Guard::pre_parse`] (UDP: every datagram before parsing; TCP/TLS/WS:
//!   every accepted connection). It never awaits.
//! - [`GuardInspector`]: a `TransportEventInspector` that runs stages 1–7
//!   ([`Guard::check`]) on every incoming request and drops (answers with
//!   silence) the ones a ban, the scanner or the flood guard denies, before
//!   the transaction layer sees them; access-rule denials (403) pass on for
//!   the host to answer. Responses and connection events pass untouched.
//!
//! rsipstack queues everything its whitelist lets through on unbounded
//! channels, so build the guard with [`GuardConfig::flood_at_pre_parse`]:
//! the flood counter then runs per datagram in the whitelist, before
//! anything is queued, and not a second time in the inspector. Sources a
//! `trust` rule covers ([`Guard::is_trusted`]) skip every stage in both
//! hooks. Digest
//!   authentication (stage 8) and toll fraud (stage 9) need a reply, so they
//!   stay in the registrar / proxy loop ([`Guard::evaluate`] or
//!   [`Guard::authenticate`] on the transaction's request).
//!
//! ```no_run
//! use std::sync::Arc;
//! use okcc_core::access::AccessControl;
//! use okcc_core::credential::MemoryCredentialStore;
//! use okcc_sip::adapter::rsipstack::{GuardInspector, whitelist};
//! use okcc_sip::digest::{DigestConfig, DigestServer};
//! use okcc_sip::pipeline::{Guard, GuardConfig};
//! use rsipstack::transport::TransportLayer;
//! use rsipstack::EndpointBuilder;
//!
//! let mut config = GuardConfig::default();
//! config.flood_at_pre_parse = true;
//! let guard = Arc::new(Guard::new(
//!     config,
//!     Arc::new(AccessControl::new(None)),
//!     Arc::new(DigestServer::new(DigestConfig::new("example.com", vec![7; 32]))),
//!     Arc::new(MemoryCredentialStore::new()),
//! ));
//! let transport = TransportLayer::new(rsipstack::platform::CancellationToken::new());
//! transport.set_whitelist(whitelist(guard.clone()));
//! let mut builder = EndpointBuilder::new();
//! builder
//!     .with_transport_layer(transport)
//!     .with_transport_inspector(Box::new(GuardInspector::new(guard)));
//! ```

use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use rsipstack::sip::{Host, SipMessage};
use rsipstack::transaction::endpoint::TransportEventInspector;
use rsipstack::transport::{SipAddr, TransportEvent};

#[cfg(doc)]
use crate::pipeline::GuardConfig;
use crate::pipeline::{Guard, is_silent_on_udp};
use crate::view::{Limits, ParseError, SipRequestView};

/// The wire form of `req`: byte for byte what rsipstack's own
/// `Request::to_bytes` gives (request line and headers as rsipstack prints
/// them, the body verbatim), written straight into one buffer.
///
/// rsipstack's `Display` for a header list prints every header into a
/// `String` of its own, collects them and joins them: three allocations
/// per header on every request. This runs on every request twice (the
/// inspector and the transaction loop), so it prints each header into the
/// one output buffer instead.
pub fn request_bytes(req: &rsipstack::sip::Request) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(HEAD_CAPACITY);
    // Writing into a `String` cannot fail; a `Display` impl that reports
    // an error would only cut the text short, and the view parser refuses
    // a message cut short.
    let _ = write!(out, "{} {} {}\r\n", req.method, req.uri, req.version);
    for h in req.headers.iter() {
        let _ = write!(out, "{h}\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&req.body);
    bytes
}

/// Room reserved for a request's head: most SIP requests' request line and
/// headers fit, so the buffer rarely grows.
const HEAD_CAPACITY: usize = 1024;

/// Serialises `req` into `buf` (its old content replaced) and parses it:
/// the view borrows `buf`.
pub fn view_of<'b>(
    req: &rsipstack::sip::Request,
    buf: &'b mut Vec<u8>,
    limits: &Limits,
) -> Result<SipRequestView<'b>, ParseError> {
    *buf = request_bytes(req);
    SipRequestView::parse(buf, limits)
}

/// The source address of a transport event's peer (`None` for a host
/// name, which a receiving transport never reports).
pub fn source_ip(addr: &SipAddr) -> Option<IpAddr> {
    match &addr.addr.host {
        Host::IpAddr(ip) => Some(ip.to_canonical()),
        Host::Domain(_) => None,
    }
}

/// A `TransportWhitelist` for `TransportLayer::set_whitelist`: `true`
/// unless [`Guard::pre_parse`] refuses the address (bans, blacklist and
/// region rules that refuse it on every SIP channel, and the flood counter
/// with [`GuardConfig::flood_at_pre_parse`]). Refusals are counted in the
/// guard's metrics (pre-parse, by reason, silenced). In-memory only: it
/// never waits on I/O, so it cannot stall rsipstack's UDP loop.
pub fn whitelist(guard: Arc<Guard>) -> impl Fn(IpAddr) -> Ready<bool> + Send + Sync + 'static {
    move |ip: IpAddr| ready(admit_source(&guard, ip, Instant::now()))
}

/// The whitelist's verdict on a packet from `ip` at `now`: `true` to let
/// it in (see [`whitelist`]).
pub fn admit_source(guard: &Guard, ip: IpAddr, now: Instant) -> bool {
    match guard.pre_parse(ip.to_canonical(), now) {
        okcc_core::Decision::Deny(d) => {
            let m = guard.metrics();
            m.pre_parse_denied();
            m.denied(d.reason);
            m.silenced();
            false
        }
        _ => true,
    }
}

/// A `TransportEventInspector` running stages 1–7 of a [`Guard`] on every
/// incoming request: requests denied with silence (bans, scanner, flood;
/// [`is_silent_on_udp`]) are dropped, everything else passes unchanged,
/// including denials by access rules (stages 5–7), which are answered with
/// 403 and so need the transaction: the host answers them (it runs
/// [`Guard::evaluate`] or its own access check). Requests the view parser
/// refuses are dropped too.
#[derive(Clone, Debug)]
pub struct GuardInspector {
    guard: Arc<Guard>,
}

impl GuardInspector {
    /// An inspector over `guard`.
    pub fn new(guard: Arc<Guard>) -> Self {
        Self { guard }
    }

    /// The verdict on one event at `now`: `true` to pass it on.
    pub fn judge(&self, event: &TransportEvent, now: Instant) -> bool {
        let TransportEvent::Incoming(SipMessage::Request(req), _, from) = event else {
            return true;
        };
        let Some(ip) = source_ip(from) else {
            return false;
        };
        let mut buf = Vec::new();
        let Ok(view) = view_of(req, &mut buf, &self.guard_limits()) else {
            self.guard.metrics().malformed(false);
            return false;
        };
        self.judge_view(&view, ip, now)
    }

    /// The verdict on a request already parsed into `view`, from `ip` at
    /// `now`: `true` to pass it on, `false` when a ban, the scanner or the
    /// flood guard silences it (counted in the guard's metrics). For hosts
    /// that see a request before rsipstack does (such as one with a method
    /// rsipstack cannot parse, see
    /// [`reply_to_unknown_method`](crate::pipeline::reply_to_unknown_method)).
    pub fn judge_view(&self, view: &SipRequestView<'_>, ip: IpAddr, now: Instant) -> bool {
        let (decision, _) = self.guard.check(view, ip, now);
        match decision.denial() {
            Some(d) if is_silent_on_udp(d.reason) => {
                self.guard.metrics().denied(d.reason);
                self.guard.metrics().silenced();
                false
            }
            // Access rules (blacklist, region, allowlists) are answered
            // with 403: that needs the transaction, so the host does it.
            Some(_) | None => true,
        }
    }

    fn guard_limits(&self) -> Limits {
        self.guard.config().limits
    }
}

#[async_trait::async_trait]
impl TransportEventInspector for GuardInspector {
    async fn handle(&self, event: TransportEvent) -> Option<TransportEvent> {
        self.judge(&event, Instant::now()).then_some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use okcc_core::access::AccessControl;
    use okcc_core::credential::MemoryCredentialStore;
    use rsipstack::sip::{HostWithPort, Transport};
    use rsipstack::transport::TransportWhitelist;
    use std::time::Duration;

    use crate::digest::{DigestConfig, DigestServer};
    use crate::pipeline::GuardConfig;

    fn guard(rules: &str) -> Arc<Guard> {
        let access = Arc::new(AccessControl::new(None));
        access.load_rule_text("rules.txt", rules).expect("rules");
        Arc::new(Guard::new(
            GuardConfig::default(),
            access,
            Arc::new(DigestServer::new(DigestConfig::new(
                "example.com",
                vec![7; 32],
            ))),
            Arc::new(MemoryCredentialStore::new()),
        ))
    }

    fn flood_guard(rules: &str) -> Arc<Guard> {
        let access = Arc::new(AccessControl::new(None));
        access.load_rule_text("rules.txt", rules).expect("rules");
        let config = GuardConfig {
            flood_at_pre_parse: true,
            ..GuardConfig::default()
        };
        Arc::new(Guard::new(
            config,
            access,
            Arc::new(DigestServer::new(DigestConfig::new(
                "example.com",
                vec![7; 32],
            ))),
            Arc::new(MemoryCredentialStore::new()),
        ))
    }

    fn register(user: u32) -> rsipstack::sip::Request {
        let msg = format!(
            "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK{user}\r\n\
From: <sip:{user}@example.com>;tag=1\r\nTo: <sip:{user}@example.com>\r\n\
Call-ID: c{user}@192.0.2.4\r\nCSeq: 1 REGISTER\r\n\
Contact: <sip:{user}@192.0.2.4:5060>\r\nContent-Length: 0\r\n\r\n"
        );
        rsipstack::sip::Request::try_from(msg.as_str()).expect("rsipstack parses")
    }

    fn request(ua: &str) -> rsipstack::sip::Request {
        let msg = format!(
            "OPTIONS sip:100@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1\r\n\
From: <sip:100@example.com>;tag=1\r\nTo: <sip:100@example.com>\r\n\
Call-ID: a@192.0.2.4\r\nCSeq: 1 OPTIONS\r\nUser-Agent: {ua}\r\n\
Content-Length: 0\r\n\r\n"
        );
        rsipstack::sip::Request::try_from(msg.as_str()).expect("rsipstack parses")
    }

    fn from(ip: &str) -> SipAddr {
        SipAddr::new(
            Transport::Udp,
            HostWithPort {
                host: Host::IpAddr(ip.parse().expect("ip")),
                port: None,
            },
        )
    }

    async fn event(req: rsipstack::sip::Request, ip: &str) -> TransportEvent {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let chan = rsipstack::transport::channel::ChannelConnection::create_connection(
            rx,
            tx,
            from(ip),
            None,
        )
        .await
        .expect("channel");
        TransportEvent::Incoming(
            SipMessage::Request(req),
            rsipstack::transport::SipConnection::Channel(chan),
            from(ip),
        )
    }

    /// `request_bytes` is rsipstack's `to_bytes`, byte for byte, for every
    /// committed SIP seed rsipstack parses as a request, and for a request
    /// with a binary body and one with no header at all.
    #[test]
    fn request_bytes_are_rsipstacks_to_bytes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        let mut compared = 0;
        for target in [
            "sip_parse",
            "sip_pipeline",
            "sip_mask",
            "sip_unknown_method",
        ] {
            for entry in std::fs::read_dir(root.join(target)).expect("corpus directory") {
                let data = std::fs::read(entry.expect("entry").path()).expect("seed");
                if let Ok(req) = rsipstack::sip::Request::try_from(&data[..]) {
                    assert_eq!(request_bytes(&req), req.to_bytes());
                    compared += 1;
                }
            }
        }
        assert!(compared >= 10, "only {compared} seeds parsed");
        let mut req = register(7);
        req.body = vec![0, 0xff, b'\r', b'\n', 0x80];
        assert_eq!(request_bytes(&req), req.to_bytes());
        req.headers = rsipstack::sip::Headers::default();
        assert_eq!(request_bytes(&req), req.to_bytes());
    }

    #[test]
    fn rsipstack_request_becomes_a_view() {
        let req = request("Yealink SIP-T46S");
        let mut buf = Vec::new();
        let view = view_of(&req, &mut buf, &Limits::default()).expect("view");
        assert_eq!(view.method_raw, "OPTIONS");
        assert_eq!(view.to_user(), Some("100"));
        assert_eq!(view.user_agent, Some("Yealink SIP-T46S"));
    }

    #[tokio::test]
    async fn whitelist_refuses_blacklisted_and_banned_sources_only() {
        let g = guard("deny 203.0.113.0/24\n");
        let wl = whitelist(g.clone());
        assert!(!wl.allow("203.0.113.9".parse().expect("ip")).await);
        assert!(wl.allow("192.0.2.4".parse().expect("ip")).await);
        g.ban(
            "192.0.2.4".parse().expect("ip"),
            Duration::from_secs(60),
            Instant::now(),
        );
        assert!(!wl.allow("192.0.2.4".parse().expect("ip")).await);
    }

    #[tokio::test]
    async fn inspector_drops_scanners_and_passes_phones() {
        let g = guard("");
        let inspector = GuardInspector::new(g.clone());
        let phone = inspector
            .handle(event(request("Yealink SIP-T46S"), "192.0.2.4").await)
            .await;
        assert!(phone.is_some(), "a phone's request passes");
        let scan = inspector
            .handle(event(request("friendly-scanner"), "198.51.100.7").await)
            .await;
        assert!(scan.is_none(), "a scanner's request is dropped");
        assert!(!g.bans(Instant::now()).is_empty(), "and its source banned");
        // The ban holds for the next request, whatever its User-Agent.
        let again = inspector
            .handle(event(request("Yealink SIP-T46S"), "198.51.100.7").await)
            .await;
        assert!(again.is_none());
        assert_eq!(g.metrics().snapshot().silenced, 2);
    }

    #[tokio::test]
    async fn trusted_sources_skip_sweep_detection_and_the_flood_counter() {
        let g = flood_guard("trust 192.0.2.10\n");
        let inspector = GuardInspector::new(g.clone());
        let now = Instant::now();
        // An SBC registering 100 accounts from one trusted address, far
        // over the flood rate: every packet and request passes.
        for u in 1000..1100 {
            assert!(admit_source(&g, "192.0.2.10".parse().expect("ip"), now));
            assert!(
                inspector.judge(&event(register(u), "192.0.2.10").await, now),
                "trusted source dropped at user {u}"
            );
        }
        assert!(g.bans(now).is_empty());
        // The same sweep from an untrusted address is caught (by the
        // scanner's sweep check or the flood counter, whichever first).
        let mut admitted = 0;
        for u in 1000..1100 {
            if admit_source(&g, "192.0.2.20".parse().expect("ip"), now)
                && inspector.judge(&event(register(u), "192.0.2.20").await, now)
            {
                admitted += 1;
            }
        }
        assert!(admitted < 100, "an untrusted sweep was never caught");
        assert!(g.is_trusted("192.0.2.10".parse().expect("ip")));
        assert!(!g.is_trusted("192.0.2.20".parse().expect("ip")));
    }

    #[tokio::test]
    async fn flood_is_counted_once_per_packet_in_the_whitelist() {
        let g = flood_guard("");
        let inspector = GuardInspector::new(g.clone());
        let limit = g.config().flood.max_requests;
        let ip: IpAddr = "192.0.2.30".parse().expect("ip");
        let now = Instant::now();
        // Each request passes both hooks; the inspector does not count it
        // a second time, so exactly `limit` requests get through.
        for u in 0..limit {
            assert!(admit_source(&g, ip, now), "packet {u} refused");
            assert!(
                inspector.judge(&event(request("Yealink"), "192.0.2.30").await, now),
                "request {u} dropped"
            );
        }
        assert!(
            !admit_source(&g, ip, now),
            "the packet over the rate passed"
        );
        let ban = g.bans(now);
        assert_eq!(ban.len(), 1);
        assert_eq!(ban[0].kind, okcc_core::guard::BanKind::Flood);
        let m = g.metrics().snapshot();
        assert_eq!(m.pre_parse_denied, 1);
        assert_eq!(m.bans, 1);
        assert_eq!(m.denied.get("flood"), Some(&1));
        // Banned: refused before parsing from now on.
        assert!(!admit_source(&g, ip, now));
        assert_eq!(g.metrics().snapshot().pre_parse_denied, 2);
    }

    #[tokio::test]
    async fn access_rule_denials_pass_on_for_the_host_to_answer_403() {
        let g = guard("deny 203.0.113.0/24\n");
        let inspector = GuardInspector::new(g.clone());
        let now = Instant::now();
        // The whitelist refuses the blacklisted source before parsing...
        assert!(!admit_source(&g, "203.0.113.9".parse().expect("ip"), now));
        // ...and should a packet reach the inspector anyway, a 403 denial is
        // left to the host (it has the transaction to answer with).
        assert!(inspector.judge(&event(request("Yealink"), "203.0.113.9").await, now));
        assert_eq!(g.metrics().snapshot().silenced, 1);
    }
}
