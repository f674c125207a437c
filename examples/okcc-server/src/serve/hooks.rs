//! okcc in rsipstack's hook points.
//!
//! - [`Guard::pre_parse`] is the `TransportWhitelist`: per UDP datagram and
//!   per TCP connection, before any parsing. Access rules (IP, CIDR,
//!   region), the three ban lists and the flood counter. In-memory only.
//! - [`Inspector`] is the `TransportEventInspector`: after the stack parsed a
//!   message, before the transaction layer. Oversized or unparsable
//!   requests and scanners are dropped without a reply.
//!
//! rsipstack's transport → endpoint channels are unbounded, so everything
//! that can be refused is refused here, before it is queued.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use okcc_core::access::{AccessControl, AccessRequest, Channel};
use okcc_core::guard::{BanTable, BruteForceGuard, FloodGuard, ScannerGuard};
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
             # TYPE okcc_sip_bindings gauge\nokcc_sip_bindings {bindings}\n\
             # TYPE okcc_guard_bans gauge\nokcc_guard_bans {bans}\n",
            c(&self.dropped_pre_parse),
            c(&self.dropped_inspector),
            c(&self.requests),
            c(&self.registrations),
            c(&self.auth_failures),
            c(&self.overload_503),
        )
    }
}

/// The guard state shared by the hooks and the transaction loop.
#[derive(Debug)]
pub(crate) struct Guard {
    /// Compiled access rules.
    pub(crate) access: AccessControl,
    /// Wrong-password bans.
    pub(crate) brute: Mutex<BruteForceGuard>,
    /// Scanner bans.
    pub(crate) scanner: Mutex<ScannerGuard>,
    /// Flood bans.
    pub(crate) flood: Mutex<FloodGuard>,
    /// The bans in force (all kinds), shared by the three guards.
    pub(crate) bans: Mutex<BanTable>,
    /// Counters.
    pub(crate) metrics: Arc<Metrics>,
}

impl Guard {
    /// The pre-parse verdict for a source: `false` drops silently.
    pub(crate) fn pre_parse(&self, ip: IpAddr, now: Instant) -> bool {
        let ip = ip.to_canonical();
        let reg = self
            .access
            .check(&AccessRequest::new(ip, Channel::SipRegister));
        if reg.skips_later_checks() {
            return true;
        }
        let call = self.access.check(&AccessRequest::new(ip, Channel::SipCall));
        let ok = (reg.is_allowed() || call.is_allowed())
            && !self.banned(ip, now)
            && self.flood.lock().is_ok_and(|mut f| {
                self.bans
                    .lock()
                    .is_ok_and(|mut b| f.check(ip, now, &mut b).is_allow())
            });
        if !ok {
            self.metrics
                .dropped_pre_parse
                .fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Whether any ban list holds `ip`.
    pub(crate) fn banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.bans.lock().map_or(true, |b| b.is_banned(ip, now))
    }

    /// How many sources are banned now.
    pub(crate) fn ban_count(&self, now: Instant) -> usize {
        self.bans.lock().map_or(0, |b| b.list(now).len())
    }
}

/// The `TransportEventInspector`.
pub(crate) struct Inspector {
    /// Shared guard.
    pub(crate) guard: Arc<Guard>,
    /// Parser limits.
    pub(crate) limits: Limits,
}

impl Inspector {
    /// `true` when a parsed request may go on to the transaction layer.
    pub(crate) fn admit(&self, wire: &[u8], ip: IpAddr, now: Instant) -> bool {
        let Ok(view) = SipRequestView::parse(wire, &self.limits) else {
            // The stack parsed it but okcc's stricter parser did not: never
            // let a message okcc cannot judge reach the registrar.
            return false;
        };
        let target = match view.method {
            SipMethod::Register => view.to_user(),
            _ => view.request_uri.user,
        };
        let Ok(mut scanner) = self.guard.scanner.lock() else {
            return false;
        };
        let Ok(mut bans) = self.guard.bans.lock() else {
            return false;
        };
        let d = scanner.check(ip, view.method_raw, view.user_agent, target, now, &mut bans);
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
        let TransportEvent::Incoming(SipMessage::Request(req), _, from) = &event else {
            return Some(event);
        };
        let ip = match from.get_socketaddr() {
            Ok(a) => a.ip(),
            Err(_) => return None,
        };
        let wire = req.to_string();
        let now = Instant::now();
        if self.guard.banned(ip, now) || !self.admit(wire.as_bytes(), ip, now) {
            self.guard
                .metrics
                .dropped_inspector
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(event)
    }
}
