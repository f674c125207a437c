//! `okcc-server access …`: check addresses against a rule file, lint a rule file.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use okcc_core::access::{AccessControl, AccessRequest, Channel, RuleSet};
use okcc_core::geo::GeoLookup;
use okcc_core::geo::maxmind::MaxMindGeo;
use okcc_core::{TenantId, UserId};

/// Access-control commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AccessCommand {
    /// Judge addresses against a rule file; prints one JSON line per address.
    Check(CheckArgs),
    /// Validate a rule file (text, or JSON when the name ends in `.json`).
    Lint {
        /// The rule file.
        file: PathBuf,
    },
}

/// Arguments of `access check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The rule file (text, or JSON when the name ends in `.json`).
    #[arg(long)]
    rules: PathBuf,
    /// A MaxMind Country or City database (.mmdb).
    #[arg(long)]
    geoip: Option<PathBuf>,
    /// Blocklist feed files to load (named after the file stem).
    #[arg(long)]
    feed: Vec<PathBuf>,
    /// The channel: sip-register, sip-call or web-login.
    #[arg(long, default_value = "sip-register")]
    channel: String,
    /// The tenant of the request, for tenant whitelists.
    #[arg(long)]
    tenant: Option<String>,
    /// The account of the request, for account whitelists.
    #[arg(long)]
    account: Option<String>,
    /// Addresses to judge.
    #[arg(required = true)]
    ips: Vec<String>,
}

/// Runs an access subcommand.
pub(crate) fn run(cmd: AccessCommand) -> ExitCode {
    match cmd {
        AccessCommand::Check(args) => match check(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        AccessCommand::Lint { file } => match load_rules(&file) {
            Ok(set) => {
                println!("{}: {} rule(s), ok", file.display(), set.entries.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::FAILURE
            }
        },
    }
}

pub(crate) fn load_rules(path: &Path) -> Result<RuleSet, String> {
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

fn check(args: &CheckArgs) -> Result<ExitCode, String> {
    let channel: Channel = args
        .channel
        .parse()
        .map_err(|e| format!("--channel: {e}"))?;
    let tenant = args
        .tenant
        .as_deref()
        .map(TenantId::new)
        .transpose()
        .map_err(|e| format!("--tenant: {e}"))?;
    let account = args
        .account
        .as_deref()
        .map(UserId::new)
        .transpose()
        .map_err(|e| format!("--account: {e}"))?;
    let geo: Option<Arc<dyn GeoLookup>> = match &args.geoip {
        Some(p) => Some(Arc::new(
            MaxMindGeo::open(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let rules = load_rules(&args.rules).map_err(|e| format!("{}: {e}", args.rules.display()))?;
    let control = AccessControl::new(geo.clone());
    control
        .replace_rules(&rules)
        .map_err(|e| format!("{}: {e}", args.rules.display()))?;
    for path in &args.feed {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path
            .file_stem()
            .map_or_else(|| "feed".to_owned(), |n| n.to_string_lossy().into_owned());
        let feed = okcc_core::access::BlocklistFeed::parse(&name, &text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        control.replace_feed(feed);
    }
    let mut code = ExitCode::SUCCESS;
    for text in &args.ips {
        let Ok(ip) = text.parse::<IpAddr>() else {
            eprintln!("error: `{text}` is not an IP address");
            code = ExitCode::from(2);
            continue;
        };
        let mut req = AccessRequest::new(ip, channel);
        if let Some(t) = &tenant {
            req = req.tenant(t);
        }
        if let Some(a) = &account {
            req = req.account(a);
        }
        let d = control.check(&req);
        let country = d
            .country
            .or_else(|| geo.as_ref().and_then(|g| g.country(ip)));
        let line = serde_json::json!({
            "ip": ip.to_string(),
            "decision": if d.is_allowed() { "allow" } else { "deny" },
            "rule": d.rule().map(ToString::to_string),
            "reason": d.reason(),
            "country": country.map(|c| c.to_string()),
        });
        println!("{line}");
    }
    Ok(code)
}
