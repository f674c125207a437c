//! The SIP guard pipeline of DESIGN.md: one [`Guard`] holding access
//! control, the ban table, the scanner, flood and brute-force guards and the
//! digest server, run cheapest first; the first answer that is not `Allow`
//! wins, and no later stage can override it.
//!
//! | # | stage | method | refuses with | reply (UDP / stream) |
//! |---|---|---|---|---|
//! | 0 | size cap, then [`Guard::pre_parse`]: trusted, bans, blacklist, region on the address alone | all | as below | silence (nothing parsed yet) |
//! | 1 | trusted source (`trust` rule) | all | — allows and **skips every later stage** | — |
//! | 2 | dynamic bans ([`BanTable`]) | all | `banned` / `brute-force` / `flood` / `scanner` | silence / 403 |
//! | 3 | scanner signature or sweep | all | `scanner` (+ ban) | silence / 403 |
//! | 4 | flood rate per source | all | `flood` (+ ban) | silence / 403 |
//! | 5 | global blacklist: IP, CIDR, feeds, country | all | `blocked-network`, `blocked-region` | 403 |
//! | 6 | home regions ("block all foreign") | all | `foreign-region`, `unknown-region` | 403 |
//! | 7 | tenant and account whitelists | all | `not-allowlisted` | 403 |
//! | 8 | digest authentication ([`Guard::authenticate`]); the digest user must be the request's user ([`GuardConfig::bind_user`]) | [`GuardConfig::authenticate`] (REGISTER, INVITE) | challenge; `authentication-failed`, `brute-force`; store outage | 401/407; 403 (silence / 403 once banned); 503 |
//! | 9 | toll fraud ([`CallCheck`]) | INVITE | `toll-fraud` | 403 |
//!
//! Stages 1–7 are synchronous ([`Guard::check`]); stage 8 is async (the
//! credential store is); [`Guard::evaluate`] runs them all and
//! [`Guard::handle`] goes from raw bytes to a [`Reply`]. Malformed
//! messages get `400` when a reply can be addressed, else they are dropped;
//! both are counted ([`GuardMetrics`]).
//!
//! Signals carry weights: a request without credentials is challenged and
//! counts 0; each failed authentication counts 1 for its source and its
//! account; a success resets the source. Trusted peers are exempt from every
//! stage. Every denial and every authentication result becomes an audit
//! event ([`GuardAudit`]; see [`audit`] for the table).
//!
//! # The whole pipeline
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use okcc_core::access::AccessControl;
//! use okcc_core::credential::MemoryCredentialStore;
//! use okcc_sip::digest::{DigestConfig, DigestServer};
//! use okcc_sip::pipeline::{Guard, GuardConfig, Now, Reply, Transport};
//!
//! let guard = Guard::new(
//!     GuardConfig::default(),
//!     Arc::new(AccessControl::new(None)),
//!     Arc::new(DigestServer::new(DigestConfig::new("example.com", vec![7; 32]))),
//!     Arc::new(MemoryCredentialStore::new()),
//! );
//! let packet = b"REGISTER sip:example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1\r\n\
//! From: <sip:1001@example.com>;tag=1\r\nTo: <sip:1001@example.com>\r\n\
//! Call-ID: a@192.0.2.4\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
//! let source = "192.0.2.4".parse().unwrap();
//! let handled = guard.handle(packet, source, Transport::Udp, Now::system()).await;
//! // No credentials: challenged (this counts 0 towards a ban).
//! match handled.reply {
//!     Some(Reply::Respond(r)) => assert_eq!(r.status(), 401),
//!     other => panic!("{other:?}"),
//! }
//! # });
//! ```
//!
//! # One stage alone
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use okcc_core::access::AccessControl;
//! use okcc_core::credential::MemoryCredentialStore;
//! use okcc_sip::digest::{DigestConfig, DigestServer};
//! use okcc_sip::pipeline::{Guard, GuardConfig};
//!
//! let access = Arc::new(AccessControl::new(None));
//! access.load_rule_text("rules.txt", "deny 203.0.113.0/24\n").unwrap();
//! let guard = Guard::new(
//!     GuardConfig::default(),
//!     access,
//!     Arc::new(DigestServer::new(DigestConfig::new("example.com", vec![7; 32]))),
//!     Arc::new(MemoryCredentialStore::new()),
//! );
//! // Before parsing anything: the source address alone.
//! let d = guard.pre_parse("203.0.113.9".parse().unwrap(), Instant::now());
//! assert_eq!(d.denial().unwrap().rule.as_str(), "rules.txt:1");
//! ```

pub mod audit;
mod metrics;
mod reply;
mod stage;
mod toll;
mod unknown;

pub use audit::{GuardAudit, MemoryGuardAudit};
pub use metrics::{GuardMetrics, MetricsSnapshot};
pub use reply::{
    Reply, Response, Transport, is_silent_on_udp, reply_for, reply_for_malformed, respond,
};
pub use stage::{CallAttempt, CallCheck, ExplainQuery, Explanation, Stage, StageVerdict};
pub use toll::{MAX_PENDING_ALERTS, TenantOf, TollStage};
pub use unknown::{
    KNOWN_METHODS, allow_value, not_implemented, reply_to_unknown_method, unknown_method,
};

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use okcc_audit::{Action, Actor, AuditEvent, DetailValue, EventError, Label, Outcome};
use okcc_core::access::{AccessControl, AccessDecision, AccessRequest, Channel, Verdict};
use okcc_core::credential::CredentialStore;
use okcc_core::decision::Challenge;
use okcc_core::guard::{
    Ban, BanConfig, BanKind, BanTable, BruteForceConfig, BruteForceGuard, FloodConfig, FloodGuard,
    ScannerConfig, ScannerGuard,
};
use okcc_core::{Decision, Denial, DenyReason, TenantId, UserId};

use crate::digest::{DigestAuthorization, DigestFailure, DigestServer};
use crate::view::{Limits, SipMethod, SipRequestView};

/// Rule id of a failed digest authentication.
pub const DIGEST_RULE: &str = "guard:digest";
/// Rule id when the credential store could not be read.
pub const DIGEST_STORE_RULE: &str = "guard:digest:store-unavailable";
/// Rule id of a refused (malformed or oversized) message.
pub const PARSE_RULE: &str = "guard:parse";

/// The time a request is judged at: monotonic for the guards, wall clock
/// for nonces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Now {
    /// Monotonic time (windows, bans).
    pub instant: Instant,
    /// Wall-clock time (nonce issue and expiry).
    pub wall: SystemTime,
}

impl Now {
    /// Both clocks given.
    pub fn new(instant: Instant, wall: SystemTime) -> Self {
        Self { instant, wall }
    }

    /// Reads both system clocks (adapters do this once per message).
    pub fn system() -> Self {
        Self {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// Settings of the pipeline.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GuardConfig {
    /// Parser limits (size cap 64 KiB by default, checked before parsing).
    pub limits: Limits,
    /// The ban table.
    pub bans: BanConfig,
    /// The flood guard.
    pub flood: FloodConfig,
    /// The scanner guard.
    pub scanner: ScannerConfig,
    /// The brute-force guard.
    pub brute_force: BruteForceConfig,
    /// Methods that must authenticate (default REGISTER and INVITE);
    /// others pass stage 8.
    pub authenticate: Vec<SipMethod>,
    /// Count the flood guard (stage 4) per packet in [`Guard::pre_parse`]
    /// instead of per parsed request (default `false`). For hosts that
    /// queue whatever passes their pre-parse hook without bound (rsipstack:
    /// [`crate::adapter::rsipstack`]), so a flood is cut before it is
    /// queued. Stage 4 then passes in [`Guard::check`] / [`Guard::evaluate`]
    /// (the packet was counted already); trusted sources are never counted.
    pub flood_at_pre_parse: bool,
    /// Binds the digest user name to the request's own user (default
    /// `true`, like Kamailio's `auth_check` with flag 1): a REGISTER must
    /// authenticate as its To user (the AOR it registers), any other
    /// request as its From user (the caller). Checked after the digest
    /// verified, so the work is the same either way; a mismatch is a `403`,
    /// counts as a failed authentication (source and account) and is
    /// audited as `user-mismatch`. `false` lets any account speak for any
    /// user (only for a front end that rewrites identities itself).
    pub bind_user: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            bans: BanConfig::default(),
            flood: FloodConfig::default(),
            scanner: ScannerConfig::default(),
            brute_force: BruteForceConfig::default(),
            authenticate: vec![SipMethod::Register, SipMethod::Invite],
            flood_at_pre_parse: false,
            bind_user: true,
        }
    }
}

/// The mutable state of stages 2–4 and 8, behind one mutex (take it with
/// [`Guard::state`] to use a guard alone or to act as an operator).
#[derive(Debug)]
#[non_exhaustive]
pub struct GuardState {
    /// Every ban.
    pub bans: BanTable,
    /// Flood counters.
    pub flood: FloodGuard,
    /// Scanner sweeps.
    pub scanner: ScannerGuard,
    /// Failure counters per source and account.
    pub brute_force: BruteForceGuard,
}

/// What [`Guard::handle`] made of one message.
#[derive(Debug)]
#[non_exhaustive]
pub struct Handled<'a> {
    /// The decision.
    pub decision: Decision,
    /// What to send (`None`: the request was allowed, the host goes on).
    pub reply: Option<Reply>,
    /// The parsed request, when it parsed.
    pub view: Option<SipRequestView<'a>>,
}

/// Why a request did not authenticate (the `reason` detail of its
/// `sip.auth-failure` audit event). Wrong password and unknown user are
/// told apart here and in the audit trail only: the answer on the wire is
/// the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The credentials header did not parse.
    Malformed,
    /// No credential is stored for the digest user name.
    UnknownUser,
    /// The account exists but the response did not verify (wrong secret,
    /// forged or foreign nonce, replayed `nc`, wrong realm).
    WrongPassword,
    /// The digest verified, but for another user than the request's own
    /// ([`GuardConfig::bind_user`]).
    UserMismatch,
    /// The response was right but the nonce expired: challenged again
    /// with `stale=true`, not counted.
    StaleNonce,
    /// The credential store could not be read: `503`, not counted.
    StoreUnavailable,
}

impl AuthFailure {
    /// The kebab-case code (`wrong-password`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownUser => "unknown-user",
            Self::WrongPassword => "wrong-password",
            Self::UserMismatch => "user-mismatch",
            Self::StaleNonce => "stale-nonce",
            Self::StoreUnavailable => "store-unavailable",
        }
    }

    /// `true` when the failure is the client's and counts towards a ban
    /// (everything but a stale nonce and a store outage).
    pub fn counts(self) -> bool {
        !matches!(self, Self::StaleNonce | Self::StoreUnavailable)
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What [`Guard::authenticate_for`] made of a request's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authentication {
    /// Allow, a (fresh or stale) challenge, or a denial: `guard:digest`
    /// (`403`), a brute-force ban (silence on UDP) or
    /// [`DIGEST_STORE_RULE`] (`503`).
    pub decision: Decision,
    /// The account that authenticated (on `Allow` only).
    pub user: Option<String>,
    /// Why not (`None` on `Allow` and on a first challenge).
    pub failure: Option<AuthFailure>,
}

impl Authentication {
    fn challenge(c: Challenge, failure: Option<AuthFailure>) -> Self {
        Self {
            decision: Decision::Challenge(c),
            user: None,
            failure,
        }
    }
}

/// The request facts every authentication audit event carries.
struct AuthEvent<'a> {
    source: IpAddr,
    method: &'a str,
    tenant: Option<&'a TenantId>,
}

impl AuthEvent<'_> {
    fn with_common(&self, ev: AuditEvent, user: Option<&str>) -> Result<AuditEvent, EventError> {
        let mut ev = ev
            .with_tenant(self.tenant.cloned())
            .with_source(self.source)
            .with_detail("method", DetailValue::text(self.method)?)?;
        // A user name that is not valid audit text is left out, not the
        // event (a refused insert leaves the detail as it was).
        if let Some(Ok(v)) = user.map(DetailValue::text) {
            let _ = ev.detail.insert("user", v);
        }
        Ok(ev)
    }

    fn success(&self, user: &str) -> Result<AuditEvent, EventError> {
        let actor = UserId::new(user).map_or(Actor::Anonymous, |u| {
            Actor::sip_account(u, self.tenant.cloned())
        });
        let ev = AuditEvent::new(
            actor,
            Action::custom(AUTH_SUCCESS_ACTION)?,
            Outcome::Success,
        );
        self.with_common(ev, Some(user))
    }

    fn failure(
        &self,
        user: Option<&str>,
        why: AuthFailure,
        claimed: Option<&str>,
    ) -> Result<AuditEvent, EventError> {
        let outcome = match why {
            AuthFailure::StaleNonce | AuthFailure::StoreUnavailable => {
                Outcome::failure(why.code())?
            }
            _ => Outcome::denied(
                okcc_core::RuleId::new(DIGEST_RULE),
                DenyReason::AuthenticationFailed,
            ),
        };
        let ev = AuditEvent::new(Actor::Anonymous, Action::SipAuthFailure, outcome)
            .with_detail("reason", DetailValue::text(why.code())?)?;
        let ev = self.with_common(ev, user)?;
        Ok(match claimed.map(DetailValue::text) {
            Some(Ok(v)) => ev.clone().with_detail("claimed_user", v).unwrap_or(ev),
            _ => ev,
        })
    }
}

/// The user a request speaks for: the To user of a REGISTER (the AOR),
/// the From user of anything else.
fn bound_user<'a>(view: &SipRequestView<'a>) -> Option<&'a str> {
    if view.method == SipMethod::Register {
        view.to_user()
    } else {
        view.from_user()
    }
}

/// `true` when the digest user name is the URI user (compared after
/// undoing `%XX` escapes in the URI; case-sensitive, as SIP users are).
fn same_user(digest_user: &str, uri_user: Option<&str>) -> bool {
    let Some(uri_user) = uri_user else {
        return false;
    };
    if !uri_user.contains('%') {
        return digest_user == uri_user;
    }
    let b = uri_user.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let decoded = (b[i] == b'%')
            .then(|| b.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out == digest_user.as_bytes()
}

/// The audit action of a successful digest authentication (any method;
/// registrations themselves are the registrar's `sip.register` events).
pub const AUTH_SUCCESS_ACTION: &str = "sip.auth-success";

/// The guard pipeline (share it as `Arc<Guard>`; every method takes `&self`).
pub struct Guard {
    config: GuardConfig,
    access: Arc<AccessControl>,
    digest: Arc<DigestServer>,
    credentials: Arc<dyn CredentialStore>,
    state: Mutex<GuardState>,
    audit: Option<Arc<dyn GuardAudit>>,
    call_check: Option<Arc<dyn CallCheck>>,
    metrics: GuardMetrics,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("config", &self.config)
            .field("realm", &self.digest.realm())
            .field("audit", &self.audit.is_some())
            .field("call_check", &self.call_check.is_some())
            .finish_non_exhaustive()
    }
}

/// The facts the stages look at, from a view or from an explain query.
struct Facts<'a> {
    method: SipMethod,
    method_raw: &'a str,
    user_agent: Option<&'a str>,
    /// The user a REGISTER / OPTIONS probes (scanner sweeps).
    target_user: Option<&'a str>,
    /// The account: the digest user name if credentials came, else the
    /// claimed user.
    account: Option<Cow<'a, str>>,
    callee: Option<&'a str>,
}

impl<'a> Facts<'a> {
    fn of(view: &SipRequestView<'a>, auth: Option<&DigestAuthorization<'a>>) -> Self {
        let claimed = if view.method == SipMethod::Register {
            view.to_user()
        } else {
            view.from_user()
        };
        let target_user = match view.method {
            SipMethod::Register => view.to_user(),
            _ => view.request_uri.user,
        };
        Self {
            method: view.method,
            method_raw: view.method_raw,
            user_agent: view.user_agent,
            target_user,
            account: auth
                .map(|a| a.username.clone())
                .or_else(|| claimed.map(Cow::Borrowed)),
            callee: view.request_uri.user,
        }
    }
}

enum Flow {
    Trusted,
    Continue,
    Stop(Stage, Decision),
}

fn channel_for(method: SipMethod) -> Channel {
    match method {
        SipMethod::Register => Channel::SipRegister,
        _ => Channel::SipCall,
    }
}

fn access_stage(reason: DenyReason) -> Stage {
    match reason {
        DenyReason::ForeignRegion | DenyReason::UnknownRegion => Stage::Region,
        DenyReason::NotAllowlisted => Stage::Whitelist,
        _ => Stage::Blacklist,
    }
}

fn push(trace: &mut Option<&mut Vec<StageVerdict>>, v: impl FnOnce() -> StageVerdict) {
    if let Some(t) = trace.as_deref_mut() {
        t.push(v());
    }
}

impl Guard {
    /// A pipeline with `config` over `access`, `digest` and `credentials`.
    pub fn new(
        config: GuardConfig,
        access: Arc<AccessControl>,
        digest: Arc<DigestServer>,
        credentials: Arc<dyn CredentialStore>,
    ) -> Self {
        let state = GuardState {
            bans: BanTable::new(config.bans),
            flood: FloodGuard::new(config.flood),
            scanner: ScannerGuard::new(config.scanner.clone()),
            brute_force: BruteForceGuard::new(config.brute_force),
        };
        Self {
            config,
            access,
            digest,
            credentials,
            state: Mutex::new(state),
            audit: None,
            call_check: None,
            metrics: GuardMetrics::new(),
        }
    }

    /// Sends audit events to `sink`.
    #[must_use]
    pub fn with_audit(mut self, sink: Arc<dyn GuardAudit>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Plugs `check` in as stage 9 (INVITEs, after authentication).
    #[must_use]
    pub fn with_call_check(mut self, check: Arc<dyn CallCheck>) -> Self {
        self.call_check = Some(check);
        self
    }

    /// The settings the pipeline runs with.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// The counters.
    pub fn metrics(&self) -> &GuardMetrics {
        &self.metrics
    }

    /// The access control (swap rules in through it).
    pub fn access(&self) -> &Arc<AccessControl> {
        &self.access
    }

    /// The digest server.
    pub fn digest(&self) -> &Arc<DigestServer> {
        &self.digest
    }

    /// The guards' state, locked (single stages, operator actions).
    pub fn state(&self) -> MutexGuard<'_, GuardState> {
        // A panic while holding the lock cannot leave the tables unsound
        // (every update is a plain field write), so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every ban in force at `now`.
    pub fn bans(&self, now: Instant) -> Vec<Ban> {
        self.state().bans.list(now)
    }

    /// An operator ban of `source` for `duration`.
    pub fn ban(&self, source: IpAddr, duration: Duration, now: Instant) -> Ban {
        self.state().bans.ban_manually(source, duration, now)
    }

    /// Lifts any ban on `source` and forgets its counters (operator
    /// action). Returns the ban that was in force.
    pub fn unban(&self, source: IpAddr, now: Instant) -> Option<Ban> {
        let mut st = self.state();
        st.flood.forget(source);
        st.scanner.forget(source);
        st.brute_force.forget(source);
        st.bans.unban(source, now)
    }

    /// Stage 0: judges a packet on its source address alone, before
    /// parsing: trusted (allow), bans, blacklist and region (a rule counts
    /// here only if it refuses the source on every SIP channel), then, with
    /// [`GuardConfig::flood_at_pre_parse`], the flood counter (a packet over
    /// the rate bans its source).
    pub fn pre_parse(&self, source: IpAddr, now: Instant) -> Decision {
        match self.pre_parse_flow(source, now, false) {
            Flow::Stop(_, d) => d,
            Flow::Continue if self.config.flood_at_pre_parse => {
                let d = {
                    let mut st = self.state();
                    let st = &mut *st;
                    st.flood.check(source, now, &mut st.bans)
                };
                // A banned source stopped at the ban stage above: a denial
                // here is the packet that tripped the limit and banned it.
                if !d.is_allow()
                    && let Some(ban) = self.state().bans.banned(source, now)
                {
                    self.metrics.ban();
                    self.audit_ban(&ban);
                }
                d
            }
            Flow::Trusted | Flow::Continue => Decision::Allow,
        }
    }

    /// `true` when a `trust` rule covers `source` on a SIP channel: every
    /// guard stage (bans, scanner, flood, brute force, digest) is skipped
    /// for it. The one place the trust rule is read for SIP.
    pub fn is_trusted(&self, source: IpAddr) -> bool {
        let policy = self.access.policy();
        [Channel::SipRegister, Channel::SipCall]
            .into_iter()
            .any(|c| {
                policy
                    .check(&AccessRequest::new(source.to_canonical(), c))
                    .skips_later_checks()
            })
    }

    /// The pre-parse check with the stage that refused.
    fn pre_parse_stage(
        &self,
        source: IpAddr,
        now: Instant,
        dry: bool,
    ) -> Option<(Stage, Decision)> {
        match self.pre_parse_flow(source, now, dry) {
            Flow::Stop(s, d) => Some((s, d)),
            Flow::Trusted | Flow::Continue => None,
        }
    }

    /// Trusted, bans, blacklist and region on the address alone.
    fn pre_parse_flow(&self, source: IpAddr, now: Instant, dry: bool) -> Flow {
        let policy = self.access.policy();
        let reg = policy.check(&AccessRequest::new(source, Channel::SipRegister));
        let call = policy.check(&AccessRequest::new(source, Channel::SipCall));
        if reg.skips_later_checks() || call.skips_later_checks() {
            return Flow::Trusted;
        }
        if let Some(d) = self.ban_stage(source, now, dry) {
            return Flow::Stop(Stage::Bans, d);
        }
        match (&reg.verdict, &call.verdict) {
            (Verdict::Denied(d), Verdict::Denied(_)) => {
                Flow::Stop(access_stage(d.reason), Decision::Deny(d.clone()))
            }
            _ => Flow::Continue,
        }
    }

    /// Stage 2 alone: the ban on `source`, if any (a flood ban slides).
    fn ban_stage(&self, source: IpAddr, now: Instant, dry: bool) -> Option<Decision> {
        let mut st = self.state();
        if !st.bans.is_banned(source, now) {
            return None;
        }
        let ban = st.bans.banned(source, now)?;
        if ban.kind == BanKind::Flood && !dry {
            st.bans.slide(source, self.config.flood.ban, now);
        }
        Some(ban.decision())
    }

    /// Stages 1–7 (synchronous) on a parsed request from `source`. Returns
    /// the decision and whether the source is trusted (then skip stage 8
    /// and 9 too).
    pub fn check(
        &self,
        view: &SipRequestView<'_>,
        source: IpAddr,
        now: Instant,
    ) -> (Decision, bool) {
        let auth = credentials_header(view).and_then(|h| DigestAuthorization::parse(h).ok());
        let facts = Facts::of(view, auth.as_ref());
        match self.run_sync(&facts, source, now, false, None) {
            Flow::Trusted => (Decision::Allow, true),
            Flow::Continue => (Decision::Allow, false),
            Flow::Stop(_, d) => (d, false),
        }
    }

    fn run_sync(
        &self,
        f: &Facts<'_>,
        ip: IpAddr,
        now: Instant,
        dry: bool,
        mut trace: Option<&mut Vec<StageVerdict>>,
    ) -> Flow {
        let account = f.account.as_deref().and_then(|a| UserId::new(a).ok());
        let mut req = AccessRequest::new(ip, channel_for(f.method));
        if let Some(a) = &account {
            req = req.account(a);
        }
        let access: AccessDecision = self.access.check(&req);
        // 1. Trusted.
        if let Verdict::DangerouslyTrusted { rule } = &access.verdict {
            push(&mut trace, || {
                StageVerdict::new(
                    Stage::Trusted,
                    Some(Decision::Allow),
                    format!("trusted by {rule}; every later stage skipped"),
                )
            });
            return Flow::Trusted;
        }
        push(&mut trace, || {
            StageVerdict::new(
                Stage::Trusted,
                Some(Decision::Allow),
                "not a trusted source",
            )
        });
        {
            let mut st = self.state();
            let st = &mut *st;
            // 2. Bans.
            if let Some(ban) = st.bans.banned(ip, now) {
                if ban.kind == BanKind::Flood && !dry {
                    st.bans.slide(ip, self.config.flood.ban, now);
                }
                push(&mut trace, || {
                    StageVerdict::new(
                        Stage::Bans,
                        Some(ban.decision()),
                        format!(
                            "banned ({}) for {} s more, {} offence(s)",
                            ban.kind.code(),
                            ban.until.saturating_duration_since(now).as_secs(),
                            ban.offences
                        ),
                    )
                });
                return Flow::Stop(Stage::Bans, ban.decision());
            }
            push(&mut trace, || {
                StageVerdict::new(Stage::Bans, Some(Decision::Allow), "not banned")
            });
            // 3. Scanner.
            let d = if dry {
                st.scanner
                    .would_check(ip, f.method_raw, f.user_agent, f.target_user, now, &st.bans)
            } else {
                st.scanner.check(
                    ip,
                    f.method_raw,
                    f.user_agent,
                    f.target_user,
                    now,
                    &mut st.bans,
                )
            };
            if !d.is_allow() {
                push(&mut trace, || {
                    StageVerdict::new(
                        Stage::Scanner,
                        Some(d.clone()),
                        "scanner signature or sweep; the source would be banned",
                    )
                });
                return Flow::Stop(Stage::Scanner, d);
            }
            push(&mut trace, || {
                StageVerdict::new(
                    Stage::Scanner,
                    Some(Decision::Allow),
                    "no scanner signature or sweep",
                )
            });
            // 4. Flood.
            let d = if dry {
                if st.flood.would_allow(ip, now, &st.bans) {
                    Decision::Allow
                } else {
                    Decision::deny(okcc_core::guard::flood::FLOOD_RULE, DenyReason::Flood)
                }
            } else if self.config.flood_at_pre_parse {
                // Counted per packet in `pre_parse` already.
                Decision::Allow
            } else {
                st.flood.check(ip, now, &mut st.bans)
            };
            if !d.is_allow() {
                push(&mut trace, || {
                    StageVerdict::new(
                        Stage::Flood,
                        Some(d.clone()),
                        "over the request rate; the source would be banned",
                    )
                });
                return Flow::Stop(Stage::Flood, d);
            }
            push(&mut trace, || {
                StageVerdict::new(
                    Stage::Flood,
                    Some(Decision::Allow),
                    "under the request rate",
                )
            });
        }
        // 5–7. Blacklist, region, whitelists (one policy lookup).
        let deciding = match &access.verdict {
            Verdict::Denied(d) => Some((access_stage(d.reason), d.clone())),
            _ => None,
        };
        for stage in [Stage::Blacklist, Stage::Region, Stage::Whitelist] {
            match &deciding {
                Some((s, d)) if *s == stage => {
                    push(&mut trace, || {
                        StageVerdict::new(
                            stage,
                            Some(Decision::Deny(d.clone())),
                            format!("{} by {}", d.reason, d.rule),
                        )
                    });
                    return Flow::Stop(stage, Decision::Deny(d.clone()));
                }
                _ => {
                    push(&mut trace, || {
                        let note = match (stage, &access.verdict) {
                            (Stage::Whitelist, Verdict::Allowed { rule: Some(r) }) => {
                                format!("allowlisted by {r}")
                            }
                            (Stage::Region, _) => match access.country {
                                Some(c) => format!("country {c} allowed"),
                                None => "no region rule refused".to_owned(),
                            },
                            _ => "no rule refused".to_owned(),
                        };
                        StageVerdict::new(stage, Some(Decision::Allow), note)
                    });
                }
            }
        }
        Flow::Continue
    }

    fn needs_auth(&self, method: SipMethod) -> bool {
        self.config.authenticate.contains(&method)
    }

    /// Stage 8: digest authentication of `view` from `source` (see
    /// [`Guard::authenticate_for`]; events carry no tenant).
    pub async fn authenticate(
        &self,
        view: &SipRequestView<'_>,
        source: IpAddr,
        now: Now,
    ) -> Decision {
        self.authenticate_for(view, source, now, None)
            .await
            .decision
    }

    /// Stage 8: digest authentication of `view` from `source`, its audit
    /// events filed under `tenant` (the tenant owning the request's user,
    /// as the host knows it).
    ///
    /// - No credentials: a challenge (counts 0, not audited).
    /// - Wrong secret, unknown user, unparsable credentials: the same
    ///   denial after the same work, counted per source and per account
    ///   (a ban when over the limit); the audit event tells them apart.
    /// - Right secret but the digest user is not the request's user
    ///   ([`GuardConfig::bind_user`]): denied and counted the same way.
    /// - Expired nonce with a right answer: a `stale` challenge (not
    ///   counted).
    /// - The credential store failed: a denial by [`DIGEST_STORE_RULE`]
    ///   (answered `503`), never counted as a wrong password.
    /// - Success resets the source's score.
    ///
    /// The HA1 comes from the credential store given to [`Guard::new`].
    pub async fn authenticate_for(
        &self,
        view: &SipRequestView<'_>,
        source: IpAddr,
        now: Now,
        tenant: Option<&TenantId>,
    ) -> Authentication {
        let ctx = AuthEvent {
            source,
            method: view.method_raw,
            tenant,
        };
        let Some(header) = credentials_header(view) else {
            return Authentication::challenge(Challenge::fresh(), None);
        };
        let Ok(auth) = DigestAuthorization::parse(header) else {
            let claimed = bound_user(view);
            return self.auth_failed(&ctx, None, claimed, AuthFailure::Malformed, now.instant);
        };
        let user = auth.username.as_ref();
        let Ok(cred) = self
            .credentials
            .sip_credential(user, self.digest.realm())
            .await
        else {
            // Not the client's fault: not counted, not a wrong password.
            self.audit_with(|| ctx.failure(Some(user), AuthFailure::StoreUnavailable, None));
            return Authentication {
                decision: Decision::deny(DIGEST_STORE_RULE, DenyReason::AuthenticationFailed),
                user: None,
                failure: Some(AuthFailure::StoreUnavailable),
            };
        };
        let known = cred.is_some();
        let ha1 = cred.as_ref().map(|c| c.ha1(auth.algorithm.hash()));
        match self
            .digest
            .verify(&auth, view.method_raw, view.body, ha1, now.wall)
        {
            Ok(ok) => {
                let claimed = bound_user(view);
                if self.config.bind_user && !same_user(&ok.username, claimed) {
                    return self.auth_failed(
                        &ctx,
                        Some(&ok.username),
                        claimed,
                        AuthFailure::UserMismatch,
                        now.instant,
                    );
                }
                self.metrics.auth(true);
                self.state()
                    .brute_force
                    .record_success(source, Some(&ok.username), now.instant);
                self.audit_with(|| ctx.success(&ok.username));
                Authentication {
                    decision: Decision::Allow,
                    user: Some(ok.username),
                    failure: None,
                }
            }
            Err(DigestFailure::Stale) => {
                self.audit_with(|| ctx.failure(Some(user), AuthFailure::StaleNonce, None));
                Authentication::challenge(Challenge::stale(), Some(AuthFailure::StaleNonce))
            }
            Err(_) => {
                let why = if known {
                    AuthFailure::WrongPassword
                } else {
                    AuthFailure::UnknownUser
                };
                self.auth_failed(&ctx, Some(user), bound_user(view), why, now.instant)
            }
        }
    }

    fn auth_failed(
        &self,
        ctx: &AuthEvent<'_>,
        account: Option<&str>,
        claimed: Option<&str>,
        why: AuthFailure,
        now: Instant,
    ) -> Authentication {
        self.metrics.auth(false);
        let out = {
            let mut st = self.state();
            let st = &mut *st;
            st.brute_force
                .record_failure(ctx.source, account, now, &mut st.bans)
        };
        let shown_claim = claimed.filter(|c| Some(*c) != account);
        self.audit_with(|| ctx.failure(account, why, shown_claim));
        if let Some(alert) = &out.alert {
            self.metrics.account_alert();
            self.audit_with(|| {
                AuditEvent::new(system_actor()?, Action::Alert, Outcome::Success)
                    .with_tenant(ctx.tenant.cloned())
                    .with_detail("alert", DetailValue::text("account-brute-force")?)?
                    .with_detail("user", DetailValue::text(&alert.account)?)?
                    .with_detail("failures", DetailValue::Int(i64::from(alert.failures)))
            });
        }
        let decision = match out.ban {
            Some(ban) => {
                self.metrics.ban();
                self.audit_ban(&ban);
                Decision::Deny(ban.denial())
            }
            None => Decision::deny(DIGEST_RULE, DenyReason::AuthenticationFailed),
        };
        Authentication {
            decision,
            user: None,
            failure: Some(why),
        }
    }

    fn audit_ban(&self, ban: &Ban) {
        self.audit_with(|| {
            AuditEvent::new(
                system_actor()?,
                Action::Ban,
                Outcome::denied(ban.rule(), ban.kind.reason()),
            )
            .with_source(ban.source)
            .with_detail("offences", DetailValue::Int(i64::from(ban.offences)))
        });
    }

    fn audit_with(&self, make: impl FnOnce() -> Result<AuditEvent, EventError>) {
        let Some(sink) = &self.audit else {
            return;
        };
        let recorded = make().is_ok_and(|e| sink.record(e));
        if !recorded {
            self.metrics.audit_dropped();
        }
    }

    /// Stages 1–9 on a parsed request from `source`: the decision (counted
    /// in the metrics, denials and auth results audited).
    pub async fn evaluate(&self, view: &SipRequestView<'_>, source: IpAddr, now: Now) -> Decision {
        self.metrics.request();
        let auth = credentials_header(view).and_then(|h| DigestAuthorization::parse(h).ok());
        let facts = Facts::of(view, auth.as_ref());
        let decision = match self.run_sync(&facts, source, now.instant, false, None) {
            Flow::Trusted => Decision::Allow,
            Flow::Stop(stage, d) => {
                if stage != Stage::Bans {
                    if let (Stage::Scanner | Stage::Flood, Some(ban)) =
                        (stage, self.state().bans.banned(source, now.instant))
                    {
                        self.metrics.ban();
                        self.audit_ban(&ban);
                    }
                    if let Some(denial) = d.denial() {
                        self.audit_with(|| {
                            deny_event(
                                Action::AccessDenied,
                                source,
                                facts.account.as_deref(),
                                denial,
                            )
                        });
                    }
                }
                d
            }
            Flow::Continue => {
                let d = if self.needs_auth(view.method) {
                    self.authenticate(view, source, now).await
                } else {
                    Decision::Allow
                };
                match (&d, view.method, &self.call_check) {
                    (Decision::Allow, SipMethod::Invite, Some(check)) => {
                        let call = CallAttempt::new(source, facts.account.as_deref(), facts.callee)
                            .with_call_id(view.call_id);
                        let d = check.check(&call, now.instant);
                        if let Some(denial) = d.denial() {
                            self.audit_with(|| {
                                deny_event(
                                    Action::CallDenied,
                                    source,
                                    facts.account.as_deref(),
                                    denial,
                                )
                            });
                        }
                        d
                    }
                    _ => d,
                }
            }
        };
        match &decision {
            Decision::Allow => self.metrics.allowed(),
            Decision::Challenge(_) => self.metrics.challenged(),
            Decision::Deny(d) => self.metrics.denied(d.reason),
        }
        decision
    }

    /// The whole pipeline on one raw message: size cap, pre-parse check,
    /// parse, stages 1–9, and the reply.
    pub async fn handle<'a>(
        &self,
        bytes: &'a [u8],
        source: IpAddr,
        transport: Transport,
        now: Now,
    ) -> Handled<'a> {
        let malformed = || Decision::deny(PARSE_RULE, DenyReason::Malformed);
        if bytes.len() > self.config.limits.max_message_bytes {
            self.metrics.oversized();
            self.metrics.denied(DenyReason::Malformed);
            return Handled {
                decision: malformed(),
                reply: None,
                view: None,
            };
        }
        let pre = self.pre_parse(source, now.instant);
        if let Decision::Deny(d) = &pre {
            self.metrics.pre_parse_denied();
            self.metrics.denied(d.reason);
            self.metrics.silenced();
            return Handled {
                decision: pre,
                reply: Some(Reply::Silence),
                view: None,
            };
        }
        let view = match SipRequestView::parse(bytes, &self.config.limits) {
            Ok(v) => v,
            Err(e) => {
                let reply = reply_for_malformed(bytes, &e);
                self.metrics.malformed(reply.is_some());
                self.metrics.denied(DenyReason::Malformed);
                return Handled {
                    decision: malformed(),
                    reply,
                    view: None,
                };
            }
        };
        let decision = self.evaluate(&view, source, now).await;
        let reply = reply_for(&decision, &view, transport, &self.digest, now.wall);
        if matches!(reply, Some(Reply::Silence)) {
            self.metrics.silenced();
        }
        Handled {
            decision,
            reply,
            view: Some(view),
        }
    }

    /// Dry run: what would the pipeline decide for `query` at `now`, and
    /// what did every stage say? No counter, ban, metric or audit event
    /// changes.
    pub fn explain(&self, query: &ExplainQuery, now: Instant) -> Explanation {
        let target_user = match query.method {
            SipMethod::Register | SipMethod::Options => query.user.as_deref(),
            _ => query.to.as_deref(),
        };
        let facts = Facts {
            method: query.method,
            method_raw: query.method.as_str(),
            user_agent: query.user_agent.as_deref(),
            target_user,
            account: query.user.as_deref().map(Cow::Borrowed),
            callee: query.to.as_deref(),
        };
        let mut stages = Vec::with_capacity(Stage::ALL.len());
        let flow = match self.pre_parse_stage(query.source, now, true) {
            Some((stage, d)) => {
                for s in Stage::ALL.into_iter().take_while(|s| *s < stage) {
                    stages.push(StageVerdict::new(s, Some(Decision::Allow), "allowed"));
                }
                let note = match d.denial() {
                    Some(x) => format!("{} by {}, before parsing", x.reason, x.rule),
                    None => "refused before parsing".to_owned(),
                };
                stages.push(StageVerdict::new(stage, Some(d.clone()), note));
                Flow::Stop(stage, d)
            }
            None => self.run_sync(&facts, query.source, now, true, Some(&mut stages)),
        };
        let reached_auth = matches!(flow, Flow::Continue);
        let (mut decision, mut decided_by) = match flow {
            Flow::Trusted => (Decision::Allow, Some(Stage::Trusted)),
            Flow::Stop(s, d) => (d, Some(s)),
            Flow::Continue => (Decision::Allow, None),
        };
        if reached_auth {
            let digest = if !self.needs_auth(query.method) {
                StageVerdict::new(
                    Stage::Digest,
                    Some(Decision::Allow),
                    format!("{} is not authenticated", query.method),
                )
            } else {
                let st = self.state();
                let bf = &st.brute_force;
                let user = query.user.as_deref();
                let mut note = format!(
                    "{} of {} failures counted for the source",
                    bf.failures(query.source, now),
                    bf.limit_for(query.source, user, now)
                );
                if let Some(u) = user {
                    if bf.under_attack(u, now) {
                        note.push_str("; account under attack: tightened limit");
                    }
                    if bf.is_known_address(u, query.source, now) {
                        note.push_str("; known address of the account");
                    }
                }
                if query.with_valid_credentials {
                    StageVerdict::new(
                        Stage::Digest,
                        Some(Decision::Allow),
                        format!("credentials assumed valid; {note}"),
                    )
                } else {
                    StageVerdict::new(
                        Stage::Digest,
                        Some(Decision::Challenge(Challenge::fresh())),
                        format!("no credentials: challenged (counts 0); {note}"),
                    )
                }
            };
            if let Some(d) = digest.decision.clone().filter(|d| !d.is_allow()) {
                decision = d;
                decided_by = Some(Stage::Digest);
            }
            stages.push(digest);
            let toll = match (query.method, &self.call_check) {
                (SipMethod::Invite, Some(check)) if decision.is_allow() => {
                    let call =
                        CallAttempt::new(query.source, query.user.as_deref(), query.to.as_deref());
                    let d = check.would_check(&call, now);
                    let note = match d.denial() {
                        Some(x) => format!("{} by {}", x.reason, x.rule),
                        None => "no toll-fraud rule refused".to_owned(),
                    };
                    if !d.is_allow() {
                        decision = d.clone();
                        decided_by = Some(Stage::TollFraud);
                    }
                    StageVerdict::new(Stage::TollFraud, Some(d), note)
                }
                (SipMethod::Invite, Some(_)) => {
                    StageVerdict::new(Stage::TollFraud, None, "runs after authentication")
                }
                (SipMethod::Invite, None) => {
                    StageVerdict::new(Stage::TollFraud, None, "no toll-fraud check configured")
                }
                _ => StageVerdict::new(Stage::TollFraud, None, "INVITE only"),
            };
            stages.push(toll);
        }
        for stage in Stage::ALL {
            if !stages.iter().any(|v| v.stage == stage) {
                stages.push(StageVerdict::new(stage, None, "not reached"));
            }
        }
        Explanation {
            source: query.source.to_canonical(),
            method: query.method.as_str().to_owned(),
            user: query.user.clone(),
            to: query.to.clone(),
            decision,
            decided_by,
            stages,
        }
    }
}

/// The credentials the digest stage verifies: `Authorization` on REGISTER,
/// `Proxy-Authorization` (else `Authorization`) on other methods. The
/// whitelist stage judges the account named here, so both stages always
/// look at the same header.
fn credentials_header<'a>(view: &SipRequestView<'a>) -> Option<&'a str> {
    if view.method == SipMethod::Register {
        view.authorization
    } else {
        view.proxy_authorization.or(view.authorization)
    }
}

fn system_actor() -> Result<Actor, EventError> {
    Ok(Actor::system(Label::new("sip-guard")?))
}

fn deny_event(
    action: Action,
    source: IpAddr,
    user: Option<&str>,
    denial: &Denial,
) -> Result<AuditEvent, EventError> {
    let ev = AuditEvent::new(
        Actor::Anonymous,
        action,
        Outcome::denied(denial.rule.clone(), denial.reason),
    )
    .with_source(source);
    // A user name that is not valid audit text is left out, not the event.
    match user.map(DetailValue::text) {
        Some(Ok(v)) => ev.clone().with_detail("user", v).or(Ok(ev)),
        _ => Ok(ev),
    }
}

#[cfg(test)]
mod tests;
