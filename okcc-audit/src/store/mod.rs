//! The `AuditStore` trait: where chained events live.
//!
//! A backend only has to store rows atomically; the chain itself is
//! computed by [`ChainTail`](crate::ChainTail) inside the backend's write
//! transaction, and verification, export and retention are provided
//! methods built on [`AuditStore::read_chain`]. The memory backend is
//! [`MemoryAuditStore`](crate::MemoryAuditStore); SQLite and PostgreSQL
//! backends are [`sqlite`] and [`postgres`] (features of the same
//! names); all run the same conformance
//! suite (`okcc_audit::testkit`, feature `testkit`).

use std::fmt::Debug;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

use async_trait::async_trait;
use okcc_core::store::{Page, PageOf, StoreError};
use time::OffsetDateTime;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::chain::{ChainAnchor, StoredEvent};
use crate::checkpoint::Checkpoint;
use crate::event::AuditEvent;
use crate::export::{CSV_HEADER, ExportFormat, JsonlRecord, write_csv_row, write_jsonl_line};
use crate::query::AuditQuery;
use crate::verify::{ChainVerifier, VerifyOptions, VerifyReport};

/// How many events the provided methods read per call to
/// [`AuditStore::read_chain`].
pub const CHAIN_READ_BATCH: usize = 4096;

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppendReceipt {
    /// How many events were linked and stored.
    pub appended: usize,
    /// How many were skipped because their id was already stored (a
    /// replay after a crash or a retried batch).
    pub skipped: usize,
    /// The chain head after the append.
    pub head: ChainAnchor,
}

impl AppendReceipt {
    /// A receipt.
    pub fn new(appended: usize, skipped: usize, head: ChainAnchor) -> Self {
        Self {
            appended,
            skipped,
            head,
        }
    }
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Events written.
    pub events: u64,
    /// Checkpoints written (JSON Lines only).
    pub checkpoints: u64,
}

/// What retention did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// Events archived and purged.
    pub purged: u64,
    /// The new anchor: the remaining chain starts after it.
    pub anchor: ChainAnchor,
}

fn io_err(e: std::io::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Storage of the audit chain (requirement 5.1). Used as
/// `Arc<dyn AuditStore>`.
///
/// Contract (checked by the conformance suite):
/// - `append` links the whole batch atomically after the current head
///   (all or nothing), in the given order; an event whose id is already
///   stored is skipped, so replays are idempotent.
/// - `seq` starts at 1 and has no gaps; `read_chain` returns events in
///   `seq` order.
/// - `query` pages are stable: the cursor is the last `seq` of the page.
/// - `purge_through(n)` removes events `..=n` and records the anchor
///   `(n, hash(n))`; the remaining chain verifies from it.
/// - A backend that cannot be reached returns
///   [`StoreError::Unavailable`]; the [`crate::AuditSink`] then spills.
#[async_trait]
pub trait AuditStore: Debug + Send + Sync + 'static {
    /// Links and stores a batch of events, atomically.
    async fn append(&self, events: Vec<AuditEvent>) -> Result<AppendReceipt, StoreError>;

    /// [`append`](Self::append) of a borrowed batch: the caller keeps the
    /// events (to retry or spill them when the store fails). The default
    /// clones them; the SQL stores link them in place.
    async fn append_ref(&self, events: &[AuditEvent]) -> Result<AppendReceipt, StoreError> {
        self.append(events.to_vec()).await
    }

    /// One page of events matching `query`.
    async fn query(
        &self,
        query: &AuditQuery,
        page: Page,
    ) -> Result<PageOf<StoredEvent>, StoreError>;

    /// Up to `limit` events with `seq >= from_seq`, in chain order.
    async fn read_chain(&self, from_seq: u64, limit: usize)
    -> Result<Vec<StoredEvent>, StoreError>;

    /// Where the stored chain starts (genesis, or the last purged event).
    async fn anchor(&self) -> Result<ChainAnchor, StoreError>;

    /// The last stored event (or the anchor when empty).
    async fn head(&self) -> Result<ChainAnchor, StoreError>;

    /// Up to `limit` keyed checkpoints with `seq >= from_seq`, in order.
    async fn checkpoints(&self, from_seq: u64, limit: usize)
    -> Result<Vec<Checkpoint>, StoreError>;

    /// Removes every event with `seq <= through_seq` and makes that event
    /// the anchor. Prefer [`AuditStore::archive_and_purge`], which writes
    /// the events out first.
    async fn purge_through(&self, through_seq: u64) -> Result<ChainAnchor, StoreError>;

    /// Walks the chain (or `options`' range) and reports the first place
    /// it was tampered with.
    async fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport, StoreError> {
        let anchor = self.anchor().await?;
        let head = self.head().await?;
        let from = options
            .from_seq
            .unwrap_or_else(|| anchor.seq.saturating_add(1))
            .max(anchor.seq.saturating_add(1));
        let to = options.to_seq.unwrap_or(head.seq).min(head.seq);
        let start = if from == anchor.seq.saturating_add(1) {
            anchor
        } else {
            match self.read_chain(from - 1, 1).await?.first() {
                Some(e) if e.seq == from - 1 => ChainAnchor::of(e),
                _ => anchor,
            }
        };
        let mut verifier = ChainVerifier::new(start).with_key(options.key.clone());
        if options.key.is_some() {
            let mut next = from;
            loop {
                let cps = self.checkpoints(next, CHAIN_READ_BATCH).await?;
                let Some(last) = cps.last().map(|c| c.seq) else {
                    break;
                };
                for cp in cps.iter().filter(|c| c.seq <= to) {
                    verifier.push_checkpoint(cp);
                }
                if last >= to || cps.len() < CHAIN_READ_BATCH {
                    break;
                }
                next = last + 1;
            }
        }
        let mut next = from;
        let mut last_seen = start.seq;
        while next <= to && verifier.tamper().is_none() {
            let batch = self.read_chain(next, CHAIN_READ_BATCH).await?;
            let Some(last) = batch.last().map(|e| e.seq) else {
                break;
            };
            let full = batch.len() == CHAIN_READ_BATCH;
            for e in batch {
                if e.seq > to {
                    break;
                }
                last_seen = last_seen.max(e.seq);
                if verifier.push(e).is_some() {
                    break;
                }
            }
            if !full || last < next {
                break;
            }
            next = last + 1;
        }
        let _ = last_seen;
        if options.to_seq.is_none() {
            Ok(verifier.finish_at(head))
        } else {
            Ok(verifier.finish())
        }
    }

    /// Writes the events matching `query` to `out`. An unfiltered
    /// JSON Lines export holds the anchor and the checkpoints and
    /// verifies on its own.
    async fn export(
        &self,
        query: &AuditQuery,
        format: ExportFormat,
        out: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<ExportSummary, StoreError> {
        let mut summary = ExportSummary::default();
        let whole_chain = *query == AuditQuery::all();
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        match format {
            ExportFormat::Csv => {
                buf.extend_from_slice(CSV_HEADER.as_bytes());
                buf.extend_from_slice(b"\r\n");
            }
            ExportFormat::JsonLines if whole_chain => {
                let anchor = self.anchor().await?;
                write_jsonl_line(&JsonlRecord::Anchor(anchor), &mut buf).map_err(json_err)?;
            }
            ExportFormat::JsonLines => {}
        }
        let mut row = String::new();
        if whole_chain {
            let mut cps = self
                .checkpoints(0, usize::MAX)
                .await?
                .into_iter()
                .peekable();
            let mut next = self.anchor().await?.seq.saturating_add(1);
            loop {
                let batch = self.read_chain(next, CHAIN_READ_BATCH).await?;
                let Some(last) = batch.last().map(|e| e.seq) else {
                    break;
                };
                let full = batch.len() == CHAIN_READ_BATCH;
                for e in batch {
                    let seq = e.seq;
                    summary.events += 1;
                    match format {
                        ExportFormat::Csv => {
                            row.clear();
                            write_csv_row(&e, &mut row);
                            buf.extend_from_slice(row.as_bytes());
                        }
                        ExportFormat::JsonLines => {
                            write_jsonl_line(&JsonlRecord::Event(Box::new(e)), &mut buf)
                                .map_err(json_err)?;
                            while let Some(cp) = cps.next_if(|c| c.seq <= seq) {
                                if cp.seq == seq {
                                    summary.checkpoints += 1;
                                    write_jsonl_line(&JsonlRecord::Checkpoint(cp), &mut buf)
                                        .map_err(json_err)?;
                                }
                            }
                        }
                    }
                    if buf.len() >= 60 * 1024 {
                        out.write_all(&buf).await.map_err(io_err)?;
                        buf.clear();
                    }
                }
                if !full || last < next {
                    break;
                }
                next = last + 1;
            }
        } else {
            let mut page = Page::first(Page::MAX_LIMIT);
            loop {
                let result = self.query(query, page).await?;
                for e in result.items {
                    summary.events += 1;
                    match format {
                        ExportFormat::Csv => {
                            row.clear();
                            write_csv_row(&e, &mut row);
                            buf.extend_from_slice(row.as_bytes());
                        }
                        ExportFormat::JsonLines => {
                            write_jsonl_line(&JsonlRecord::Event(Box::new(e)), &mut buf)
                                .map_err(json_err)?;
                        }
                    }
                }
                if buf.len() >= 60 * 1024 {
                    out.write_all(&buf).await.map_err(io_err)?;
                    buf.clear();
                }
                match result.next {
                    Some(cursor) => page = Page::after(cursor, Page::MAX_LIMIT),
                    None => break,
                }
            }
        }
        out.write_all(&buf).await.map_err(io_err)?;
        out.flush().await.map_err(io_err)?;
        Ok(summary)
    }

    /// Retention: writes every event older than `before` (the longest
    /// prefix of the chain with `time < before`) to `archive` as a
    /// verifiable JSON Lines file, flushes it, and only then purges those
    /// events. The remaining chain verifies from the new anchor, and the
    /// archive verifies on its own; its last event is the new anchor.
    /// [`archive_to_file`] also syncs the file to disk before purging.
    async fn archive_and_purge(
        &self,
        before: OffsetDateTime,
        archive: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<RetentionReport, StoreError> {
        let (archived, last) = self.archive(before, archive).await?;
        if archived == 0 {
            return Ok(RetentionReport {
                purged: 0,
                anchor: last,
            });
        }
        let anchor = self.purge_through(last.seq).await?;
        Ok(RetentionReport {
            purged: archived,
            anchor,
        })
    }

    /// The first half of retention: writes the prefix of the chain older
    /// than `before` to `archive` (anchor line, events, checkpoints) and
    /// flushes it. Returns how many events were written and the last one
    /// (the anchor when none).
    async fn archive(
        &self,
        before: OffsetDateTime,
        archive: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<(u64, ChainAnchor), StoreError> {
        let anchor = self.anchor().await?;
        let mut buf = Vec::with_capacity(64 * 1024);
        write_jsonl_line(&JsonlRecord::Anchor(anchor), &mut buf).map_err(json_err)?;
        let mut cps = self
            .checkpoints(0, usize::MAX)
            .await?
            .into_iter()
            .peekable();
        let mut last = anchor;
        let mut purged = 0u64;
        let mut next = anchor.seq.saturating_add(1);
        'outer: loop {
            let batch = self.read_chain(next, CHAIN_READ_BATCH).await?;
            let full = batch.len() == CHAIN_READ_BATCH;
            let Some(batch_last) = batch.last().map(|e| e.seq) else {
                break;
            };
            for e in batch {
                if e.event.time >= before {
                    break 'outer;
                }
                last = ChainAnchor::of(&e);
                purged += 1;
                let seq = e.seq;
                write_jsonl_line(&JsonlRecord::Event(Box::new(e)), &mut buf).map_err(json_err)?;
                while let Some(cp) = cps.next_if(|c| c.seq <= seq) {
                    if cp.seq == seq {
                        write_jsonl_line(&JsonlRecord::Checkpoint(cp), &mut buf)
                            .map_err(json_err)?;
                    }
                }
                if buf.len() >= 60 * 1024 {
                    archive.write_all(&buf).await.map_err(io_err)?;
                    buf.clear();
                }
            }
            if !full || batch_last < next {
                break;
            }
            next = batch_last + 1;
        }
        archive.write_all(&buf).await.map_err(io_err)?;
        archive.flush().await.map_err(io_err)?;
        Ok((purged, last))
    }
}

/// Runs [`AuditStore::archive_and_purge`] into a new file at `path`
/// (refusing to overwrite one), synced to disk before anything is purged.
pub async fn archive_to_file(
    store: &dyn AuditStore,
    before: OffsetDateTime,
    path: &std::path::Path,
) -> Result<RetentionReport, StoreError> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await
        .map_err(io_err)?;
    let (archived, last) = store.archive(before, &mut file).await?;
    file.sync_all().await.map_err(io_err)?;
    if archived == 0 {
        return Ok(RetentionReport {
            purged: 0,
            anchor: last,
        });
    }
    let anchor = store.purge_through(last.seq).await?;
    Ok(RetentionReport {
        purged: archived,
        anchor,
    })
}
