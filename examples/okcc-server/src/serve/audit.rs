//! The SIP audit path: the guard's authentication events (stage 8:
//! `sip.auth-success`, `sip.auth-failure`, `access.ban`, `alert.raise`) and
//! the registrar's binding changes (`sip.register`) go to the server's
//! audit store through one bounded queue ([`okcc_audit::AuditSink`]).
//!
//! A SIP request never waits on the audit store: an event that finds the
//! queue full is dropped and counted (`okcc_sip_audit_dropped_total` on
//! `/metrics`). Events carry the source address, the account and its
//! tenant, never a password, digest response, nonce or HA1.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use okcc_audit::{
    Action, Actor, AuditEvent, AuditSink, AuditStore, DetailValue, EventError, Outcome, SinkConfig,
    Target,
};
use okcc_core::{TenantId, UserId};
use okcc_sip::pipeline::GuardAudit;

use super::registrar::Binding;

/// Events the queue holds before new ones are dropped (a few seconds of a
/// REGISTER storm; each event is well under 1 KiB).
pub(crate) const QUEUE_CAPACITY: usize = 8192;

/// The server's SIP audit queue (cheap to share as `Arc`).
#[derive(Debug)]
pub(crate) struct SipAudit {
    sink: AuditSink,
    dropped: AtomicU64,
}

impl SipAudit {
    /// Starts the writer task over `store` (on the current runtime).
    pub(crate) fn spawn(store: Arc<dyn AuditStore>) -> Arc<Self> {
        Self::with_capacity(store, QUEUE_CAPACITY)
    }

    fn with_capacity(store: Arc<dyn AuditStore>, capacity: usize) -> Arc<Self> {
        let mut config = SinkConfig::default();
        config.queue_capacity = capacity;
        let (sink, _writer) = AuditSink::spawn(store, config);
        Arc::new(Self {
            sink,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues `event` without waiting; `false` (and counted) when the
    /// queue is full or the writer stopped.
    pub(crate) fn record(&self, event: AuditEvent) -> bool {
        let ok = self.sink.try_record(event).is_ok();
        if !ok {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Builds and queues an event; a build error counts as a drop.
    pub(crate) fn record_with(&self, make: impl FnOnce() -> Result<AuditEvent, EventError>) {
        match make() {
            Ok(e) => {
                self.record(e);
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIP audit event not built");
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Events dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits (at most `limit`) until the events queued so far are stored.
    pub(crate) async fn flush(&self, limit: Duration) {
        match tokio::time::timeout(limit, self.sink.flush()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "SIP audit flush failed"),
            Err(_) => tracing::warn!("SIP audit flush timed out"),
        }
    }
}

impl GuardAudit for SipAudit {
    fn record(&self, event: AuditEvent) -> bool {
        Self::record(self, event)
    }
}

/// What one REGISTER did to one binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BindingChange {
    /// A new contact.
    Added,
    /// A contact this REGISTER renewed from another address than the one
    /// the binding had (a renewal from the same address is no change).
    Refreshed,
    /// A live contact removed (`expires=0` or `Contact: *`).
    Removed,
}

impl BindingChange {
    fn code(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Refreshed => "refreshed",
            Self::Removed => "removed",
        }
    }
}

/// The changes from the live bindings in `before` to `after` (the
/// bindings stored for the REGISTER with `call_id` / `cseq`), as
/// `(change, binding)`; removed bindings are taken from `before`.
pub(crate) fn binding_changes<'a>(
    before: &'a [Binding],
    after: &'a [Binding],
    call_id: &str,
    cseq: u32,
    now: u64,
) -> Vec<(BindingChange, &'a Binding)> {
    let live = || before.iter().filter(|b| b.expires_at > now);
    let mut out = Vec::new();
    // Expired bindings are no change (a store may still hold them).
    for b in after.iter().filter(|b| b.expires_at > now) {
        match live().find(|o| o.contact.eq_ignore_ascii_case(&b.contact)) {
            None => out.push((BindingChange::Added, b)),
            // Renewed by this REGISTER. From the address the binding
            // already had, only its expiry changed: the REGISTER's own
            // `sip.auth-success` records it (a call center's phones renew
            // every few minutes; two rows per renewal is noise). From
            // another address it is a change: a phone that moved, or
            // another device claiming the contact.
            Some(o)
                if b.call_id == call_id
                    && b.cseq == cseq
                    && !o.source.eq_ignore_ascii_case(&b.source) =>
            {
                out.push((BindingChange::Refreshed, b));
            }
            Some(_) => {}
        }
    }
    for o in live() {
        if !after
            .iter()
            .any(|b| b.contact.eq_ignore_ascii_case(&o.contact))
        {
            out.push((BindingChange::Removed, o));
        }
    }
    out
}

/// The `sip.register` event of one binding change of `user`'s AOR. The
/// detail names the change, the seconds left and the address the REGISTER
/// came from (`udp:192.0.2.7:5060`), not the Contact URI (it may hold a
/// phone number).
pub(crate) fn registration_event(
    user: &str,
    tenant: Option<&TenantId>,
    source: IpAddr,
    change: BindingChange,
    binding: &Binding,
    now: u64,
) -> Result<AuditEvent, EventError> {
    let actor =
        UserId::new(user).map_or(Actor::Anonymous, |u| Actor::sip_account(u, tenant.cloned()));
    let left = match change {
        BindingChange::Removed => 0,
        _ => binding.expires_at.saturating_sub(now),
    };
    AuditEvent::new(actor, Action::SipRegister, Outcome::Success)
        .with_tenant(tenant.cloned())
        .with_source(source)
        .with_target(Target::new("sip-account", user)?)
        .with_detail("binding", DetailValue::text(change.code())?)?
        .with_detail(
            "expires",
            DetailValue::Int(i64::try_from(left).unwrap_or(i64::MAX)),
        )?
        .with_detail("address", DetailValue::text(&binding.source)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use okcc_audit::{AuditQuery, MemoryAuditStore};
    use okcc_core::store::Page;

    fn b(contact: &str, call_id: &str, cseq: u32, expires_at: u64) -> Binding {
        Binding {
            contact: contact.to_owned(),
            call_id: call_id.to_owned(),
            cseq,
            expires_at,
            source: "udp:192.0.2.7:5060".to_owned(),
        }
    }

    #[test]
    fn req_5_binding_changes_added_refreshed_removed() {
        let before = [
            b("sip:a@h", "c1", 1, 1000),
            b("sip:b@h", "c1", 1, 1000),
            b("sip:old@h", "c0", 1, 10), // expired: never "removed"
            b("sip:other@h", "c9", 4, 1000),
        ];
        let mut moved = b("sip:a@h", "c1", 2, 1600);
        moved.source = "udp:198.51.100.4:5062".to_owned();
        let after = [
            moved,
            b("sip:new@h", "c1", 2, 1600),
            b("sip:other@h", "c9", 4, 1000), // untouched by this REGISTER
        ];
        let got: Vec<(BindingChange, &str)> = binding_changes(&before, &after, "c1", 2, 100)
            .into_iter()
            .map(|(c, b)| (c, b.contact.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (BindingChange::Refreshed, "sip:a@h"),
                (BindingChange::Added, "sip:new@h"),
                (BindingChange::Removed, "sip:b@h"),
            ]
        );
        // A query changes nothing.
        assert!(binding_changes(&before, &before, "q", 1, 100).is_empty());
        // A renewal from the same address is no change (the address is
        // compared without case: `UDP:` and `udp:` are one).
        let mut renewed = b("sip:a@h", "c1", 2, 1600);
        renewed.source = "UDP:192.0.2.7:5060".to_owned();
        assert!(binding_changes(&before[..1], &[renewed], "c1", 2, 100).is_empty());
    }

    #[test]
    fn req_5_registration_event_names_account_tenant_and_source() {
        let tenant = TenantId::new("acme").unwrap();
        let e = registration_event(
            "1001",
            Some(&tenant),
            "192.0.2.7".parse().unwrap(),
            BindingChange::Added,
            &b("sip:1001@192.0.2.7:5060", "c", 1, 700),
            100,
        )
        .unwrap();
        assert_eq!(e.action, Action::SipRegister);
        assert_eq!(e.tenant.as_ref(), Some(&tenant));
        assert_eq!(e.source, Some("192.0.2.7".parse().unwrap()));
        assert_eq!(e.detail.get("expires"), Some(&DetailValue::Int(600)));
        assert_eq!(
            e.detail.get("binding"),
            Some(&DetailValue::text("added").unwrap())
        );
    }

    #[tokio::test]
    async fn req_5_full_queue_drops_and_counts_never_waits() {
        let store = Arc::new(MemoryAuditStore::new());
        let audit = SipAudit::with_capacity(store.clone(), 4);
        let ev = || {
            AuditEvent::new(Actor::Anonymous, Action::SipAuthFailure, Outcome::Success)
                .with_source("192.0.2.1".parse().unwrap())
        };
        // The writer task has not run yet (current-thread runtime): the
        // queue fills at 4 and the rest are dropped at once.
        let accepted = (0..10).filter(|_| audit.record(ev())).count();
        assert_eq!(accepted, 4);
        assert_eq!(audit.dropped(), 6);
        audit.flush(Duration::from_secs(5)).await;
        let page = store
            .query(&AuditQuery::all(), Page::first(100))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 4);
    }
}
