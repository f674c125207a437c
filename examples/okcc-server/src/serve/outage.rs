//! Serving through a database outage.
//!
//! - [`AccountCache`]: the last extension record and SIP credential read
//!   for each known account, so REGISTER of an account seen before keeps
//!   working from memory while the database does not answer (bounded:
//!   [`ACCOUNT_CACHE_MAX`] accounts; unknown users are never cached).
//! - [`SpillingAudit`]: every audit event the server writes goes through
//!   okcc-audit's [`AuditSink`], whose spill file (`audit-spill.jsonl` in
//!   the data directory) takes the events while the store fails and is
//!   replayed into it, in order, when it answers again.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use okcc_audit::{
    AppendReceipt, AuditEvent, AuditQuery, AuditSink, AuditStore, ChainAnchor, SinkConfig,
};
use okcc_core::StoreError;
use okcc_core::credential::SipCredential;

use crate::http::directory::ExtensionRecord;

/// Accounts whose credentials are kept for an outage.
pub(crate) const ACCOUNT_CACHE_MAX: usize = 100_000;
/// How long REGISTER waits for the database before using the cache.
pub(crate) const ACCOUNT_TIMEOUT: Duration = Duration::from_secs(2);
/// The spill file's name in the data directory.
pub(crate) const SPILL_FILE: &str = "audit-spill.jsonl";

/// What REGISTER reads of an account.
pub(crate) type Account = (Option<ExtensionRecord>, Option<SipCredential>);

/// The last known value of each account (see the module docs).
#[derive(Default)]
pub(crate) struct AccountCache {
    map: Mutex<HashMap<String, Account>>,
}

impl std::fmt::Debug for AccountCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("AccountCache")
            .field("accounts", &self.lock().len())
            .finish()
    }
}

impl AccountCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Account>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes what the database said of `user`: an account that exists is
    /// kept (replacing the older value), one that does not is forgotten.
    pub(crate) fn remember(&self, user: &str, account: &Account) {
        let mut map = self.lock();
        if account.0.is_none() && account.1.is_none() {
            map.remove(user);
            return;
        }
        if map.len() >= ACCOUNT_CACHE_MAX
            && !map.contains_key(user)
            && let Some(k) = map.keys().next().cloned()
        {
            map.remove(&k);
        }
        map.insert(user.to_owned(), account.clone());
    }

    /// The last known value of `user`.
    pub(crate) fn get(&self, user: &str) -> Option<Account> {
        self.lock().get(user).cloned()
    }

    /// Accounts held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// An [`AuditStore`] whose writes go through an [`AuditSink`] with a spill
/// file; reads go to the store.
///
/// `append` returns once the events are durable: committed to the store,
/// or written and synced to the spill file (then the receipt's `head` is
/// the last head this node saw: the spilled events are linked into the
/// chain when they are replayed).
#[derive(Debug)]
pub(crate) struct SpillingAudit {
    store: Arc<dyn AuditStore>,
    sink: AuditSink,
    head: Mutex<ChainAnchor>,
}

/// The SIP path's events: never waits (a full queue drops the event; the
/// sink counts it in `refused_full`).
impl SpillingAudit {
    /// `sip.register`: `account` authenticated a REGISTER from `source`.
    pub(crate) fn sip_register(
        &self,
        source: std::net::IpAddr,
        account: Option<&okcc_core::ids::UserId>,
        tenant: Option<okcc_core::ids::TenantId>,
    ) {
        let Some(account) = account else { return };
        let actor = okcc_audit::Actor::sip_account(account.clone(), tenant.clone());
        let event = AuditEvent::new(
            actor,
            okcc_audit::Action::SipRegister,
            okcc_audit::Outcome::Success,
        )
        .with_tenant(tenant)
        .with_source(source);
        let _ = self.sink.try_record(event);
    }
}

impl SpillingAudit {
    /// Starts the sink's writer over `store`, spilling to
    /// `<data_dir>/audit-spill.jsonl` (a file left by an earlier run is
    /// replayed first).
    pub(crate) fn start(store: Arc<dyn AuditStore>, data_dir: &Path) -> Arc<Self> {
        let mut config = SinkConfig::with_spill(data_dir.join(SPILL_FILE));
        config.queue_capacity = 8192;
        config.batch_max = 512;
        let (sink, _writer) = AuditSink::spawn(Arc::clone(&store), config);
        Arc::new(Self {
            store,
            sink,
            head: Mutex::new(ChainAnchor::GENESIS),
        })
    }

    /// Events waiting in the spill file (0 when the store has them all).
    pub(crate) async fn pending(&self) -> Result<u64, String> {
        self.sink
            .flush()
            .await
            .map(|r| r.spilled_pending)
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl AuditStore for SpillingAudit {
    async fn append(&self, events: Vec<AuditEvent>) -> Result<AppendReceipt, StoreError> {
        let n = events.len();
        for e in events {
            self.sink
                .record(e)
                .await
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        }
        let report = self
            .sink
            .flush()
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let mut head = *self.head.lock().unwrap_or_else(PoisonError::into_inner);
        if report.spilled_pending == 0
            && let Ok(h) = self.store.head().await
        {
            head = h;
            *self.head.lock().unwrap_or_else(PoisonError::into_inner) = h;
        }
        Ok(AppendReceipt::new(n, 0, head))
    }

    async fn query(
        &self,
        query: &AuditQuery,
        page: okcc_core::store::Page,
    ) -> Result<okcc_core::store::PageOf<okcc_audit::StoredEvent>, StoreError> {
        self.store.query(query, page).await
    }

    async fn read_chain(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<okcc_audit::StoredEvent>, StoreError> {
        self.store.read_chain(from_seq, limit).await
    }

    async fn anchor(&self) -> Result<ChainAnchor, StoreError> {
        self.store.anchor().await
    }

    async fn head(&self) -> Result<ChainAnchor, StoreError> {
        self.store.head().await
    }

    async fn checkpoints(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<okcc_audit::Checkpoint>, StoreError> {
        self.store.checkpoints(from_seq, limit).await
    }

    async fn purge_through(&self, through_seq: u64) -> Result<ChainAnchor, StoreError> {
        self.store.purge_through(through_seq).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_7_account_cache_keeps_known_accounts_only_and_is_bounded() {
        let cache = AccountCache::default();
        cache.remember("nobody", &(None, None));
        assert_eq!(cache.len(), 0, "unknown users are never cached");
        let pw = okcc_core::PasswordPolicy::permissive()
            .check("pw-1-long-enough", &[])
            .unwrap();
        let cred = SipCredential::derive("1001", "okcc", &pw);
        cache.remember("1001", &(None, Some(cred)));
        assert!(cache.get("1001").is_some_and(|a| a.1.is_some()));
        // Deleted in the database: forgotten.
        cache.remember("1001", &(None, None));
        assert!(cache.get("1001").is_none());
        let cred = SipCredential::derive("x", "okcc", &pw);
        for i in 0..ACCOUNT_CACHE_MAX + 10 {
            cache.remember(&i.to_string(), &(None, Some(cred.clone())));
        }
        assert_eq!(cache.len(), ACCOUNT_CACHE_MAX);
    }
}
