//! The call proxy (RFC 3261 §16): INVITE, ACK, CANCEL, BYE, re-INVITE and
//! other in-dialog requests between local extensions and to the configured
//! trunk, transaction-stateful on rsipstack's client and server
//! transactions (which retransmit over UDP).
//!
//! - **Never an open relay.** A new INVITE must name a domain this server
//!   serves (403 otherwise) and a local extension (routed to its registered
//!   bindings) or an external number matching `proxy.external_prefixes`
//!   (routed to the configured trunk); anything else gets 404. Requests
//!   only ever go to addresses the server observed itself (the address a
//!   REGISTER or INVITE came from) or configured (the trunk); no name taken
//!   from a message is ever resolved.
//! - **Every new INVITE** is authenticated (`407` with `Proxy-Authenticate`,
//!   the caller must be the `From` user) and passes the toll stage (`403` on
//!   deny). The call is reported to the toll stage when answered (2xx) and
//!   when it ends (BYE, CANCEL, failure, timeout, table expiry), so the
//!   concurrent-call counters never leak.
//! - **Dialogs** are kept in a bounded table keyed by Call-ID with the two
//!   parties' addresses and tags; the proxy adds `Record-Route`, so BYE and
//!   re-INVITEs come back through it and go to the other party only.
//! - **Masking**: requests sent to a callee listed in `proxy.mask_callees`
//!   have the caller's number in From, P-Asserted-Identity and
//!   Remote-Party-ID masked by [`okcc_sip::masking::mask_caller`].
//!
//! Forwarded requests are rebuilt from the stack's serialisation of the
//! received request (one header per line): our `Via` on top (new branch),
//! `Max-Forwards` decremented (`483` at zero), our own `Route` removed,
//! `Proxy-Authorization` (meant for us) removed; responses lose our `Via`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use okcc_core::access::{AccessRequest, Channel};
use okcc_core::toll::{CallOutcome, CollectCuts, TollConfig, TollGuard};
use okcc_core::{TenantId, UserId};
use okcc_sip::pipeline::{CallAttempt, CallCheck, TollStage};
use okcc_sip::{SipMethod, SipRequestView};
use rsipstack::sip::{HeadersExt, Method, Request, Response, SipMessage, StatusCode};
use rsipstack::transaction::Transaction;
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transport::SipAddr;

use super::config::{Config, TrunkConfig};
use super::{Server, hdr, host_of, split_list, unix_now};

/// How long an unanswered call may ring, and how long the proxy waits for
/// the ACK of a 2xx (64 × T1).
const ACK_WAIT: Duration = Duration::from_secs(32);

/// Longest a call stays in the dialog table without any request (a lost
/// BYE must not keep a concurrent-call slot forever).
const DIALOG_IDLE: Duration = Duration::from_secs(4 * 3600);

/// The toll stage of the server: one policy for every tenant, the caller's
/// tenant read from the extension file.
/// Which tenant owns each extension, as last read from the directory when
/// the extension authenticated (the toll stage asks synchronously, so it
/// cannot query the store itself). Holds at most one entry per extension.
pub(crate) type TenantCache = Arc<std::sync::RwLock<std::collections::HashMap<String, TenantId>>>;

/// The toll-fraud stage from `[toll]`; tenants of accounts come from `tenants`.
pub(crate) fn toll_stage(cfg: &Config, tenants: TenantCache) -> Result<TollStage, String> {
    let policy = cfg
        .toll
        .clone()
        .validate()
        .map_err(|e| format!("toll: {e}"))?;
    let tenant = TenantId::new(&cfg.proxy.default_tenant)
        .map_err(|e| format!("proxy.default_tenant: {e}"))?;
    let tenant_of = move |account: &str| tenants.read().ok().and_then(|m| m.get(account).cloned());
    Ok(TollStage::new(
        TollGuard::new(TollConfig::default(), policy),
        tenant,
        cfg.proxy.utc_offset_secs,
    )
    .with_tenant_of(Arc::new(tenant_of)))
}

/// Resolves the configured trunk address once (a host name from the
/// configuration file, never from a message). For `transport = "tls"` it
/// also installs the verifying TLS client connector (see
/// [`super::tls::TrunkConnector`]), which the stack then uses for every
/// outbound TLS connection.
pub(crate) fn trunk_addr(t: &TrunkConfig) -> Result<SipAddr, String> {
    let sock = match t.address.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => t
            .address
            .to_socket_addrs()
            .map_err(|e| format!("trunk.address `{}`: {e}", t.address))?
            .next()
            .ok_or_else(|| format!("trunk.address `{}`: no address", t.address))?,
    };
    let transport = match t.transport.as_str() {
        "tcp" => rsipstack::sip::Transport::Tcp,
        "tls" => {
            let connector = super::tls::TrunkConnector::new(t, sock)?;
            if t.insecure_skip_verify {
                tracing::warn!(
                    trunk = %sock,
                    "trunk.insecure_skip_verify is ON: the trunk's TLS certificate and host \
                     name are NOT checked; anyone on the path can impersonate the trunk"
                );
            }
            tracing::info!(trunk = %sock, name = t.server_name(), "trunk over TLS");
            rsipstack::platform::tls::set_client_connector(Arc::new(connector));
            rsipstack::sip::Transport::Tls
        }
        _ => rsipstack::sip::Transport::Udp,
    };
    Ok(sip_addr(transport, sock))
}

fn sip_addr(transport: rsipstack::sip::Transport, a: SocketAddr) -> SipAddr {
    SipAddr {
        r#type: Some(transport),
        addr: a.into(),
    }
}

/// Parses a binding's `udp:1.2.3.4:5060` source.
fn binding_addr(source: &str) -> Option<SipAddr> {
    let (t, a) = source.split_once(':')?;
    let transport = match t {
        "udp" => rsipstack::sip::Transport::Udp,
        "tcp" => rsipstack::sip::Transport::Tcp,
        "tls" => rsipstack::sip::Transport::Tls,
        _ => return None,
    };
    Some(sip_addr(transport, a.parse().ok()?))
}

/// A binding's `udp:1.2.3.4:5060` source for `a` (what [`binding_addr`]
/// reads back).
pub(crate) fn binding_source(a: &SipAddr) -> Option<String> {
    let t = match a.r#type {
        Some(rsipstack::sip::Transport::Tcp) => "tcp",
        Some(rsipstack::sip::Transport::Tls) => "tls",
        _ => "udp",
    };
    Some(format!("{t}:{}", host_port(a.get_socketaddr().ok()?)))
}

/// Where a request in `tx` came from, which is where anything for that
/// peer goes. Over TCP or TLS: the connection it came over (its remote
/// address; a phone behind NAT or on TLS cannot be dialled, the connection
/// it opened is reused). Over UDP: `udp_source` (the top Via's received /
/// rport).
pub(crate) fn peer_of(tx: &Transaction, udp_source: SocketAddr) -> SipAddr {
    tx.connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .filter(|a| {
            matches!(
                a.r#type,
                Some(rsipstack::sip::Transport::Tcp | rsipstack::sip::Transport::Tls)
            )
        })
        .cloned()
        .unwrap_or_else(|| sip_addr(rsipstack::sip::Transport::Udp, udp_source))
}

fn socket_of(a: &SipAddr) -> Option<SocketAddr> {
    a.addr.clone().try_into().ok()
}

/// One party of a call.
#[derive(Clone, Debug)]
struct Party {
    addr: SipAddr,
    /// Its dialog tag (`None` for the callee until it answers).
    tag: Option<String>,
}

/// A call in the dialog table.
#[derive(Clone, Debug)]
struct Call {
    caller: Party,
    callee: Party,
    /// Mask the caller's number on requests to the callee.
    mask: bool,
    /// Our host:port toward the callee: our `Via` on requests to it.
    me: String,
    /// The same toward the caller.
    me_caller: String,
    /// The call has been answered.
    answered: bool,
    last_seen: Instant,
}

/// The dialog table (bounded by `proxy.max_calls`).
#[derive(Debug, Default)]
pub(crate) struct Calls {
    map: Mutex<HashMap<String, Call>>,
}

impl Calls {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Call>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where a request goes.
enum Route {
    Local {
        user: String,
        targets: Vec<(String, SipAddr)>,
    },
    Trunk(SipAddr),
}

/// A new INVITE or OPTIONS that passed [`Server::admit`].
struct Admitted {
    /// Where it came from (the top Via).
    src: SocketAddr,
    /// The authenticated caller (the From user).
    caller: String,
    /// Where it goes.
    route: Route,
}

/// Which way an in-dialog request travels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToCallee,
    ToCaller,
}

/// `true` for a Request-URI user that is an external number under `prefixes`.
pub(crate) fn is_external_number(user: &str, prefixes: &[String]) -> bool {
    let digits = user.strip_prefix('+').unwrap_or(user);
    !digits.is_empty()
        && digits.len() <= 32
        && digits.bytes().all(|b| b.is_ascii_digit())
        && prefixes
            .iter()
            .any(|p| !p.is_empty() && user.starts_with(p.as_str()))
}

/// The address a request came from: Via `received` (else host) and
/// `rport` (else port).
pub(crate) fn via_source(view: &SipRequestView<'_>) -> Option<SocketAddr> {
    let ip = super::source_ip(view)?;
    let raw = view.via.raw;
    let port = raw
        .split(';')
        .skip(1)
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("rport")
                .then(|| v.trim().parse::<u16>().ok())
                .flatten()
        })
        .or(view.via.port)
        .unwrap_or(5060);
    Some(SocketAddr::new(ip, port))
}

/// Rewrites a request for forwarding. `uri`: new Request-URI; `via`: our
/// Via value; `record_route`: our Record-Route value; `strip_route`:
/// removes the first Route value when `ours(host)` says it names us.
/// `Err` is the status to answer instead.
fn rewrite_request(
    wire: &str,
    uri: Option<&str>,
    via: &str,
    record_route: Option<&str>,
    ours: &dyn Fn(&str) -> bool,
) -> Result<String, u16> {
    let (head, body) = wire.split_once("\r\n\r\n").ok_or(400u16)?;
    let mut lines = head.split("\r\n");
    let start = lines.next().ok_or(400u16)?;
    let mut parts = start.splitn(3, ' ');
    let (method, old_uri, version) = (
        parts.next().ok_or(400u16)?,
        parts.next().ok_or(400u16)?,
        parts.next().ok_or(400u16)?,
    );
    let mut out = String::with_capacity(wire.len() + 256);
    out.push_str(&format!(
        "{method} {} {version}\r\n",
        uri.unwrap_or(old_uri)
    ));
    let mut via_done = false;
    let mut route_done = false;
    let mut max_forwards = false;
    if let Some(rr) = record_route {
        out.push_str(&format!("Record-Route: {rr}\r\n"));
    }
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(400u16)?;
        let lname = name.trim().to_ascii_lowercase();
        let value = value.trim();
        match lname.as_str() {
            "via" | "v" if !via_done => {
                out.push_str(&format!("Via: {via}\r\n"));
                via_done = true;
            }
            "max-forwards" => {
                let n: u32 = value.parse().map_err(|_| 400u16)?;
                if n == 0 {
                    return Err(483);
                }
                out.push_str(&format!("Max-Forwards: {}\r\n", n.min(70) - 1));
                max_forwards = true;
                continue;
            }
            "route" if !route_done => {
                // Our leading values go: one, or two after a double
                // Record-Route (RFC 5658) when the two sides used
                // different transports.
                let values = split_list(value);
                let ours_n = values
                    .iter()
                    .take_while(|v| {
                        okcc_sip::view::NameAddr::parse(v).is_ok_and(|n| ours(n.uri.host))
                    })
                    .count();
                route_done = ours_n < values.len();
                if ours_n > 0 {
                    let rest = values[ours_n..].join(", ");
                    if !rest.is_empty() {
                        out.push_str(&format!("Route: {rest}\r\n"));
                    }
                    continue;
                }
            }
            "proxy-authorization" => continue,
            _ => {}
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !via_done {
        return Err(400);
    }
    if !max_forwards {
        out.push_str("Max-Forwards: 69\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    Ok(out)
}

/// Removes our (top) Via from a response; `None` when it has no other Via
/// (then it was not for a request we forwarded).
fn strip_top_via(resp: &Response) -> Option<Response> {
    let wire = resp.to_string();
    let (head, body) = wire.split_once("\r\n\r\n")?;
    let mut out = String::with_capacity(wire.len());
    let mut removed = false;
    let mut vias_left = 0usize;
    for line in head.split("\r\n") {
        if let Some((name, value)) = line.split_once(':')
            && matches!(name.trim().to_ascii_lowercase().as_str(), "via" | "v")
        {
            let values = split_list(value.trim());
            let keep: &[&str] = if removed {
                &values
            } else {
                values.get(1..).unwrap_or(&[])
            };
            removed = true;
            vias_left += keep.len();
            if !keep.is_empty() {
                out.push_str(&format!("Via: {}\r\n", keep.join(", ")));
            }
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if vias_left == 0 {
        return None;
    }
    out.push_str("\r\n");
    out.push_str(body);
    Response::try_from(out.as_str()).ok()
}

/// Our host:port and transport toward one side of a call.
type Hop = (String, rsipstack::sip::Transport);

/// Our `Record-Route` for a call: one URI, or two when the callee and the
/// caller reach us through different listeners (RFC 5658: the callee's
/// first, so each side's in-dialog requests come in through its own
/// listener, over its own transport).
fn record_route(to_callee: &Hop, to_caller: &Hop) -> String {
    let uri = |(host, transport): &Hop| match transport {
        rsipstack::sip::Transport::Tls => format!("<sip:{host};transport=tls;lr>"),
        rsipstack::sip::Transport::Tcp => format!("<sip:{host};transport=tcp;lr>"),
        _ => format!("<sip:{host};lr>"),
    };
    if to_callee == to_caller {
        uri(to_callee)
    } else {
        format!("{}, {}", uri(to_callee), uri(to_caller))
    }
}

/// The To tag of a response.
fn to_tag(resp: &Response) -> Option<String> {
    resp.to_header()
        .ok()
        .and_then(|h| h.tag().ok().flatten())
        .map(|t| t.to_string())
}

fn new_branch() -> String {
    let mut b = [0u8; 12];
    rand::fill(&mut b[..]);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("z9hG4bK-okcc-{hex}")
}

fn transport_token(a: &SipAddr) -> &'static str {
    match a.r#type {
        Some(rsipstack::sip::Transport::Tcp) => "TCP",
        Some(rsipstack::sip::Transport::Tls) => "TLS",
        _ => "UDP",
    }
}

impl Server {
    /// Our address for Via / Record-Route toward `dest`.
    fn me_for(&self, dest: &SipAddr, hint: &str) -> String {
        self.hop_for(dest, hint).0
    }

    /// Our listener toward `dest`: its host:port (our `Via` sent-by and
    /// `Record-Route` host) and its transport. TLS peers get the TLS
    /// listener when there is one; otherwise, as for TCP and UDP, the
    /// listener of their transport, else the other one.
    fn hop_for(&self, dest: &SipAddr, hint: &str) -> Hop {
        use rsipstack::sip::Transport::{Tcp, Tls, Udp};
        let udp = self.cfg.sip_udp.map(|a| (a, Udp));
        let tcp = self.cfg.sip_tcp.map(|a| (a, Tcp));
        let listen = match dest.r#type {
            Some(Tls) => self.cfg.sip_tls.map(|a| (a, Tls)).or(udp).or(tcp),
            Some(Tcp) => tcp.or(udp),
            _ => udp.or(tcp),
        };
        let Some((l, transport)) = listen else {
            return (hint.to_owned(), Udp);
        };
        let ip = if l.ip().is_unspecified() {
            self.cfg
                .proxy
                .advertise
                .or_else(|| hint.trim_matches(['[', ']']).parse::<IpAddr>().ok())
                .unwrap_or_else(|| l.ip())
        } else {
            l.ip()
        };
        (host_port(SocketAddr::new(ip, l.port())), transport)
    }

    /// Is `host` one of ours (for Route stripping)?
    fn is_me(&self, host: &str) -> bool {
        self.serves_host(host)
            || self
                .cfg
                .proxy
                .advertise
                .is_some_and(|a| host.trim_matches(['[', ']']).parse() == Ok(a))
    }

    /// Digest authentication of a call (stage 8 of the library guard,
    /// `Proxy-Authorization`; the caller must be the From user):
    /// `Some(user)` or the reply already sent (see [`super::auth`]).
    async fn authenticate_call(
        &self,
        tx: &mut Transaction,
        view: &SipRequestView<'_>,
        ip: IpAddr,
    ) -> Option<String> {
        // The caller's tenant files the audit events and feeds the toll
        // stage.
        let tenant = self.caller_tenant(tx, view).await?;
        self.authenticate(tx, view, ip, tenant.as_ref()).await
    }

    /// Where a new call to `view`'s Request-URI goes; `Err` is the status.
    async fn route(&self, view: &SipRequestView<'_>) -> Result<Route, StatusCode> {
        if !self.serves_host(view.request_uri.host) {
            return Err(StatusCode::Forbidden);
        }
        let Some(user) = view.request_uri.user else {
            return Err(StatusCode::NotFound);
        };
        let local = crate::extension::valid_user(user).is_ok()
            && match self.directory.extension(user).await {
                Ok(found) => found.is_some(),
                Err(e) => {
                    tracing::error!(error = %e, "directory unavailable");
                    return Err(StatusCode::ServiceUnavailable);
                }
            };
        if local {
            let now = unix_now();
            let targets: Vec<(String, SipAddr)> = self
                .bindings
                .bindings(user)
                .into_iter()
                .filter(|b| b.expires_at > now)
                .filter_map(|b| Some((b.contact.clone(), binding_addr(&b.source)?)))
                .collect();
            if targets.is_empty() {
                return Err(StatusCode::TemporarilyUnavailable);
            }
            return Ok(Route::Local {
                user: user.to_owned(),
                targets,
            });
        }
        if is_external_number(user, &self.cfg.proxy.external_prefixes) {
            return match &self.trunk {
                Some(t) => Ok(Route::Trunk(t.clone())),
                None => Err(StatusCode::NotFound),
            };
        }
        Err(StatusCode::NotFound)
    }

    /// The tenant of the From user (`Some(None)`: not a tenant's
    /// extension); `None` when the directory does not answer, after
    /// answering `503` (a store outage never counts as a wrong password or
    /// a refusal). Only a real extension name is looked up.
    async fn caller_tenant(
        &self,
        tx: &mut Transaction,
        view: &SipRequestView<'_>,
    ) -> Option<Option<okcc_core::TenantId>> {
        let Some(caller) = view
            .from_user()
            .filter(|u| crate::extension::valid_user(u).is_ok())
        else {
            return Some(None);
        };
        match self.tenant_of(caller).await {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "directory unavailable");
                let _ = tx.reply(StatusCode::ServiceUnavailable).await;
                None
            }
        }
    }

    /// The access rules for a call or OPTIONS from `ip`, judged with the
    /// caller's account and its tenant (so tenant and account whitelists
    /// apply as they do to REGISTER). Answers `403` (refused) or `503`
    /// (the directory does not answer) and returns `false` when the
    /// request must go no further.
    async fn call_allowed(
        &self,
        tx: &mut Transaction,
        view: &SipRequestView<'_>,
        ip: IpAddr,
    ) -> bool {
        let Some(tenant) = self.caller_tenant(tx, view).await else {
            return false;
        };
        let account = view.from_user().and_then(|u| UserId::new(u).ok());
        let mut req = AccessRequest::new(ip, Channel::SipCall);
        req.account = account.as_ref();
        req.tenant = tenant.as_ref();
        let access = self.guard.access().check(&req);
        if !access.is_allowed() {
            tracing::info!(source = %ip, method = %view.method, rule = ?access.rule(), "refused by access rule");
            let _ = tx.reply(StatusCode::Forbidden).await;
            return false;
        }
        true
    }

    /// The steps every new INVITE or OPTIONS to a user takes, in order:
    /// a source from the top Via (else `400`), the access rules, never a
    /// relay (an unserved domain is `403` before any challenge), digest
    /// authentication (before saying whether a number or extension exists,
    /// and before anything reaches a phone), then the route (else its
    /// status). `None` once a reply was sent.
    async fn admit(&self, tx: &mut Transaction, view: &SipRequestView<'_>) -> Option<Admitted> {
        let Some(src) = via_source(view) else {
            let _ = tx.reply(StatusCode::BadRequest).await;
            return None;
        };
        if !self.call_allowed(tx, view, src.ip()).await {
            return None;
        }
        let route = self.route(view).await;
        if let Err(StatusCode::Forbidden) = route {
            let _ = tx.reply(StatusCode::Forbidden).await;
            return None;
        }
        let caller = self.authenticate_call(tx, view, src.ip()).await?;
        match route {
            Ok(route) => Some(Admitted { src, caller, route }),
            Err(status) => {
                let _ = tx.reply(status).await;
                None
            }
        }
    }

    /// A new INVITE (no To tag).
    pub(super) async fn invite(&self, mut tx: Transaction, view: &SipRequestView<'_>, wire: &str) {
        let Some(Admitted { src, caller, route }) = self.admit(&mut tx, view).await else {
            return;
        };
        let ip = src.ip();
        let callee = view.request_uri.user.unwrap_or_default();
        // Stage 9: toll fraud (counts the call from here on).
        let now = Instant::now();
        let attempt = CallAttempt::new(ip, Some(&caller), Some(callee)).with_call_id(view.call_id);
        if let Some(d) = self.toll.check(&attempt, now).denial() {
            tracing::warn!(caller, callee, rule = %d.rule, "call refused by toll-fraud rule");
            let _ = tx.reply(StatusCode::Forbidden).await;
            return;
        }
        let _ = tx.send_trying().await;
        let (targets, mask) = match &route {
            Route::Local { user, targets } => (
                targets.clone(),
                self.cfg.proxy.mask_callees.iter().any(|m| m == user),
            ),
            Route::Trunk(addr) => (vec![(self.trunk_uri(callee, addr), addr.clone())], false),
        };
        let (uri, dest) = targets[0].clone();
        let to_callee = self.hop_for(&dest, view.request_uri.host);
        // The caller's side: the stream it called over, else UDP from the
        // top Via (`admit` checked that there is one).
        let caller_addr = peer_of(&tx, src);
        let to_caller = self.hop_for(&caller_addr, view.request_uri.host);
        let rr = record_route(&to_callee, &to_caller);
        let (me, me_caller) = (to_callee.0, to_caller.0);
        let full = {
            let mut calls = self.calls.lock();
            let full = calls.len() >= self.cfg.proxy.max_calls && !calls.contains_key(view.call_id);
            if !full {
                calls.insert(
                    view.call_id.to_owned(),
                    Call {
                        caller: Party {
                            addr: caller_addr.clone(),
                            tag: view.from.tag.map(str::to_owned),
                        },
                        callee: Party {
                            addr: dest.clone(),
                            tag: None,
                        },
                        mask,
                        me: me.clone(),
                        me_caller: me_caller.clone(),
                        answered: false,
                        last_seen: now,
                    },
                );
            }
            full
        };
        if full {
            self.toll
                .on_call_ended(view.call_id, now, CallOutcome::Failed);
            let _ = tx.reply(StatusCode::ServiceUnavailable).await;
            return;
        }
        let answered = if targets.len() > 1 {
            // Parallel forking to every registered contact (RFC 3261 §16.7).
            self.fork(&mut tx, wire, &targets, Some(&rr), mask, &me, view.call_id)
                .await
        } else {
            self.forward(
                &mut tx,
                wire,
                Some(&uri),
                &dest,
                Some(&rr),
                mask,
                &me,
                view.call_id,
            )
            .await
        };
        let now = Instant::now();
        match answered {
            Forwarded::Answered => {
                self.toll.on_call_answered(view.call_id, now);
            }
            Forwarded::Failed(outcome) => {
                self.calls.lock().remove(view.call_id);
                self.toll.on_call_ended(view.call_id, now, outcome);
            }
        }
    }

    /// Forwards `wire` (a request in server transaction `tx`) to `dest`
    /// and relays the answers; for INVITE also the CANCEL and the ACK of a
    /// 2xx.
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        tx: &mut Transaction,
        wire: &str,
        uri: Option<&str>,
        dest: &SipAddr,
        record_route: Option<&str>,
        mask: bool,
        me: &str,
        call_id: &str,
    ) -> Forwarded {
        let branch = new_branch();
        let via = format!(
            "SIP/2.0/{} {me};branch={branch};rport",
            transport_token(dest)
        );
        let text = match rewrite_request(wire, uri, &via, record_route, &|h| self.is_me(h)) {
            Ok(t) => t,
            Err(code) => {
                let _ = tx.reply(StatusCode::from(code)).await;
                return Forwarded::Failed(CallOutcome::Failed);
            }
        };
        let text = if mask {
            match okcc_sip::masking::mask_caller(
                text.as_bytes(),
                self.cfg.proxy.mask_mode,
                &self.limits,
            ) {
                Ok(b) => String::from_utf8(b).unwrap_or(text),
                Err(e) => {
                    // Never send an unmasked number to a masked phone.
                    tracing::warn!(error = %e, "cannot mask the caller; call refused");
                    let _ = tx.reply(StatusCode::ServerInternalError).await;
                    return Forwarded::Failed(CallOutcome::Failed);
                }
            }
        } else {
            text
        };
        let Ok(req) = Request::try_from(text.as_str()) else {
            let _ = tx.reply(StatusCode::ServerInternalError).await;
            return Forwarded::Failed(CallOutcome::Failed);
        };
        let invite = req.method == Method::Invite;
        let cancel_template = invite.then(|| req.clone());
        let Ok(key) = TransactionKey::from_request(&req, TransactionRole::Client) else {
            let _ = tx.reply(StatusCode::ServerInternalError).await;
            return Forwarded::Failed(CallOutcome::Failed);
        };
        let Ok(conn) = self.connection_for(dest).await else {
            let _ = tx.reply(StatusCode::ServiceUnavailable).await;
            return Forwarded::Failed(CallOutcome::Failed);
        };
        let mut client = Transaction::new_client(key, req, Arc::clone(&self.endpoint), conn);
        client.destination = Some(dest.clone());
        if client.send().await.is_err() {
            let _ = tx.reply(StatusCode::ServiceUnavailable).await;
            return Forwarded::Failed(CallOutcome::Failed);
        }
        let mut server_open = true;
        let mut cancelled = false;
        let mut answered = false;
        let mut ack_deadline: Option<tokio::time::Instant> = None;
        loop {
            let sleep_until = ack_deadline
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                m = client.receive() => match m {
                    Some(SipMessage::Response(resp)) => {
                        let code = resp.status_code.code();
                        if code == 100 {
                            continue;
                        }
                        if (200..300).contains(&code)
                            && invite
                            && let Some(tag) = to_tag(&resp)
                            && let Some(c) = self.calls.lock().get_mut(call_id)
                            && c.callee.tag.is_none()
                        {
                            c.callee.tag = Some(tag);
                            c.answered = true;
                        }
                        let Some(up) = strip_top_via(&resp) else { continue };
                        let _ = tx.respond(up).await;
                        if code >= 300 {
                            let outcome = if cancelled || code == 487 {
                                CallOutcome::Cancelled
                            } else {
                                CallOutcome::Failed
                            };
                            return Forwarded::Failed(outcome);
                        }
                        if code >= 200 {
                            if !invite {
                                return Forwarded::Answered;
                            }
                            answered = true;
                            ack_deadline.get_or_insert_with(|| tokio::time::Instant::now() + ACK_WAIT);
                        }
                    }
                    Some(_) => {}
                    None => {
                        if answered {
                            // 2xx retransmissions are over; the ACK may still come.
                            if ack_deadline.is_none() {
                                return Forwarded::Answered;
                            }
                            // Keep waiting for the ACK on the server side only.
                            return self.wait_ack(tx, dest, me, mask, ack_deadline).await;
                        }
                        let _ = tx.reply(StatusCode::RequestTimeout).await;
                        return Forwarded::Failed(CallOutcome::Abnormal);
                    }
                },
                m = tx.receive(), if server_open => match m {
                    Some(SipMessage::Request(r)) if r.method == Method::Cancel => {
                        if let Some(t) = &cancel_template {
                            cancelled = true;
                            let c = cancel_for(t);
                            let _ = client.send_cancel(c).await;
                        }
                    }
                    Some(SipMessage::Request(r)) if r.method == Method::Ack => {
                        self.forward_ack(&r, dest, me, mask).await;
                        return Forwarded::Answered;
                    }
                    Some(_) => {}
                    None => server_open = false,
                },
                () = tokio::time::sleep_until(sleep_until) => {
                    // No ACK for the 2xx: the call is up as far as the callee
                    // knows; BYE (or the table's idle expiry) ends it.
                    return Forwarded::Answered;
                }
            }
        }
    }

    async fn wait_ack(
        &self,
        tx: &mut Transaction,
        dest: &SipAddr,
        me: &str,
        mask: bool,
        deadline: Option<tokio::time::Instant>,
    ) -> Forwarded {
        let until = deadline.unwrap_or_else(tokio::time::Instant::now);
        loop {
            tokio::select! {
                m = tx.receive() => match m {
                    Some(SipMessage::Request(r)) if r.method == Method::Ack => {
                        self.forward_ack(&r, dest, me, mask).await;
                        return Forwarded::Answered;
                    }
                    Some(_) => {}
                    None => return Forwarded::Answered,
                },
                () = tokio::time::sleep_until(until) => return Forwarded::Answered,
            }
        }
    }

    /// Forwards the ACK of a 2xx statelessly (RFC 3261 §16.11).
    async fn forward_ack(&self, ack: &Request, dest: &SipAddr, me: &str, mask: bool) {
        let via = format!(
            "SIP/2.0/{} {me};branch={};rport",
            transport_token(dest),
            new_branch()
        );
        let Ok(text) = rewrite_request(&ack.to_string(), None, &via, None, &|h| self.is_me(h))
        else {
            return;
        };
        self.send_stateless(text, dest, mask).await;
    }

    async fn send_stateless(&self, text: String, dest: &SipAddr, mask: bool) {
        let text = if mask {
            match okcc_sip::masking::mask_caller(
                text.as_bytes(),
                self.cfg.proxy.mask_mode,
                &self.limits,
            ) {
                Ok(b) => match String::from_utf8(b) {
                    Ok(s) => s,
                    Err(_) => return,
                },
                Err(_) => return,
            }
        } else {
            text
        };
        let Ok(req) = Request::try_from(text.as_str()) else {
            return;
        };
        match self.endpoint.transport_layer.lookup(dest, None).await {
            Ok((conn, resolved)) => {
                if let Err(e) = conn.send(req.into(), Some(&resolved)).await {
                    tracing::debug!(error = %e, "stateless forward failed");
                }
            }
            Err(e) => tracing::debug!(error = %e, "no connection for stateless forward"),
        }
    }

    /// A request inside a dialog (To tag present): BYE, re-INVITE, INFO,
    /// UPDATE, ... between the two parties of a call in the table.
    pub(super) async fn in_dialog(
        &self,
        mut tx: Transaction,
        view: &SipRequestView<'_>,
        wire: &str,
    ) {
        let Some(src) = via_source(view) else {
            let _ = tx.reply(StatusCode::BadRequest).await;
            return;
        };
        let now = Instant::now();
        let found = {
            let mut calls = self.calls.lock();
            calls.get_mut(view.call_id).and_then(|c| {
                let from_tag = view.from.tag;
                let from_caller = from_tag.is_some() && from_tag == c.caller.tag.as_deref();
                let from_callee = from_tag.is_some() && from_tag == c.callee.tag.as_deref();
                let dir = if from_caller
                    && socket_of(&c.caller.addr).map(|a| a.ip()) == Some(src.ip())
                {
                    Direction::ToCallee
                } else if from_callee && socket_of(&c.callee.addr).map(|a| a.ip()) == Some(src.ip())
                {
                    Direction::ToCaller
                } else {
                    return None;
                };
                c.last_seen = now;
                Some((dir, c.clone()))
            })
        };
        let Some((dir, call)) = found else {
            let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
            return;
        };
        let (dest, mask, me) = match dir {
            Direction::ToCallee => (call.callee.addr.clone(), call.mask, &call.me),
            Direction::ToCaller => (call.caller.addr.clone(), false, &call.me_caller),
        };
        let bye = view.method == SipMethod::Bye;
        let _ = self
            .forward(&mut tx, wire, None, &dest, None, mask, me, view.call_id)
            .await;
        if bye && self.calls.lock().remove(view.call_id).is_some() {
            let outcome = if call.answered {
                CallOutcome::Completed
            } else {
                CallOutcome::Abnormal
            };
            self.toll
                .on_call_ended(view.call_id, Instant::now(), outcome);
        }
    }

    /// Drops calls idle for too long and lets the toll stage cut calls over
    /// a cap: their dialogs leave the table (further in-dialog requests get
    /// 481, so no more media is set up through the proxy) and the toll
    /// counters are released. No BYE is sent to the phones yet.
    pub(super) fn sweep_calls(&self) {
        let now = Instant::now();
        let mut cuts = CollectCuts::default();
        let _ = self.toll.sweep(now, &mut cuts);
        let stale: Vec<String> = {
            let mut calls = self.calls.lock();
            let stale: Vec<String> = calls
                .iter()
                .filter(|(_, c)| now.saturating_duration_since(c.last_seen) > DIALOG_IDLE)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &stale {
                calls.remove(k);
            }
            let mut gone = stale;
            for (call_id, rule) in &cuts.0 {
                if calls.remove(call_id.as_str()).is_some() {
                    tracing::warn!(call_id, rule = ?rule, "toll-fraud limit: call cut");
                    gone.push(call_id.clone());
                }
            }
            gone
        };
        for k in stale {
            self.toll.on_call_ended(&k, now, CallOutcome::Abnormal);
        }
    }
}

/// How a branch of a forked request ended: its final response, or a
/// status of our own (`503` could not send, `408` no final answer).
type BranchEnd = Result<Response, u16>;

/// The final answer to send upstream when no branch answered 2xx (RFC 3261
/// §16.7.6): the lowest response class wins (3xx, then 4xx, then 5xx);
/// answers of a phone beat our own `408`/`503`; a `503` becomes `500`.
fn best_final(ends: &[Option<BranchEnd>]) -> Option<BranchEnd> {
    let code = |e: &BranchEnd| match e {
        Ok(r) => r.status_code.code(),
        Err(c) => *c,
    };
    let best = ends
        .iter()
        .flatten()
        .min_by_key(|e| (code(e) / 100, e.is_err()))?
        .clone();
    Some(match best {
        Ok(mut r) if r.status_code.code() == 503 => {
            r.status_code = StatusCode::ServerInternalError;
            Ok(r)
        }
        other => other,
    })
}

/// Drives one branch's client transaction: every response goes to
/// `events` tagged with `idx`, `None` when the transaction is over. A
/// message on `cancel` sends the CANCEL of an INVITE; after that, or once
/// the fork is over, the branch waits at most [`ACK_WAIT`] for the phone to
/// finish (an unanswered branch lives at most [`DIALOG_IDLE`]).
async fn run_branch(
    idx: usize,
    mut client: Transaction,
    invite: Option<Request>,
    events: tokio::sync::mpsc::Sender<(usize, Option<Response>)>,
    mut cancel: tokio::sync::oneshot::Receiver<()>,
) {
    let mut listening = true;
    let mut until = tokio::time::Instant::now() + DIALOG_IDLE;
    loop {
        tokio::select! {
            m = client.receive() => match m {
                Some(SipMessage::Response(r)) => {
                    let _ = events.send((idx, Some(r))).await;
                }
                Some(_) => {}
                None => {
                    let _ = events.send((idx, None)).await;
                    return;
                }
            },
            c = &mut cancel, if listening => {
                listening = false;
                if c.is_ok() && let Some(inv) = &invite {
                    let _ = client.send_cancel(cancel_for(inv)).await;
                }
                // Cancelled, or the fork is over (its end of the channel
                // is gone): finish within ACK_WAIT.
                until = tokio::time::Instant::now() + ACK_WAIT;
            }
            () = tokio::time::sleep_until(until) => {
                let _ = events.send((idx, None)).await;
                return;
            }
        }
    }
}

impl Server {
    /// The Request-URI of a call to `number` on the trunk: its configured
    /// TLS name for `transport = "tls"`, else its address.
    fn trunk_uri(&self, number: &str, addr: &SipAddr) -> String {
        let hp = socket_of(addr).map(host_port).unwrap_or_default();
        match &self.cfg.trunk {
            Some(t) if t.transport == "tls" => {
                let port = socket_of(addr).map_or(5061, |a| a.port());
                let name = t.server_name();
                let name = if name.contains(':') {
                    format!("[{name}]")
                } else {
                    name.to_owned()
                };
                format!("sip:{number}@{name}:{port};transport=tls")
            }
            _ => format!("sip:{number}@{hp}"),
        }
    }

    /// For TCP/TLS, the connection to `dest` (opened now when none is
    /// open; for the trunk over TLS that includes the certificate check),
    /// so a peer that cannot be reached is answered `503` at once instead
    /// of after the transaction timeout. `Ok(None)` for UDP.
    async fn connection_for(
        &self,
        dest: &SipAddr,
    ) -> Result<Option<rsipstack::transport::SipConnection>, ()> {
        if !matches!(
            dest.r#type,
            Some(rsipstack::sip::Transport::Tcp | rsipstack::sip::Transport::Tls)
        ) {
            return Ok(None);
        }
        match self.endpoint.transport_layer.lookup(dest, None).await {
            Ok((conn, _)) => Ok(Some(conn)),
            Err(e) => {
                tracing::warn!(destination = %dest, error = %e, "cannot reach the next hop");
                Err(())
            }
        }
    }

    /// OPTIONS to a user (the server's own OPTIONS, without a user, are
    /// answered in `handle`): after the access rules and authentication,
    /// a registered extension gets it on every contact (the best answer is
    /// relayed), an extension with no contact is `480`, anything else `404`.
    pub(super) async fn options(&self, mut tx: Transaction, view: &SipRequestView<'_>, wire: &str) {
        let Some(Admitted { route, .. }) = self.admit(&mut tx, view).await else {
            return;
        };
        let (user, targets) = match route {
            Route::Local { user, targets } => (user, targets),
            // OPTIONS is not relayed to the trunk.
            Route::Trunk(_) => {
                let _ = tx.reply(StatusCode::NotFound).await;
                return;
            }
        };
        let mask = self.cfg.proxy.mask_callees.contains(&user);
        let (uri, dest) = &targets[0];
        let me = self.me_for(dest, view.request_uri.host);
        if targets.len() > 1 {
            self.fork(&mut tx, wire, &targets, None, mask, &me, view.call_id)
                .await;
        } else {
            self.forward(
                &mut tx,
                wire,
                Some(uri),
                dest,
                None,
                mask,
                &me,
                view.call_id,
            )
            .await;
        }
    }

    /// Parallel forking (RFC 3261 §16.7) of `wire` to every target: the
    /// first 2xx is relayed and the other branches are cancelled; without a
    /// 2xx the best final answer is relayed once every branch has ended (a
    /// 6xx at once, cancelling the rest). Provisional answers are relayed;
    /// a CANCEL of the caller cancels every branch. For an INVITE the ACK
    /// of the 2xx goes to the answering phone, which becomes the callee of
    /// the call `call_id` in the dialog table.
    #[allow(clippy::too_many_arguments)]
    async fn fork(
        &self,
        tx: &mut Transaction,
        wire: &str,
        targets: &[(String, SipAddr)],
        record_route: Option<&str>,
        mask: bool,
        me: &str,
        call_id: &str,
    ) -> Forwarded {
        // Build every branch's request first: a request that cannot be
        // rewritten is refused before anything is sent.
        let mut requests = Vec::with_capacity(targets.len());
        for (uri, dest) in targets {
            let via = format!(
                "SIP/2.0/{} {me};branch={};rport",
                transport_token(dest),
                new_branch()
            );
            let text =
                match rewrite_request(wire, Some(uri), &via, record_route, &|h| self.is_me(h)) {
                    Ok(t) => t,
                    Err(code) => {
                        let _ = tx.reply(StatusCode::from(code)).await;
                        return Forwarded::Failed(CallOutcome::Failed);
                    }
                };
            let text = if mask {
                match okcc_sip::masking::mask_caller(
                    text.as_bytes(),
                    self.cfg.proxy.mask_mode,
                    &self.limits,
                )
                .map(String::from_utf8)
                {
                    Ok(Ok(s)) => s,
                    _ => {
                        // Never send an unmasked number to a masked phone.
                        tracing::warn!("cannot mask the caller; request refused");
                        let _ = tx.reply(StatusCode::ServerInternalError).await;
                        return Forwarded::Failed(CallOutcome::Failed);
                    }
                }
            } else {
                text
            };
            let Ok(req) = Request::try_from(text.as_str()) else {
                let _ = tx.reply(StatusCode::ServerInternalError).await;
                return Forwarded::Failed(CallOutcome::Failed);
            };
            let Ok(key) = TransactionKey::from_request(&req, TransactionRole::Client) else {
                let _ = tx.reply(StatusCode::ServerInternalError).await;
                return Forwarded::Failed(CallOutcome::Failed);
            };
            requests.push((req, key, dest.clone()));
        }
        let invite = requests
            .first()
            .is_some_and(|(r, _, _)| r.method == Method::Invite);
        let (events_tx, mut events) = tokio::sync::mpsc::channel(16 * targets.len().max(1));
        let mut cancels: Vec<Option<tokio::sync::oneshot::Sender<()>>> = Vec::new();
        let mut ends: Vec<Option<BranchEnd>> = Vec::new();
        let mut dests = Vec::new();
        for (idx, (req, key, dest)) in requests.into_iter().enumerate() {
            dests.push(dest.clone());
            let Ok(conn) = self.connection_for(&dest).await else {
                cancels.push(None);
                ends.push(Some(Err(503)));
                continue;
            };
            let template = invite.then(|| req.clone());
            let mut client = Transaction::new_client(key, req, Arc::clone(&self.endpoint), conn);
            client.destination = Some(dest);
            if client.send().await.is_err() {
                cancels.push(None);
                ends.push(Some(Err(503)));
                continue;
            }
            let (ctx, crx) = tokio::sync::oneshot::channel();
            cancels.push(Some(ctx));
            ends.push(None);
            tokio::spawn(run_branch(idx, client, template, events_tx.clone(), crx));
        }
        drop(events_tx);
        let cancel_rest = |cancels: &mut [Option<tokio::sync::oneshot::Sender<()>>],
                           ends: &[Option<BranchEnd>],
                           keep: Option<usize>| {
            for (i, c) in cancels.iter_mut().enumerate() {
                if Some(i) != keep
                    && ends[i].is_none()
                    && let Some(c) = c.take()
                {
                    let _ = c.send(());
                }
            }
        };
        let mut winner: Option<usize> = None;
        let mut cancelled = false;
        let mut server_open = true;
        let mut events_open = true;
        let mut ack_deadline: Option<tokio::time::Instant> = None;
        loop {
            if winner.is_none() && ends.iter().all(Option::is_some) {
                let outcome = match best_final(&ends) {
                    Some(Ok(resp)) => {
                        let code = resp.status_code.code();
                        if let Some(up) = strip_top_via(&resp) {
                            let _ = tx.respond(up).await;
                        }
                        code
                    }
                    Some(Err(code)) => {
                        let _ = tx.reply(StatusCode::from(code)).await;
                        code
                    }
                    None => {
                        let _ = tx.reply(StatusCode::ServiceUnavailable).await;
                        503
                    }
                };
                return Forwarded::Failed(if cancelled || outcome == 487 {
                    CallOutcome::Cancelled
                } else {
                    CallOutcome::Failed
                });
            }
            let sleep_until = ack_deadline
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                ev = events.recv(), if events_open => match ev {
                    Some((i, Some(resp))) => {
                        let code = resp.status_code.code();
                        if code == 100 || ends[i].is_some() && code >= 300 {
                            continue;
                        }
                        if code < 200 {
                            if winner.is_none() && let Some(up) = strip_top_via(&resp) {
                                let _ = tx.respond(up).await;
                            }
                        } else if code < 300 {
                            match winner {
                                None => {
                                    winner = Some(i);
                                    if invite
                                        && let Some(c) = self.calls.lock().get_mut(call_id)
                                    {
                                        c.callee.addr = dests[i].clone();
                                        c.callee.tag = to_tag(&resp);
                                        c.answered = true;
                                    }
                                    if let Some(up) = strip_top_via(&resp) {
                                        let _ = tx.respond(up).await;
                                    }
                                    ends[i] = Some(Ok(resp));
                                    cancel_rest(&mut cancels, &ends, Some(i));
                                    if !invite {
                                        return Forwarded::Answered;
                                    }
                                    ack_deadline
                                        .get_or_insert_with(|| tokio::time::Instant::now() + ACK_WAIT);
                                }
                                // A retransmission of the winning 2xx.
                                Some(w) if w == i => {
                                    if let Some(up) = strip_top_via(&resp) {
                                        let _ = tx.respond(up).await;
                                    }
                                }
                                Some(_) => {
                                    // A second phone answered before its
                                    // CANCEL arrived: it is not relayed; with
                                    // no ACK that phone ends the call itself
                                    // (RFC 3261 §13.3.1.4).
                                    tracing::info!(call_id, branch = i, "second 2xx of a forked call not relayed");
                                    ends[i] = Some(Ok(resp));
                                }
                            }
                        } else {
                            let six = code >= 600;
                            ends[i] = Some(Ok(resp.clone()));
                            if six && winner.is_none() {
                                cancel_rest(&mut cancels, &ends, None);
                                if let Some(up) = strip_top_via(&resp) {
                                    let _ = tx.respond(up).await;
                                }
                                return Forwarded::Failed(CallOutcome::Failed);
                            }
                        }
                    }
                    Some((i, None)) => {
                        if ends[i].is_none() {
                            ends[i] = Some(Err(408));
                        }
                    }
                    None => {
                        events_open = false;
                        for e in &mut ends {
                            e.get_or_insert(Err(408));
                        }
                        if winner.is_some() && ack_deadline.is_none() {
                            return Forwarded::Answered;
                        }
                    }
                },
                m = tx.receive(), if server_open => match m {
                    Some(SipMessage::Request(r)) if r.method == Method::Cancel => {
                        if winner.is_none() {
                            cancelled = true;
                            cancel_rest(&mut cancels, &ends, None);
                        }
                    }
                    Some(SipMessage::Request(r)) if r.method == Method::Ack => {
                        if let Some(w) = winner {
                            self.forward_ack(&r, &dests[w], me, mask).await;
                            return Forwarded::Answered;
                        }
                    }
                    Some(_) => {}
                    None => server_open = false,
                },
                () = tokio::time::sleep_until(sleep_until) => {
                    if winner.is_some() {
                        // No ACK for the 2xx: the call is up as far as the
                        // callee knows; BYE (or the idle expiry) ends it.
                        return Forwarded::Answered;
                    }
                }
            }
        }
    }
}

/// What became of a forwarded request.
enum Forwarded {
    /// A 2xx was relayed.
    Answered,
    /// It failed, with this outcome.
    Failed(CallOutcome),
}

pub(crate) fn host_port(a: SocketAddr) -> String {
    format!("{}:{}", host_of(a), a.port())
}

/// The CANCEL for a forwarded INVITE: same Request-URI, top Via, From,
/// To, Call-ID and CSeq number (RFC 3261 §9.1).
fn cancel_for(invite: &Request) -> Request {
    let mut c = invite.clone();
    c.method = Method::Cancel;
    c.body = Vec::new();
    let mut seen_via = false;
    c.headers.retain(|h| {
        use rsipstack::sip::Header as H;
        match h {
            H::Via(_) if !seen_via => {
                seen_via = true;
                true
            }
            H::From(_) | H::To(_) | H::CallId(_) | H::MaxForwards(_) | H::Route(_) => true,
            // CSeq is replaced below (same number, method CANCEL).
            _ => false,
        }
    });
    let seq = invite
        .cseq_header()
        .ok()
        .and_then(|c| c.seq().ok())
        .unwrap_or(1);
    c.headers.push(hdr("CSeq", format!("{seq} CANCEL")));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:1002@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKa;rport=5071\r\n\
Route: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.9;lr>\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:1001@127.0.0.1>;tag=a1\r\n\
To: <sip:1002@127.0.0.1>\r\n\
Call-ID: c1\r\n\
CSeq: 1 INVITE\r\n\
Proxy-Authorization: Digest username=\"1001\"\r\n\
Content-Length: 0\r\n\r\n";

    /// After a double Record-Route (a TLS phone and a UDP one) both of our
    /// values lead the route set, in one Route header or in two: both go,
    /// the next hop's stays.
    #[test]
    fn req_9_both_of_our_route_values_go_after_a_double_record_route() {
        // The INVITE with `routes` instead of its Route, forwarded: its
        // Route lines.
        let routes_after = |routes: &str| -> Vec<String> {
            let wire = INVITE.replace(
                "Route: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.9;lr>\r\n",
                routes,
            );
            let via = "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKx";
            rewrite_request(&wire, None, via, None, &|h| h == "127.0.0.1")
                .unwrap()
                .lines()
                .filter(|l| l.starts_with("Route:"))
                .map(str::to_owned)
                .collect()
        };
        for routes in [
            "Route: <sip:127.0.0.1:5061;transport=tls;lr>, <sip:127.0.0.1:5060;lr>, <sip:10.0.0.9;lr>\r\n",
            "Route: <sip:127.0.0.1:5061;transport=tls;lr>, <sip:127.0.0.1:5060;lr>\r\nRoute: <sip:10.0.0.9;lr>\r\n",
            "Route: <sip:127.0.0.1:5061;transport=tls;lr>\r\nRoute: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.9;lr>\r\n",
        ] {
            assert_eq!(
                routes_after(routes),
                ["Route: <sip:10.0.0.9;lr>"],
                "{routes}"
            );
        }
        // Only ours: no Route left.
        assert!(
            routes_after(
                "Route: <sip:127.0.0.1:5061;transport=tls;lr>, <sip:127.0.0.1:5060;lr>\r\n"
            )
            .is_empty()
        );
        // Someone else's value first: nothing is stripped after it.
        assert_eq!(
            routes_after("Route: <sip:10.0.0.9;lr>, <sip:127.0.0.1:5060;lr>\r\n"),
            ["Route: <sip:10.0.0.9;lr>, <sip:127.0.0.1:5060;lr>"]
        );
    }

    #[test]
    fn req_9_forwarded_request_gets_our_via_record_route_and_loses_our_route() {
        let out = rewrite_request(
            INVITE,
            Some("sip:1002@127.0.0.1:5072"),
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx",
            Some("<sip:127.0.0.1:5060;lr>"),
            &|h| h == "127.0.0.1",
        )
        .unwrap();
        assert!(
            out.starts_with("INVITE sip:1002@127.0.0.1:5072 SIP/2.0\r\n"),
            "{out}"
        );
        let via1 = out
            .find("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx")
            .unwrap();
        let via2 = out.find("Via: SIP/2.0/UDP 127.0.0.1:5071").unwrap();
        assert!(via1 < via2, "our Via is on top: {out}");
        assert!(out.contains("Record-Route: <sip:127.0.0.1:5060;lr>\r\n"));
        assert!(out.contains("Route: <sip:10.0.0.9;lr>\r\n"), "{out}");
        assert!(!out.contains("\r\nRoute: <sip:127.0.0.1:5060"), "{out}");
        assert!(out.contains("Max-Forwards: 69\r\n"));
        assert!(
            !out.contains("Proxy-Authorization"),
            "credentials for us stay here"
        );
    }

    #[test]
    fn req_9_max_forwards_zero_is_483_and_missing_via_is_400() {
        let zero = INVITE.replace("Max-Forwards: 70", "Max-Forwards: 0");
        assert_eq!(
            rewrite_request(&zero, None, "SIP/2.0/UDP h;branch=z9hG4bKx", None, &|_| {
                false
            }),
            Err(483)
        );
        let novia = INVITE.replace(
            "Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKa;rport=5071\r\n",
            "",
        );
        assert_eq!(
            rewrite_request(&novia, None, "SIP/2.0/UDP h;branch=z9hG4bKx", None, &|_| {
                false
            }),
            Err(400)
        );
    }

    #[test]
    fn req_9_response_loses_only_our_via() {
        let r = Response::try_from(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKa\r\nFrom: <sip:a@h>;tag=1\r\n\
To: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
        let up = strip_top_via(&r).unwrap().to_string();
        assert!(!up.contains("z9hG4bKx"), "{up}");
        assert!(up.contains("z9hG4bKa"), "{up}");
        assert_eq!(to_tag(&r).as_deref(), Some("2"));
        // A response with only our Via was not for a forwarded request.
        let only = Response::try_from(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n\
From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n",
        )
        .unwrap();
        assert!(strip_top_via(&only).is_none());
    }

    #[test]
    fn req_9_odd_requests_are_refused_without_panic() {
        let via = "SIP/2.0/UDP h;branch=z9hG4bKx";
        for bad in [
            "",
            "\r\n\r\n",
            "INVITE\r\n\r\n",
            "INVITE sip:a@b SIP/2.0\r\nno colon\r\n\r\n",
            "INVITE sip:a@b SIP/2.0\r\nMax-Forwards: -1\r\nVia: x\r\n\r\n",
            "INVITE sip:a@b SIP/2.0\r\nMax-Forwards: 99999999999\r\nVia: x\r\n\r\n",
            "INVITE sip:a@b SIP/2.0\r\nRoute: \r\nVia: x\r\n\r\n",
            "INVITE sip:a@b SIP/2.0\r\nRoute: ,,,\r\nVia: \r\n\r\n",
            "INVITE sip:a@b SIP/2.0\r\nRoute: <\r\n\r\n",
        ] {
            let _ = rewrite_request(bad, Some("sip:x@y"), via, Some("<sip:h;lr>"), &|_| true);
        }
        assert_eq!(rewrite_request("", None, via, None, &|_| true), Err(400));
        let ok = rewrite_request(
            "INVITE sip:a@b SIP/2.0\r\nRoute: ,,,\r\nVia: v\r\n\r\n",
            None,
            via,
            None,
            &|_| true,
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn req_9_cancel_matches_the_forwarded_invite() {
        let fwd = rewrite_request(
            INVITE,
            Some("sip:1002@127.0.0.1:5072"),
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx",
            None,
            &|h| h == "127.0.0.1",
        )
        .unwrap();
        let invite = Request::try_from(fwd.as_str()).unwrap();
        let c = cancel_for(&invite).to_string();
        assert!(
            c.starts_with("CANCEL sip:1002@127.0.0.1:5072 SIP/2.0\r\n"),
            "{c}"
        );
        assert_eq!(c.matches("Via:").count(), 1, "only our Via: {c}");
        assert!(c.contains("branch=z9hG4bKx"), "{c}");
        assert_eq!(c.matches("CSeq:").count(), 1, "{c}");
        assert!(c.contains("CSeq: 1 CANCEL"), "{c}");
        assert!(c.contains("Call-ID: c1") && c.contains("tag=a1"), "{c}");
    }

    #[test]
    fn req_9_external_numbers_and_binding_sources() {
        let p = vec!["0".to_owned(), "+".to_owned()];
        assert!(is_external_number("00442071234567", &p));
        assert!(is_external_number("+442071234567", &p));
        assert!(!is_external_number("1002", &p));
        assert!(!is_external_number("0abc", &p));
        assert!(!is_external_number("+", &p));
        assert!(!is_external_number(&"0".repeat(40), &p));
        let a = binding_addr("udp:127.0.0.1:5071").unwrap();
        assert_eq!(socket_of(&a), Some("127.0.0.1:5071".parse().unwrap()));
        assert!(binding_addr("sctp:127.0.0.1:5071").is_none());
        assert!(
            binding_addr("udp:host.example:5071").is_none(),
            "names are never resolved"
        );
    }
}
