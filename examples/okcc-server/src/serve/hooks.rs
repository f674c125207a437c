//! okcc in rsipstack's hook points, over the library pipeline
//! [`okcc_sip::pipeline::Guard`] (its ban table, flood, scanner and
//! brute-force state; the REST layer shares the same `Arc<Guard>`).
//!
//! - [`pre_parse`] is the `TransportWhitelist`: per UDP datagram and
//!   per TCP connection, before any parsing. Access rules (IP, CIDR,
//!   region), the three ban lists and the flood counter. In-memory only.
//! - [`Inspector`] is the `TransportEventInspector`: after the stack parsed a
//!   message, before the transaction layer. Oversized or unparsable
//!   requests and scanners are dropped without a reply.
//!
//! rsipstack's transport → endpoint channels are unbounded, so everything
//! that can be refused is refused here, before it is queued.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use okcc_core::access::{AccessRequest, Channel};
use okcc_sip::pipeline::Guard;
use okcc_sip::{Limits, SipMethod, SipRequestView};
use rsipstack::sip::SipMessage;
use rsipstack::transaction::endpoint::TransportEventInspector;
use rsipstack::transport::TransportEvent;

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Datagrams / connections refused before parsing.
    pub(crate) dropped_pre_parse: AtomicU64,
    /// Parsed messages dropped by the inspector (scanner, bad framing).
    pub(crate) dropped_inspector: AtomicU64,
    /// Requests handed to the server.
    pub(crate) requests: AtomicU64,
    /// Successful registrations.
    pub(crate) registrations: AtomicU64,
    /// Failed digest authentications.
    pub(crate) auth_failures: AtomicU64,
    /// Requests answered 503 because too many were in progress.
    pub(crate) overload_503: AtomicU64,
    /// TCP/TLS connections closed because their source held too many.
    pub(crate) refused_connections: AtomicU64,
}

impl Metrics {
    /// Prometheus text exposition.
    pub(crate) fn render(&self, bindings: usize, bans: usize) -> String {
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# TYPE okcc_sip_dropped_pre_parse_total counter\nokcc_sip_dropped_pre_parse_total {}\n\
             # TYPE okcc_sip_dropped_inspector_total counter\nokcc_sip_dropped_inspector_total {}\n\
             # TYPE okcc_sip_requests_total counter\nokcc_sip_requests_total {}\n\
             # TYPE okcc_sip_registrations_total counter\nokcc_sip_registrations_total {}\n\
             # TYPE okcc_sip_auth_failures_total counter\nokcc_sip_auth_failures_total {}\n\
             # TYPE okcc_sip_overload_total counter\nokcc_sip_overload_total {}\n\
             # TYPE okcc_sip_refused_connections_total counter\nokcc_sip_refused_connections_total {}\n\
             # TYPE okcc_sip_bindings gauge\nokcc_sip_bindings {bindings}\n\
             # TYPE okcc_guard_bans gauge\nokcc_guard_bans {bans}\n",
            c(&self.dropped_pre_parse),
            c(&self.dropped_inspector),
            c(&self.requests),
            c(&self.registrations),
            c(&self.auth_failures),
            c(&self.overload_503),
            c(&self.refused_connections),
        )
    }
}

/// The pre-parse verdict for a source (the `TransportWhitelist`): the
/// library pipeline's stage 0 ([`Guard::pre_parse`]: trusted, bans,
/// blacklist, region), then the flood counter, which must run here because
/// rsipstack queues everything that passes on an unbounded channel.
/// `false` drops silently.
pub(crate) fn pre_parse(guard: &Guard, metrics: &Metrics, ip: IpAddr, now: Instant) -> bool {
    let ip = ip.to_canonical();
    if is_trusted(guard, ip) {
        return true;
    }
    let ok = guard.pre_parse(ip, now).is_allow() && {
        let mut st = guard.state();
        let st = &mut *st;
        st.flood.check(ip, now, &mut st.bans).is_allow()
    };
    if !ok {
        metrics.dropped_pre_parse.fetch_add(1, Ordering::Relaxed);
    }
    ok
}

/// A `trust` rule covers `ip` (for SIP): it skips every later guard stage
/// (flood, scanner, brute force), as a trusted trunk or SBC must.
pub(crate) fn is_trusted(guard: &Guard, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    let policy = guard.access().policy();
    [Channel::SipRegister, Channel::SipCall]
        .into_iter()
        .any(|c| {
            policy
                .check(&AccessRequest::new(ip, c))
                .skips_later_checks()
        })
}

/// How many sources are banned now.
pub(crate) fn ban_count(guard: &Guard, now: Instant) -> usize {
    guard.bans(now).len()
}

/// Live stream connections (TCP and TLS) per source address: a source
/// holding `max` connections has the next one closed at once. Entries
/// exist only for live connections, so memory is bounded by the
/// process's file descriptors.
#[derive(Debug)]
pub(crate) struct ConnLimiter {
    max: usize,
    state: Mutex<ConnState>,
}

#[derive(Debug, Default)]
struct ConnState {
    per_ip: HashMap<IpAddr, usize>,
    admitted: HashSet<SocketAddr>,
}

impl ConnLimiter {
    /// At most `max` connections per source address.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            state: Mutex::new(ConnState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection from `peer` was accepted: `false` when its source is
    /// over the limit (close it).
    pub(crate) fn open(&self, peer: SocketAddr) -> bool {
        let mut st = self.lock();
        let ip = peer.ip().to_canonical();
        let n = st.per_ip.get(&ip).copied().unwrap_or(0);
        if n >= self.max || st.admitted.contains(&peer) {
            return false;
        }
        st.per_ip.insert(ip, n + 1);
        st.admitted.insert(peer);
        true
    }

    /// The connection from `peer` is gone.
    pub(crate) fn closed(&self, peer: SocketAddr) {
        let mut st = self.lock();
        if !st.admitted.remove(&peer) {
            return;
        }
        let ip = peer.ip().to_canonical();
        if let Some(n) = st.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.per_ip.remove(&ip);
            }
        }
    }

    /// Live connections from `ip`.
    #[cfg(test)]
    pub(crate) fn live(&self, ip: IpAddr) -> usize {
        self.lock().per_ip.get(&ip).copied().unwrap_or(0)
    }
}

/// The `TransportEventInspector`.
pub(crate) struct Inspector {
    /// Shared guard.
    pub(crate) guard: Arc<Guard>,
    /// Counters.
    pub(crate) metrics: Arc<Metrics>,
    /// Parser limits.
    pub(crate) limits: Limits,
    /// Stream connections per source.
    pub(crate) connections: Arc<ConnLimiter>,
}

impl Inspector {
    /// `true` when a parsed request may go on to the transaction layer.
    pub(crate) fn admit(&self, wire: &[u8], ip: IpAddr, now: Instant) -> bool {
        let Ok(view) = SipRequestView::parse(wire, &self.limits) else {
            // The stack parsed it but okcc's stricter parser did not: never
            // let a message okcc cannot judge reach the registrar.
            return false;
        };
        if is_trusted(&self.guard, ip) {
            // Trusted peers (an SBC registering many accounts) are exempt
            // from the scanner's sweep detection like every other stage.
            return true;
        }
        let target = match view.method {
            SipMethod::Register => view.to_user(),
            _ => view.request_uri.user,
        };
        let mut st = self.guard.state();
        let st = &mut *st;
        let d = st.scanner.check(
            ip,
            view.method_raw,
            view.user_agent,
            target,
            now,
            &mut st.bans,
        );
        if let Some(denial) = d.denial() {
            tracing::warn!(source = %ip, rule = %denial.rule, "scanner dropped");
            return false;
        }
        true
    }
}

#[async_trait]
impl TransportEventInspector for Inspector {
    async fn handle(&self, event: TransportEvent) -> Option<TransportEvent> {
        let peer = |c: &rsipstack::transport::SipConnection| {
            c.get_remote_addr().and_then(|a| a.get_socketaddr().ok())
        };
        match &event {
            TransportEvent::New(c) if c.is_reliable() => {
                if let Some(p) = peer(c)
                    && !self.connections.open(p)
                {
                    tracing::info!(source = %p.ip(), "connection refused: too many from this source");
                    self.metrics
                        .refused_connections
                        .fetch_add(1, Ordering::Relaxed);
                    let _ = c.close().await;
                    return None;
                }
                return Some(event);
            }
            TransportEvent::Closed(c) => {
                if let Some(p) = peer(c) {
                    self.connections.closed(p);
                }
                return Some(event);
            }
            _ => {}
        }
        let TransportEvent::Incoming(SipMessage::Request(req), _, from) = &event else {
            return Some(event);
        };
        let ip = match from.get_socketaddr() {
            Ok(a) => a.ip(),
            Err(_) => return None,
        };
        let wire = req.to_string();
        let now = Instant::now();
        let banned = self.guard.state().bans.is_banned(ip.to_canonical(), now);
        if banned || !self.admit(wire.as_bytes(), ip.to_canonical(), now) {
            self.metrics
                .dropped_inspector
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspector(rules: &str) -> Inspector {
        let access = okcc_core::access::AccessControl::new(None);
        let rules = okcc_core::access::RuleSet::parse_bytes("test", rules.as_bytes()).unwrap();
        access.replace_rules(&rules).unwrap();
        let guard = Guard::new(
            okcc_sip::pipeline::GuardConfig::default(),
            Arc::new(access),
            Arc::new(okcc_sip::digest::DigestServer::new(
                okcc_sip::digest::DigestConfig::new("okcc", vec![7; 32]),
            )),
            Arc::new(okcc_core::credential::MemoryCredentialStore::new()),
        );
        Inspector {
            guard: Arc::new(guard),
            metrics: Arc::new(Metrics::default()),
            limits: Limits::default(),
            connections: Arc::new(ConnLimiter::new(8)),
        }
    }

    fn register(user: &str) -> String {
        format!(
            "REGISTER sip:okcc SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{user}\r\n\
             From: <sip:{user}@okcc>;tag=1\r\nTo: <sip:{user}@okcc>\r\nCall-ID: c{user}\r\n\
             CSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n"
        )
    }

    #[test]
    fn req_9_trusted_sources_are_exempt_from_sweep_detection() {
        let insp = inspector("trust 192.0.2.10\n");
        let now = Instant::now();
        let trusted: IpAddr = "192.0.2.10".parse().unwrap();
        let other: IpAddr = "192.0.2.20".parse().unwrap();
        // An SBC registering 100 accounts from one trusted address.
        for u in 1000..1100 {
            assert!(
                insp.admit(register(&u.to_string()).as_bytes(), trusted, now),
                "trusted source dropped at user {u}"
            );
        }
        // The same sweep from an untrusted address is caught.
        let admitted = (1000..1100)
            .filter(|u| insp.admit(register(&u.to_string()).as_bytes(), other, now))
            .count();
        assert!(admitted < 100, "an untrusted sweep was never caught");
    }

    #[test]
    fn req_9_connection_limit_per_source_and_release_on_close() {
        let l = ConnLimiter::new(2);
        let a1: SocketAddr = "192.0.2.1:4001".parse().unwrap();
        let a2: SocketAddr = "192.0.2.1:4002".parse().unwrap();
        let a3: SocketAddr = "192.0.2.1:4003".parse().unwrap();
        let b1: SocketAddr = "192.0.2.2:4001".parse().unwrap();
        assert!(l.open(a1));
        assert!(l.open(a2));
        assert!(!l.open(a3), "third connection from one source refused");
        assert!(l.open(b1), "other sources unaffected");
        l.closed(a3); // never admitted: changes nothing
        assert_eq!(l.live(a1.ip()), 2);
        l.closed(a1);
        assert!(l.open(a3), "a slot frees when a connection closes");
        l.closed(a2);
        l.closed(a3);
        l.closed(a3);
        assert_eq!(l.live(a1.ip()), 0);
    }
}
