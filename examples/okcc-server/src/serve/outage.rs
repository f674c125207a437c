//! Serving through a database outage.
//!
//! - Accounts: REGISTER of an account seen before keeps working from
//!   memory while the database does not answer (the account caches in
//!   `serve/cache.rs` serve the last known value).
//! - [`SpillingAudit`]: every audit event the server writes goes through
//!   okcc-audit's [`AuditSink`], whose spill file (`audit-spill.jsonl` in
//!   the data directory) takes the events while the store fails and is
//!   replayed into it, in order, when it answers again.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use okcc_audit::{
    AppendReceipt, AuditEvent, AuditQuery, AuditSink, AuditStore, ChainAnchor, SinkConfig,
};
use okcc_core::StoreError;

/// The spill file's name in the data directory.
pub(crate) const SPILL_FILE: &str = "audit-spill.jsonl";

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
