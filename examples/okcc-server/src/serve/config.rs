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

/// Where calls to external numbers go (`[trunk]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrunkConfig {
    /// The gateway: `IP:port`, or `host:port` with a host name from this
    /// file (resolved once at start-up; names in SIP messages are never
    /// resolved).
    pub(crate) address: String,
    /// `udp` (default), `tcp` or `tls`.
    #[serde(default = "default_trunk_transport")]
    pub(crate) transport: String,
    /// TLS: the name the trunk's certificate must carry (default: the host
    /// part of `address`). Taken from this file only, never from a message.
    #[serde(default)]
    pub(crate) tls_server_name: Option<String>,
    /// TLS: PEM file of the CA certificates the trunk's certificate must
    /// chain to (default: the Mozilla root store built into the binary).
    #[serde(default)]
    pub(crate) tls_ca_file: Option<PathBuf>,
    /// TLS: accept ANY certificate of the trunk, for any name (no
    /// protection against an active attacker). Off by default; a warning
    /// is logged at every start while it is on.
    #[serde(default)]
    pub(crate) insecure_skip_verify: bool,
}

impl TrunkConfig {
    /// The name the trunk's TLS certificate is checked against.
    pub(crate) fn server_name(&self) -> &str {
        match &self.tls_server_name {
            Some(n) => n,
            None => self
                .address
                .rsplit_once(':')
                .map_or(self.address.as_str(), |(h, _)| h)
                .trim_matches(['[', ']']),
        }
    }
}

fn default_trunk_transport() -> String {
    "udp".to_owned()
}

/// Call routing and per-call policy (`[proxy]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ProxyConfig {
    /// A Request-URI user that is not a local extension, made only of
    /// digits (with one leading `+`) and starting with one of these
    /// prefixes, is an external number and goes to the trunk.
    pub(crate) external_prefixes: Vec<String>,
    /// Extensions whose phones see the caller's number masked.
    pub(crate) mask_callees: Vec<String>,
    /// `middle4` (`138****5678`) or `full` (`00000000`).
    pub(crate) mask_mode: okcc_core::mask::MaskMode,
    /// Most calls in progress at once (dialog table size); more get 503.
    pub(crate) max_calls: usize,
    /// The tenant of extensions that name none (toll-fraud limits).
    pub(crate) default_tenant: String,
    /// Offset of local time from UTC, in seconds (toll time windows).
    pub(crate) utc_offset_secs: i32,
    /// The address put in Via and Record-Route when a listener is bound to
    /// `0.0.0.0` / `::` (`None`: the address the caller used, if an IP).
    pub(crate) advertise: Option<std::net::IpAddr>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            external_prefixes: vec!["0".to_owned(), "+".to_owned()],
            mask_callees: Vec::new(),
            mask_mode: okcc_core::mask::MaskMode::MiddleFour,
            max_calls: 10_000,
            default_tenant: "default".to_owned(),
            utc_offset_secs: 0,
            advertise: None,
        }
    }
}

/// A raise/clear pair: an alert is raised when the value goes above
/// `raise` and cleared only when it falls below `clear` (hysteresis).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Threshold {
    /// Raise above this.
    pub(crate) raise: u64,
    /// Clear below this (at most `raise`).
    pub(crate) clear: u64,
}

/// Resource monitoring and alerts (`[monitor]`, requirement 4).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct MonitorConfig {
    /// Seconds between two samples (1 to 3600).
    pub(crate) interval_secs: u64,
    /// System CPU use, percent.
    pub(crate) cpu_percent: Threshold,
    /// System memory in use (total minus available), percent.
    pub(crate) memory_percent: Threshold,
    /// Space used on the data directory's file system, percent.
    pub(crate) disk_percent: Threshold,
    /// Open HTTP/TCP connections.
    pub(crate) connections: Threshold,
    /// SIP requests waiting or in progress.
    pub(crate) sip_queue: Threshold,
    /// Each raise and clear is POSTed as JSON to this `http://` URL.
    pub(crate) webhook_url: Option<String>,
    /// Retries after a failed delivery (0 to 10).
    pub(crate) webhook_retries: u32,
    /// Wait before the first retry, doubled for each next one (ms).
    pub(crate) webhook_backoff_ms: u64,
    /// Time limit of one delivery attempt (seconds).
    pub(crate) webhook_timeout_secs: u64,
    /// Alerts waiting for delivery; when full the oldest is dropped (and counted).
    pub(crate) webhook_queue: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval_secs: 15,
            cpu_percent: Threshold {
                raise: 90,
                clear: 80,
            },
            memory_percent: Threshold {
                raise: 90,
                clear: 80,
            },
            disk_percent: Threshold {
                raise: 90,
                clear: 85,
            },
            connections: Threshold {
                raise: 1000,
                clear: 800,
            },
            sip_queue: Threshold {
                raise: 500,
                clear: 250,
            },
            webhook_url: None,
            webhook_retries: 3,
            webhook_backoff_ms: 500,
            webhook_timeout_secs: 5,
            webhook_queue: 100,
        }
    }
}

impl MonitorConfig {
    /// Checks ranges and the webhook URL; the error names the field.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(1..=3600).contains(&self.interval_secs) {
            return Err("monitor.interval_secs must be between 1 and 3600".to_owned());
        }
        for (name, t, max) in [
            ("cpu_percent", self.cpu_percent, Some(100)),
            ("memory_percent", self.memory_percent, Some(100)),
            ("disk_percent", self.disk_percent, Some(100)),
            ("connections", self.connections, None),
            ("sip_queue", self.sip_queue, None),
        ] {
            if t.clear > t.raise {
                return Err(format!(
                    "monitor.{name}: clear ({}) must not be above raise ({})",
                    t.clear, t.raise
                ));
            }
            if let Some(max) = max
                && t.raise > max
            {
                return Err(format!(
                    "monitor.{name}: raise ({}) must be at most {max}",
                    t.raise
                ));
            }
        }
        if self.webhook_retries > 10 {
            return Err("monitor.webhook_retries must be at most 10".to_owned());
        }
        if !(1..=60_000).contains(&self.webhook_backoff_ms) {
            return Err("monitor.webhook_backoff_ms must be between 1 and 60000".to_owned());
        }
        if !(1..=60).contains(&self.webhook_timeout_secs) {
            return Err("monitor.webhook_timeout_secs must be between 1 and 60".to_owned());
        }
        if !(1..=10_000).contains(&self.webhook_queue) {
            return Err("monitor.webhook_queue must be between 1 and 10000".to_owned());
        }
        if let Some(url) = &self.webhook_url {
            crate::monitor::WebhookTarget::parse(url)
                .map_err(|e| format!("monitor.webhook_url: {e}"))?;
        }
        Ok(())
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
    /// Most TCP/TLS connections one source address may hold at once.
    pub(crate) max_connections_per_source: usize,
    /// Most SIP requests handled at once; more are answered 503.
    pub(crate) max_concurrent_requests: usize,
    /// Threads that run the server's tasks (SIP, REST, audit); 0 = one per
    /// CPU core.
    pub(crate) worker_threads: usize,
    /// Log format.
    pub(crate) log_format: LogFormat,
    /// Registrar limits.
    pub(crate) registrar: RegistrarConfig,
    /// Call routing.
    pub(crate) proxy: ProxyConfig,
    /// The gateway for external numbers (`None`: external calls get 404).
    pub(crate) trunk: Option<TrunkConfig>,
    /// Toll-fraud policy of every tenant (okcc-core's `TollPolicy`).
    pub(crate) toll: okcc_core::toll::TollPolicy,
    /// Resource monitoring and alerts.
    pub(crate) monitor: MonitorConfig,
}

/// The most worker threads a configuration may ask for.
pub(crate) const MAX_WORKER_THREADS: usize = 256;

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
            max_connections_per_source: 32,
            max_concurrent_requests: 1024,
            worker_threads: 0,
            log_format: LogFormat::Text,
            registrar: RegistrarConfig::default(),
            proxy: ProxyConfig::default(),
            trunk: None,
            toll: okcc_core::toll::TollPolicy::default(),
            monitor: MonitorConfig::default(),
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
        if let Some(v) = var("OKCC_WORKER_THREADS") {
            self.worker_threads = v
                .parse()
                .map_err(|_| format!("OKCC_WORKER_THREADS: `{v}` is not a number of threads"))?;
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
        if self.sip_tls.is_some() && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return Err("sip_tls needs tls_cert and tls_key (PEM files)".to_owned());
        }
        self.monitor.validate()?;
        if self.sip_udp.is_none() && self.sip_tcp.is_none() && self.sip_tls.is_none() {
            return Err(
                "no SIP transport enabled (sip_udp, sip_tcp and sip_tls are all off)".to_owned(),
            );
        }
        if self.max_connections_per_source == 0 {
            return Err("max_connections_per_source must be at least 1".to_owned());
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
        if let Some(t) = &self.trunk {
            if !matches!(t.transport.as_str(), "udp" | "tcp" | "tls") {
                return Err(format!(
                    "trunk.transport: `{}` is not `udp`, `tcp` or `tls`",
                    t.transport
                ));
            }
            if t.transport != "tls" {
                for (set, field) in [
                    (t.tls_server_name.is_some(), "tls_server_name"),
                    (t.tls_ca_file.is_some(), "tls_ca_file"),
                    (t.insecure_skip_verify, "insecure_skip_verify"),
                ] {
                    if set {
                        return Err(format!("trunk.{field} needs transport = \"tls\""));
                    }
                }
            }
            if t.address
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err(format!(
                    "trunk.address: `{}` is not IP:port or host:port",
                    t.address
                ));
            }
        }
        if let Some(t) = &self.trunk
            && t.transport == "tls"
            && rustls::pki_types::ServerName::try_from(t.server_name()).is_err()
        {
            return Err(format!(
                "trunk.tls_server_name: `{}` is not a DNS name or IP address",
                t.server_name()
            ));
        }
        if self.proxy.max_calls == 0 {
            return Err("proxy.max_calls must be at least 1".to_owned());
        }
        if okcc_core::TenantId::new(&self.proxy.default_tenant).is_err() {
            return Err(format!(
                "proxy.default_tenant: `{}` is not a valid tenant id",
                self.proxy.default_tenant
            ));
        }
        if let Err(e) = self.toll.clone().validate() {
            return Err(format!("toll: {e}"));
        }
        if self.max_concurrent_requests == 0 {
            return Err("max_concurrent_requests must be at least 1".to_owned());
        }
        if self.worker_threads > MAX_WORKER_THREADS {
            return Err(format!(
                "worker_threads must be at most {MAX_WORKER_THREADS} (0: one per CPU core)"
            ));
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

    #[test]
    fn req_9_worker_threads_from_file_and_env_and_checked() {
        let mut c: Config = toml::from_str("worker_threads = 1").unwrap();
        c.validate().unwrap();
        assert_eq!(c.worker_threads, 1);
        assert_eq!(Config::default().worker_threads, 0, "one per core");
        c.apply_env(|k| (k == "OKCC_WORKER_THREADS").then(|| "3".to_owned()))
            .unwrap();
        assert_eq!(c.worker_threads, 3);
        let e = c
            .apply_env(|k| (k == "OKCC_WORKER_THREADS").then(|| "two".to_owned()))
            .unwrap_err();
        assert!(e.contains("OKCC_WORKER_THREADS"), "{e}");
        assert_eq!(c.worker_threads, 3, "a refused value changes nothing");
        c.worker_threads = MAX_WORKER_THREADS + 1;
        assert!(c.validate().unwrap_err().contains("worker_threads"));
    }

    #[test]
    fn req_9_trunk_tls_settings_are_checked() {
        let parse = |t: &str| -> Result<Config, String> {
            let c: Config = toml::from_str(t).map_err(|e| e.to_string())?;
            c.validate()?;
            Ok(c)
        };
        let c = parse("[trunk]\naddress = \"sbc.example:5061\"\ntransport = \"tls\"\n").unwrap();
        let t = c.trunk.unwrap();
        assert_eq!(
            t.server_name(),
            "sbc.example",
            "default: the address's host"
        );
        assert!(!t.insecure_skip_verify, "verification is on by default");
        assert_eq!(t.tls_ca_file, None);
        let c = parse(
            "[trunk]\naddress = \"[2001:db8::5]:5061\"\ntransport = \"tls\"\n\
             tls_server_name = \"trunk.test\"\n",
        )
        .unwrap();
        assert_eq!(c.trunk.unwrap().server_name(), "trunk.test");
        let e = parse("[trunk]\naddress = \"1.2.3.4:5061\"\ntransport = \"sctp\"\n").unwrap_err();
        assert!(e.contains("trunk.transport"), "{e}");
        for field in [
            "tls_server_name = \"a.test\"",
            "tls_ca_file = \"/x.pem\"",
            "insecure_skip_verify = true",
        ] {
            let e = parse(&format!("[trunk]\naddress = \"1.2.3.4:5060\"\n{field}\n")).unwrap_err();
            assert!(e.contains("needs transport = \"tls\""), "{field}: {e}");
        }
        let e = parse(
            "[trunk]\naddress = \"1.2.3.4:5061\"\ntransport = \"tls\"\ntls_server_name = \"bad name\"\n",
        )
        .unwrap_err();
        assert!(e.contains("trunk.tls_server_name"), "{e}");
        let e = parse("[trunk]\naddress = \"1.2.3.4:5061\"\ntls_verify = false\n").unwrap_err();
        assert!(e.contains("tls_verify"), "unknown keys are refused: {e}");
    }
}
