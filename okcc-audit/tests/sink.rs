//! AuditSink: batching, durability on flush, spill and replay in order,
//! back-pressure.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use okcc_audit::chain::{ChainAnchor, StoredEvent};
use okcc_audit::sink::SinkStats;
use okcc_audit::{
    AppendReceipt, AuditEvent, AuditQuery, AuditSink, AuditStore, Checkpoint, MemoryAuditStore, SinkConfig,
    SinkError, VerifyOptions,
};
use okcc_core::store::{Page, PageOf, StoreError};
use tokio::sync::Semaphore;

async fn stored_ids(store: &MemoryAuditStore) -> Vec<u64> {
    let rows = store.read_chain(1, usize::MAX).await.expect("read");
    rows.iter().map(|r| r.event.id.as_uuid().as_u128() as u64 - 1).collect()
}

#[tokio::test]
async fn req_5_1_sink_commits_everything_in_order_on_flush() {
    let store = Arc::new(MemoryAuditStore::new());
    let (sink, handle) = AuditSink::spawn(store.clone(), SinkConfig::default());
    for n in 0..10_000 {
        sink.try_record(common::event(n)).expect("room");
    }
    let report = sink.flush().await.expect("flush");
    assert_eq!(report.spilled_pending, 0);
    assert_eq!(stored_ids(&store).await, (0..10_000).collect::<Vec<_>>());
    assert!(store.verify(&VerifyOptions::all()).await.expect("verify").is_intact());
    drop(sink);
    handle.await.expect("writer ends");
}

#[tokio::test]
async fn req_5_1_store_outage_spills_then_replays_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let spill = dir.path().join("audit.spill");
    let store = Arc::new(MemoryAuditStore::new());
    store.set_available(false);
    let (sink, _handle) = AuditSink::spawn(store.clone(), SinkConfig::with_spill(&spill));
    for n in 0..100 {
        sink.record(common::event(n)).await.expect("recorded");
    }
    let report = sink.flush().await.expect("durable in the spill file");
    assert_eq!(report.spilled_pending, 100);
    assert!(std::fs::metadata(&spill).expect("spill").len() > 0);
    store.set_available(true);
    assert!(store.is_empty());
    for n in 100..105 {
        sink.record(common::event(n)).await.expect("recorded");
    }
    let report = sink.flush().await.expect("flush");
    assert_eq!(report.spilled_pending, 0);
    assert_eq!(stored_ids(&store).await, (0..105).collect::<Vec<_>>());
    assert_eq!(std::fs::metadata(&spill).expect("spill").len(), 0);
    let SinkStats { spilled, replayed, .. } = sink.stats();
    assert_eq!((spilled, replayed), (100, 100));
}

#[tokio::test]
async fn req_5_1_spill_left_by_a_previous_run_is_replayed_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let spill = dir.path().join("audit.spill");
    let down = Arc::new(MemoryAuditStore::new());
    down.set_available(false);
    let (sink, handle) = AuditSink::spawn(down, SinkConfig::with_spill(&spill));
    for n in 0..50 {
        sink.record(common::event(n)).await.expect("recorded");
    }
    sink.flush().await.expect("flush");
    drop(sink);
    handle.await.expect("writer ends");

    let store = Arc::new(MemoryAuditStore::new());
    let (sink, _h) = AuditSink::spawn(store.clone(), SinkConfig::with_spill(&spill));
    sink.record(common::event(50)).await.expect("recorded");
    sink.flush().await.expect("flush");
    assert_eq!(stored_ids(&store).await, (0..51).collect::<Vec<_>>());
}

/// A store whose appends wait for a permit: the writer blocks on it.
#[derive(Debug)]
struct GatedStore {
    inner: MemoryAuditStore,
    gate: Semaphore,
}

#[async_trait]
impl AuditStore for GatedStore {
    async fn append(&self, events: Vec<AuditEvent>) -> Result<AppendReceipt, StoreError> {
        let permit = self.gate.acquire().await.map_err(|e| StoreError::Backend(Box::new(e)))?;
        permit.forget();
        self.inner.append(events).await
    }
    async fn query(&self, q: &AuditQuery, p: Page) -> Result<PageOf<StoredEvent>, StoreError> {
        self.inner.query(q, p).await
    }
    async fn read_chain(&self, from: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.read_chain(from, limit).await
    }
    async fn anchor(&self) -> Result<ChainAnchor, StoreError> {
        self.inner.anchor().await
    }
    async fn head(&self) -> Result<ChainAnchor, StoreError> {
        self.inner.head().await
    }
    async fn checkpoints(&self, from: u64, limit: usize) -> Result<Vec<Checkpoint>, StoreError> {
        self.inner.checkpoints(from, limit).await
    }
    async fn purge_through(&self, seq: u64) -> Result<ChainAnchor, StoreError> {
        self.inner.purge_through(seq).await
    }
}

#[tokio::test]
async fn req_5_1_full_queue_hands_the_event_back_and_loses_nothing() {
    let store = Arc::new(GatedStore {
        inner: MemoryAuditStore::new(),
        gate: Semaphore::new(0),
    });
    let mut config = SinkConfig::default();
    config.queue_capacity = 8;
    config.batch_max = 4;
    let (sink, _h) = AuditSink::spawn(store.clone(), config);
    // Fill until the queue refuses; the writer holds at most one batch.
    let mut accepted = Vec::new();
    let mut refused = None;
    for n in 0..1000 {
        match sink.try_record(common::event(n)) {
            Ok(()) => accepted.push(n),
            Err(SinkError::Full(e)) => {
                refused = Some(*e);
                break;
            }
            Err(other) => panic!("unexpected {other}"),
        }
        tokio::task::yield_now().await;
    }
    let refused = refused.expect("back-pressure reached the caller");
    assert_eq!(refused, common::event(accepted.len() as u64), "the event comes back");
    assert!(accepted.len() <= 8 + 4, "queue + one batch: {}", accepted.len());
    assert_eq!(sink.stats().refused_full, 1);
    store.gate.add_permits(1000);
    sink.flush().await.expect("flush");
    assert_eq!(stored_ids(&store.inner).await, accepted);
}
