//! `okcc-server extension add|list|remove`: SIP accounts in the data
//! directory, and the file store the server reads them from.
//!
//! Only HA1 values are stored (MD5, SHA-256, SHA-512-256; RFC 8760), never
//! the password. The password policy applies when a secret is set; every
//! change is appended to the audit log (`audit.jsonl`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use clap::Subcommand;
use okcc_audit::export::{JsonlRecord, read_jsonl, write_jsonl_line};
use okcc_audit::{Action, Actor, AuditEvent, ChainAnchor, ChainTail, Label, Outcome, Target};
use okcc_core::credential::{DigestAlgorithm, Ha1, SipCredential};
use okcc_core::ids::TenantId;
use okcc_core::password::PasswordPolicy;
use serde::{Deserialize, Serialize};

use crate::files;
use crate::serve::config::{Config, DataArgs};

/// File names in the data directory.
pub(crate) const EXTENSIONS_FILE: &str = "extensions.json";
/// The audit log.
pub(crate) const AUDIT_FILE: &str = "audit.jsonl";

/// `okcc-server extension ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ExtensionCommand {
    /// Add or replace an extension; the password is read from standard input.
    Add {
        /// Extension number or name ([A-Za-z0-9._-], at most 64 bytes).
        user: String,
        /// The tenant it belongs to (default: the platform).
        #[arg(long)]
        tenant: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List extensions; `weak` marks secrets found in the weak-password list.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Remove an extension.
    Remove {
        /// Extension to remove.
        user: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// One stored extension.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ExtensionRecord {
    /// The SIP user name.
    pub(crate) user: String,
    /// Its tenant.
    pub(crate) tenant: Option<String>,
    /// The realm the HA1 values are for.
    pub(crate) realm: String,
    /// HA1 for MD5, hex.
    pub(crate) ha1_md5: String,
    /// HA1 for SHA-256, hex.
    pub(crate) ha1_sha256: String,
    /// HA1 for SHA-512-256, hex.
    pub(crate) ha1_sha512_256: String,
}

impl ExtensionRecord {
    /// The HA1 for `algorithm`, if the stored hex is valid.
    pub(crate) fn ha1(&self, algorithm: DigestAlgorithm) -> Option<Ha1> {
        let hex = match algorithm {
            DigestAlgorithm::Md5 => &self.ha1_md5,
            DigestAlgorithm::Sha256 => &self.ha1_sha256,
            _ => &self.ha1_sha512_256,
        };
        Ha1::from_hex(algorithm, hex)
    }
}

type ExtensionMap = BTreeMap<String, ExtensionRecord>;

/// Checks an extension name.
pub(crate) fn valid_user(user: &str) -> Result<(), String> {
    if user.is_empty()
        || user.len() > 64
        || !user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!(
            "extension `{}`: use 1 to 64 characters from A-Z a-z 0-9 . _ -",
            user.escape_debug()
        ));
    }
    Ok(())
}

/// The extensions file, re-read when it changes on disk (so the CLI can
/// change accounts while a server runs on the same data directory).
#[derive(Debug)]
pub(crate) struct ExtensionFile {
    path: PathBuf,
    cache: Mutex<(Option<SystemTime>, Arc<ExtensionMap>)>,
}

impl ExtensionFile {
    /// The store in `data_dir`.
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(EXTENSIONS_FILE),
            cache: Mutex::new((None, Arc::new(ExtensionMap::new()))),
        }
    }

    fn load(&self) -> Result<ExtensionMap, String> {
        Ok(files::read_json(&self.path)?.unwrap_or_default())
    }

    /// The current accounts (cached until the file's mtime changes).
    pub(crate) fn snapshot(&self) -> Result<Arc<ExtensionMap>, String> {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut c = self
            .cache
            .lock()
            .map_err(|_| "extension cache poisoned".to_owned())?;
        if c.0.is_none() || c.0 != mtime {
            c.1 = Arc::new(self.load()?);
            c.0 = mtime;
        }
        Ok(Arc::clone(&c.1))
    }

    /// One account.
    pub(crate) fn get(&self, user: &str) -> Result<Option<ExtensionRecord>, String> {
        Ok(self.snapshot()?.get(user).cloned())
    }

    fn modify<T>(
        &self,
        f: impl FnOnce(&mut ExtensionMap) -> Result<T, String>,
    ) -> Result<T, String> {
        let _lock = lock_file(&self.path.with_extension("lock"))?;
        let mut map = self.load()?;
        let out = f(&mut map)?;
        files::write_json_atomic(&self.path, &map)?;
        Ok(out)
    }
}

/// An exclusive lock held while the guard lives (across processes).
fn lock_file(path: &Path) -> Result<std::fs::File, String> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    f.lock()
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(f)
}

/// Appends one event to `audit.jsonl` in `data_dir`, linked to the last one.
pub(crate) fn append_audit(data_dir: &Path, event: AuditEvent) -> Result<(), String> {
    let path = data_dir.join(AUDIT_FILE);
    let _lock = lock_file(&path.with_extension("lock"))?;
    let mut head = ChainAnchor::GENESIS;
    match std::fs::File::open(&path) {
        Ok(f) => {
            for rec in read_jsonl(BufReader::new(f)) {
                match rec.map_err(|e| format!("{}: {e}", path.display()))? {
                    JsonlRecord::Anchor(a) => head = a,
                    JsonlRecord::Event(e) => head = ChainAnchor::of(&e),
                    _ => {}
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let stored = ChainTail::new(head).link(event);
    let mut line = Vec::new();
    write_jsonl_line(&JsonlRecord::Event(Box::new(stored)), &mut line)
        .map_err(|e| e.to_string())?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    f.write_all(&line)
        .and_then(|()| f.sync_data())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn cli_event(action: Action, user: &str, tenant: Option<&TenantId>) -> Result<AuditEvent, String> {
    let actor = Actor::system(Label::new("okcc-server-cli").map_err(|e| e.to_string())?);
    Ok(AuditEvent::new(actor, action, Outcome::Success)
        .with_tenant(tenant.cloned())
        .with_target(Target::new("sip-extension", user).map_err(|e| e.to_string())?))
}

/// Runs an extension subcommand.
pub(crate) fn run(cmd: ExtensionCommand) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let result = match cmd {
        ExtensionCommand::Add {
            user,
            tenant,
            password_stdin,
            data,
        } => add(
            &data,
            &user,
            tenant.as_deref(),
            password_stdin,
            std::io::stdin().lock(),
            &mut out,
        ),
        ExtensionCommand::List { data } => list(&data, &mut out),
        ExtensionCommand::Remove { user, data } => remove(&data, &user, &mut out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn add(
    data: &DataArgs,
    user: &str,
    tenant: Option<&str>,
    password_stdin: bool,
    input: impl BufRead,
    out: &mut impl Write,
) -> Result<(), String> {
    let cfg = Config::load_for_data(data)?;
    valid_user(user)?;
    let tenant_id = tenant
        .map(TenantId::new)
        .transpose()
        .map_err(|e| format!("--tenant: {e}"))?;
    if !password_stdin {
        return Err("give the password on standard input with --password-stdin".to_owned());
    }
    let mut line = String::new();
    input
        .take(4096)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    let mut inputs = vec![user, cfg.realm.as_str()];
    inputs.extend(tenant);
    let accepted = PasswordPolicy::default()
        .check(&password, &inputs)
        .map_err(|rej| {
            let mut msg = format!("password refused for extension {user}:");
            for v in rej.violations() {
                msg.push_str(&format!("\n  - {} ({})", v.message(), v.code()));
            }
            msg
        })?;
    let cred = SipCredential::derive(user, &cfg.realm, &accepted);
    let record = ExtensionRecord {
        user: user.to_owned(),
        tenant: tenant.map(str::to_owned),
        realm: cfg.realm.clone(),
        ha1_md5: cred.ha1(DigestAlgorithm::Md5).to_hex().to_string(),
        ha1_sha256: cred.ha1(DigestAlgorithm::Sha256).to_hex().to_string(),
        ha1_sha512_256: cred.ha1(DigestAlgorithm::Sha512_256).to_hex().to_string(),
    };
    let store = ExtensionFile::new(&cfg.data_dir);
    let replaced = store.modify(|m| Ok(m.insert(user.to_owned(), record).is_some()))?;
    append_audit(
        &cfg.data_dir,
        cli_event(Action::PasswordChange, user, tenant_id.as_ref())?,
    )?;
    writeln!(
        out,
        "{} extension {user}",
        if replaced { "updated" } else { "added" }
    )
    .map_err(|e| e.to_string())
}

fn list(data: &DataArgs, out: &mut impl Write) -> Result<(), String> {
    let cfg = Config::load_for_data(data)?;
    let map = ExtensionFile::new(&cfg.data_dir).snapshot()?;
    let dictionary = crate::password::weak_dictionary();
    writeln!(
        out,
        "{:<20} {:<20} {:<12} weak",
        "extension", "tenant", "realm"
    )
    .map_err(|e| e.to_string())?;
    for r in map.values() {
        let reasons = crate::password::weak_reasons(
            &r.user,
            &r.realm,
            r.ha1(DigestAlgorithm::Md5).as_ref(),
            &dictionary,
        );
        writeln!(
            out,
            "{:<20} {:<20} {:<12} {}",
            r.user,
            r.tenant.as_deref().unwrap_or("-"),
            r.realm,
            if reasons.is_empty() {
                "no".to_owned()
            } else {
                format!("WEAK ({})", reasons.join("; "))
            }
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn remove(data: &DataArgs, user: &str, out: &mut impl Write) -> Result<(), String> {
    let cfg = Config::load_for_data(data)?;
    valid_user(user)?;
    let removed = ExtensionFile::new(&cfg.data_dir).modify(|m| {
        m.remove(user)
            .ok_or_else(|| format!("no extension `{user}`"))
    })?;
    let tenant = removed
        .tenant
        .as_deref()
        .map(TenantId::new)
        .transpose()
        .map_err(|e| e.to_string())?;
    append_audit(
        &cfg.data_dir,
        cli_event(
            Action::custom("sip.extension-remove").map_err(|e| e.to_string())?,
            user,
            tenant.as_ref(),
        )?,
    )?;
    writeln!(out, "removed extension {user}").map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(dir: &Path) -> DataArgs {
        DataArgs {
            data_dir: Some(dir.to_path_buf()),
            ..DataArgs::default()
        }
    }

    #[test]
    fn req_1_extension_add_list_remove_with_policy_and_audit() {
        let dir = tempfile::tempdir().unwrap();
        let d = data(dir.path());
        let mut out = Vec::new();
        add(
            &d,
            "1001",
            Some("acme"),
            true,
            &b"TAV#1532afhj@qF344\n"[..],
            &mut out,
        )
        .unwrap();
        let rec = ExtensionFile::new(dir.path()).get("1001").unwrap().unwrap();
        assert_eq!(rec.tenant.as_deref(), Some("acme"));
        let ha1 = rec.ha1(DigestAlgorithm::Md5).unwrap();
        assert_eq!(
            ha1.to_hex().as_str(),
            DigestAlgorithm::Md5.hex_digest(b"1001:okcc:TAV#1532afhj@qF344")
        );
        let raw = std::fs::read_to_string(dir.path().join(EXTENSIONS_FILE)).unwrap();
        assert!(!raw.contains("TAV#1532"), "no plaintext at rest");

        let e = add(&d, "1002", None, true, &b"1234\n"[..], &mut out).unwrap_err();
        assert!(
            e.contains("password refused") && e.matches("\n  - ").count() >= 2,
            "{e}"
        );
        assert!(
            ExtensionFile::new(dir.path())
                .get("1002")
                .unwrap()
                .is_none()
        );
        assert!(add(&d, "10 01", None, true, &b"x\n"[..], &mut out).is_err());
        assert!(add(&d, "1003", None, false, &b"x\n"[..], &mut out).is_err());

        let mut listing = Vec::new();
        list(&d, &mut listing).unwrap();
        let listing = String::from_utf8(listing).unwrap();
        assert!(
            listing.contains("1001") && listing.contains(" no"),
            "{listing}"
        );

        remove(&d, "1001", &mut out).unwrap();
        assert!(
            remove(&d, "1001", &mut out)
                .unwrap_err()
                .contains("no extension")
        );
        let audit = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
        assert_eq!(audit.lines().count(), 2);
        assert!(audit.contains("auth.password-change") && audit.contains("sip.extension-remove"));
        // the chain links
        let recs: Vec<_> = read_jsonl(audit.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let mut v = okcc_audit::ChainVerifier::new(ChainAnchor::GENESIS);
        for r in recs {
            if let JsonlRecord::Event(e) = r {
                v.push(*e);
            }
        }
        assert!(v.finish().tamper.is_none());
    }

    #[test]
    fn req_1_list_flags_weak_secrets_from_older_imports() {
        let dir = tempfile::tempdir().unwrap();
        let store = ExtensionFile::new(dir.path());
        let weak =
            Ha1::dangerous_from_unchecked_secret(DigestAlgorithm::Md5, "2001", "okcc", "123456");
        store
            .modify(|m| {
                m.insert(
                    "2001".to_owned(),
                    ExtensionRecord {
                        user: "2001".to_owned(),
                        tenant: None,
                        realm: "okcc".to_owned(),
                        ha1_md5: weak.to_hex().to_string(),
                        ha1_sha256: String::new(),
                        ha1_sha512_256: String::new(),
                    },
                );
                Ok(())
            })
            .unwrap();
        let mut listing = Vec::new();
        list(&data(dir.path()), &mut listing).unwrap();
        let listing = String::from_utf8(listing).unwrap();
        assert!(
            listing.contains("WEAK (the password is on the common-passwords list)"),
            "{listing}"
        );
    }
}
