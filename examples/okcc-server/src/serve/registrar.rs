//! The registrar (RFC 3261 §10.3): bindings per address of record, kept
//! in a [`RegistrationStore`] so a restart keeps them.
//!
//! [`apply`] is pure: it takes the current bindings, one REGISTER and the
//! time, and returns the reply and the new bindings. The store keeps them
//! in memory; [`FileRegistrationStore`] persists them off the request path
//! (batched, at most every [`FLUSH_INTERVAL`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::RegistrarConfig;
use crate::files;

/// One registered contact of an address of record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Binding {
    /// The contact URI, as sent (without `<>` and header parameters).
    pub(crate) contact: String,
    /// Call-ID of the REGISTER that last refreshed it.
    pub(crate) call_id: String,
    /// CSeq of that REGISTER.
    pub(crate) cseq: u32,
    /// When it expires (Unix seconds).
    pub(crate) expires_at: u64,
    /// The transport and address the REGISTER came from (`udp:1.2.3.4:5060`).
    pub(crate) source: String,
}

/// One contact in a REGISTER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ContactSpec {
    /// The URI.
    pub(crate) uri: String,
    /// Its `expires=` parameter.
    pub(crate) expires: Option<u32>,
}

/// What a REGISTER asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegisterRequest {
    /// Call-ID.
    pub(crate) call_id: String,
    /// CSeq number.
    pub(crate) cseq: u32,
    /// The `Expires` header.
    pub(crate) expires: Option<u32>,
    /// `Contact: *`.
    pub(crate) star: bool,
    /// The contacts (empty for a query).
    pub(crate) contacts: Vec<ContactSpec>,
    /// Where it came from.
    pub(crate) source: String,
}

/// The registrar's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RegisterOutcome {
    /// 200 OK listing these bindings.
    Ok(Vec<Binding>),
    /// 423 Interval Too Brief with `Min-Expires`.
    IntervalTooBrief(u32),
    /// 400 with a reason (`*` misuse).
    BadRequest(&'static str),
    /// 500: a retransmitted or reordered REGISTER (same Call-ID, CSeq not higher).
    OutOfOrder,
    /// 403: more contacts than allowed.
    TooManyContacts,
}

/// Applies one REGISTER to `current` (RFC 3261 §10.3 steps 5–8).
/// Returns the outcome and, when it changed something, the bindings to store.
pub(crate) fn apply(
    current: &[Binding],
    req: &RegisterRequest,
    now: u64,
    cfg: &RegistrarConfig,
) -> (RegisterOutcome, Option<Vec<Binding>>) {
    let live: Vec<Binding> = current
        .iter()
        .filter(|b| b.expires_at > now)
        .cloned()
        .collect();
    let expired_dropped = live.len() != current.len();
    if req.star {
        if !req.contacts.is_empty() || req.expires != Some(0) {
            return (
                RegisterOutcome::BadRequest("Contact: * needs Expires: 0 and no other contact"),
                None,
            );
        }
        if live
            .iter()
            .any(|b| b.call_id == req.call_id && req.cseq <= b.cseq)
        {
            return (RegisterOutcome::OutOfOrder, None);
        }
        return (RegisterOutcome::Ok(Vec::new()), Some(Vec::new()));
    }
    if req.contacts.is_empty() {
        let changed = expired_dropped.then(|| live.clone());
        return (RegisterOutcome::Ok(live), changed);
    }
    let mut next = live;
    for c in &req.contacts {
        let asked = c.expires.or(req.expires).unwrap_or(cfg.default_expires);
        if asked != 0 && asked < cfg.min_expires {
            return (RegisterOutcome::IntervalTooBrief(cfg.min_expires), None);
        }
        let expires = asked.min(cfg.max_expires);
        let pos = next
            .iter()
            .position(|b| b.contact.eq_ignore_ascii_case(&c.uri));
        if let Some(i) = pos
            && next[i].call_id == req.call_id
            && req.cseq <= next[i].cseq
        {
            return (RegisterOutcome::OutOfOrder, None);
        }
        match (pos, expires) {
            (Some(i), 0) => {
                next.remove(i);
            }
            (None, 0) => {}
            (_, e) => {
                let b = Binding {
                    contact: c.uri.clone(),
                    call_id: req.call_id.clone(),
                    cseq: req.cseq,
                    expires_at: now.saturating_add(u64::from(e)),
                    source: req.source.clone(),
                };
                match pos {
                    Some(i) => next[i] = b,
                    None => next.push(b),
                }
            }
        }
    }
    if next.len() > cfg.max_contacts {
        return (RegisterOutcome::TooManyContacts, None);
    }
    (RegisterOutcome::Ok(next.clone()), Some(next))
}

/// Why a registration store failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistrationStoreError {
    /// The file could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// Where bindings live. Implementations make [`RegistrationStore::replace`]
/// atomic; the registrar serialises writes per address of record.
pub(crate) trait RegistrationStore: fmt::Debug + Send + Sync {
    /// The stored bindings of `aor` (expired ones may be included).
    fn bindings(&self, aor: &str) -> Vec<Binding>;
    /// Replaces the bindings of `aor` (an empty list removes it).
    fn replace(&self, aor: &str, bindings: Vec<Binding>) -> Result<(), RegistrationStoreError>;
    /// How many bindings are stored (all accounts).
    fn count(&self) -> usize;
    /// Makes every change so far durable (graceful shutdown). Stores that
    /// write through have nothing to do.
    fn flush(&self) -> Result<(), RegistrationStoreError> {
        Ok(())
    }
}

/// Bindings in memory only (tests, and integrators who keep no state).
#[derive(Debug, Default)]
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "the server persists bindings; kept for tests and integrators"
    )
)]
pub(crate) struct MemoryRegistrationStore {
    map: Mutex<BTreeMap<String, Vec<Binding>>>,
}

impl RegistrationStore for MemoryRegistrationStore {
    fn bindings(&self, aor: &str) -> Vec<Binding> {
        self.map
            .lock()
            .map(|m| m.get(aor).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    fn count(&self) -> usize {
        self.map
            .lock()
            .map_or(0, |m| m.values().map(Vec::len).sum())
    }

    fn replace(&self, aor: &str, bindings: Vec<Binding>) -> Result<(), RegistrationStoreError> {
        let mut m = self
            .map
            .lock()
            .map_err(|_| RegistrationStoreError::Io("registration store poisoned".to_owned()))?;
        if bindings.is_empty() {
            m.remove(aor);
        } else {
            m.insert(aor.to_owned(), bindings);
        }
        Ok(())
    }
}

/// How often, at most, [`FileRegistrationStore`] rewrites its file.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Bindings in memory, persisted to a JSON file by a writer thread.
///
/// [`RegistrationStore::replace`] only changes the in-memory map and marks
/// it dirty: the REGISTER path never waits on the disk. The writer wakes at
/// most every [`FLUSH_INTERVAL`], and when the map is dirty it serialises one
/// snapshot and rewrites the file atomically (temp file, fsync, rename). All
/// changes since the last write are coalesced into that one write, so the
/// disk work is bounded by the interval, not by the REGISTER rate, and the
/// writer holds at most one snapshot. [`RegistrationStore::flush`] (graceful
/// shutdown) and dropping the store write whatever is still dirty, so a
/// restart keeps every binding; a crash (or `SIGKILL`) loses at most the
/// changes of the last interval plus one write (well under a second). A
/// failed write is logged and retried at the next interval.
#[derive(Debug)]
pub(crate) struct FileRegistrationStore {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    map: Mutex<BTreeMap<String, Vec<Binding>>>,
    /// Bumped on every change.
    generation: AtomicU64,
    /// The generation last written to the file.
    written: Mutex<u64>,
    /// Wakes the writer early (shutdown).
    wake: Condvar,
    stop: AtomicBool,
    /// Bindings in the map (kept so `count` takes no lock).
    count: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update is a plain insert or remove; a panic while the lock is
    // held cannot leave a half-changed map.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Writes the map when it changed since the last write. Writes are
    /// serialised by the `written` lock; the map lock is held only for the
    /// snapshot.
    fn flush(&self) -> Result<(), RegistrationStoreError> {
        let mut written = lock(&self.written);
        let (generation, snapshot) = {
            let m = lock(&self.map);
            let g = self.generation.load(Ordering::Acquire);
            if g == *written {
                return Ok(());
            }
            (g, m.clone())
        };
        files::write_json_atomic(&self.path, &snapshot).map_err(RegistrationStoreError::Io)?;
        *written = generation;
        Ok(())
    }

    /// The writer thread: flush when dirty, at most every interval.
    fn run(&self) {
        let mut failing = false;
        loop {
            {
                let written = lock(&self.written);
                if !self.stop.load(Ordering::Acquire) {
                    let _ = self
                        .wake
                        .wait_timeout(written, FLUSH_INTERVAL)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
            match self.flush() {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(path = %self.path.display(), "bindings written again");
                }
                Ok(()) => {}
                Err(e) => {
                    if !failing {
                        tracing::error!(error = %e, "cannot store bindings; retrying");
                    }
                    failing = true;
                }
            }
            if self.stop.load(Ordering::Acquire) {
                return;
            }
        }
    }
}

impl FileRegistrationStore {
    /// Opens (or starts) the file at `path` and starts its writer thread.
    pub(crate) fn open(path: PathBuf) -> Result<Self, RegistrationStoreError> {
        let map: BTreeMap<String, Vec<Binding>> = files::read_json(&path)
            .map_err(RegistrationStoreError::Io)?
            .unwrap_or_default();
        let count = map.values().map(Vec::len).sum();
        let shared = Arc::new(Shared {
            path,
            map: Mutex::new(map),
            generation: AtomicU64::new(0),
            written: Mutex::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            count: AtomicUsize::new(count),
        });
        let s = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("okcc-bindings".to_owned())
            .spawn(move || s.run())
            .map_err(|e| RegistrationStoreError::Io(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Stops the writer after a last write.
    fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _w = lock(&self.shared.written);
            self.shared.wake.notify_all();
        }
        if let Some(h) = lock(&self.writer).take() {
            let _ = h.join();
        }
    }
}

impl Drop for FileRegistrationStore {
    fn drop(&mut self) {
        self.stop();
        if let Err(e) = self.shared.flush() {
            tracing::error!(error = %e, "cannot store bindings at exit");
        }
    }
}

impl RegistrationStore for FileRegistrationStore {
    fn bindings(&self, aor: &str) -> Vec<Binding> {
        lock(&self.shared.map).get(aor).cloned().unwrap_or_default()
    }

    fn count(&self) -> usize {
        self.shared.count.load(Ordering::Relaxed)
    }

    fn replace(&self, aor: &str, bindings: Vec<Binding>) -> Result<(), RegistrationStoreError> {
        let mut m = lock(&self.shared.map);
        let old = if bindings.is_empty() {
            m.remove(aor)
        } else {
            m.insert(aor.to_owned(), bindings)
        };
        let now: usize = m.get(aor).map_or(0, Vec::len);
        let before = old.as_ref().map_or(0, Vec::len);
        if old.is_none() && now == 0 {
            return Ok(());
        }
        // Under the map lock: the writer's snapshot and generation agree.
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        let c = self.shared.count.load(Ordering::Relaxed);
        self.shared.count.store(
            c.saturating_add(now).saturating_sub(before),
            Ordering::Relaxed,
        );
        Ok(())
    }

    fn flush(&self) -> Result<(), RegistrationStoreError> {
        self.shared.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RegistrarConfig {
        RegistrarConfig::default()
    }

    fn req(
        call_id: &str,
        cseq: u32,
        expires: Option<u32>,
        contacts: &[(&str, Option<u32>)],
    ) -> RegisterRequest {
        RegisterRequest {
            call_id: call_id.to_owned(),
            cseq,
            expires,
            star: false,
            contacts: contacts
                .iter()
                .map(|(u, e)| ContactSpec {
                    uri: (*u).to_owned(),
                    expires: *e,
                })
                .collect(),
            source: "udp:127.0.0.1:5062".to_owned(),
        }
    }

    fn ok(o: RegisterOutcome) -> Vec<Binding> {
        match o {
            RegisterOutcome::Ok(b) => b,
            other => panic!("expected 200, got {other:?}"),
        }
    }

    #[test]
    fn req_9_registrar_several_contacts_with_expires_param_and_header() {
        let (o, store) = apply(
            &[],
            &req(
                "c1",
                1,
                Some(600),
                &[("sip:a@10.0.0.1", None), ("sip:a@10.0.0.2", Some(120))],
            ),
            1000,
            &cfg(),
        );
        let b = ok(o);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].expires_at, 1600);
        assert_eq!(b[1].expires_at, 1120);
        assert_eq!(store.unwrap(), b);
        // expired bindings disappear from a query
        let (o, _) = apply(&b, &req("c2", 1, None, &[]), 1200, &cfg());
        assert_eq!(ok(o).len(), 1);
    }

    #[test]
    fn req_9_registrar_423_min_expires_and_cap_at_max() {
        let (o, s) = apply(&[], &req("c", 1, Some(10), &[("sip:a@h", None)]), 0, &cfg());
        assert_eq!(o, RegisterOutcome::IntervalTooBrief(60));
        assert!(s.is_none());
        let (o, _) = apply(
            &[],
            &req("c", 1, None, &[("sip:a@h", Some(99_999))]),
            0,
            &cfg(),
        );
        assert_eq!(ok(o)[0].expires_at, 3600);
    }

    #[test]
    fn req_9_registrar_star_removes_all_only_with_expires_zero() {
        let (o, _) = apply(
            &[],
            &req("c", 1, Some(600), &[("sip:a@1", None), ("sip:a@2", None)]),
            0,
            &cfg(),
        );
        let b = ok(o);
        let mut star = req("d", 1, Some(0), &[]);
        star.star = true;
        let (o, s) = apply(&b, &star, 10, &cfg());
        assert_eq!(ok(o), vec![]);
        assert_eq!(s, Some(vec![]));
        star.expires = Some(60);
        assert!(matches!(
            apply(&b, &star, 10, &cfg()).0,
            RegisterOutcome::BadRequest(_)
        ));
    }

    #[test]
    fn req_9_registrar_call_id_cseq_ordering() {
        let (o, _) = apply(&[], &req("c", 5, None, &[("sip:a@1", None)]), 0, &cfg());
        let b = ok(o);
        // same Call-ID, same or lower CSeq: out of order
        assert_eq!(
            apply(&b, &req("c", 5, None, &[("sip:a@1", None)]), 1, &cfg()).0,
            RegisterOutcome::OutOfOrder
        );
        assert_eq!(
            apply(&b, &req("c", 4, None, &[("sip:a@1", None)]), 1, &cfg()).0,
            RegisterOutcome::OutOfOrder
        );
        // higher CSeq refreshes; another Call-ID (phone rebooted) replaces
        assert_eq!(
            ok(apply(&b, &req("c", 6, Some(120), &[("sip:a@1", None)]), 1, &cfg()).0)[0].expires_at,
            121
        );
        assert_eq!(
            ok(apply(&b, &req("z", 1, Some(120), &[("sip:a@1", None)]), 1, &cfg()).0)[0].call_id,
            "z"
        );
        // expires=0 removes one binding
        assert_eq!(
            ok(apply(&b, &req("c", 7, None, &[("sip:a@1", Some(0))]), 1, &cfg()).0),
            vec![]
        );
    }

    #[test]
    fn req_9_registrar_contact_limit() {
        let c = RegistrarConfig {
            max_contacts: 1,
            ..cfg()
        };
        let (o, _) = apply(
            &[],
            &req("c", 1, None, &[("sip:a@1", None), ("sip:a@2", None)]),
            0,
            &c,
        );
        assert_eq!(o, RegisterOutcome::TooManyContacts);
    }

    #[test]
    fn req_9_registrar_file_store_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bindings.json");
        let s = FileRegistrationStore::open(path.clone()).unwrap();
        let (o, _) = apply(&[], &req("c", 1, None, &[("sip:a@1", None)]), 0, &cfg());
        s.replace("1001", ok(o)).unwrap();
        assert_eq!(s.count(), 1);
        // A graceful stop (drop) writes what is still pending.
        drop(s);
        let s2 = FileRegistrationStore::open(path.clone()).unwrap();
        assert_eq!(s2.bindings("1001").len(), 1);
        assert_eq!(s2.count(), 1);
        s2.replace("1001", vec![]).unwrap();
        assert_eq!(s2.count(), 0);
        s2.flush().unwrap();
        let s3 = FileRegistrationStore::open(path).unwrap();
        assert!(s3.bindings("1001").is_empty());
        let m = MemoryRegistrationStore::default();
        m.replace("x", vec![]).unwrap();
        assert!(m.bindings("x").is_empty());
    }

    #[test]
    fn req_9_registrar_file_store_writes_in_the_background_and_coalesces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bindings.json");
        let s = FileRegistrationStore::open(path.clone()).unwrap();
        // A burst of refreshes: all answered from memory at once.
        for cseq in 1..=500u32 {
            let (o, _) = apply(
                &s.bindings("1001"),
                &req("c", cseq, Some(600), &[("sip:a@1", None)]),
                u64::from(cseq),
                &cfg(),
            );
            s.replace("1001", ok(o)).unwrap();
        }
        assert_eq!(s.bindings("1001")[0].cseq, 500);
        // Without any flush call the writer persists the last state within
        // a few intervals.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let on_disk: Option<BTreeMap<String, Vec<Binding>>> = files::read_json(&path).unwrap();
            if on_disk
                .as_ref()
                .and_then(|m| m.get("1001"))
                .is_some_and(|b| b.len() == 1 && b[0].cseq == 500)
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never stored the last refresh: {on_disk:?}"
            );
            std::thread::sleep(FLUSH_INTERVAL / 5);
        }
        // Nothing dirty: a flush writes nothing (the file stays the same inode).
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        s.flush().unwrap();
        std::thread::sleep(FLUSH_INTERVAL * 2);
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
    }
}
