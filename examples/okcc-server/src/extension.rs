//! `okcc-server extension add|list|remove`: SIP accounts in the server's
//! store (the SQLite database in `--data-dir`, or PostgreSQL with
//! `--database-url`), the same store SIP REGISTER and the REST API use.
//!
//! Only HA1 values are stored (MD5, SHA-256, SHA-512-256; RFC 8760) in the
//! credential store, never the password; the directory records which scope
//! owns the extension. The password policy applies when a secret is set;
//! every change is appended to the operation log. The commands work while a
//! server runs on the same data (SQLite WAL, busy timeout).

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Subcommand;
use okcc_audit::{Action, Actor, AuditEvent, Label, Outcome, Target};
use okcc_core::credential::{DigestAlgorithm, Ha1Audit, Ha1Record, SipCredential};
use okcc_core::ids::TenantId;
use okcc_core::password::{PasswordPolicy, WeakList};
use okcc_core::store::Page;
use okcc_core::{Owner, StoreError};

use crate::backup::{Stores, report};
use crate::http::directory::{ExtensionRecord, TenantRecord};
use crate::serve::config::{Config, DataArgs};

/// `okcc-server extension ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ExtensionCommand {
    /// Add an extension or change its password; the password is read from standard input.
    Add {
        /// Extension number or name ([A-Za-z0-9._-], at most 64 bytes).
        user: String,
        /// The tenant it belongs to (default: the platform); created when missing.
        #[arg(long)]
        tenant: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List extensions; `WEAK` marks secrets equal to the name or found in the weak-password list.
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

/// The audit event of a CLI change to `kind`/`id`.
pub(crate) fn cli_event(
    action: Action,
    kind: &str,
    id: &str,
    tenant: Option<&TenantId>,
) -> Result<AuditEvent, String> {
    let actor = Actor::system(Label::new("okcc-server-cli").map_err(|e| e.to_string())?);
    Ok(AuditEvent::new(actor, action, Outcome::Success)
        .with_tenant(tenant.cloned())
        .with_target(Target::new(kind, id).map_err(|e| e.to_string())?))
}

/// Appends `event` to the operation log of `stores`.
pub(crate) async fn audit(stores: &Stores, event: AuditEvent) -> Result<(), String> {
    stores
        .audit
        .append(vec![event])
        .await
        .map(|_| ())
        .map_err(|e| format!("the operation log is unavailable: {}", report(&e)))
}

fn store_err(e: &StoreError) -> String {
    report(e)
}

/// Runs an extension subcommand.
pub(crate) fn run(cmd: ExtensionCommand) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let rt = match crate::backup::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cmd {
            ExtensionCommand::Add {
                user,
                tenant,
                password_stdin,
                data,
            } => {
                add(
                    &data,
                    &user,
                    tenant.as_deref(),
                    password_stdin,
                    std::io::stdin().lock(),
                    &mut out,
                )
                .await
            }
            ExtensionCommand::List { data } => list(&data, &mut out).await,
            ExtensionCommand::Remove { user, data } => remove(&data, &user, &mut out).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Reads one password line (at most 4 KiB) from `input`.
pub(crate) fn read_password(input: impl BufRead) -> Result<zeroize::Zeroizing<String>, String> {
    let mut line = zeroize::Zeroizing::new(String::new());
    input
        .take(4096)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(zeroize::Zeroizing::new(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

async fn open(data: &DataArgs) -> Result<(Config, Stores), String> {
    let cfg = Config::load_for_data(data)?;
    let stores = crate::backup::open_config(&cfg).await?;
    Ok((cfg, stores))
}

async fn add(
    data: &DataArgs,
    user: &str,
    tenant: Option<&str>,
    password_stdin: bool,
    input: impl BufRead,
    out: &mut impl Write,
) -> Result<(), String> {
    valid_user(user)?;
    let tenant_id = tenant
        .map(TenantId::new)
        .transpose()
        .map_err(|e| format!("--tenant: {e}"))?;
    if tenant == Some("platform") {
        return Err("--tenant: `platform` is reserved (omit --tenant for the platform)".to_owned());
    }
    if !password_stdin {
        return Err("give the password on standard input with --password-stdin".to_owned());
    }
    let password = read_password(input)?;
    let (cfg, stores) = open(data).await?;
    let mut inputs = vec![user, cfg.realm.as_str()];
    inputs.extend(tenant);
    // Check everything before writing anything.
    let accepted = PasswordPolicy::default()
        .check(&password, &inputs)
        .map_err(|rej| {
            let mut msg = format!("password refused for extension {user}:");
            for v in rej.violations() {
                msg.push_str(&format!("\n  - {} ({})", v.message(), v.code()));
            }
            msg
        })?;
    let owner = tenant_id.clone().map_or(Owner::Platform, Owner::Tenant);
    let existing = stores
        .directory
        .extension(user)
        .await
        .map_err(|e| store_err(&e))?;
    if let Some(e) = &existing
        && e.owner != owner
    {
        return Err(format!(
            "extension {user} belongs to {}; remove it first to move it",
            scope_label(&e.owner)
        ));
    }
    if let Some(t) = &tenant_id
        && stores
            .directory
            .tenant(t)
            .await
            .map_err(|e| store_err(&e))?
            .is_none()
    {
        match stores
            .directory
            .insert_tenant(TenantRecord {
                id: t.clone(),
                name: t.as_str().to_owned(),
            })
            .await
        {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(store_err(&e)),
        }
        audit(
            &stores,
            cli_event(Action::TenantChange, "tenant", t.as_str(), Some(t))?,
        )
        .await?;
    }
    let cred = SipCredential::derive(user, &cfg.realm, &accepted);
    stores
        .credentials
        .set_sip_credential(cred)
        .await
        .map_err(|e| store_err(&e))?;
    if existing.is_none() {
        match stores
            .directory
            .insert_extension(ExtensionRecord {
                name: user.to_owned(),
                owner: owner.clone(),
                display_name: user.to_owned(),
            })
            .await
        {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(store_err(&e)),
        }
    }
    audit(
        &stores,
        cli_event(
            Action::PasswordChange,
            "extension",
            user,
            tenant_id.as_ref(),
        )?,
    )
    .await?;
    writeln!(
        out,
        "{} extension {user}",
        if existing.is_some() {
            "updated"
        } else {
            "added"
        }
    )
    .map_err(|e| e.to_string())
}

fn scope_label(owner: &Owner) -> String {
    match owner {
        Owner::Platform => "platform".to_owned(),
        Owner::Tenant(t) => format!("tenant {t}"),
    }
}

/// `true` when `cred` is missing or its secret is the name or on `candidates`.
pub(crate) fn is_weak(name: &str, cred: Option<&SipCredential>, candidates: &[&str]) -> bool {
    let Some(cred) = cred else { return true };
    let record = Ha1Record::new(name, cred.ha1(DigestAlgorithm::Md5).clone());
    Ha1Audit::new(cred.realm(), &[name])
        .check(&record)
        .is_some()
        || Ha1Audit::new(cred.realm(), candidates)
            .check(&record)
            .is_some()
}

async fn list(data: &DataArgs, out: &mut impl Write) -> Result<(), String> {
    let (cfg, stores) = open(data).await?;
    let candidates: Vec<&str> = WeakList::entries().collect();
    writeln!(
        out,
        "{:<20} {:<20} {:<12} weak",
        "extension", "tenant", "realm"
    )
    .map_err(|e| e.to_string())?;
    let mut page = Page::first(Page::MAX_LIMIT);
    loop {
        let batch = stores
            .directory
            .all_extensions(page.clone())
            .await
            .map_err(|e| store_err(&e))?;
        for r in &batch.items {
            let cred = stores
                .credentials
                .sip_credential(&r.name, &cfg.realm)
                .await
                .map_err(|e| store_err(&e))?;
            let weak = is_weak(&r.name, cred.as_ref(), &candidates);
            let tenant = match &r.owner {
                Owner::Platform => "-",
                Owner::Tenant(t) => t.as_str(),
            };
            writeln!(
                out,
                "{:<20} {:<20} {:<12} {}",
                r.name,
                tenant,
                cfg.realm,
                if weak { "WEAK" } else { "no" }
            )
            .map_err(|e| e.to_string())?;
        }
        match batch.next {
            Some(next) => page = Page::after(next, Page::MAX_LIMIT),
            None => return Ok(()),
        }
    }
}

async fn remove(data: &DataArgs, user: &str, out: &mut impl Write) -> Result<(), String> {
    valid_user(user)?;
    let (cfg, stores) = open(data).await?;
    let removed = stores
        .directory
        .remove_extension(user)
        .await
        .map_err(|e| store_err(&e))?
        .ok_or_else(|| format!("no extension `{user}`"))?;
    stores
        .credentials
        .remove_sip_credential(user, &cfg.realm)
        .await
        .map_err(|e| store_err(&e))?;
    let tenant = match &removed.owner {
        Owner::Platform => None,
        Owner::Tenant(t) => Some(t),
    };
    audit(
        &stores,
        cli_event(
            Action::custom("sip.extension-remove").map_err(|e| e.to_string())?,
            "extension",
            user,
            tenant,
        )?,
    )
    .await?;
    writeln!(out, "removed extension {user}").map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use okcc_audit::{AuditQuery, VerifyOptions};

    fn data(dir: &std::path::Path) -> DataArgs {
        DataArgs {
            data_dir: Some(dir.to_path_buf()),
            ..DataArgs::default()
        }
    }

    #[tokio::test]
    async fn req_1_extension_add_list_remove_with_policy_and_audit() {
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
        .await
        .unwrap();
        let (_, stores) = open(&d).await.unwrap();
        let cred = stores
            .credentials
            .sip_credential("1001", "okcc")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            cred.ha1(DigestAlgorithm::Md5).to_hex().as_str(),
            DigestAlgorithm::Md5.hex_digest(b"1001:okcc:TAV#1532afhj@qF344")
        );
        let ext = stores.directory.extension("1001").await.unwrap().unwrap();
        assert_eq!(ext.owner, Owner::Tenant(TenantId::new("acme").unwrap()));
        assert!(
            stores
                .directory
                .tenant(&TenantId::new("acme").unwrap())
                .await
                .unwrap()
                .is_some()
        );
        let raw = std::fs::read(dir.path().join(crate::backup::DB_FILE)).unwrap();
        assert!(
            !raw.windows(8).any(|w| w == b"TAV#1532"),
            "no plaintext at rest"
        );

        let e = add(&d, "1002", None, true, &b"1234\n"[..], &mut out)
            .await
            .unwrap_err();
        assert!(
            e.contains("password refused") && e.matches("\n  - ").count() >= 2,
            "{e}"
        );
        assert!(stores.directory.extension("1002").await.unwrap().is_none());
        assert!(
            add(&d, "10 01", None, true, &b"x\n"[..], &mut out)
                .await
                .is_err()
        );
        assert!(
            add(&d, "1003", None, false, &b"x\n"[..], &mut out)
                .await
                .is_err()
        );
        // moving an extension to another scope is refused
        let e = add(
            &d,
            "1001",
            None,
            true,
            &b"TAV#1532afhj@qF344\n"[..],
            &mut out,
        )
        .await
        .unwrap_err();
        assert!(e.contains("belongs to tenant acme"), "{e}");

        let mut listing = Vec::new();
        list(&d, &mut listing).await.unwrap();
        let listing = String::from_utf8(listing).unwrap();
        assert!(
            listing.contains("1001") && listing.contains("acme") && listing.contains(" no"),
            "{listing}"
        );

        remove(&d, "1001", &mut out).await.unwrap();
        assert!(
            remove(&d, "1001", &mut out)
                .await
                .unwrap_err()
                .contains("no extension")
        );
        assert!(
            stores
                .credentials
                .sip_credential("1001", "okcc")
                .await
                .unwrap()
                .is_none()
        );
        let mut csv = Vec::new();
        stores
            .audit
            .export(
                &AuditQuery::all(),
                okcc_audit::ExportFormat::JsonLines,
                &mut csv,
            )
            .await
            .unwrap();
        let log = String::from_utf8(csv).unwrap();
        assert!(
            log.contains("tenant.change")
                && log.contains("auth.password-change")
                && log.contains("sip.extension-remove"),
            "{log}"
        );
        assert!(!log.contains("TAV#1532"));
        assert!(
            stores
                .audit
                .verify(&VerifyOptions::all())
                .await
                .unwrap()
                .is_intact()
        );
    }

    #[tokio::test]
    async fn req_1_list_flags_weak_secrets_from_older_imports() {
        let dir = tempfile::tempdir().unwrap();
        let d = data(dir.path());
        let (_, stores) = open(&d).await.unwrap();
        assert!(is_weak(
            "2001",
            None,
            &WeakList::entries().collect::<Vec<_>>()
        ));
        let cand: Vec<&str> = WeakList::entries().collect();
        let pw = PasswordPolicy::permissive().check("123456", &[]).unwrap();
        let cred = SipCredential::derive("2001", "okcc", &pw);
        assert!(is_weak("2001", Some(&cred), &cand));
        stores.credentials.set_sip_credential(cred).await.unwrap();
        stores
            .directory
            .insert_extension(ExtensionRecord {
                name: "2001".into(),
                owner: Owner::Platform,
                display_name: "2001".into(),
            })
            .await
            .unwrap();
        let mut listing = Vec::new();
        list(&d, &mut listing).await.unwrap();
        assert!(String::from_utf8(listing).unwrap().contains("WEAK"));
    }
}
