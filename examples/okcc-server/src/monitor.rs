//! Resource monitoring and alerts (requirement 4).
//!
//! Every `interval_secs` the monitor samples CPU (the system's and this
//! process's, from `/proc/stat` and `/proc/self/stat`), memory (this
//! process's RSS and the system's available memory, from `/proc`), the
//! space on the data directory's file system (`statvfs`), and two gauges
//! the server keeps up to date ([`Gauges`]: open HTTP/TCP connections and
//! the SIP queue depth).
//!
//! Each watched value has a raise and a clear threshold
//! ([`crate::serve::config::MonitorConfig`]): an alert is raised when the
//! value goes above `raise` and cleared only when it falls below `clear`, so
//! a value wobbling around one threshold does not flap. Every raise and
//! clear is kept in the [`AlertBook`] (shown at `GET /api/v1/alerts`),
//! appended to the operation log (`alert.raise` / `alert.clear`), logged
//! with `tracing`, and, when a webhook URL is set, POSTed as JSON from a
//! bounded queue with bounded retries and backoff.
//!
//! Linux only: on other systems the `/proc` values are absent (`null`) and
//! never alert.
#![allow(
    dead_code,
    reason = "started by `okcc-server serve` once the REST API is mounted (issue 10); exercised by the tests"
)]

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use okcc_audit::{Action, Actor, AuditEvent, AuditStore, DetailValue, Label, Outcome};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use utoipa::ToSchema;

use crate::serve::config::{MonitorConfig, Threshold};

/// How many raises and clears the book keeps.
const RECENT: usize = 200;

/// Gauges the server updates as it runs; the monitor reads them.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    http_connections: AtomicU64,
    sip_queue_depth: AtomicU64,
}

impl Gauges {
    /// One more open HTTP/TCP connection.
    pub(crate) fn connection_opened(&self) {
        self.http_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// One open HTTP/TCP connection fewer (never below zero).
    pub(crate) fn connection_closed(&self) {
        let _ = self
            .http_connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Counts one open connection until the returned guard is dropped
    /// (hold it in the connection's task).
    pub(crate) fn track_connection(self: &Arc<Self>) -> OpenConnection {
        self.connection_opened();
        OpenConnection(Arc::clone(self))
    }

    /// Sets the number of open HTTP/TCP connections.
    pub(crate) fn set_http_connections(&self, n: u64) {
        self.http_connections.store(n, Ordering::Relaxed);
    }

    /// Sets the SIP queue depth (requests waiting or in progress).
    pub(crate) fn set_sip_queue_depth(&self, n: u64) {
        self.sip_queue_depth.store(n, Ordering::Relaxed);
    }

    /// Open HTTP/TCP connections.
    pub(crate) fn http_connections(&self) -> u64 {
        self.http_connections.load(Ordering::Relaxed)
    }

    /// SIP queue depth.
    pub(crate) fn sip_queue_depth(&self) -> u64 {
        self.sip_queue_depth.load(Ordering::Relaxed)
    }
}

/// One open connection counted in [`Gauges`]; dropping it uncounts it.
#[derive(Debug)]
pub(crate) struct OpenConnection(Arc<Gauges>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

/// One reading of every watched value (`null`: not available here).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Sample {
    /// When it was taken (RFC 3339, UTC).
    pub(crate) at: String,
    /// System CPU use since the previous sample, percent of all CPUs.
    pub(crate) cpu_system_percent: Option<f64>,
    /// This process's CPU use since the previous sample, percent of all CPUs.
    pub(crate) cpu_process_percent: Option<f64>,
    /// System memory.
    pub(crate) memory_total_bytes: Option<u64>,
    /// System memory available for new work.
    pub(crate) memory_available_bytes: Option<u64>,
    /// System memory in use (total minus available), percent.
    pub(crate) memory_used_percent: Option<f64>,
    /// This process's resident set size.
    pub(crate) process_rss_bytes: Option<u64>,
    /// Size of the data directory's file system.
    pub(crate) disk_total_bytes: Option<u64>,
    /// Space available to the server there.
    pub(crate) disk_free_bytes: Option<u64>,
    /// Space used there, percent.
    pub(crate) disk_used_percent: Option<f64>,
    /// Open HTTP/TCP connections.
    pub(crate) http_connections: u64,
    /// SIP queue depth.
    pub(crate) sip_queue_depth: u64,
}

/// A watched value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Metric {
    /// System CPU, percent.
    Cpu,
    /// System memory in use, percent.
    Memory,
    /// Data directory space used, percent.
    Disk,
    /// Open HTTP/TCP connections.
    Connections,
    /// SIP queue depth.
    SipQueue,
}

impl Metric {
    /// A stable code.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Disk => "disk",
            Self::Connections => "connections",
            Self::SipQueue => "sip-queue",
        }
    }

    fn value(self, s: &Sample) -> Option<f64> {
        match self {
            Self::Cpu => s.cpu_system_percent,
            Self::Memory => s.memory_used_percent,
            Self::Disk => s.disk_used_percent,
            #[allow(clippy::cast_precision_loss, reason = "a gauge far below 2^52")]
            Self::Connections => Some(s.http_connections as f64),
            #[allow(clippy::cast_precision_loss, reason = "a gauge far below 2^52")]
            Self::SipQueue => Some(s.sip_queue_depth as f64),
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Self::Cpu | Self::Memory | Self::Disk => "%",
            Self::Connections | Self::SipQueue => "",
        }
    }
}

/// A raise or a clear.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub(crate) struct AlertEvent {
    /// `alert.raise` or `alert.clear`.
    pub(crate) event: String,
    /// `cpu`, `memory`, `disk`, `connections` or `sip-queue`.
    pub(crate) metric: String,
    /// The value that crossed the threshold.
    pub(crate) value: f64,
    /// The threshold crossed (`raise` for a raise, `clear` for a clear).
    pub(crate) threshold: u64,
    /// When (RFC 3339, UTC).
    pub(crate) at: String,
    /// In plain words.
    pub(crate) message: String,
}

impl AlertEvent {
    fn is_raise(&self) -> bool {
        self.event == "alert.raise"
    }
}

/// Raise/clear state of every watched value (hysteresis).
#[derive(Debug)]
pub(crate) struct Evaluator {
    rules: Vec<(Metric, Threshold, bool)>,
}

impl Evaluator {
    /// Rules from `config`, nothing raised.
    pub(crate) fn new(config: &MonitorConfig) -> Self {
        let rules = [
            (Metric::Cpu, config.cpu_percent),
            (Metric::Memory, config.memory_percent),
            (Metric::Disk, config.disk_percent),
            (Metric::Connections, config.connections),
            (Metric::SipQueue, config.sip_queue),
        ]
        .into_iter()
        .map(|(m, t)| (m, t, false))
        .collect();
        Self { rules }
    }

    /// The raises and clears `sample` causes: raise above `raise`, clear
    /// below `clear`, nothing in between. An absent value changes nothing.
    pub(crate) fn observe(&mut self, sample: &Sample) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        for (metric, t, active) in &mut self.rules {
            let Some(v) = metric.value(sample) else {
                continue;
            };
            #[allow(clippy::cast_precision_loss, reason = "thresholds are small")]
            let (raise, clear) = (t.raise as f64, t.clear as f64);
            let (event, threshold, message) = if !*active && v > raise {
                *active = true;
                (
                    "alert.raise",
                    t.raise,
                    format!(
                        "{} is {v:.1}{unit}, above {}{unit}",
                        metric.code(),
                        t.raise,
                        unit = metric.unit()
                    ),
                )
            } else if *active && v < clear {
                *active = false;
                (
                    "alert.clear",
                    t.clear,
                    format!(
                        "{} is back to {v:.1}{unit}, below {}{unit}",
                        metric.code(),
                        t.clear,
                        unit = metric.unit()
                    ),
                )
            } else {
                continue;
            };
            out.push(AlertEvent {
                event: event.to_owned(),
                metric: metric.code().to_owned(),
                value: v,
                threshold,
                at: sample.at.clone(),
                message,
            });
        }
        out
    }
}

/// Delivery counters of the webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct WebhookStats {
    /// Alerts delivered.
    pub(crate) delivered: u64,
    /// Alerts given up on after every retry.
    pub(crate) failed: u64,
    /// Alerts dropped because the queue was full.
    pub(crate) dropped: u64,
}

#[derive(Debug, Default)]
struct BookInner {
    active: BTreeMap<String, AlertEvent>,
    recent: VecDeque<AlertEvent>,
    last: Option<Sample>,
}

/// The alerts in force, the recent raises and clears, the last sample and
/// the webhook counters, in memory.
#[derive(Debug, Default)]
pub(crate) struct AlertBook {
    inner: Mutex<BookInner>,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// What the book holds, for the API.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AlertsView {
    /// Alerts in force (their raise), by metric.
    pub(crate) active: Vec<AlertEvent>,
    /// The latest raises and clears, newest first (at most 200).
    pub(crate) recent: Vec<AlertEvent>,
    /// Webhook delivery counters.
    pub(crate) webhook: WebhookStats,
}

impl AlertBook {
    fn lock(&self) -> MutexGuard<'_, BookInner> {
        // Every update is a few plain field writes: a poisoned book is consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps one raise or clear.
    pub(crate) fn record(&self, e: &AlertEvent) {
        let mut b = self.lock();
        if e.is_raise() {
            b.active.insert(e.metric.clone(), e.clone());
        } else {
            b.active.remove(&e.metric);
        }
        if b.recent.len() >= RECENT {
            b.recent.pop_front();
        }
        b.recent.push_back(e.clone());
    }

    /// Keeps the latest sample.
    pub(crate) fn set_last(&self, s: Sample) {
        self.lock().last = Some(s);
    }

    /// The latest sample, if the monitor has taken one.
    pub(crate) fn last(&self) -> Option<Sample> {
        self.lock().last.clone()
    }

    /// Active and recent alerts with the webhook counters.
    pub(crate) fn view(&self) -> AlertsView {
        let b = self.lock();
        AlertsView {
            active: b.active.values().cloned().collect(),
            recent: b.recent.iter().rev().cloned().collect(),
            webhook: self.webhook_stats(),
        }
    }

    /// The webhook counters.
    pub(crate) fn webhook_stats(&self) -> WebhookStats {
        WebhookStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

// ---- sampling -------------------------------------------------------------

/// Total and idle jiffies of the first (`cpu`) line of `/proc/stat`.
fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let vals: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total = vals.iter().take(8).copied().fold(0u64, u64::saturating_add);
    let idle = vals
        .get(3)?
        .saturating_add(vals.get(4).copied().unwrap_or(0));
    Some((total, idle))
}

/// utime + stime (jiffies) from `/proc/self/stat`.
fn parse_self_stat(text: &str) -> Option<u64> {
    // The command name is in parentheses and may hold anything: skip to
    // the last `)`. Then field 3 (state) is index 0, utime (14) index 11.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// A `Key:   123 kB` line of `/proc/meminfo` or `/proc/self/status`, in bytes.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        let kb: u64 = v.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb.saturating_mul(1024))
    })
}

#[allow(clippy::cast_precision_loss, reason = "percentages of counters")]
fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 100.0 / whole as f64).clamp(0.0, 100.0))
}

/// Takes samples, remembering the previous CPU counters.
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    prev: Option<(u64, u64, u64)>,
}

impl Sampler {
    /// Reads every value now. CPU shares need two readings, so the first
    /// sample has none.
    pub(crate) fn sample(&mut self, data_dir: &Path, gauges: &Gauges) -> Sample {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let stat = read("/proc/stat").as_deref().and_then(parse_proc_stat);
        let own = read("/proc/self/stat").as_deref().and_then(parse_self_stat);
        let (mut cpu_system, mut cpu_process) = (None, None);
        if let (Some((total, idle)), Some(own)) = (stat, own) {
            if let Some((pt, pi, po)) = self.prev {
                let dt = total.saturating_sub(pt);
                cpu_system = percent(dt.saturating_sub(idle.saturating_sub(pi)), dt);
                cpu_process = percent(own.saturating_sub(po), dt);
            }
            self.prev = Some((total, idle, own));
        }
        let meminfo = read("/proc/meminfo");
        let mem_total = meminfo.as_deref().and_then(|t| kb_field(t, "MemTotal"));
        let mem_avail = meminfo.as_deref().and_then(|t| kb_field(t, "MemAvailable"));
        let rss = read("/proc/self/status")
            .as_deref()
            .and_then(|t| kb_field(t, "VmRSS"));
        let (disk_total, disk_free) = disk_space(data_dir).unzip();
        Sample {
            at: now_rfc3339(),
            cpu_system_percent: cpu_system,
            cpu_process_percent: cpu_process,
            memory_total_bytes: mem_total,
            memory_available_bytes: mem_avail,
            memory_used_percent: mem_total
                .zip(mem_avail)
                .and_then(|(t, a)| percent(t.saturating_sub(a), t)),
            process_rss_bytes: rss,
            disk_total_bytes: disk_total,
            disk_free_bytes: disk_free,
            disk_used_percent: disk_total
                .zip(disk_free)
                .and_then(|(t, f)| percent(t.saturating_sub(f), t)),
            http_connections: gauges.http_connections(),
            sip_queue_depth: gauges.sip_queue_depth(),
        }
    }
}

/// Total size and space available to unprivileged users of the file
/// system holding `dir` (`statvfs`).
fn disk_space(dir: &Path) -> Option<(u64, u64)> {
    let st = rustix::fs::statvfs(dir).ok()?;
    let frsize = st.f_frsize;
    Some((
        st.f_blocks.saturating_mul(frsize),
        st.f_bavail.saturating_mul(frsize),
    ))
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

// ---- the webhook ----------------------------------------------------------

/// Where the webhook POSTs: a plain `http://host[:port][/path]` URL from
/// the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WebhookTarget {
    host: String,
    port: u16,
    path: String,
}

impl WebhookTarget {
    /// Parses the URL; refuses anything but `http://` without user info.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        if url.len() > 2048 {
            return Err("the URL is longer than 2048 characters".to_owned());
        }
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("the URL holds spaces or control characters".to_owned());
        }
        let lower = url.to_ascii_lowercase();
        let rest = if lower.starts_with("http://") {
            &url[7..]
        } else if lower.starts_with("https://") {
            return Err(
                "https:// is not supported; use http:// (for example to a local relay)".to_owned(),
            );
        } else {
            return Err("the URL must start with http://".to_owned());
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        if authority.contains('@') {
            return Err("user info (`user@`) is not allowed in the URL".to_owned());
        }
        let bracketed = authority.starts_with('[');
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| "unclosed `[` in the host".to_owned())?;
            h.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("`{h}` is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| "junk after the IPv6 address".to_owned())?,
                ),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err("the URL has no host".to_owned());
        }
        if !bracketed
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        {
            return Err(format!("`{host}` is not a host name or address"));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{p}` is not a port"))?,
        };
        Ok(Self { host, port, path })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// One POST of `body`; the HTTP status, or why there is none.
    async fn post_once(&self, body: &[u8], timeout: Duration) -> Result<u16, String> {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let head = format!(
                "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\nUser-Agent: okcc-server\r\n\r\n",
                self.path,
                self.host_header(),
                body.len()
            );
            stream
                .write_all(head.as_bytes())
                .await
                .map_err(|e| format!("send: {e}"))?;
            stream
                .write_all(body)
                .await
                .map_err(|e| format!("send: {e}"))?;
            let mut buf = Vec::with_capacity(128);
            let mut chunk = [0u8; 128];
            while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 1024 {
                let n = stream
                    .read(&mut chunk)
                    .await
                    .map_err(|e| format!("receive: {e}"))?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            parse_status_line(&buf).ok_or_else(|| "no HTTP status line in the answer".to_owned())
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
    }
}

fn parse_status_line(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Alerts waiting for the webhook; full, it drops the oldest.
#[derive(Debug)]
pub(crate) struct WebhookQueue {
    items: Mutex<VecDeque<AlertEvent>>,
    cap: usize,
    notify: Notify,
    book: Arc<AlertBook>,
}

impl WebhookQueue {
    /// A queue of at most `cap` alerts counting drops in `book`.
    pub(crate) fn new(cap: usize, book: Arc<AlertBook>) -> Self {
        Self {
            items: Mutex::new(VecDeque::with_capacity(cap.min(1024))),
            cap: cap.max(1),
            notify: Notify::new(),
            book,
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<AlertEvent>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `e`; when full, the oldest waiting alert is dropped (counted).
    pub(crate) fn push(&self, e: AlertEvent) {
        {
            let mut q = self.lock();
            while q.len() >= self.cap {
                q.pop_front();
                self.book.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("alert webhook queue full: dropped the oldest alert");
            }
            q.push_back(e);
        }
        self.notify.notify_one();
    }

    fn pop(&self) -> Option<AlertEvent> {
        self.lock().pop_front()
    }

    /// Alerts waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Delivery settings of the webhook.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    target: WebhookTarget,
    retries: u32,
    backoff: Duration,
    timeout: Duration,
}

impl Delivery {
    /// Settings from `config`, `None` without a webhook URL.
    pub(crate) fn from_config(config: &MonitorConfig) -> Result<Option<Self>, String> {
        let Some(url) = &config.webhook_url else {
            return Ok(None);
        };
        Ok(Some(Self {
            target: WebhookTarget::parse(url).map_err(|e| format!("monitor.webhook_url: {e}"))?,
            retries: config.webhook_retries,
            backoff: Duration::from_millis(config.webhook_backoff_ms),
            timeout: Duration::from_secs(config.webhook_timeout_secs),
        }))
    }

    /// POSTs `e`, retrying after a failure (non-2xx, refused, timed out)
    /// up to `retries` times with doubling backoff. `Ok(attempts)` once a
    /// 2xx came, else the last failure.
    pub(crate) async fn deliver(&self, e: &AlertEvent) -> Result<u32, String> {
        let body = serde_json::to_vec(e).map_err(|e| e.to_string())?;
        let mut wait = self.backoff;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let err = match self.target.post_once(&body, self.timeout).await {
                Ok(status) if (200..300).contains(&status) => return Ok(attempt),
                Ok(status) => format!("answered HTTP {status}"),
                Err(e) => e,
            };
            if attempt > self.retries {
                return Err(err);
            }
            tracing::debug!(attempt, error = %err, "alert webhook failed; retrying");
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2).min(Duration::from_secs(60));
        }
    }
}

/// Delivers queued alerts one by one, forever.
async fn webhook_worker(queue: Arc<WebhookQueue>, delivery: Delivery) {
    loop {
        let Some(e) = queue.pop() else {
            queue.notify.notified().await;
            continue;
        };
        match delivery.deliver(&e).await {
            Ok(_) => {
                queue.book.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                queue.book.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(metric = %e.metric, event = %e.event, error = %err,
                    "alert webhook gave up after every retry");
            }
        }
    }
}

// ---- the monitor ----------------------------------------------------------

/// Turns samples into raises and clears, and stores, audits, logs and
/// queues each.
#[derive(Debug)]
pub(crate) struct Monitor {
    evaluator: Evaluator,
    book: Arc<AlertBook>,
    audit: Arc<dyn AuditStore>,
    webhook: Option<Arc<WebhookQueue>>,
}

fn alert_audit_event(e: &AlertEvent) -> Result<AuditEvent, okcc_audit::EventError> {
    let action = if e.is_raise() {
        Action::Alert
    } else {
        Action::custom("alert.clear")?
    };
    #[allow(clippy::cast_possible_truncation, reason = "rounded for the log")]
    let value = e.value.round() as i64;
    AuditEvent::new(
        Actor::system(Label::new("monitor")?),
        action,
        Outcome::Success,
    )
    .with_detail("metric", DetailValue::text(&e.metric)?)?
    .with_detail("value", value.into())?
    .with_detail(
        "threshold",
        i64::try_from(e.threshold).unwrap_or(i64::MAX).into(),
    )?
    .with_detail("message", DetailValue::text(&e.message)?)
}

impl Monitor {
    /// A monitor with `config`'s thresholds over `book`, `audit` and an
    /// optional webhook queue.
    pub(crate) fn new(
        config: &MonitorConfig,
        book: Arc<AlertBook>,
        audit: Arc<dyn AuditStore>,
        webhook: Option<Arc<WebhookQueue>>,
    ) -> Self {
        Self {
            evaluator: Evaluator::new(config),
            book,
            audit,
            webhook,
        }
    }

    /// Takes in one sample; returns the raises and clears it caused.
    pub(crate) async fn ingest(&mut self, sample: Sample) -> Vec<AlertEvent> {
        let events = self.evaluator.observe(&sample);
        self.book.set_last(sample);
        for e in &events {
            if e.is_raise() {
                tracing::warn!(metric = %e.metric, value = e.value, threshold = e.threshold,
                    "resource alert raised: {}", e.message);
            } else {
                tracing::info!(metric = %e.metric, value = e.value, threshold = e.threshold,
                    "resource alert cleared: {}", e.message);
            }
            self.book.record(e);
            match alert_audit_event(e) {
                Ok(ev) => {
                    if let Err(err) = self.audit.append(vec![ev]).await {
                        tracing::error!(error = %err, "audit log append failed for an alert");
                    }
                }
                Err(err) => tracing::error!(error = %err, "alert audit event refused"),
            }
            if let Some(q) = &self.webhook {
                q.push(e.clone());
            }
        }
        events
    }
}

/// Starts the monitor: samples every `config.interval_secs`, raises and
/// clears alerts into `alert_book` and `audit`, and (with a webhook URL)
/// starts the webhook sender. Runs until the runtime shuts down.
pub(crate) fn spawn(
    config: &MonitorConfig,
    gauges: Arc<Gauges>,
    alert_book: Arc<AlertBook>,
    audit: Arc<dyn AuditStore>,
    data_dir: PathBuf,
) -> Result<tokio::task::JoinHandle<()>, String> {
    config.validate()?;
    let webhook = match Delivery::from_config(config)? {
        Some(delivery) => {
            let q = Arc::new(WebhookQueue::new(
                config.webhook_queue,
                Arc::clone(&alert_book),
            ));
            tokio::spawn(webhook_worker(Arc::clone(&q), delivery));
            Some(q)
        }
        None => None,
    };
    let mut monitor = Monitor::new(config, alert_book, audit, webhook);
    let period = Duration::from_secs(config.interval_secs);
    Ok(tokio::spawn(async move {
        let mut sampler = Sampler::default();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let dir = data_dir.clone();
            let g = Arc::clone(&gauges);
            let taken = tokio::task::spawn_blocking(move || {
                let s = sampler.sample(&dir, &g);
                (sampler, s)
            })
            .await;
            let Ok((s, sample)) = taken else {
                tracing::error!("resource sampling failed; monitor stopped");
                return;
            };
            sampler = s;
            monitor.ingest(sample).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use okcc_audit::{AuditQuery, MemoryAuditStore};
    use okcc_core::store::Page;

    use super::*;

    fn sample(cpu: f64, queue: u64) -> Sample {
        Sample {
            at: "2026-11-23T18:00:00Z".to_owned(),
            cpu_system_percent: Some(cpu),
            sip_queue_depth: queue,
            ..Sample::default()
        }
    }

    #[test]
    fn req_4_hysteresis_raises_above_raise_and_clears_only_below_clear() {
        let config = MonitorConfig::default(); // cpu 90/80, sip queue 500/250
        let mut ev = Evaluator::new(&config);
        let codes = |v: Vec<AlertEvent>| {
            v.into_iter()
                .map(|e| format!("{}:{}", e.event, e.metric))
                .collect::<Vec<_>>()
        };
        assert!(ev.observe(&sample(50.0, 0)).is_empty());
        assert!(
            ev.observe(&sample(90.0, 0)).is_empty(),
            "equal is not above"
        );
        assert_eq!(codes(ev.observe(&sample(95.0, 0))), ["alert.raise:cpu"]);
        // Wobbling between clear and raise changes nothing.
        for v in [85.0, 92.0, 80.0, 99.0, 81.0] {
            assert!(ev.observe(&sample(v, 0)).is_empty(), "{v}");
        }
        assert_eq!(codes(ev.observe(&sample(79.9, 0))), ["alert.clear:cpu"]);
        assert!(ev.observe(&sample(85.0, 0)).is_empty(), "not raised again");
        // Two metrics at once; an absent value changes nothing.
        assert_eq!(
            codes(ev.observe(&sample(91.0, 501))),
            ["alert.raise:cpu", "alert.raise:sip-queue"]
        );
        let mut none = sample(0.0, 501);
        none.cpu_system_percent = None;
        assert!(ev.observe(&none).is_empty());
        let e = ev.observe(&sample(10.0, 100));
        assert_eq!(
            codes(e.clone()),
            ["alert.clear:cpu", "alert.clear:sip-queue"]
        );
        assert_eq!(e[0].threshold, 80);
        assert_eq!(e[1].threshold, 250);
    }

    #[tokio::test]
    async fn req_4_raise_and_clear_are_stored_audited_and_queued() {
        let config = MonitorConfig::default();
        let book = Arc::new(AlertBook::default());
        let audit = Arc::new(MemoryAuditStore::new());
        let queue = Arc::new(WebhookQueue::new(10, Arc::clone(&book)));
        let mut m = Monitor::new(
            &config,
            Arc::clone(&book),
            audit.clone(),
            Some(Arc::clone(&queue)),
        );
        m.ingest(sample(95.0, 0)).await;
        let v = book.view();
        assert_eq!(v.active.len(), 1);
        assert_eq!(v.active[0].metric, "cpu");
        assert_eq!(book.last().and_then(|s| s.cpu_system_percent), Some(95.0));
        m.ingest(sample(85.0, 0)).await;
        m.ingest(sample(10.0, 0)).await;
        let v = book.view();
        assert!(v.active.is_empty());
        assert_eq!(v.recent.len(), 2);
        assert_eq!(v.recent[0].event, "alert.clear", "newest first");
        assert_eq!(queue.len(), 2);
        let events = audit
            .query(&AuditQuery::all(), Page::first(100))
            .await
            .unwrap()
            .items;
        let actions: Vec<String> = events
            .iter()
            .map(|e| e.event.action.code().to_owned())
            .collect();
        assert_eq!(actions, ["alert.raise", "alert.clear"]);
    }

    #[test]
    fn req_4_webhook_queue_drops_the_oldest_and_counts() {
        let book = Arc::new(AlertBook::default());
        let q = WebhookQueue::new(2, Arc::clone(&book));
        let mut ev = Evaluator::new(&MonitorConfig::default());
        let mut all = Vec::new();
        for v in [95.0, 10.0, 95.0, 10.0] {
            all.extend(ev.observe(&sample(v, 0)));
        }
        assert_eq!(all.len(), 4);
        for e in all {
            q.push(e);
        }
        assert_eq!(q.len(), 2);
        assert_eq!(book.webhook_stats().dropped, 2);
        assert_eq!(q.pop().map(|e| e.event), Some("alert.raise".to_owned()));
        assert_eq!(q.pop().map(|e| e.event), Some("alert.clear".to_owned()));
    }

    #[test]
    fn req_4_proc_parsers_read_real_formats_and_refuse_junk() {
        let stat = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_proc_stat(stat), Some((980, 820)));
        assert_eq!(parse_proc_stat("cpu  x y\n"), None);
        assert_eq!(parse_proc_stat(""), None);
        let own = "1234 (okcc (srv) x) S 1 2 3 4 5 6 7 8 9 10 70 30 0 0 20 0";
        assert_eq!(parse_self_stat(own), Some(100));
        assert_eq!(parse_self_stat("1234 (a) S 1"), None);
        let meminfo = "MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:    4000 kB\n";
        assert_eq!(kb_field(meminfo, "MemTotal"), Some(16000 * 1024));
        assert_eq!(kb_field(meminfo, "MemAvailable"), Some(4000 * 1024));
        assert_eq!(kb_field(meminfo, "Mem"), None);
        assert_eq!(percent(1, 0), None);
        assert_eq!(percent(1, 4), Some(25.0));
    }

    #[test]
    fn req_4_sampler_reads_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let gauges = Gauges::default();
        gauges.connection_opened();
        gauges.connection_opened();
        gauges.connection_closed();
        gauges.connection_closed();
        gauges.connection_closed();
        assert_eq!(gauges.http_connections(), 0, "never below zero");
        let gauges = Arc::new(gauges);
        let open = gauges.track_connection();
        {
            let _other = gauges.track_connection();
            assert_eq!(gauges.http_connections(), 2);
        }
        gauges.set_sip_queue_depth(7);
        let mut s = Sampler::default();
        let first = s.sample(dir.path(), &gauges);
        assert_eq!(first.cpu_system_percent, None, "needs two readings");
        assert_eq!((first.http_connections, first.sip_queue_depth), (1, 7));
        drop(open);
        assert_eq!(gauges.http_connections(), 0);
        assert!(first.disk_total_bytes.unwrap_or(0) > 0);
        assert!(first.disk_free_bytes <= first.disk_total_bytes);
        if cfg!(target_os = "linux") {
            assert!(first.memory_total_bytes.unwrap_or(0) > 0);
            assert!(first.process_rss_bytes.unwrap_or(0) > 0);
            // CPU shares need the jiffy counters to move between readings.
            let mut cpu = None;
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(20));
                cpu = s.sample(dir.path(), &gauges).cpu_system_percent;
                if cpu.is_some() {
                    break;
                }
            }
            let cpu = cpu.unwrap_or(-1.0);
            assert!((0.0..=100.0).contains(&cpu), "{cpu}");
        }
        // A missing directory gives no disk values, not an error.
        let gone = dir.path().join("missing");
        assert_eq!(s.sample(&gone, &gauges).disk_total_bytes, None);
    }

    #[test]
    fn req_4_monitor_config_is_checked_and_the_example_parses() {
        let mut c = MonitorConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.cpu_percent.clear = 95;
        assert!(c.validate().unwrap_err().contains("cpu_percent"));
        let mut c = MonitorConfig::default();
        c.disk_percent.raise = 101;
        assert!(c.validate().unwrap_err().contains("disk_percent"));
        for (url, ok) in [
            ("http://127.0.0.1:9000/hook", true),
            ("http://[::1]:8080", true),
            ("HTTP://alerts.example.net/a?b=c", true),
            ("https://alerts.example.net/", false),
            ("http://user:pw@host/", false),
            ("http://host:0/", false),
            ("http://host:99999/", false),
            ("http:///path", false),
            ("http://ho st/", false),
            ("ftp://host/", false),
            ("http://[::1/", false),
            ("http://::1:80/", false),
        ] {
            let c = MonitorConfig {
                webhook_url: Some(url.to_owned()),
                ..MonitorConfig::default()
            };
            assert_eq!(c.validate().is_ok(), ok, "{url}: {:?}", c.validate());
        }
        let t = WebhookTarget::parse("http://[::1]:8080?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 8080, "/?x=1")
        );
        assert_eq!(t.host_header(), "[::1]:8080");
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/okcc.example.toml"))
                .unwrap();
        let full: crate::serve::config::Config = toml::from_str(&text).unwrap();
        assert_eq!(full.monitor, MonitorConfig::default());
    }

    proptest::proptest! {
        /// The parsers of webhook answers, the webhook URL and the /proc
        /// files never panic, whatever the input.
        #[test]
        fn req_4_parsers_never_panic_on_any_input(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            text in "\\PC{0,200}",
        ) {
            let _ = parse_status_line(&bytes);
            let _ = WebhookTarget::parse(&text);
            let _ = WebhookTarget::parse(&format!("http://{text}"));
            let _ = parse_proc_stat(&text);
            let _ = parse_self_stat(&text);
            let _ = kb_field(&text, "MemTotal");
            if let Ok(t) = WebhookTarget::parse(&format!("http://{text}")) {
                proptest::prop_assert!(t.port > 0);
                proptest::prop_assert!(t.path.starts_with('/'));
                proptest::prop_assert!(!t.host.is_empty());
            }
        }
    }

    #[test]
    fn req_4_status_line_parser() {
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status_line(b"HTTP/1.0 500 x"), Some(500));
        assert_eq!(parse_status_line(b"SIP/2.0 200 OK\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 abc\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }

    /// A local HTTP server answering 500 to the first `fail` requests, then
    /// 200; counts requests and keeps the last body.
    async fn hook_server(fail: usize) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<u8>>>) {
        use axum::routing::post;
        let hits = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(Mutex::new(Vec::new()));
        let (h, l) = (Arc::clone(&hits), Arc::clone(&last));
        let app = axum::Router::new().route(
            "/hook",
            post(move |body: axum::body::Bytes| {
                let (h, l) = (Arc::clone(&h), Arc::clone(&l));
                async move {
                    *l.lock().unwrap() = body.to_vec();
                    if h.fetch_add(1, Ordering::SeqCst) < fail {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}/hook"), hits, last)
    }

    fn delivery(url: &str, retries: u32) -> Delivery {
        Delivery::from_config(&MonitorConfig {
            webhook_url: Some(url.to_owned()),
            webhook_retries: retries,
            webhook_backoff_ms: 10,
            webhook_timeout_secs: 5,
            ..MonitorConfig::default()
        })
        .unwrap()
        .unwrap()
    }

    fn raise() -> AlertEvent {
        Evaluator::new(&MonitorConfig::default())
            .observe(&sample(99.0, 0))
            .remove(0)
    }

    #[tokio::test]
    async fn req_4_webhook_retries_after_a_500_and_gives_up_after_n() {
        let (url, hits, last) = hook_server(1).await;
        let d = delivery(&url, 3);
        assert_eq!(d.deliver(&raise()).await, Ok(2));
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        let body: serde_json::Value = serde_json::from_slice(&last.lock().unwrap()).unwrap();
        assert_eq!(body["event"], "alert.raise");
        assert_eq!(body["metric"], "cpu");

        let (url, hits, _) = hook_server(usize::MAX).await;
        let err = delivery(&url, 2).deliver(&raise()).await.unwrap_err();
        assert!(err.contains("500"), "{err}");
        assert_eq!(hits.load(Ordering::SeqCst), 3, "one try and two retries");

        // Nothing listening: refused, retried, given up.
        let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let err = delivery(&format!("http://127.0.0.1:{port}/"), 1)
            .deliver(&raise())
            .await
            .unwrap_err();
        assert!(err.contains("connect"), "{err}");
    }

    #[tokio::test]
    async fn req_4_spawned_webhook_worker_delivers_and_counts() {
        let (url, hits, _) = hook_server(0).await;
        let config = MonitorConfig {
            webhook_url: Some(url),
            webhook_backoff_ms: 10,
            interval_secs: 3600,
            ..MonitorConfig::default()
        };
        let book = Arc::new(AlertBook::default());
        let queue = Arc::new(WebhookQueue::new(10, Arc::clone(&book)));
        let delivery = Delivery::from_config(&config).unwrap().unwrap();
        let worker = tokio::spawn(webhook_worker(Arc::clone(&queue), delivery));
        queue.push(raise());
        for _ in 0..200 {
            if book.webhook_stats().delivered == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        worker.abort();
        assert_eq!(book.webhook_stats().delivered, 1);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // spawn() starts and refuses a bad configuration.
        let dir = tempfile::tempdir().unwrap();
        let bad = MonitorConfig {
            webhook_url: Some("https://x/".to_owned()),
            ..MonitorConfig::default()
        };
        assert!(
            spawn(
                &bad,
                Arc::new(Gauges::default()),
                Arc::clone(&book),
                Arc::new(MemoryAuditStore::new()),
                dir.path().to_owned(),
            )
            .is_err()
        );
        let handle = spawn(
            &MonitorConfig::default(),
            Arc::new(Gauges::default()),
            Arc::clone(&book),
            Arc::new(MemoryAuditStore::new()),
            dir.path().to_owned(),
        )
        .unwrap();
        for _ in 0..200 {
            if book.last().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        handle.abort();
        assert!(book.last().is_some(), "the first tick samples at once");
    }
}
