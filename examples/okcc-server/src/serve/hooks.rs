//! okcc in rsipstack's hook points: the library adapters
//! ([`okcc_sip::adapter::rsipstack`]) over the pipeline
//! [`okcc_sip::pipeline::Guard`] (its ban table, flood, scanner and
//! brute-force state; the REST layer shares the same `Arc<Guard>`, built
//! with `flood_at_pre_parse`), plus this server's counters and its limit
//! on stream connections per source.
//!
//! - [`whitelist`] is the `TransportWhitelist`: per UDP datagram and
//!   per TCP connection, before any parsing. Access rules (IP, CIDR,
//!   region), the three ban lists and the flood counter. In-memory only.
//! - [`Inspector`] is the `TransportEventInspector`: after the stack parsed a
//!   message, before the transaction layer. Oversized or unparsable
//!   requests and scanners are dropped without a reply.
//! - [`super::unknown::UdpFront`] (the SIP/UDP socket) runs the same two
//!   checks on requests with a method rsipstack cannot parse, then answers
//!   them 501.
//!
//! rsipstack's transport → endpoint channels are unbounded, so everything
//! that can be refused is refused here, before it is queued.

use std::collections::{HashMap, HashSet};
use std::future::{Ready, ready};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use okcc_sip::adapter::rsipstack::{GuardInspector, admit_source};
use okcc_sip::pipeline::Guard;
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
    /// Requests with a method rsipstack cannot parse, answered 501.
    pub(crate) not_implemented: AtomicU64,
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
             # TYPE okcc_sip_not_implemented_total counter\nokcc_sip_not_implemented_total {}\n\
             # TYPE okcc_sip_bindings gauge\nokcc_sip_bindings {bindings}\n\
             # TYPE okcc_guard_bans gauge\nokcc_guard_bans {bans}\n",
            c(&self.dropped_pre_parse),
            c(&self.dropped_inspector),
            c(&self.requests),
            c(&self.registrations),
            c(&self.auth_failures),
            c(&self.overload_503),
            c(&self.refused_connections),
            c(&self.not_implemented),
        )
    }
}

/// The `TransportWhitelist`: the library adapter
/// ([`okcc_sip::adapter::rsipstack::admit_source`]: trusted sources pass;
/// bans, blacklist, region, then the flood counter, which runs here because
/// rsipstack queues everything that passes on an unbounded channel), with
/// refusals counted for `/metrics`. `false` drops silently.
pub(crate) fn whitelist(
    guard: Arc<Guard>,
    metrics: Arc<Metrics>,
) -> impl Fn(IpAddr) -> Ready<bool> + Send + Sync + 'static {
    move |ip: IpAddr| ready(admit(&guard, &metrics, ip, Instant::now()))
}

/// The whitelist's verdict on a packet from `ip` at `now`, refusals
/// counted; also run by [`super::unknown::UdpFront`] on the datagrams it
/// keeps from rsipstack.
pub(crate) fn admit(guard: &Guard, metrics: &Metrics, ip: IpAddr, now: Instant) -> bool {
    let ok = admit_source(guard, ip, now);
    if !ok {
        metrics.dropped_pre_parse.fetch_add(1, Ordering::Relaxed);
    }
    ok
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

/// The `TransportEventInspector`: stream connections per source
/// ([`ConnLimiter`]), then the library's [`GuardInspector`] on every
/// request (okcc's own parser, trusted sources exempt, bans, scanner
/// signatures and sweeps, access rules; the flood counter ran in the
/// whitelist already).
pub(crate) struct Inspector {
    /// The library inspector over the shared guard.
    pub(crate) guard: GuardInspector,
    /// Counters.
    pub(crate) metrics: Arc<Metrics>,
    /// Stream connections per source.
    pub(crate) connections: Arc<ConnLimiter>,
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
                Some(event)
            }
            TransportEvent::Closed(c) => {
                if let Some(p) = peer(c) {
                    self.connections.closed(p);
                }
                Some(event)
            }
            _ if self.guard.judge(&event, Instant::now()) => Some(event),
            _ => {
                self.metrics
                    .dropped_inspector
                    .fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
