//! `okcc-server guard explain …`: a dry run of the SIP guard pipeline.
//!
//! "Would 203.0.113.7 registering as 1001 be allowed, and why?" Prints the
//! decision and every stage's verdict as JSON. Nothing is counted, banned
//! or audited. This process has no traffic history, so the dynamic stages
//! (bans, flood, sweeps, brute force) start empty; the server answers the
//! same question against its live state.
//!
//! Exit status: 0 allowed or challenged, 1 denied, 2 bad input.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Subcommand};
use okcc_core::TenantId;
use okcc_core::access::{AccessControl, RuleSet};
use okcc_core::credential::MemoryCredentialStore;
use okcc_core::geo::GeoLookup;
use okcc_core::geo::maxmind::MaxMindGeo;
use okcc_core::toll::{TollConfig, TollGuard, TollPolicy};
use okcc_sip::digest::{DigestConfig, DigestServer};
use okcc_sip::pipeline::{ExplainQuery, Guard, GuardConfig, TollStage};
use okcc_sip::view::SipMethod;

/// SIP guard commands.
#[derive(Debug, Subcommand)]
pub(crate) enum GuardCommand {
    /// Explain what the guard pipeline would decide for one request (JSON).
    Explain(ExplainArgs),
}

/// Arguments of `guard explain`.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The source address.
    #[arg(long)]
    source: String,
    /// The SIP method: REGISTER or INVITE.
    #[arg(long, default_value = "REGISTER")]
    method: String,
    /// The account the request claims (extension or SIP user).
    #[arg(long)]
    user: Option<String>,
    /// The dialled number (INVITE).
    #[arg(long)]
    to: Option<String>,
    /// The User-Agent to judge.
    #[arg(long)]
    user_agent: Option<String>,
    /// Assume the credentials would verify (explains what follows auth).
    #[arg(long)]
    authenticated: bool,
    /// The access rule file (text, or JSON when the name ends in `.json`).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// A MaxMind Country or City database (.mmdb).
    #[arg(long)]
    geoip: Option<PathBuf>,
    /// The toll-fraud policy (JSON, or TOML when the name ends in `.toml`);
    /// without it the built-in defaults apply (international off).
    #[arg(long)]
    toll_policy: Option<PathBuf>,
    /// The caller's tenant, for the toll-fraud stage.
    #[arg(long, default_value = "default")]
    tenant: String,
}

/// Runs a guard subcommand.
pub(crate) fn run(cmd: GuardCommand) -> ExitCode {
    match cmd {
        GuardCommand::Explain(args) => match explain(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn load_rules(path: &Path) -> Result<RuleSet, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path
        .file_name()
        .map_or_else(|| "rules".to_owned(), |n| n.to_string_lossy().into_owned());
    if path.extension().is_some_and(|e| e == "json") {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| "the rule file is not valid UTF-8".to_owned())?;
        RuleSet::from_json(&name, text).map_err(|e| e.to_string())
    } else {
        RuleSet::parse_bytes(&name, &bytes).map_err(|e| e.to_string())
    }
}

fn load_toll_policy(path: &Path) -> Result<TollPolicy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
}

fn explain(args: &ExplainArgs) -> Result<ExitCode, String> {
    let source: IpAddr = args
        .source
        .parse()
        .map_err(|_| format!("--source: `{}` is not an IP address", args.source))?;
    let method = SipMethod::classify(&args.method.to_ascii_uppercase());
    if !matches!(method, SipMethod::Register | SipMethod::Invite) {
        return Err(format!(
            "--method: `{}` is not REGISTER or INVITE",
            args.method
        ));
    }
    let geo: Option<Arc<dyn GeoLookup>> = match &args.geoip {
        Some(p) => Some(Arc::new(
            MaxMindGeo::open(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let access = Arc::new(AccessControl::new(geo));
    if let Some(path) = &args.rules {
        let rules = load_rules(path).map_err(|e| format!("{}: {e}", path.display()))?;
        access
            .replace_rules(&rules)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    // The dry run mints no nonce, so the key only has to exist.
    let digest = DigestServer::new(DigestConfig::new("okcc", vec![0; 32]));
    let guard = Guard::new(
        GuardConfig::default(),
        access,
        Arc::new(digest),
        Arc::new(MemoryCredentialStore::new()),
    );
    let policy = match &args.toll_policy {
        Some(path) => load_toll_policy(path).map_err(|e| format!("{}: {e}", path.display()))?,
        None => TollPolicy::default(),
    }
    .validate()
    .map_err(|e| format!("toll policy: {e}"))?;
    let tenant = TenantId::new(&args.tenant).map_err(|e| format!("--tenant: {e}"))?;
    let toll = TollStage::new(TollGuard::new(TollConfig::default(), policy), tenant, 0);
    let guard = guard.with_call_check(Arc::new(toll));
    let mut query = ExplainQuery::new(source, method);
    if let Some(u) = &args.user {
        query = query.user(u.as_str());
    }
    if let Some(t) = &args.to {
        query = query.to(t.as_str());
    }
    if let Some(ua) = &args.user_agent {
        query = query.user_agent(ua.as_str());
    }
    if args.authenticated {
        query = query.with_valid_credentials();
    }
    let explanation = guard.explain(&query, Instant::now());
    let json = serde_json::to_string_pretty(&explanation).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(if explanation.decision.denial().is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
