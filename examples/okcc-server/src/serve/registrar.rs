//! The registrar (RFC 3261 §10.3): bindings per address of record, kept
//! in a [`RegistrationStore`] so a restart keeps them.
//!
//! [`apply`] is pure: it takes the current bindings, one REGISTER and the
//! time, and returns the reply and the new bindings. The store only makes
//! the write atomic.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Mutex;

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

/// Bindings in a JSON file, rewritten atomically (temp file + rename) on
/// every change. Until the SQLite store lands this is what keeps bindings
/// over a restart.
#[derive(Debug)]
pub(crate) struct FileRegistrationStore {
    path: PathBuf,
    map: Mutex<BTreeMap<String, Vec<Binding>>>,
}

impl FileRegistrationStore {
    /// Opens (or starts) the file at `path`.
    pub(crate) fn open(path: PathBuf) -> Result<Self, RegistrationStoreError> {
        let map = files::read_json(&path)
            .map_err(RegistrationStoreError::Io)?
            .unwrap_or_default();
        Ok(Self {
            path,
            map: Mutex::new(map),
        })
    }
}

impl RegistrationStore for FileRegistrationStore {
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
        let mut next = m.clone();
        if bindings.is_empty() {
            next.remove(aor);
        } else {
            next.insert(aor.to_owned(), bindings);
        }
        files::write_json_atomic(&self.path, &next).map_err(RegistrationStoreError::Io)?;
        *m = next;
        Ok(())
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
        let s2 = FileRegistrationStore::open(path.clone()).unwrap();
        assert_eq!(s2.bindings("1001").len(), 1);
        s2.replace("1001", vec![]).unwrap();
        assert!(
            FileRegistrationStore::open(path)
                .unwrap()
                .bindings("1001")
                .is_empty()
        );
        let m = MemoryRegistrationStore::default();
        m.replace("x", vec![]).unwrap();
        assert!(m.bindings("x").is_empty());
    }
}
