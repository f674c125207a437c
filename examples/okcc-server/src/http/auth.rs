//! Sessions: login with password and TOTP through the web-login access
//! policy and the brute-force guard; bearer tokens (random, stored as
//! SHA-256, expiring, revocable); password change; TOTP enrolment with
//! recovery codes; the first-admin bootstrap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, response::IntoResponse};
use okcc_audit::{Action, Actor, AuditEvent, Outcome};
use okcc_core::access::{AccessRequest, Channel};
use okcc_core::credential::WebLogin;
use okcc_core::rbac::{BuiltinRole, RoleId, TenantCeiling};
use okcc_core::{Owner, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::directory::UserRecord;
use super::error::{ApiError, Problem};
use super::extract::{AnyCaller, ApiJson, PeerIp};
use super::{AppState, actor_of, totp};

/// One live session.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) user: UserId,
    pub(crate) home: Owner,
    pub(crate) expires: SystemTime,
    pub(crate) must_change_password: bool,
}

/// Sessions by SHA-256 of their token.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    base16ct::lower::encode_string(&buf)
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates a session; returns the token (shown once, never stored).
    pub(crate) fn create(&self, session: Session, now: SystemTime) -> String {
        let token = format!("okcc_{}", random_hex(32));
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        map.insert(sha256(token.as_bytes()), session);
        token
    }

    /// The live session of `token` and the token's hash.
    pub(crate) fn lookup(&self, token: &str, now: SystemTime) -> Option<(Session, [u8; 32])> {
        if token.len() > 128 {
            return None;
        }
        let hash = sha256(token.as_bytes());
        let mut map = self.lock();
        match map.get(&hash) {
            Some(s) if s.expires > now => Some((s.clone(), hash)),
            Some(_) => {
                map.remove(&hash);
                None
            }
            None => None,
        }
    }

    /// Ends one session.
    pub(crate) fn revoke(&self, hash: &[u8; 32]) -> bool {
        self.lock().remove(hash).is_some()
    }

    /// Ends every session of `user`.
    pub(crate) fn revoke_user(&self, user: &UserId) {
        self.lock().retain(|_, s| s.user != *user);
    }

    /// Ends every session of `user` but `keep`, which no longer needs a
    /// password change.
    pub(crate) fn revoke_user_except(&self, user: &UserId, keep: &[u8; 32]) {
        let mut map = self.lock();
        map.retain(|h, s| s.user != *user || h == keep);
        if let Some(s) = map.get_mut(keep) {
            s.must_change_password = false;
        }
    }
}

/// `POST /api/v1/sessions`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// The user id.
    user: String,
    /// The password.
    password: String,
    /// The current 6-digit TOTP code (when TOTP is enrolled).
    #[serde(default)]
    totp: Option<String>,
    /// A one-time recovery code instead of the TOTP code.
    #[serde(default)]
    recovery_code: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A new session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct SessionCreated {
    /// The bearer token (shown once).
    pub(crate) token: String,
    /// Seconds until it expires.
    pub(crate) expires_in: u64,
    /// The password must be changed before anything else.
    pub(crate) must_change_password: bool,
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn login_failed(
    state: &AppState,
    ip: IpAddr,
    user: Option<&UserRecord>,
    reason: &str,
) -> ApiError {
    let banned = {
        let mut g = state
            .inner
            .brute_force
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let g = &mut *g;
        g.guard
            .record_failure(ip, user.map(|u| u.id.as_str()), Instant::now(), &mut g.bans)
            .ban
            .map(|b| b.until)
    };
    let actor = match user {
        Some(u) => Actor::user(u.id.clone(), u.home.tenant().cloned()),
        None => Actor::Anonymous,
    };
    if let Ok(outcome) = Outcome::failure(reason) {
        let event = AuditEvent::new(actor, Action::Login, outcome).with_source(ip);
        if let Err(e) = state.inner.audit.append(vec![event]).await {
            tracing::error!(error = %e, "audit log append failed for a failed login");
        }
    }
    let mut err = ApiError::unauthorized("wrong user, password or second factor");
    err.code = "invalid-credentials";
    if let Some(until) = banned {
        err.retry_after = Some(
            until
                .saturating_duration_since(Instant::now())
                .as_secs()
                .max(1),
        );
    }
    err
}

/// Logs in with user, password and (when enrolled) TOTP code or a
/// recovery code.
#[utoipa::path(post, path = "/api/v1/sessions", request_body = LoginRequest,
    responses((status = 201, body = SessionCreated), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 429, body = Problem)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let s = &state.inner;
    let decision = s.access.check(&AccessRequest::new(ip, Channel::WebLogin));
    if !decision.decision().is_allow() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "access-denied",
            "logins from this address are not allowed by the access rules",
        ));
    }
    let now_i = Instant::now();
    let banned = {
        let g = s
            .brute_force
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.guard.check(ip, now_i, &g.bans).map(|b| b.until)
    };
    if let Some(until) = banned {
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-failures",
            "too many failed logins from this address; wait and try again",
        );
        err.retry_after = Some(until.saturating_duration_since(now_i).as_secs().max(1));
        return Err(err);
    }
    if req.password.len() > okcc_core::password::MAX_INPUT_BYTES || req.user.len() > 64 {
        return Err(login_failed(&state, ip, None, "input too long").await);
    }
    let user = match UserId::new(&req.user) {
        Ok(id) => s.directory.user(&id).await?,
        Err(_) => None,
    };
    let stored = match &user {
        Some(u) => s.credentials.web_login(&u.id).await?,
        None => None,
    };
    let hasher = s.hasher.clone();
    let hash = stored.clone().unwrap_or_else(|| s.dummy_hash.clone());
    let password = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || hasher.verify(&password, &hash))
        .await
        .map_err(|_| ApiError::internal("password check failed"))?;
    let Some(mut user) = user.filter(|u| ok && stored.is_some() && !u.disabled) else {
        return Err(login_failed(&state, ip, None, "bad password").await);
    };
    if let Some(secret) = user.totp_secret.clone() {
        let step = totp::step_of(unix_secs(SystemTime::now()));
        if let Some(code) = &req.totp {
            match totp::verify(&secret, code, step, user.totp_last_step) {
                Some(used) => user.totp_last_step = Some(used),
                None => return Err(login_failed(&state, ip, Some(&user), "bad totp").await),
            }
        } else if let Some(code) = &req.recovery_code {
            let h = sha256(code.trim().as_bytes());
            let before = user.recovery_hashes.len();
            user.recovery_hashes.retain(|r| !bool::from(r.ct_eq(&h)));
            if user.recovery_hashes.len() == before {
                return Err(login_failed(&state, ip, Some(&user), "bad recovery code").await);
            }
        } else {
            let mut err = login_failed(&state, ip, Some(&user), "totp missing").await;
            err.code = "mfa-required";
            err.detail = "this account needs a TOTP code (`totp`) or a recovery code".to_owned();
            return Err(err);
        }
        s.directory.save_user(user.clone()).await?;
    }
    s.brute_force
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .guard
        .record_success(ip, Some(user.id.as_str()), Instant::now());
    let now = SystemTime::now();
    let token = s.sessions.create(
        Session {
            user: user.id.clone(),
            home: user.home.clone(),
            expires: now + s.config.session_ttl,
            must_change_password: user.must_change_password,
        },
        now,
    );
    let event = AuditEvent::new(
        Actor::user(user.id.clone(), user.home.tenant().cloned()),
        Action::Login,
        Outcome::Success,
    )
    .with_source(ip);
    state.audit(event).await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            token,
            expires_in: s.config.session_ttl.as_secs(),
            must_change_password: user.must_change_password,
        }),
    ))
}

/// Ends the caller's session.
#[utoipa::path(delete, path = "/api/v1/sessions/current", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    AnyCaller(caller, _): AnyCaller,
) -> Result<StatusCode, ApiError> {
    state.inner.sessions.revoke(&caller.token_hash);
    let event = AuditEvent::new(
        actor_of(&caller.principal),
        Action::Logout,
        Outcome::Success,
    )
    .with_source(caller.ip);
    state.audit(event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Me {
    /// User id.
    pub(crate) user: String,
    /// `platform` or the tenant id.
    pub(crate) scope: String,
    /// Effective permissions.
    pub(crate) permissions: Vec<String>,
    /// The password must be changed first.
    pub(crate) must_change_password: bool,
    /// TOTP is enrolled.
    pub(crate) totp_enabled: bool,
}

pub(crate) fn scope_name(o: &Owner) -> String {
    match o {
        Owner::Platform => "platform".to_owned(),
        Owner::Tenant(t) => t.to_string(),
    }
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/v1/me", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub(crate) async fn me(
    State(state): State<AppState>,
    AnyCaller(caller, must_change): AnyCaller,
) -> Result<Json<Me>, ApiError> {
    let p = &caller.principal;
    let user = state
        .inner
        .directory
        .user(p.user())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(Me {
        user: p.user().to_string(),
        scope: scope_name(p.home()),
        permissions: p
            .permissions()
            .iter()
            .map(|x| x.name().to_owned())
            .collect(),
        must_change_password: must_change,
        totp_enabled: user.totp_secret.is_some(),
    }))
}

/// `PUT /api/v1/me/password`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    /// The current password.
    current: String,
    /// The new password (the password policy applies).
    new: String,
}

/// Hashes `password` after the policy accepted it, off the executor.
pub(crate) async fn check_and_hash(
    state: &AppState,
    password: &str,
    user_inputs: &[&str],
) -> Result<WebLogin, ApiError> {
    let accepted = state
        .inner
        .policy
        .check(password, user_inputs)
        .map_err(|r| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak-password",
                "the password does not meet the password policy",
            )
            .with_errors(r.violations().iter().map(|v| v.message()).collect())
        })?;
    let hasher = state.inner.hasher.clone();
    tokio::task::spawn_blocking(move || WebLogin::derive(&hasher, &accepted))
        .await
        .map_err(|_| ApiError::internal("password hashing failed"))?
        .map_err(|_| ApiError::internal("password hashing failed"))
}

/// Changes the caller's own password (required after first login); ends
/// every other session of the user.
#[utoipa::path(put, path = "/api/v1/me/password", request_body = PasswordChange, security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    AnyCaller(caller, _): AnyCaller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let s = &state.inner;
    let id = caller.principal.user().clone();
    let stored = s
        .credentials
        .web_login(&id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("no password is set"))?;
    let hasher = s.hasher.clone();
    let current = req.current.clone();
    let ok = current.len() <= okcc_core::password::MAX_INPUT_BYTES
        && tokio::task::spawn_blocking(move || hasher.verify(&current, &stored))
            .await
            .map_err(|_| ApiError::internal("password check failed"))?;
    if !ok {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong-password",
            "the current password is wrong",
        ));
    }
    if req.new == req.current {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak-password",
            "the new password must differ from the current one",
        ));
    }
    let login = check_and_hash(&state, &req.new, &[id.as_str()]).await?;
    let mut user = s
        .directory
        .user(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    s.credentials.set_web_login(&id, login).await?;
    user.must_change_password = false;
    s.directory.save_user(user).await?;
    s.sessions.revoke_user_except(&id, &caller.token_hash);
    state
        .audit_change(
            &caller.principal,
            caller.ip,
            Action::PasswordChange,
            caller.principal.home(),
            "user",
            id.as_str(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A TOTP secret being enrolled.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct TotpEnrolment {
    /// The secret in base32 (type it in when the QR code cannot be used).
    pub(crate) secret: String,
    /// The `otpauth://` URI to show as a QR code.
    pub(crate) otpauth_uri: String,
}

/// Starts TOTP enrolment: a fresh secret, active once confirmed.
#[utoipa::path(post, path = "/api/v1/me/totp", security(("bearer" = [])),
    responses((status = 200, body = TotpEnrolment), (status = 401, body = Problem)))]
pub(crate) async fn totp_enrol(
    State(state): State<AppState>,
    AnyCaller(caller, _): AnyCaller,
) -> Result<Json<TotpEnrolment>, ApiError> {
    let s = &state.inner;
    let mut user = s
        .directory
        .user(caller.principal.user())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let mut secret = vec![0u8; totp::SECRET_LEN];
    rand::fill(&mut secret[..]);
    let account = format!("{}@{}", user.id, scope_name(&user.home));
    let out = TotpEnrolment {
        secret: totp::base32(&secret),
        otpauth_uri: totp::otpauth_uri(&s.config.totp_issuer, &account, &secret),
    };
    user.totp_pending = Some(secret);
    s.directory.save_user(user).await?;
    Ok(Json(out))
}

/// `POST /api/v1/me/totp/confirm`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TotpConfirm {
    /// The current code from the authenticator app.
    code: String,
}

/// The recovery codes (shown once).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RecoveryCodes {
    /// Ten one-time codes.
    pub(crate) recovery_codes: Vec<String>,
}

/// Confirms TOTP enrolment with a code; returns ten recovery codes.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", request_body = TotpConfirm, security(("bearer" = [])),
    responses((status = 200, body = RecoveryCodes), (status = 401, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub(crate) async fn totp_confirm(
    State(state): State<AppState>,
    AnyCaller(caller, _): AnyCaller,
    ApiJson(req): ApiJson<TotpConfirm>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let s = &state.inner;
    let mut user = s
        .directory
        .user(caller.principal.user())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let Some(secret) = user.totp_pending.clone() else {
        return Err(ApiError::conflict(
            "no TOTP enrolment is in progress (POST /api/v1/me/totp)",
        ));
    };
    let step = totp::step_of(unix_secs(SystemTime::now()));
    let Some(used) = totp::verify(&secret, &req.code, step, None) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-totp-code",
            "the code does not match the enrolled secret (check the device clock)",
        ));
    };
    let codes: Vec<String> = (0..10).map(|_| random_hex(5)).collect();
    user.recovery_hashes = codes.iter().map(|c| sha256(c.as_bytes())).collect();
    user.totp_secret = Some(secret);
    user.totp_pending = None;
    user.totp_last_step = Some(used);
    let id = user.id.clone();
    s.directory.save_user(user).await?;
    let event = AuditEvent::new(
        actor_of(&caller.principal),
        Action::MfaCheck,
        Outcome::Success,
    )
    .with_source(caller.ip)
    .with_detail(
        "step",
        okcc_audit::DetailValue::Text(
            okcc_audit::Text::new("enrol").map_err(|e| ApiError::internal(e.to_string()))?,
        ),
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    state.audit(event).await?;
    tracing::info!(user = %id, "totp enrolled");
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Creates the first platform admin when the directory holds no user.
/// Returns the random password to print once (it must be changed at
/// first login), or `None` when users exist already.
pub(crate) async fn bootstrap_admin(
    state: &AppState,
    name: &str,
) -> Result<Option<String>, ApiError> {
    let s = &state.inner;
    if s.directory.user_count().await? > 0 {
        return Ok(None);
    }
    let id = UserId::new(name).map_err(|e| ApiError::bad_request(format!("admin name: {e}")))?;
    // Random until the policy takes it (hex can hold runs like `abc`).
    let mut chosen = None;
    for _ in 0..64 {
        let candidate = format!("{}-{}-{}", random_hex(4), random_hex(4), random_hex(4));
        if s.policy.check(&candidate, &[name]).is_ok() {
            chosen = Some(candidate);
            break;
        }
    }
    let password = chosen.ok_or_else(|| {
        ApiError::internal("the password policy refused every generated password; set one with `admin set-password`")
    })?;
    let login = check_and_hash(state, &password, &[name]).await?;
    let role_id = RoleId::new(BuiltinRole::PlatformAdmin.id())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if s.roles
        .store()
        .role(&Owner::Platform, &role_id)
        .await?
        .is_none()
    {
        let role = BuiltinRole::PlatformAdmin
            .role(Owner::Platform, TenantCeiling::default())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        s.roles.store().insert_role(role).await?;
    }
    s.directory
        .insert_user(UserRecord::new(
            id.clone(),
            Owner::Platform,
            "Administrator",
        ))
        .await?;
    s.credentials.set_web_login(&id, login).await?;
    s.roles
        .store()
        .assign(&Owner::Platform, &id, &role_id)
        .await?;
    let event = AuditEvent::new(
        Actor::system(
            okcc_audit::Label::new("bootstrap").map_err(|e| ApiError::internal(e.to_string()))?,
        ),
        Action::UserChange,
        Outcome::Success,
    );
    let event = match okcc_audit::Target::new("user", id.as_str()) {
        Ok(t) => event.with_target(t),
        Err(_) => event,
    };
    state.audit(event).await?;
    Ok(Some(password))
}

/// Time left before `until`, for `Retry-After`.
pub(crate) fn secs_until(until: Instant) -> Duration {
    until.saturating_duration_since(Instant::now())
}
