//! Server settings: built-in defaults, then a TOML file, then `OKCC_*`
//! environment variables, then command-line flags (each overrides the one
//! before). `okcc.example.toml` documents every field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

/// Flags shared by every subcommand that reads or writes stored data.
#[derive(Debug, Default, Clone, Args)]
pub(crate) struct DataArgs {
    /// TOML configuration file (see okcc.example.toml).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Directory for the data files (extensions, bindings, audit log).
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// PostgreSQL URL instead of the SQLite file in the data directory.
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,
}

/// `okcc-server serve` flags.
#[derive(Debug, Default, Clone, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// SIP over UDP listen address ("off" disables).
    #[arg(long, value_name = "ADDR")]
    pub(crate) sip_udp: Option<String>,
    /// SIP over TCP listen address ("off" disables).
    #[arg(long, value_name = "ADDR")]
    pub(crate) sip_tcp: Option<String>,
    /// SIP over TLS listen address ("off" disables; needs tls_cert/tls_key).
    #[arg(long, value_name = "ADDR")]
    pub(crate) sip_tls: Option<String>,
    /// REST / metrics listen address ("off" disables).
    #[arg(long, value_name = "ADDR")]
    pub(crate) http: Option<String>,
    /// Access rules file (the `okcc-server access` format).
    #[arg(long, value_name = "FILE")]
    pub(crate) rules: Option<PathBuf>,
    /// MaxMind GeoIP2/GeoLite2 country database.
    #[arg(long, value_name = "FILE")]
    pub(crate) geoip: Option<PathBuf>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Registrar limits (RFC 3261 §10.3).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RegistrarConfig {
    /// Shortest accepted binding lifetime; shorter ones get 423 + Min-Expires.
    pub(crate) min_expires: u32,
    /// Longest binding lifetime; longer requests are shortened to this.
    pub(crate) max_expires: u32,
    /// Lifetime when the request gives none.
    pub(crate) default_expires: u32,
    /// Most contacts one account may register at once.
    pub(crate) max_contacts: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
        }
    }
}

/// The whole server configuration.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// Data directory.
    pub(crate) data_dir: PathBuf,
    /// Database URL (`None`: files in `data_dir`).
    pub(crate) database_url: Option<String>,
    /// SIP/UDP address; `None` disables.
    pub(crate) sip_udp: Option<SocketAddr>,
    /// SIP/TCP address; `None` disables.
    pub(crate) sip_tcp: Option<SocketAddr>,
    /// SIP/TLS address; `None` disables.
    pub(crate) sip_tls: Option<SocketAddr>,
    /// TLS certificate chain (PEM).
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub(crate) tls_key: Option<PathBuf>,
    /// REST / metrics address; `None` disables.
    pub(crate) http: Option<SocketAddr>,
    /// Access rules file.
    pub(crate) rules: Option<PathBuf>,
    /// GeoIP database.
    pub(crate) geoip: Option<PathBuf>,
    /// Digest realm.
    pub(crate) realm: String,
    /// SIP domains served (Request-URI hosts); the listen addresses are always served.
    pub(crate) domains: Vec<String>,
    /// Digest algorithms offered, one challenge each, in this order
    /// (clients such as sipp answer only the first).
    pub(crate) digest_algorithms: Vec<String>,
    /// Seconds a TCP/TLS connection may stay idle.
    pub(crate) tcp_idle_timeout_secs: u64,
    /// Most SIP requests handled at once; more are answered 503.
    pub(crate) max_concurrent_requests: usize,
    /// Log format.
    pub(crate) log_format: LogFormat,
    /// Registrar limits.
    pub(crate) registrar: RegistrarConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("."),
            database_url: None,
            sip_udp: Some(SocketAddr::from(([0, 0, 0, 0], 5060))),
            sip_tcp: Some(SocketAddr::from(([0, 0, 0, 0], 5060))),
            sip_tls: None,
            tls_cert: None,
            tls_key: None,
            http: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            rules: None,
            geoip: None,
            realm: "okcc".to_owned(),
            domains: Vec::new(),
            digest_algorithms: vec!["SHA-256".to_owned(), "MD5".to_owned()],
            tcp_idle_timeout_secs: 120,
            max_concurrent_requests: 1024,
            log_format: LogFormat::Text,
            registrar: RegistrarConfig::default(),
        }
    }
}

/// Parses an address flag: `off` disables.
fn addr(name: &str, v: &str) -> Result<Option<SocketAddr>, String> {
    if v.eq_ignore_ascii_case("off") || v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| format!("{name}: `{v}` is not an IP:port address (or `off`)"))
}

impl Config {
    /// Reads `path` (TOML) over the defaults.
    pub(crate) fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Applies `OKCC_*` variables read through `var`.
    pub(crate) fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(v) = var("OKCC_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("OKCC_DATABASE_URL") {
            self.database_url = Some(v).filter(|s| !s.is_empty());
        }
        for (key, slot) in [
            ("OKCC_SIP_UDP", &mut self.sip_udp),
            ("OKCC_SIP_TCP", &mut self.sip_tcp),
            ("OKCC_SIP_TLS", &mut self.sip_tls),
            ("OKCC_HTTP", &mut self.http),
        ] {
            if let Some(v) = var(key) {
                *slot = addr(key, &v)?;
            }
        }
        if let Some(v) = var("OKCC_RULES") {
            self.rules = Some(PathBuf::from(v));
        }
        if let Some(v) = var("OKCC_GEOIP") {
            self.geoip = Some(PathBuf::from(v));
        }
        if let Some(v) = var("OKCC_REALM") {
            self.realm = v;
        }
        if let Some(v) = var("OKCC_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(format!(
                        "OKCC_LOG_FORMAT: `{v}` is neither `text` nor `json`"
                    ));
                }
            };
        }
        Ok(())
    }

    /// Applies the data flags.
    pub(crate) fn apply_data_args(&mut self, a: &DataArgs) {
        if let Some(d) = &a.data_dir {
            self.data_dir.clone_from(d);
        }
        if let Some(u) = &a.database_url {
            self.database_url = Some(u.clone());
        }
    }

    /// Applies the serve flags.
    pub(crate) fn apply_serve_args(&mut self, a: &ServeArgs) -> Result<(), String> {
        self.apply_data_args(&a.data);
        for (name, flag, slot) in [
            ("--sip-udp", &a.sip_udp, &mut self.sip_udp),
            ("--sip-tcp", &a.sip_tcp, &mut self.sip_tcp),
            ("--sip-tls", &a.sip_tls, &mut self.sip_tls),
            ("--http", &a.http, &mut self.http),
        ] {
            if let Some(v) = flag {
                *slot = addr(name, v)?;
            }
        }
        if let Some(r) = &a.rules {
            self.rules = Some(r.clone());
        }
        if let Some(g) = &a.geoip {
            self.geoip = Some(g.clone());
        }
        Ok(())
    }

    /// A database URL must be PostgreSQL (SQLite is the file in `data_dir`).
    pub(crate) fn check_database_url(&self) -> Result<(), String> {
        match &self.database_url {
            Some(url) if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) => {
                Err(format!(
                    "database_url `{}`: only PostgreSQL URLs (postgres://...) are supported; \
                     SQLite lives in data_dir",
                    redact_url(url)
                ))
            }
            _ => Ok(()),
        }
    }

    /// Checks the settings that cannot work together.
    pub(crate) fn validate(&self) -> Result<(), String> {
        self.check_database_url()?;
        let r = &self.registrar;
        if r.min_expires == 0 || r.min_expires > r.max_expires {
            return Err(format!(
                "registrar: need 0 < min_expires ({}) <= max_expires ({})",
                r.min_expires, r.max_expires
            ));
        }
        if r.max_contacts == 0 {
            return Err("registrar.max_contacts must be at least 1".to_owned());
        }
        if self.sip_tls.is_some() {
            return Err("sip_tls: TLS transport is not wired yet; set it to off".to_owned());
        }
        if self.sip_udp.is_none() && self.sip_tcp.is_none() {
            return Err("no SIP transport enabled (sip_udp and sip_tcp are both off)".to_owned());
        }
        if self.realm.is_empty() || self.realm.contains(['"', '\\', '\r', '\n']) {
            return Err(
                "realm must be non-empty and hold no quotes, backslashes or newlines".to_owned(),
            );
        }
        if self.digest_algorithms.is_empty() {
            return Err("digest_algorithms must name at least one algorithm".to_owned());
        }
        for a in &self.digest_algorithms {
            if okcc_sip::digest::Algorithm::from_token(a).is_none() {
                return Err(format!("digest_algorithms: unknown algorithm `{a}`"));
            }
        }
        if self.max_concurrent_requests == 0 {
            return Err("max_concurrent_requests must be at least 1".to_owned());
        }
        Ok(())
    }

    /// Loads the configuration for a data subcommand.
    pub(crate) fn load_for_data(a: &DataArgs) -> Result<Self, String> {
        let mut c = match &a.config {
            Some(p) => Self::from_file(p)?,
            None => Self::default(),
        };
        c.apply_env(|k| std::env::var(k).ok())?;
        c.apply_data_args(a);
        c.check_database_url()?;
        Ok(c)
    }

    /// Loads the configuration for `serve`.
    pub(crate) fn load_for_serve(a: &ServeArgs) -> Result<Self, String> {
        let mut c = match &a.data.config {
            Some(p) => Self::from_file(p)?,
            None => Self::default(),
        };
        c.apply_env(|k| std::env::var(k).ok())?;
        c.apply_serve_args(a)?;
        c.validate()?;
        Ok(c)
    }
}

/// A URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_9_defaults_udp_tcp_5060_http_8080_cwd() {
        let c = Config::default();
        assert_eq!(c.sip_udp, Some("0.0.0.0:5060".parse().unwrap()));
        assert_eq!(c.sip_tcp, Some("0.0.0.0:5060".parse().unwrap()));
        assert_eq!(c.http, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(c.data_dir, PathBuf::from("."));
        c.validate().unwrap();
    }

    #[test]
    fn req_9_example_file_parses_and_layers_env_then_flags() {
        let text = include_str!("../../okcc.example.toml");
        let mut c: Config = toml::from_str(text).unwrap();
        c.validate().unwrap();
        c.apply_env(|k| match k {
            "OKCC_SIP_UDP" => Some("127.0.0.1:5070".to_owned()),
            "OKCC_REALM" => Some("pbx.example".to_owned()),
            "OKCC_HTTP" => Some("off".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.sip_udp, Some("127.0.0.1:5070".parse().unwrap()));
        assert_eq!(c.realm, "pbx.example");
        assert_eq!(c.http, None);
        let args = ServeArgs {
            sip_udp: Some("127.0.0.1:5090".to_owned()),
            data: DataArgs {
                data_dir: Some(PathBuf::from("/tmp/x")),
                ..DataArgs::default()
            },
            ..ServeArgs::default()
        };
        c.apply_serve_args(&args).unwrap();
        assert_eq!(c.sip_udp, Some("127.0.0.1:5090".parse().unwrap()));
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn req_9_bad_settings_are_refused_with_the_field_named() {
        let e = toml::from_str::<Config>("sip_udpp = \"1\"").unwrap_err();
        assert!(e.to_string().contains("sip_udpp"), "{e}");
        let mut c = Config::default();
        let e = c
            .apply_env(|k| (k == "OKCC_SIP_TCP").then(|| "nope".to_owned()))
            .unwrap_err();
        assert!(e.contains("OKCC_SIP_TCP"), "{e}");
        c.registrar.min_expires = 0;
        assert!(c.validate().unwrap_err().contains("min_expires"));
        let c = Config {
            database_url: Some("mysql://u:secret@h/db".to_owned()),
            ..Config::default()
        };
        let e = c.validate().unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }
}
