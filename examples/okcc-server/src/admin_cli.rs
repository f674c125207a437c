//! `okcc-server admin set-password|reset-totp`: web-user recovery for
//! headless installs and lost passwords or authenticators, against the
//! server's store (the same `--config`, `--data-dir`, `--database-url` as
//! the other data subcommands; works while a server runs on the same data).
//!
//! `set-password` applies the password policy and clears the
//! must-change-at-first-login flag; `reset-totp` removes the TOTP secret,
//! any enrolment in progress and the recovery codes, so the next login
//! asks for the password only. Both are audited; neither prints a secret.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Subcommand;
use okcc_audit::Action;
use okcc_core::credential::{WebLogin, WebPasswordHasher};
use okcc_core::password::PasswordPolicy;
use okcc_core::{Owner, UserId};

use crate::backup::{Stores, report};
use crate::extension::{audit, cli_event, read_password};
use crate::http::directory::UserRecord;
use crate::serve::config::{Config, DataArgs};

/// `okcc-server admin ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Set a web user's password (policy applies; clears must-change-at-first-login).
    SetPassword {
        /// The user name.
        #[arg(long)]
        user: String,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Remove a web user's TOTP secret and recovery codes (password-only login until re-enrolled).
    ResetTotp {
        /// The user name.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Runs an admin subcommand.
pub(crate) fn run(cmd: AdminCommand) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let result = crate::backup::runtime().and_then(|rt| {
        rt.block_on(async {
            match cmd {
                AdminCommand::SetPassword {
                    user,
                    password_stdin,
                    data,
                } => {
                    set_password(
                        &data,
                        &user,
                        password_stdin,
                        std::io::stdin().lock(),
                        &mut out,
                    )
                    .await
                }
                AdminCommand::ResetTotp { user, data } => reset_totp(&data, &user, &mut out).await,
            }
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The stores and the existing user `name`.
async fn open_user(data: &DataArgs, name: &str) -> Result<(Stores, UserRecord), String> {
    let id = UserId::new(name).map_err(|e| format!("--user: {e}"))?;
    let cfg = Config::load_for_data(data)?;
    let stores = crate::backup::open_config(&cfg).await?;
    let user = stores
        .directory
        .user(&id)
        .await
        .map_err(|e| report(&e))?
        .ok_or_else(|| format!("no user `{name}`"))?;
    Ok((stores, user))
}

fn tenant_of(owner: &Owner) -> Option<&okcc_core::TenantId> {
    match owner {
        Owner::Platform => None,
        Owner::Tenant(t) => Some(t),
    }
}

async fn set_password(
    data: &DataArgs,
    name: &str,
    password_stdin: bool,
    input: impl BufRead,
    out: &mut impl Write,
) -> Result<(), String> {
    if !password_stdin {
        return Err("give the password on standard input with --password-stdin".to_owned());
    }
    let password = read_password(input)?;
    let (stores, mut user) = open_user(data, name).await?;
    let accepted = PasswordPolicy::default()
        .check(&password, &[name])
        .map_err(|rej| {
            let mut msg = format!("password refused for user {name}:");
            for v in rej.violations() {
                msg.push_str(&format!("\n  - {} ({})", v.message(), v.code()));
            }
            msg
        })?;
    let login = tokio::task::spawn_blocking(move || {
        WebLogin::derive(&WebPasswordHasher::default(), &accepted)
    })
    .await
    .map_err(|_| "password hashing failed".to_owned())?
    .map_err(|e| format!("password hashing failed: {e}"))?;
    stores
        .credentials
        .set_web_login(&user.id, login)
        .await
        .map_err(|e| report(&e))?;
    user.must_change_password = false;
    let tenant = tenant_of(&user.home).cloned();
    stores
        .directory
        .save_user(user)
        .await
        .map_err(|e| report(&e))?;
    audit(
        &stores,
        cli_event(Action::PasswordChange, "user", name, tenant.as_ref())?,
    )
    .await?;
    writeln!(out, "password set for user {name}").map_err(|e| e.to_string())
}

async fn reset_totp(data: &DataArgs, name: &str, out: &mut impl Write) -> Result<(), String> {
    let (stores, mut user) = open_user(data, name).await?;
    let had = user.totp_secret.is_some() || user.totp_pending.is_some();
    user.totp_secret = None;
    user.totp_pending = None;
    user.totp_last_step = None;
    user.recovery_hashes.clear();
    let tenant = tenant_of(&user.home).cloned();
    stores
        .directory
        .save_user(user)
        .await
        .map_err(|e| report(&e))?;
    audit(
        &stores,
        cli_event(
            Action::custom("auth.mfa-reset").map_err(|e| e.to_string())?,
            "user",
            name,
            tenant.as_ref(),
        )?,
    )
    .await?;
    if had {
        writeln!(
            out,
            "TOTP removed for user {name}; the next login asks for the password only"
        )
    } else {
        writeln!(
            out,
            "user {name} had no TOTP; nothing changed but the reset is logged"
        )
    }
    .map_err(|e| e.to_string())
}
