//! The non-blocking [`AuditSink`] for the hot path.
//!
//! Callers hand events over without waiting on I/O; one writer task
//! commits them to the [`AuditStore`] in batches, in the order they were
//! handed over.
//!
//! # No event is silently dropped
//! - When the store fails (unavailable or any backend error), the batch is
//!   appended to a local **spill file** (JSON Lines of events) and synced.
//!   While the spill file holds events, new batches go to it too, so order
//!   is kept. Before every batch (and every `retry_every` while idle) the
//!   writer replays the spill file into the store in order, then empties
//!   it. A replay cut short by a crash is repeated; the store skips the
//!   ids it already has, so nothing is stored twice.
//! - Without a spill path, the writer keeps the failed batch and retries
//!   every `retry_every`; meanwhile the queue fills.
//! - A spill file found at start-up is replayed first.
//!
//! # Back-pressure
//! The queue between callers and the writer holds `queue_capacity`
//! messages. When it is full (the store and the spill file cannot keep
//! up, or the spill file reached `max_spill_bytes`):
//! - [`AuditSink::try_record`] never waits: it returns
//!   [`SinkError::Full`] **with the event**, so the caller decides (deny
//!   the request, count it, or wait);
//! - [`AuditSink::record`] waits until there is room.
//!
//! # Durability
//! [`AuditSink::flush`] returns once every event handed over before it is
//! committed to the store or written and synced to the spill file.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

use crate::event::AuditEvent;
use crate::store::AuditStore;

/// How the sink runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SinkConfig {
    /// Messages the queue holds before back-pressure starts.
    pub queue_capacity: usize,
    /// The largest batch handed to [`AuditStore::append`].
    pub batch_max: usize,
    /// Where to spill when the store fails; `None` keeps failed batches in
    /// memory and retries.
    pub spill_path: Option<PathBuf>,
    /// The spill file never grows past this; beyond it the writer waits
    /// for the store (and back-pressure reaches the callers).
    pub max_spill_bytes: u64,
    /// How often to retry the store while events wait.
    pub retry_every: Duration,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            batch_max: 4096,
            spill_path: None,
            max_spill_bytes: 1 << 30,
            retry_every: Duration::from_secs(1),
        }
    }
}

impl SinkConfig {
    /// Defaults with a spill file at `path`.
    pub fn with_spill(path: impl Into<PathBuf>) -> Self {
        Self {
            spill_path: Some(path.into()),
            ..Self::default()
        }
    }
}

/// Why the sink refused or could not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The queue is full; the event is handed back.
    #[error("audit queue is full")]
    Full(Box<AuditEvent>),
    /// The writer task has stopped.
    #[error("audit writer has stopped")]
    Closed,
    /// The store failed and the spill file could not take the events.
    #[error("audit spill file failed")]
    Spill(#[source] std::io::Error),
}

/// What a flush found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Events waiting in the spill file (store unavailable).
    pub spilled_pending: u64,
}

/// Counters of a sink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// Events accepted into the queue.
    pub accepted: u64,
    /// Events refused because the queue was full.
    pub refused_full: u64,
    /// Events committed to the store (directly or by replay).
    pub committed: u64,
    /// Events written to the spill file.
    pub spilled: u64,
    /// Events replayed from the spill file.
    pub replayed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    refused_full: AtomicU64,
    committed: AtomicU64,
    spilled: AtomicU64,
    replayed: AtomicU64,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // events are the common message; boxing costs an allocation each
enum Msg {
    Event(AuditEvent),
    Flush(oneshot::Sender<Result<FlushReport, SinkError>>),
}

/// The handle callers use; cheap to clone.
#[derive(Clone, Debug)]
pub struct AuditSink {
    tx: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
}

impl AuditSink {
    /// Starts the writer task on the current tokio runtime. The task ends
    /// once every `AuditSink` clone is dropped and the queue is drained;
    /// await the handle to wait for that.
    pub fn spawn(
        store: Arc<dyn AuditStore>,
        config: SinkConfig,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            store,
            config,
            rx,
            counters: Arc::clone(&counters),
            spill_pending: 0,
            spill_bytes: 0,
            held: Vec::new(),
        };
        let handle = tokio::spawn(writer.run());
        (Self { tx, counters }, handle)
    }

    /// Hands `event` over without waiting; a full queue gives it back.
    pub fn try_record(&self, event: AuditEvent) -> Result<(), SinkError> {
        match self.tx.try_send(Msg::Event(event)) {
            Ok(()) => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(Msg::Event(e))) => {
                self.counters.refused_full.fetch_add(1, Ordering::Relaxed);
                Err(SinkError::Full(Box::new(e)))
            }
            Err(_) => Err(SinkError::Closed),
        }
    }

    /// Hands `event` over, waiting for room in the queue if it is full.
    pub async fn record(&self, event: AuditEvent) -> Result<(), SinkError> {
        self.tx
            .send(Msg::Event(event))
            .await
            .map_err(|_| SinkError::Closed)?;
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Waits until every event handed over before this call is durable
    /// (committed to the store, or synced to the spill file).
    pub async fn flush(&self) -> Result<FlushReport, SinkError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(tx))
            .await
            .map_err(|_| SinkError::Closed)?;
        rx.await.map_err(|_| SinkError::Closed)?
    }

    /// The counters so far.
    pub fn stats(&self) -> SinkStats {
        let c = &self.counters;
        SinkStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            refused_full: c.refused_full.load(Ordering::Relaxed),
            committed: c.committed.load(Ordering::Relaxed),
            spilled: c.spilled.load(Ordering::Relaxed),
            replayed: c.replayed.load(Ordering::Relaxed),
        }
    }
}

struct Writer {
    store: Arc<dyn AuditStore>,
    config: SinkConfig,
    rx: mpsc::Receiver<Msg>,
    counters: Arc<Counters>,
    spill_pending: u64,
    spill_bytes: u64,
    /// A failed batch kept in memory (no spill path, or spill full).
    held: Vec<AuditEvent>,
}

impl Writer {
    async fn run(mut self) {
        if let Some(path) = &self.config.spill_path
            && let Ok(meta) = tokio::fs::metadata(path).await
            && meta.len() > 0
        {
            self.spill_bytes = meta.len();
            self.spill_pending = 1; // unknown count; corrected by replay
            let _ = self.replay().await;
        }
        let mut batch = Vec::with_capacity(self.config.batch_max);
        let mut flushes = Vec::new();
        loop {
            let waiting = self.spill_pending > 0 || !self.held.is_empty();
            let msg = if waiting {
                tokio::select! {
                    m = self.rx.recv() => m,
                    () = tokio::time::sleep(self.config.retry_every) => {
                        let _ = self.settle(&mut Vec::new()).await;
                        continue;
                    }
                }
            } else {
                self.rx.recv().await
            };
            let Some(msg) = msg else { break };
            let mut next = Some(msg);
            while let Some(m) = next.take() {
                match m {
                    Msg::Event(e) => batch.push(e),
                    Msg::Flush(tx) => flushes.push(tx),
                }
                if batch.len() >= self.config.batch_max {
                    break;
                }
                next = self.rx.try_recv().ok();
            }
            let result = self.settle(&mut batch).await;
            for tx in flushes.drain(..) {
                let _ = tx.send(match &result {
                    Ok(()) => Ok(FlushReport {
                        spilled_pending: self.spill_pending,
                    }),
                    Err(e) => Err(SinkError::Spill(std::io::Error::new(
                        e.kind(),
                        e.to_string(),
                    ))),
                });
            }
        }
        // Senders are gone: make the last batch durable, retrying a
        // bounded number of times.
        for _ in 0..3 {
            if self.held.is_empty() {
                break;
            }
            let _ = self.settle(&mut Vec::new()).await;
        }
    }

    /// Makes `batch` (and anything waiting) durable: replay the spill
    /// file, then the store, else the spill file, else keep it held.
    async fn settle(&mut self, batch: &mut Vec<AuditEvent>) -> std::io::Result<()> {
        if !self.held.is_empty() {
            let mut held = std::mem::take(&mut self.held);
            held.append(batch);
            *batch = held;
        }
        if self.spill_pending > 0 {
            let _ = self.replay().await;
        }
        if batch.is_empty() {
            return Ok(());
        }
        if self.spill_pending == 0 {
            // Borrowed: on failure the batch is still here to spill.
            if self.store.append_ref(batch).await.is_ok() {
                self.counters
                    .committed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                batch.clear();
                return Ok(());
            }
        }
        match self.spill(batch).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.held = std::mem::take(batch);
                Err(e)
            }
        }
    }

    async fn spill(&mut self, batch: &mut Vec<AuditEvent>) -> std::io::Result<()> {
        let Some(path) = self.config.spill_path.clone() else {
            return Err(std::io::Error::other(
                "store unavailable and no spill file configured",
            ));
        };
        let mut buf = Vec::with_capacity(batch.len() * 320);
        for e in batch.iter() {
            serde_json::to_writer(&mut buf, e).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        if self.spill_bytes + buf.len() as u64 > self.config.max_spill_bytes {
            return Err(std::io::Error::other("spill file is full"));
        }
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        f.write_all(&buf).await?;
        f.sync_data().await?;
        self.spill_bytes += buf.len() as u64;
        let n = batch.len() as u64;
        self.spill_pending += n;
        self.counters.spilled.fetch_add(n, Ordering::Relaxed);
        batch.clear();
        Ok(())
    }

    /// Appends the spill file to the store in order; empties it on success.
    async fn replay(&mut self) -> std::io::Result<()> {
        let Some(path) = self.config.spill_path.clone() else {
            self.spill_pending = 0;
            return Ok(());
        };
        let data = match tokio::fs::read(&path).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.spill_pending = 0;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut events = Vec::new();
        let mut replayed = 0u64;
        for line in data.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            // A torn last line (crash during a spill write) belongs to a
            // batch whose flush never returned; it is skipped.
            let Ok(e) = serde_json::from_slice::<AuditEvent>(line) else {
                continue;
            };
            events.push(e);
            if events.len() >= self.config.batch_max {
                let n = events.len() as u64;
                self.store
                    .append(std::mem::take(&mut events))
                    .await
                    .map_err(std::io::Error::other)?;
                replayed += n;
            }
        }
        if !events.is_empty() {
            let n = events.len() as u64;
            self.store
                .append(events)
                .await
                .map_err(std::io::Error::other)?;
            replayed += n;
        }
        let f = tokio::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .await?;
        f.sync_all().await?;
        self.spill_pending = 0;
        self.spill_bytes = 0;
        self.counters
            .replayed
            .fetch_add(replayed, Ordering::Relaxed);
        self.counters
            .committed
            .fetch_add(replayed, Ordering::Relaxed);
        Ok(())
    }
}
