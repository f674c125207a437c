//! `okcc-server serve`: a SIP registrar on rsipstack with okcc in the
//! stack's hook points (see [`hooks`]) and in its incoming-transaction loop
//! (digest auth through the library guard's stage 8, see [`auth`];
//! registrar; audit events through a bounded queue, see [`audit`]).
//!
//! Work-arounds for rsipstack 0.7 (see the README): its transport channels
//! are unbounded, so floods are cut in the whitelist and inspector and the
//! transaction loop bounds work in progress with a semaphore (503 beyond);
//! its digest helper is wrong for `nc >= 0000000a` and needs plaintext
//! passwords, so okcc-sip's verifier checks stored HA1 instead; its parser
//! drops methods it does not know before any hook, so okcc reads UDP
//! ([`unknown`]), TCP ([`tcp_front`]) and TLS ([`tls_front`]) first and
//! answers those 501.

pub(crate) mod audit;
mod auth;
mod cache;
pub(crate) mod config;
pub(crate) mod hooks;
mod http_conn;
pub(crate) mod outage;
pub(crate) mod proxy;
pub(crate) mod registrar;
pub(crate) mod sync;
pub(crate) mod tcp_front;
pub(crate) mod tls;
pub(crate) mod tls_front;
pub(crate) mod unknown;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use okcc_core::access::{AccessControl, AccessRequest, Channel};
use okcc_core::geo::GeoLookup;
use okcc_core::geo::maxmind::MaxMindGeo;
use okcc_core::ids::UserId;
use okcc_sip::digest::{DigestConfig, DigestServer};
use okcc_sip::view::{Contact, NameAddr};
use okcc_sip::{Limits, SipMethod, SipRequestView};
use rsipstack::EndpointBuilder;
use rsipstack::sip::{Header, StatusCode};
use rsipstack::transaction::Transaction;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::udp::UdpConnection;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::http::{ApiConfig, AppState, StoreCrmAudit, Stores as ApiStores};
use config::{Config, LogFormat, ServeArgs};
use hooks::{Inspector, Metrics};
use okcc_sip::pipeline::{Guard, GuardConfig, TollStage};
use registrar::{
    ContactSpec, FileRegistrationStore, RegisterOutcome, RegisterRequest, RegistrationStore,
};

/// The methods this server answers out of a dialog; others get 405 (known)
/// or 501 (unknown). Inside a dialog every method goes to the other party.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER";

/// [`ALLOW`] as methods, for the 501 to methods rsipstack cannot parse
/// ([`unknown`]).
const ALLOW_METHODS: &[SipMethod] = &[
    SipMethod::Invite,
    SipMethod::Ack,
    SipMethod::Cancel,
    SipMethod::Bye,
    SipMethod::Options,
    SipMethod::Register,
];

/// Everything a request handler needs.
struct Server {
    cfg: Config,
    toll: Arc<TollStage>,
    /// Tenants of extensions, for the toll stage.
    tenants: proxy::TenantCache,
    /// The SIP audit queue (authentication and registration events).
    audit: Arc<audit::SipAudit>,
    /// Which scope owns each extension.
    directory: Arc<dyn crate::http::Directory>,
    bindings: Box<dyn RegistrationStore>,
    /// Rules and bans shared with the other nodes.
    cluster: Arc<sync::Cluster>,
    guard: Arc<Guard>,
    metrics: Arc<Metrics>,
    limits: Limits,
    register_lock: tokio::sync::Mutex<()>,
    calls: proxy::Calls,
    endpoint: rsipstack::transaction::endpoint::EndpointInnerRef,
    trunk: Option<rsipstack::transport::SipAddr>,
    served_hosts: Vec<String>,
    any_ip_literal: bool,
}

/// Runs `serve` (also what `okcc-server` with no arguments does).
pub(crate) fn run(args: &ServeArgs) -> ExitCode {
    let cfg = match Config::load_for_serve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(cfg.log_format);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if cfg.worker_threads > 0 {
        builder.worker_threads(cfg.worker_threads);
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The server runs as a task on the runtime's workers, not in
    // `block_on` on the main thread: every SIP transaction is handed from
    // rsipstack's endpoint task to this loop and on to its own task, and
    // on a worker those hand-offs stay in the worker's local queue instead
    // of waking another thread each time.
    let served = rt.block_on(async {
        tokio::spawn(serve(cfg))
            .await
            .unwrap_or_else(|e| Err(format!("the server task failed: {e}")))
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The log filter when `RUST_LOG` is not set: okcc at info, rsipstack at
/// warn. rsipstack logs every SIP message it sends or receives at info,
/// whole (`Authorization` headers included), which would flood the log
/// and put digest responses in it.
const DEFAULT_LOG_FILTER: &str = "info,rsipstack=warn";

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => b.json().try_init(),
        LogFormat::Text => b.try_init(),
    };
}

/// The nonce key: 32 random bytes kept in the data directory so every
/// restart (and every node sharing the directory) accepts its nonces.
fn nonce_secret(cfg: &Config) -> Result<Vec<u8>, String> {
    let path = cfg.data_dir.join("nonce.key");
    match std::fs::read(&path) {
        Ok(k) if k.len() >= 32 => return Ok(k),
        Ok(_) => return Err(format!("{} is shorter than 32 bytes", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut k = vec![0u8; 32];
    rand::fill(&mut k[..]);
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.data_dir.display()))?;
    std::fs::write(&path, &k).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(k)
}

/// The library pipeline over the configured access rules and GeoIP
/// database. Digest authentication (stage 8) reads HA1 from `credentials`
/// (the store the CLI and the REST API write) and binds the digest user to
/// the request's user; its events go to `audit`.
fn build_guard(
    cfg: &Config,
    digest: DigestServer,
    toll: Arc<TollStage>,
    credentials: Arc<dyn okcc_core::credential::CredentialStore>,
    audit: Arc<audit::SipAudit>,
) -> Result<Guard, String> {
    let geo: Option<Arc<dyn GeoLookup>> = match &cfg.geoip {
        Some(p) => Some(Arc::new(
            MaxMindGeo::open(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let access = AccessControl::new(geo);
    if let Some(path) = &cfg.rules {
        let rules = crate::access::load_rules(path)?;
        access
            .replace_rules(&rules)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut gc = GuardConfig::default();
    // rsipstack queues whatever its whitelist admits without bound: count
    // floods per datagram there (see `hooks`).
    gc.flood_at_pre_parse = true;
    debug_assert!(
        gc.bind_user,
        "the digest user is bound to the request's user"
    );
    Ok(
        Guard::new(gc, Arc::new(access), Arc::new(digest), credentials)
            .with_call_check(toll)
            .with_audit(audit),
    )
}

async fn serve(cfg: Config) -> Result<(), String> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.data_dir.display()))?;
    let metrics = Arc::new(Metrics::default());
    let mut digest_cfg = DigestConfig::new(cfg.realm.clone(), nonce_secret(&cfg)?);
    digest_cfg.offer = cfg
        .digest_algorithms
        .iter()
        .filter_map(|a| okcc_sip::digest::Algorithm::from_token(a))
        .collect();
    let digest = DigestServer::new(digest_cfg);
    let tenants = proxy::TenantCache::default();
    let toll = Arc::new(proxy::toll_stage(&cfg, Arc::clone(&tenants))?);
    let mut db = crate::backup::open_config(&cfg).await?;
    // Every audit event goes through the sink: spilled to the data
    // directory while the database is down, replayed when it is back.
    let spill = outage::SpillingAudit::start(Arc::clone(&db.audit), &cfg.data_dir);
    db.audit = spill as Arc<dyn okcc_audit::AuditStore>;
    // Account lookups (REGISTER, INVITE) cached for a short TTL, and served
    // from the last known value while the database does not answer; the
    // REST API writes through the same caches, so its changes apply at once.
    let db = cache::cached(db, cache::ACCOUNT_TTL);
    let sip_audit = audit::SipAudit::spawn(Arc::clone(&db.audit));
    let guard = Arc::new(build_guard(
        &cfg,
        digest,
        Arc::clone(&toll),
        Arc::clone(&db.credentials),
        Arc::clone(&sip_audit),
    )?);
    let file_rules = cfg
        .rules
        .as_deref()
        .map(crate::access::load_rules)
        .transpose()?;
    let cluster = sync::Cluster::open(&db, Arc::clone(&guard), file_rules).await?;
    let bindings = FileRegistrationStore::open(cfg.data_dir.join("bindings.json"))
        .map_err(|e| e.to_string())?;
    let gauges = Arc::new(crate::monitor::Gauges::default());
    let alerts = Arc::new(crate::monitor::AlertBook::default());
    // One AccessControl, one ban table: a rule or ban changed over REST
    // applies to SIP at once.
    let api = api_state(
        &cfg,
        &db,
        Arc::clone(&cluster),
        Arc::clone(&guard),
        Arc::clone(&gauges),
        Arc::clone(&alerts),
    )?;
    crate::monitor::spawn(
        &cfg.monitor,
        Arc::clone(&gauges),
        alerts,
        Arc::clone(&db.audit),
        cfg.data_dir.clone(),
    )?;
    if let Some(password) = bootstrap_admin(&api).await? {
        // Printed once on stdout, never logged.
        println!("created user `{BOOTSTRAP_ADMIN}` with the one-time password: {password}");
        println!("(it must be changed at first login)");
    }

    let token = CancellationToken::new();
    cluster.spawn(&token);
    let transport = TransportLayer::new(token.clone());
    transport.set_stream_idle_timeout(Duration::from_secs(cfg.tcp_idle_timeout_secs));
    transport.set_whitelist(hooks::whitelist(Arc::clone(&guard), Arc::clone(&metrics)));
    let mut served_hosts: Vec<String> =
        cfg.domains.iter().map(|d| d.to_ascii_lowercase()).collect();
    served_hosts.push(cfg.realm.to_ascii_lowercase());
    let mut any_ip_literal = false;
    if let Some(a) = cfg.sip_udp {
        // rsipstack reads through the front, which answers methods it
        // cannot parse with 501 (see `unknown`).
        let socket = tokio::net::UdpSocket::bind(a)
            .await
            .map_err(|e| format!("cannot bind SIP/UDP {a}: {e}"))?;
        let front = unknown::UdpFront::new(
            socket,
            Arc::clone(&guard),
            Arc::clone(&metrics),
            ALLOW_METHODS,
        );
        let c = UdpConnection::from_socket(Arc::new(front), None, Some(token.child_token()))
            .await
            .map_err(|e| format!("cannot bind SIP/UDP {a}: {e}"))?;
        tracing::info!(addr = %a, "SIP/UDP listening");
        transport.add_transport(c.into());
    }
    // okcc accepts SIP/TCP itself and answers methods rsipstack cannot
    // parse with 501 on the way in (see `tcp_front`); the connections are
    // rsipstack's own `TcpConnection`s.
    let tcp_front = match cfg.sip_tcp {
        Some(a) => {
            let front = tcp_front::TcpFront::bind(
                a,
                Arc::clone(&guard),
                Arc::clone(&metrics),
                ALLOW_METHODS,
            )
            .await?;
            tracing::info!(addr = %a, "SIP/TCP listening");
            Some(Arc::new(front))
        }
        None => None,
    };
    // SIP/TLS likewise, through a second TLS session (see `tls_front`).
    let tls_front = match (cfg.sip_tls, &cfg.tls_cert, &cfg.tls_key) {
        (Some(a), Some(cert), Some(key)) => {
            let front = tls_front::TlsFront::bind(
                a,
                tls::load(cert, key)?,
                Arc::clone(&guard),
                Arc::clone(&metrics),
                ALLOW_METHODS,
            )
            .await?;
            tracing::info!(addr = %a, "SIP/TLS listening");
            Some(Arc::new(front))
        }
        _ => None,
    };
    for a in [cfg.sip_udp, cfg.sip_tcp, cfg.sip_tls]
        .into_iter()
        .flatten()
    {
        if a.ip().is_unspecified() {
            any_ip_literal = true;
        } else {
            served_hosts.push(host_of(a));
        }
    }
    let endpoint = EndpointBuilder::new()
        .with_cancel_token(token.clone())
        .with_transport_layer(transport)
        .with_user_agent("okcc-server")
        .with_transport_inspector(Box::new(Inspector {
            guard: okcc_sip::adapter::rsipstack::GuardInspector::new(Arc::clone(&guard)),
            metrics: Arc::clone(&metrics),
            connections: Arc::new(hooks::ConnLimiter::new(cfg.max_connections_per_source)),
        }))
        .build();
    let mut incoming = endpoint
        .incoming_transactions()
        .map_err(|e| format!("cannot take the transaction channel: {e}"))?;

    let max = cfg.max_concurrent_requests;
    let trunk = cfg.trunk.as_ref().map(proxy::trunk_addr).transpose()?;
    let server = Arc::new(Server {
        toll,
        tenants,
        audit: Arc::clone(&sip_audit),
        directory: Arc::clone(&db.directory),
        bindings: Box::new(bindings),
        cluster,
        guard,
        metrics,
        limits: Limits::default(),
        register_lock: tokio::sync::Mutex::new(()),
        calls: proxy::Calls::default(),
        endpoint: Arc::clone(&endpoint.inner),
        trunk,
        served_hosts,
        any_ip_literal,
        cfg,
    });
    let http_task = match server.cfg.http {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot bind HTTP {addr}: {e}"))?;
            tracing::info!(%addr, "HTTP (REST API, metrics) listening");
            let listener = http_conn::CountedListener::new(listener, Arc::clone(&gauges));
            Some(tokio::spawn(http_server(
                listener,
                api,
                Arc::clone(&server),
                token.child_token(),
            )))
        }
        None => None,
    };
    if let Some(front) = tcp_front {
        tokio::spawn(tcp_front::serve(
            front,
            Arc::clone(&endpoint.inner),
            token.child_token(),
        ));
    }
    if let Some(front) = tls_front {
        tokio::spawn(tcp_front::serve(
            front,
            Arc::clone(&endpoint.inner),
            token.child_token(),
        ));
    }
    let ep = Arc::new(endpoint);
    let ep2 = Arc::clone(&ep);
    let stack = tokio::spawn(async move { ep2.serve().await });
    let permits = Arc::new(Semaphore::new(max));
    {
        let s = Arc::clone(&server);
        let t = token.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    () = t.cancelled() => return,
                    _ = tick.tick() => s.sweep_calls(),
                }
            }
        });
    }
    tracing::info!("okcc-server ready");
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            tx = incoming.recv() => {
                let Some(mut tx) = tx else { break };
                server.metrics.requests.fetch_add(1, Ordering::Relaxed);
                match Arc::clone(&permits).try_acquire_owned() {
                    Ok(p) => {
                        let s = Arc::clone(&server);
                        let (g, all) = (Arc::clone(&gauges), Arc::clone(&permits));
                        g.set_sip_queue_depth(in_flight(max, &all));
                        tokio::spawn(async move {
                            s.handle(tx).await;
                            drop(p);
                            g.set_sip_queue_depth(in_flight(max, &all));
                        });
                    }
                    Err(_) => {
                        server.metrics.overload_503.fetch_add(1, Ordering::Relaxed);
                        let _ = tx.reply(StatusCode::ServiceUnavailable).await;
                    }
                }
            }
        }
    }
    tracing::info!("shutting down: finishing transactions in progress");
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(5), permits.acquire_many(all)).await;
    ep.shutdown();
    sip_audit.flush(Duration::from_secs(5)).await;
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), stack).await;
    if let Some(h) = http_task {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    // Bindings are written in the background; write the last changes.
    if let Err(e) = server.bindings.flush() {
        tracing::error!(error = %e, "cannot store bindings at shutdown");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The first platform admin's user name.
const BOOTSTRAP_ADMIN: &str = "admin";

/// Creates `admin` when the directory has no user yet; the password to
/// print once.
async fn bootstrap_admin(api: &AppState) -> Result<Option<String>, String> {
    crate::http::bootstrap_admin(api, BOOTSTRAP_ADMIN)
        .await
        .map_err(|e| format!("cannot create the first admin: {}", e.detail))
}

/// SIP requests being handled (the monitor's queue-depth gauge).
fn in_flight(max: usize, permits: &Semaphore) -> u64 {
    u64::try_from(max.saturating_sub(permits.available_permits())).unwrap_or(u64::MAX)
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The REST API state over the server's stores (`open_stores`): the same
/// directory and credential store SIP REGISTER and the CLI use.
///
/// Hook for the REST layer: `guard` is the SIP guard the ban endpoints act on.
fn api_state(
    cfg: &Config,
    db: &crate::backup::Stores,
    cluster: Arc<sync::Cluster>,
    guard: Arc<Guard>,
    gauges: Arc<crate::monitor::Gauges>,
    alerts: Arc<crate::monitor::AlertBook>,
) -> Result<AppState, String> {
    let crm = okcc_crm::CrmService::new(
        Arc::clone(&db.customers),
        Arc::new(StoreCrmAudit(Arc::clone(&db.audit))),
        okcc_crm::service::CrmConfig::default(),
    )
    .with_reveals(Arc::clone(&db.reveals));
    let stores = ApiStores {
        directory: Arc::clone(&db.directory),
        credentials: Arc::clone(&db.credentials),
        roles: Arc::clone(&db.roles),
        crm: Arc::new(crm),
        audit: Arc::clone(&db.audit),
        access: Arc::clone(guard.access()),
        review: Arc::clone(&db.review),
        guard,
        cluster: Some(cluster),
        gauges,
        alerts,
    };
    let config = ApiConfig {
        sip_realm: cfg.realm.clone(),
        ..ApiConfig::default()
    };
    AppState::new(
        config,
        stores,
        okcc_core::PasswordPolicy::default(),
        okcc_core::credential::WebPasswordHasher::default(),
        okcc_core::guard::brute_force::BruteForceConfig::default(),
    )
}

/// The HTTP server: the REST API (`/api/v1`, `/healthz`, `/readyz`) and
/// Prometheus `/metrics`, until `token` is cancelled (graceful: requests in
/// progress finish).
async fn http_server(
    listener: http_conn::CountedListener,
    state: AppState,
    server: Arc<Server>,
    token: CancellationToken,
) {
    let metrics = move || {
        let s = Arc::clone(&server);
        async move {
            let mut body = s.metrics.render(
                s.bindings_count(),
                hooks::ban_count(&s.guard, Instant::now()),
            );
            body.push_str(&format!(
                "# TYPE okcc_sip_audit_dropped_total counter\nokcc_sip_audit_dropped_total {}\n",
                s.audit.dropped()
            ));
            body.push_str(&s.cluster.render_metrics());
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4",
                )],
                body,
            )
        }
    };
    let app = crate::http::router(state).route("/metrics", axum::routing::get(metrics));
    // `tap_io` (a no-op here) gives the counted listener axum's
    // `ConnectInfo<SocketAddr>` support.
    let listener = axum::serve::ListenerExt::tap_io(listener, |_| {});
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(token.cancelled_owned())
    .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP server failed");
    }
}

fn host_of(a: SocketAddr) -> String {
    match a.ip() {
        IpAddr::V4(v) => v.to_string(),
        IpAddr::V6(v) => format!("[{v}]"),
    }
}

/// The source IP of a request: the `received` parameter the stack put on
/// the top Via, else the Via host (the stack adds `received` whenever the
/// packet's source differs from it).
fn source_ip(view: &SipRequestView<'_>) -> Option<IpAddr> {
    let raw = view.via.raw;
    let lower = raw.to_ascii_lowercase();
    if let Some(i) = lower.find(";received=") {
        let rest = &raw[i + ";received=".len()..];
        let end = rest.find([';', ',', ' ', '\t']).unwrap_or(rest.len());
        let v = rest[..end].trim_matches(['[', ']']);
        if let Ok(ip) = v.parse() {
            return Some(ip);
        }
    }
    view.via.host.trim_matches(['[', ']']).parse().ok()
}

/// Splits a header value at commas outside `<>` and quotes.
fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0u32, false, 0usize);
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => depth += 1,
            b'>' if !quoted => depth = depth.saturating_sub(1),
            b',' if !quoted && depth == 0 => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// The `expires` header parameter of a Contact's parameter text.
fn expires_param(params: &str) -> Result<Option<u32>, ()> {
    for p in params.split(';') {
        let p = p.trim();
        if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("expires")
        {
            let v = v.trim();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            return Ok(Some(
                v.parse::<u64>()
                    .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            ));
        }
    }
    Ok(None)
}

/// Reads the contacts of a REGISTER; `Err` is a 400 reason.
fn register_request(
    view: &SipRequestView<'_>,
    source: String,
) -> Result<RegisterRequest, &'static str> {
    let mut contacts = Vec::new();
    let mut star = false;
    for (name, _, value) in view.headers() {
        if name != okcc_sip::view::HeaderName::Contact {
            continue;
        }
        for part in split_list(value) {
            match Contact::parse(part).map_err(|_| "malformed Contact")? {
                Contact::Star => star = true,
                Contact::Address(NameAddr { uri, params, .. }) => {
                    if contacts.len() >= 64 {
                        return Err("too many Contact values");
                    }
                    contacts.push(ContactSpec {
                        uri: uri.raw.to_owned(),
                        expires: expires_param(params)
                            .map_err(|()| "malformed expires parameter")?,
                    });
                }
                _ => return Err("unsupported Contact"),
            }
        }
    }
    Ok(RegisterRequest {
        call_id: view.call_id.to_owned(),
        cseq: view.cseq.seq,
        expires: view.expires,
        star,
        contacts,
        source,
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn hdr(name: &str, value: String) -> Header {
    Header::Other(name.to_owned(), value)
}

impl Server {
    /// The tenant owning extension `user` (`None`: the platform, or no
    /// such extension), noted for the toll stage; `Err` when the directory
    /// cannot be read.
    async fn tenant_of(
        &self,
        user: &str,
    ) -> Result<Option<okcc_core::TenantId>, okcc_core::StoreError> {
        let ext = self.directory.extension(user).await?;
        self.remember_tenant(user, ext.as_ref());
        Ok(ext.and_then(|e| match e.owner {
            okcc_core::Owner::Tenant(t) => Some(t),
            okcc_core::Owner::Platform => None,
        }))
    }

    /// Notes which tenant owns `user` for the toll stage.
    fn remember_tenant(&self, user: &str, ext: Option<&crate::http::directory::ExtensionRecord>) {
        let Ok(mut map) = self.tenants.write() else {
            return;
        };
        match ext.map(|e| &e.owner) {
            Some(okcc_core::Owner::Tenant(t)) => {
                map.insert(user.to_owned(), t.clone());
            }
            _ => {
                map.remove(user);
            }
        }
    }

    fn bindings_count(&self) -> usize {
        self.bindings.count()
    }

    fn serves_host(&self, host: &str) -> bool {
        let h = host.to_ascii_lowercase();
        self.served_hosts.contains(&h)
            || (self.any_ip_literal && h.trim_matches(['[', ']']).parse::<IpAddr>().is_ok())
    }

    async fn handle(&self, mut tx: Transaction) {
        // The request as text, printed the fast way (the same bytes as
        // rsipstack's own printing); a body that is not UTF-8 is kept
        // lossily, as rsipstack's `Display` does.
        let wire =
            match String::from_utf8(okcc_sip::adapter::rsipstack::request_bytes(&tx.original)) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
        let view = match SipRequestView::parse(wire.as_bytes(), &self.limits) {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.reply(StatusCode::from(e.status())).await;
                return;
            }
        };
        let in_dialog = view.to.tag.is_some();
        // The proxy paths' futures are boxed: the spawned future of every
        // transaction is as large as its largest branch, and a REGISTER
        // or keep-alive should not allocate and copy a call's state.
        match view.method {
            SipMethod::Register => self.register(&mut tx, &view).await,
            SipMethod::Invite | SipMethod::Options if in_dialog => {
                Box::pin(self.in_dialog(tx, &view, &wire)).await;
            }
            SipMethod::Invite => Box::pin(self.invite(tx, &view, &wire)).await,
            // The stack absorbs ACKs of non-2xx answers and hands ACKs of
            // 2xx to the INVITE's transaction; a stray one is dropped.
            SipMethod::Ack => {}
            // OPTIONS to an extension goes to its phones (proxy.rs).
            SipMethod::Options if view.request_uri.user.is_some() => {
                Box::pin(self.options(tx, &view, &wire)).await;
            }
            SipMethod::Options => {
                let status = if self.serves_host(view.request_uri.host) {
                    StatusCode::OK
                } else {
                    StatusCode::Forbidden
                };
                let _ = tx
                    .reply_with(status, vec![hdr("Allow", ALLOW.to_owned())], None)
                    .await;
            }
            SipMethod::Other => {
                let _ = tx
                    .reply_with(
                        StatusCode::NotImplemented,
                        vec![hdr("Allow", ALLOW.to_owned())],
                        None,
                    )
                    .await;
            }
            _ if in_dialog => Box::pin(self.in_dialog(tx, &view, &wire)).await,
            SipMethod::Bye => {
                let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
            }
            _ => {
                let _ = tx
                    .reply_with(
                        StatusCode::MethodNotAllowed,
                        vec![hdr("Allow", ALLOW.to_owned())],
                        None,
                    )
                    .await;
            }
        }
    }

    async fn register(&self, tx: &mut Transaction, view: &SipRequestView<'_>) {
        let Some(ip) = source_ip(view) else {
            let _ = tx.reply(StatusCode::BadRequest).await;
            return;
        };
        // Never a relay: only our own domains are registered.
        if !self.serves_host(view.request_uri.host) {
            let _ = tx.reply(StatusCode::Forbidden).await;
            return;
        }
        let Some(aor_user) = view
            .to_user()
            .filter(|u| crate::extension::valid_user(u).is_ok())
        else {
            let _ = tx.reply(StatusCode::Forbidden).await;
            return;
        };
        let account = UserId::new(aor_user).ok();
        let tenant = match self.tenant_of(aor_user).await {
            Ok(t) => t,
            Err(e) => {
                // Never count a store outage as a wrong password.
                tracing::error!(error = %e, "directory unavailable");
                let _ = tx.reply(StatusCode::ServiceUnavailable).await;
                return;
            }
        };
        let mut req = AccessRequest::new(ip, Channel::SipRegister);
        req.account = account.as_ref();
        req.tenant = tenant.as_ref();
        let access = self.guard.access().check(&req);
        if !access.is_allowed() {
            tracing::info!(source = %ip, rule = ?access.rule(), "REGISTER refused by access rule");
            let _ = tx.reply(StatusCode::Forbidden).await;
            return;
        }
        // Stage 8 (the digest user must be the AOR's user).
        if self
            .authenticate(tx, view, ip, tenant.as_ref())
            .await
            .is_none()
        {
            return;
        }
        // Where the REGISTER came from: calls to this binding go there,
        // never to a name from the Contact. Over TCP or TLS that is the
        // connection the phone opened (its remote address; calls reuse
        // it), over UDP the top Via's received / rport.
        let udp_source = proxy::via_source(view)
            .unwrap_or_else(|| SocketAddr::new(ip, view.via.port.unwrap_or(5060)));
        let Some(source) = proxy::binding_source(&proxy::peer_of(tx, udp_source)) else {
            let _ = tx.reply(StatusCode::BadRequest).await;
            return;
        };
        let reg = match register_request(view, source) {
            Ok(r) => r,
            Err(reason) => {
                tracing::info!(source = %ip, reason, "REGISTER malformed");
                let _ = tx.reply(StatusCode::BadRequest).await;
                return;
            }
        };
        let outcome = {
            let _l = self.register_lock.lock().await;
            let now = unix_now();
            let current = self.bindings.bindings(aor_user);
            let (outcome, store) = registrar::apply(&current, &reg, now, &self.cfg.registrar);
            if let Some(next) = store {
                let changes = audit::binding_changes(&current, &next, &reg.call_id, reg.cseq, now)
                    .into_iter()
                    .map(|(c, b)| (c, b.clone()))
                    .collect::<Vec<_>>();
                if let Err(e) = self.bindings.replace(aor_user, next) {
                    tracing::error!(error = %e, "cannot store bindings");
                    let _ = tx.reply(StatusCode::ServerInternalError).await;
                    return;
                }
                for (change, binding) in &changes {
                    self.audit.record_with(|| {
                        audit::registration_event(
                            aor_user,
                            tenant.as_ref(),
                            ip,
                            *change,
                            binding,
                            now,
                        )
                    });
                }
            }
            (outcome, now)
        };
        let (outcome, now) = outcome;
        let _ = match outcome {
            RegisterOutcome::Ok(bindings) => {
                self.metrics.registrations.fetch_add(1, Ordering::Relaxed);
                let headers = bindings
                    .iter()
                    .map(|b| {
                        hdr(
                            "Contact",
                            format!(
                                "<{}>;expires={}",
                                b.contact,
                                b.expires_at.saturating_sub(now)
                            ),
                        )
                    })
                    .collect();
                tx.reply_with(StatusCode::OK, headers, None).await
            }
            RegisterOutcome::IntervalTooBrief(min) => {
                tx.reply_with(
                    StatusCode::IntervalTooBrief,
                    vec![hdr("Min-Expires", min.to_string())],
                    None,
                )
                .await
            }
            RegisterOutcome::BadRequest(_) => tx.reply(StatusCode::BadRequest).await,
            RegisterOutcome::OutOfOrder => tx.reply(StatusCode::ServerInternalError).await,
            RegisterOutcome::TooManyContacts => tx.reply(StatusCode::Forbidden).await,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_9_contact_lists_split_outside_brackets_and_quotes() {
        assert_eq!(
            split_list("\"a, b\" <sip:a@h;x=1,2>;expires=5, <sip:b@h>"),
            vec!["\"a, b\" <sip:a@h;x=1,2>;expires=5", "<sip:b@h>"]
        );
        assert_eq!(expires_param(";expires=60;q=1"), Ok(Some(60)));
        assert_eq!(expires_param(";q=1"), Ok(None));
        assert_eq!(expires_param(";expires=-1"), Err(()));
        assert_eq!(expires_param(";expires=99999999999"), Ok(Some(u32::MAX)));
    }

    #[test]
    fn req_9_the_501_allows_what_the_405_allows() {
        assert_eq!(okcc_sip::pipeline::allow_value(ALLOW_METHODS), ALLOW);
    }
}
