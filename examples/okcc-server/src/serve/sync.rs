//! Cluster sync: access rules and bans live in the SQL stores
//! ([`AccessRuleStore`], [`BanStore`]) every node shares, and each node
//! follows the others' writes.
//!
//! - **Rules.** The REST API writes the rule set `api` (and the "block all
//!   foreign" switch as the one-line set `switch`) to the store; the
//!   `--rules` file stays this node's own named set. The live policy is
//!   the `--rules` file, then every stored rule set by name, then `switch`,
//!   plus the stored blocklist feeds, compiled and swapped in atomically
//!   ([`AccessControl`](okcc_core::access::AccessControl)). A stored set
//!   this node cannot compile (e.g. block-foreign without GeoIP here) is
//!   logged and the policy in force is kept.
//! - **Bans.** Manual bans and unbans over REST are written to the store
//!   first, then applied. Bans the guards start (brute force, flood,
//!   scanner) reach a [`BanObserver`] on the ban table, which hands them to
//!   a bounded queue (never blocking the SIP path; drops are counted) that
//!   one writer task empties into the store.
//! - **Following.** With PostgreSQL a [`PgChangeListener`] wakes the node
//!   on every NOTIFY, and it reads `changes_since(cursor)` for rules and
//!   bans; a poll every [`PG_POLL`] covers a broken LISTEN connection.
//!   With SQLite (nodes sharing one data directory) the node polls every
//!   [`SQLITE_POLL`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use okcc_core::StoreError;
use okcc_core::access::{
    AccessDocKind, AccessRuleDoc, AccessRuleStore, PostgresAccessRuleStore, RuleSet,
    SqliteAccessRuleStore,
};
use okcc_core::guard::{
    Ban, BanKind, BanObserver, BanRecord, BanStore, PostgresBanStore, SqliteBanStore,
};
use okcc_core::store::notify::{ChangeNotice, PgChangeListener};
use okcc_sip::pipeline::Guard;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::backup::{Pool, Stores};

/// How often a PostgreSQL node reads the changes even without a NOTIFY.
pub(crate) const PG_POLL: Duration = Duration::from_secs(5);
/// How often a SQLite node reads the changes.
pub(crate) const SQLITE_POLL: Duration = Duration::from_secs(1);
/// Guard bans waiting for the writer; beyond this they are dropped (and
/// counted): the SIP path never waits on the database.
pub(crate) const BAN_QUEUE: usize = 4096;
/// The rule set the REST API edits.
pub(crate) const API_SET: &str = "api";
/// The rule set holding the "block all foreign" switch.
pub(crate) const SWITCH_SET: &str = "switch";
/// Changes read per store call.
const PAGE: u32 = 1000;

/// Why a cluster write was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    /// The rules do not parse or do not form a policy on this node.
    #[error("{0}")]
    Invalid(String),
    /// Another node changed the same set first.
    #[error("{0}")]
    Conflict(String),
    /// The database did not take the change; nothing changed.
    #[error("the rule and ban store is unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => Self::Conflict(what),
            other => Self::Unavailable(crate::backup::report(&other)),
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct SyncMetrics {
    /// Guard bans dropped because the writer's queue was full.
    pub(crate) ban_queue_dropped: AtomicU64,
    /// Guard bans written to the store.
    pub(crate) bans_written: AtomicU64,
    /// Store writes of guard bans that failed (retried).
    pub(crate) ban_write_errors: AtomicU64,
    /// Other nodes' changes applied (rule sets and bans).
    pub(crate) changes_applied: AtomicU64,
    /// Reads of the stores that failed.
    pub(crate) read_errors: AtomicU64,
}

/// What this node knows of the stored rule documents.
#[derive(Debug, Default)]
struct Docs {
    /// Rule sets by name: version and parsed rules.
    sets: BTreeMap<String, (u64, String, RuleSet)>,
    /// Feed versions by name (the feeds themselves are in the policy).
    feeds: BTreeMap<String, u64>,
    rule_cursor: u64,
    ban_cursor: u64,
}

/// One node's view of the shared rules and bans (see the module docs).
#[derive(Debug)]
pub(crate) struct Cluster {
    rules: Arc<dyn AccessRuleStore>,
    bans: Arc<dyn BanStore>,
    guard: Arc<Guard>,
    /// The `--rules` file, this node's own set.
    file_rules: RuleSet,
    docs: tokio::sync::Mutex<Docs>,
    /// The `api` set's text, for `GET /access/rules` without waiting.
    api_text: Mutex<String>,
    pg: Option<sqlx::PgPool>,
    pub(crate) metrics: Arc<SyncMetrics>,
    /// The listener is connected (PostgreSQL).
    listening: AtomicBool,
}

/// What woke the follower.
enum Wake {
    Poll,
    Retry,
    Notice(Result<ChangeNotice, StoreError>),
}

/// The ban table's observer: guard bans to the writer's queue.
struct QueueObserver {
    tx: mpsc::Sender<BanRecord>,
    metrics: Arc<SyncMetrics>,
}

impl BanObserver for QueueObserver {
    fn banned(&self, ban: &Ban) {
        let rec = BanRecord::from_ban(ban, Instant::now(), SystemTime::now());
        if self.tx.try_send(rec).is_err() {
            self.metrics
                .ban_queue_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Cluster {
    /// Opens the rule and ban stores on the server's pool, loads every
    /// stored rule set and ban into `guard`, and hooks the guards' bans.
    pub(crate) async fn open(
        db: &Stores,
        guard: Arc<Guard>,
        file_rules: Option<RuleSet>,
    ) -> Result<Arc<Self>, String> {
        let err = |e: StoreError| {
            format!(
                "cannot open the rule and ban stores: {}",
                crate::backup::report(&e)
            )
        };
        let (rules, bans, pg): (Arc<dyn AccessRuleStore>, Arc<dyn BanStore>, _) = match &db.pool {
            Pool::Sqlite(p) => (
                Arc::new(
                    SqliteAccessRuleStore::from_pool(p.clone())
                        .await
                        .map_err(err)?,
                ),
                Arc::new(SqliteBanStore::from_pool(p.clone()).await.map_err(err)?),
                None,
            ),
            Pool::Postgres(p) => (
                Arc::new(
                    PostgresAccessRuleStore::from_pool(p.clone())
                        .await
                        .map_err(err)?,
                ),
                Arc::new(PostgresBanStore::from_pool(p.clone()).await.map_err(err)?),
                Some(p.clone()),
            ),
        };
        let cluster = Arc::new(Self {
            rules,
            bans,
            guard,
            file_rules: file_rules.unwrap_or_default(),
            docs: tokio::sync::Mutex::new(Docs::default()),
            api_text: Mutex::new(String::new()),
            pg,
            metrics: Arc::new(SyncMetrics::default()),
            listening: AtomicBool::new(false),
        });
        cluster
            .sync_rules()
            .await
            .map_err(|e| format!("cannot load the stored access rules: {e}"))?;
        cluster
            .sync_bans()
            .await
            .map_err(|e| format!("cannot load the stored bans: {e}"))?;
        Ok(cluster)
    }

    /// Starts the ban writer and the follower; both stop with `token`.
    pub(crate) fn spawn(self: &Arc<Self>, token: &CancellationToken) {
        let (tx, rx) = mpsc::channel(BAN_QUEUE);
        self.guard
            .state()
            .bans
            .set_observer(Some(Arc::new(QueueObserver {
                tx,
                metrics: Arc::clone(&self.metrics),
            })));
        tokio::spawn(Arc::clone(self).ban_writer(rx, token.child_token()));
        tokio::spawn(Arc::clone(self).follow(token.child_token()));
    }

    /// The `api` rule set's text.
    pub(crate) fn api_text(&self) -> String {
        self.api_text
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the `api` rule set: checked here (it must parse and form a
    /// policy with the others), stored (version-checked against what this
    /// node last read), then applied.
    pub(crate) async fn put_rules(&self, text: &str) -> Result<(), SyncError> {
        self.put_set(API_SET, text).await
    }

    /// Turns "block all foreign" on or off for every node.
    pub(crate) async fn set_block_foreign(&self, on: bool) -> Result<(), SyncError> {
        let text = if on {
            "block-foreign on\n"
        } else {
            "block-foreign off\n"
        };
        self.put_set(SWITCH_SET, text).await
    }

    async fn put_set(&self, name: &str, text: &str) -> Result<(), SyncError> {
        let doc =
            AccessRuleDoc::rule_set(name, text).map_err(|e| SyncError::Invalid(e.to_string()))?;
        let parsed =
            RuleSet::parse_text(name, text).map_err(|e| SyncError::Invalid(e.to_string()))?;
        let mut docs = self.docs.lock().await;
        // Catch up first so the version check is against the latest.
        self.apply_rule_changes(&mut docs).await?;
        let mut next = docs.sets.clone();
        let expected = next.get(name).map(|(v, _, _)| *v);
        next.insert(name.to_owned(), (0, text.to_owned(), parsed));
        let before = self.merged(&docs.sets);
        // Refuse what cannot form a policy here before anything is stored;
        // a refused change leaves the policy in force as it was.
        self.guard
            .access()
            .replace_rules(&self.merged(&next))
            .map_err(|e| SyncError::Invalid(e.to_string()))?;
        let stored = match self.rules.put(doc, expected).await {
            Ok(s) => s,
            Err(e) => {
                // Not stored: back to the rules this node had.
                let _ = self.guard.access().replace_rules(&before);
                return Err(e.into());
            }
        };
        if let Some(e) = next.get_mut(name) {
            e.0 = stored.version;
        }
        docs.sets = next;
        self.install(&docs);
        Ok(())
    }

    /// Bans `ip` by hand on every node: stored first, then applied here.
    pub(crate) async fn ban(&self, ip: IpAddr, duration: Duration) -> Result<Ban, SyncError> {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let record = BanRecord::new(ip, BanKind::Manual, wall + duration, 1);
        self.bans.ban(record).await?;
        Ok(self.guard.ban(ip, duration, now))
    }

    /// Lifts the ban on `ip` on every node; the ban that was in force here
    /// and whether the store had one.
    pub(crate) async fn unban(&self, ip: IpAddr) -> Result<(Option<Ban>, bool), SyncError> {
        let had = self.bans.unban(ip).await?;
        Ok((self.guard.unban(ip, Instant::now()), had))
    }

    /// `okcc_cluster_*` lines for `/metrics`.
    pub(crate) fn render_metrics(&self) -> String {
        let m = &self.metrics;
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# TYPE okcc_cluster_ban_queue_dropped_total counter\nokcc_cluster_ban_queue_dropped_total {}\n\
             # TYPE okcc_cluster_bans_written_total counter\nokcc_cluster_bans_written_total {}\n\
             # TYPE okcc_cluster_ban_write_errors_total counter\nokcc_cluster_ban_write_errors_total {}\n\
             # TYPE okcc_cluster_changes_applied_total counter\nokcc_cluster_changes_applied_total {}\n\
             # TYPE okcc_cluster_read_errors_total counter\nokcc_cluster_read_errors_total {}\n\
             # TYPE okcc_cluster_listening gauge\nokcc_cluster_listening {}\n",
            c(&m.ban_queue_dropped),
            c(&m.bans_written),
            c(&m.ban_write_errors),
            c(&m.changes_applied),
            c(&m.read_errors),
            u8::from(self.listening.load(Ordering::Relaxed)),
        )
    }

    /// The policy's rules: the `--rules` file, the stored sets by name,
    /// the switch last.
    fn merged(&self, sets: &BTreeMap<String, (u64, String, RuleSet)>) -> RuleSet {
        let mut all = self.file_rules.clone();
        let switch = sets.get(SWITCH_SET);
        for (name, (_, _, rules)) in sets {
            if name != SWITCH_SET {
                all.entries.extend(rules.entries.iter().cloned());
            }
        }
        if let Some((_, _, rules)) = switch {
            // The REST switch keeps its documented rule id in decisions
            // (`switch:block-foreign`, not the stored set's `switch:1`).
            all.entries
                .extend(rules.entries.iter().cloned().map(|mut e| {
                    e.id = okcc_core::RuleId::new(okcc_core::access::SWITCH_RULE);
                    e
                }));
        }
        all
    }

    /// Swaps in the policy of `docs` (a set that does not compile here is
    /// logged; the policy in force stays).
    fn install(&self, docs: &Docs) {
        let merged = self.merged(&docs.sets);
        if let Err(e) = self.guard.access().replace_rules(&merged) {
            tracing::error!(error = %e, "stored access rules do not form a policy on this node; keeping the rules in force");
        }
        let api = docs
            .sets
            .get(API_SET)
            .map(|(_, t, _)| t.clone())
            .unwrap_or_default();
        *self.api_text.lock().unwrap_or_else(PoisonError::into_inner) = api;
    }

    /// Reads the rule changes after this node's cursor into `docs`;
    /// `true` if any document changed.
    async fn apply_rule_changes(&self, docs: &mut Docs) -> Result<bool, StoreError> {
        let mut changed = false;
        loop {
            let page = self.rules.changes_since(docs.rule_cursor, PAGE).await?;
            let full = page.len() >= PAGE as usize;
            for ch in page {
                let name = ch.name.clone();
                let known = match ch.kind {
                    AccessDocKind::RuleSet => docs.sets.get(&name).map(|e| e.0),
                    AccessDocKind::Feed => docs.feeds.get(&name).copied(),
                    _ => None,
                };
                if ch.version != known {
                    changed = true;
                    self.metrics.changes_applied.fetch_add(1, Ordering::Relaxed);
                    let doc = match ch.version {
                        Some(_) => self.rules.get(ch.kind, &name).await?,
                        None => None,
                    };
                    match (ch.kind, doc) {
                        (AccessDocKind::RuleSet, Some(d)) => {
                            if let Some(Ok(rules)) = d.doc.to_rule_set() {
                                docs.sets
                                    .insert(name, (d.version, d.doc.text().to_owned(), rules));
                            }
                        }
                        (AccessDocKind::RuleSet, None) => {
                            docs.sets.remove(&name);
                        }
                        (AccessDocKind::Feed, Some(d)) => {
                            if let Some(Ok(feed)) = d.doc.to_feed() {
                                self.guard.access().replace_feed(feed);
                                docs.feeds.insert(name, d.version);
                            }
                        }
                        (AccessDocKind::Feed, None) => {
                            self.guard.access().remove_feed(&name);
                            docs.feeds.remove(&name);
                        }
                        _ => {}
                    }
                }
                docs.rule_cursor = docs.rule_cursor.max(ch.seq);
            }
            if !full {
                return Ok(changed);
            }
        }
    }

    /// Applies the other nodes' rule changes.
    async fn sync_rules(&self) -> Result<(), StoreError> {
        let mut docs = self.docs.lock().await;
        let first = docs.rule_cursor == 0;
        if self.apply_rule_changes(&mut docs).await? || first {
            self.install(&docs);
        }
        Ok(())
    }

    /// Applies the other nodes' bans and unbans.
    async fn sync_bans(&self) -> Result<(), StoreError> {
        let mut docs = self.docs.lock().await;
        loop {
            let page = self.bans.changes_since(docs.ban_cursor, PAGE).await?;
            let (now, wall) = (Instant::now(), SystemTime::now());
            if page.reset {
                // Changes were pruned: take the bans in force instead.
                for rec in self.bans.active(wall).await? {
                    self.restore(&rec, now, wall);
                }
                docs.ban_cursor = page.cursor;
                continue;
            }
            let full = page.changes.len() >= PAGE as usize;
            for ch in &page.changes {
                self.metrics.changes_applied.fetch_add(1, Ordering::Relaxed);
                match &ch.ban {
                    Some(rec) => self.restore(rec, now, wall),
                    None => {
                        self.guard.unban(ch.source, now);
                    }
                }
            }
            docs.ban_cursor = page.cursor.max(docs.ban_cursor);
            if !full {
                return Ok(());
            }
        }
    }

    fn restore(&self, rec: &BanRecord, now: Instant, wall: SystemTime) {
        if let Some(until) = rec.until_instant(now, wall) {
            self.guard
                .state()
                .bans
                .restore(rec.source, rec.kind, until, rec.offences, now);
        }
    }

    /// Writes guard bans to the store, in order; a failed write is retried
    /// every second (meanwhile the queue fills and further bans are
    /// dropped and counted).
    async fn ban_writer(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<BanRecord>,
        token: CancellationToken,
    ) {
        loop {
            let rec = tokio::select! {
                () = token.cancelled() => return,
                r = rx.recv() => match r { Some(r) => r, None => return },
            };
            loop {
                if rec.until <= SystemTime::now() {
                    break;
                }
                match self.bans.ban(rec.clone()).await {
                    Ok(_) => {
                        self.metrics.bans_written.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => {
                        self.metrics
                            .ban_write_errors
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %crate::backup::report(&e), source = %rec.source, "cannot store a ban; retrying");
                        tokio::select! {
                            () = token.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }
    }

    /// Follows the other nodes until `token` is cancelled.
    async fn follow(self: Arc<Self>, token: CancellationToken) {
        let poll = if self.pg.is_some() {
            PG_POLL
        } else {
            SQLITE_POLL
        };
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut listener: Option<PgChangeListener> = None;
        let mut retry_at = Instant::now();
        loop {
            if listener.is_none()
                && let Some(pool) = &self.pg
                && Instant::now() >= retry_at
            {
                match tokio::time::timeout(Duration::from_secs(5), PgChangeListener::connect(pool))
                    .await
                {
                    Ok(Ok(l)) => {
                        listener = Some(l);
                        self.listening.store(true, Ordering::Relaxed);
                        // Changes made while not listening.
                        self.catch_up(true, true).await;
                    }
                    _ => retry_at = Instant::now() + Duration::from_secs(1),
                }
            }
            let waiting = listener.is_none() && self.pg.is_some();
            let event = {
                let notice = async {
                    match listener.as_mut() {
                        Some(l) => l.next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = token.cancelled() => return,
                    _ = tick.tick() => Wake::Poll,
                    () = tokio::time::sleep(Duration::from_secs(1)), if waiting => Wake::Retry,
                    n = notice => Wake::Notice(n),
                }
            };
            match event {
                Wake::Retry => {}
                Wake::Notice(Ok(ChangeNotice::Bans)) => self.catch_up(false, true).await,
                Wake::Notice(Ok(ChangeNotice::AccessRules)) => self.catch_up(true, false).await,
                Wake::Poll | Wake::Notice(Ok(_)) => self.catch_up(true, true).await,
                Wake::Notice(Err(e)) => {
                    tracing::warn!(error = %crate::backup::report(&e), "cluster LISTEN connection lost; polling until it is back");
                    listener = None;
                    self.listening.store(false, Ordering::Relaxed);
                    retry_at = Instant::now() + Duration::from_secs(1);
                }
            }
        }
    }

    async fn catch_up(&self, rules: bool, bans: bool) {
        if rules && let Err(e) = self.sync_rules().await {
            self.metrics.read_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %crate::backup::report(&e), "cannot read access rule changes");
        }
        if bans && let Err(e) = self.sync_bans().await {
            self.metrics.read_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %crate::backup::report(&e), "cannot read ban changes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use okcc_core::access::{AccessControl, AccessRequest, Channel};

    fn guard() -> Arc<Guard> {
        Arc::new(Guard::new(
            okcc_sip::pipeline::GuardConfig::default(),
            Arc::new(AccessControl::new(None)),
            Arc::new(okcc_sip::digest::DigestServer::new(
                okcc_sip::digest::DigestConfig::new("okcc", vec![7; 32]),
            )),
            Arc::new(okcc_core::credential::MemoryCredentialStore::new()),
        ))
    }

    async fn node(dir: &std::path::Path, file: Option<&str>) -> (Arc<Guard>, Arc<Cluster>) {
        let db = crate::backup::open_stores(&crate::backup::DbArgs {
            data_dir: Some(dir.to_path_buf()),
            database_url: None,
        })
        .await
        .unwrap();
        let g = guard();
        let file = file.map(|t| RuleSet::parse_text("node.rules", t).unwrap());
        let c = Cluster::open(&db, Arc::clone(&g), file).await.unwrap();
        (g, c)
    }

    fn allowed(g: &Guard, ip: &str) -> bool {
        g.access()
            .check(&AccessRequest::new(
                ip.parse().unwrap(),
                Channel::SipRegister,
            ))
            .is_allowed()
    }

    async fn eventually(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "{what} did not happen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn req_7_two_nodes_on_one_sqlite_database_share_rules_and_guard_bans() {
        let dir = tempfile::tempdir().unwrap();
        let (ga, a) = node(dir.path(), Some("deny 198.51.100.0/24\n")).await;
        let (gb, b) = node(dir.path(), None).await;
        let token = CancellationToken::new();
        a.spawn(&token);
        b.spawn(&token);

        // A REST rule change on A reaches B; A's own file rules stay A's.
        a.put_rules("deny 192.0.2.0/24\n").await.unwrap();
        assert!(!allowed(&ga, "192.0.2.9") && !allowed(&ga, "198.51.100.1"));
        eventually("B applies A's rule", || !allowed(&gb, "192.0.2.9")).await;
        assert!(allowed(&gb, "198.51.100.1"), "A's --rules file is A's own");
        assert_eq!(b.api_text(), "deny 192.0.2.0/24\n");

        // A set that does not parse changes nothing anywhere.
        assert!(matches!(
            a.put_rules("deny 300.1.1.1\n").await,
            Err(SyncError::Invalid(_))
        ));
        assert!(!allowed(&ga, "192.0.2.9"));
        // block-foreign without GeoIP is refused before it is stored.
        assert!(matches!(
            b.set_block_foreign(true).await,
            Err(SyncError::Invalid(_))
        ));

        // A guard ban on A (the brute-force guard's table write) reaches B.
        let ip: IpAddr = "203.0.113.50".parse().unwrap();
        ga.state().bans.ban(
            ip,
            BanKind::BruteForce,
            Duration::from_secs(600),
            Duration::from_secs(600),
            1,
            Instant::now(),
        );
        eventually("B bans A's brute-force source", || {
            gb.state().bans.banned(ip, Instant::now()).map(|b| b.kind) == Some(BanKind::BruteForce)
        })
        .await;
        assert_eq!(a.metrics.bans_written.load(Ordering::Relaxed), 1);

        // An unban on B lifts it on A; a manual ban on B reaches A.
        let (here, stored) = b.unban(ip).await.unwrap();
        assert!(here.is_some() && stored);
        eventually("A lifts the ban", || {
            !ga.state().bans.is_banned(ip, Instant::now())
        })
        .await;
        let manual: IpAddr = "203.0.113.51".parse().unwrap();
        b.ban(manual, Duration::from_secs(300)).await.unwrap();
        eventually("A applies B's manual ban", || {
            ga.state()
                .bans
                .banned(manual, Instant::now())
                .map(|b| b.kind)
                == Some(BanKind::Manual)
        })
        .await;
        // Bans read from the store are not written back.
        assert_eq!(b.metrics.bans_written.load(Ordering::Relaxed), 0);

        // A node started later loads everything.
        let (gc, _c) = node(dir.path(), None).await;
        assert!(!allowed(&gc, "192.0.2.9"));
        assert!(gc.state().bans.is_banned(manual, Instant::now()));
        token.cancel();
    }
}
