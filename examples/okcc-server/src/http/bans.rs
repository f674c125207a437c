//! Bans: the same ban table the SIP guard uses ([`okcc_sip::pipeline::Guard`]),
//! listed, imposed by hand and lifted (`ban.manage`, platform only).
//! Every change is audited (`access.ban` / `access.unban`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use okcc_audit::{Action, AuditEvent, DetailValue, Outcome, Target};
use okcc_core::Owner;
use okcc_core::guard::{Ban, BanKind};
use okcc_core::rbac::Permission;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::admin::require;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, PageQuery};
use super::{AppState, actor_of};

/// The longest manual ban (one year).
pub(crate) const MAX_BAN_SECS: u64 = 365 * 24 * 3600;
/// The most manual-ban reasons kept (older ones of lifted or expired bans
/// are dropped first; a ban whose reason was dropped shows its kind).
const MAX_NOTES: usize = 10_000;
const MAX_REASON_CHARS: usize = 200;

/// The reasons operators gave for manual bans, by source.
#[derive(Debug, Default)]
pub(crate) struct BanNotes(HashMap<IpAddr, String>);

impl BanNotes {
    fn set(&mut self, ip: IpAddr, reason: String, in_force: impl Fn(IpAddr) -> bool) {
        if self.0.len() >= MAX_NOTES && !self.0.contains_key(&ip) {
            self.0.retain(|k, _| in_force(*k));
        }
        if self.0.len() < MAX_NOTES || self.0.contains_key(&ip) {
            self.0.insert(ip, reason);
        }
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, ApiError> {
    s.parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| ApiError::bad_request(format!("`{s}` is not an IPv4 or IPv6 address")))
}

/// One ban in force.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BanView {
    /// The banned source address.
    pub(crate) ip: String,
    /// Which defence made it: `manual`, `brute-force`, `flood`, `scanner`.
    pub(crate) kind: String,
    /// The operator's reason (manual bans), else the kind.
    pub(crate) reason: String,
    /// When the ban ends (RFC 3339, UTC).
    pub(crate) until: String,
    /// Seconds left.
    pub(crate) remaining_secs: u64,
    /// Offences that led to it (brute-force escalation level).
    pub(crate) offences: u32,
}

fn ban_view(ban: &Ban, notes: &BanNotes, now: Instant, wall: SystemTime) -> BanView {
    let left = ban.until.saturating_duration_since(now);
    let until = OffsetDateTime::from(wall + left)
        .format(&Rfc3339)
        .unwrap_or_default();
    let reason = match (ban.kind, notes.0.get(&ban.source)) {
        (BanKind::Manual, Some(r)) => r.clone(),
        (kind, _) => kind.code().to_owned(),
    };
    BanView {
        ip: ban.source.to_string(),
        kind: ban.kind.code().to_owned(),
        reason,
        until,
        remaining_secs: left.as_secs(),
        offences: ban.offences,
    }
}

/// A page of bans.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BanPage {
    /// Bans in force, ordered by address.
    pub(crate) items: Vec<BanView>,
    /// Cursor of the next page (the last address), if any.
    pub(crate) next: Option<String>,
}

/// Lists the bans in force (`ban.manage`, platform).
#[utoipa::path(get, path = "/api/v1/bans", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = BanPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub(crate) async fn list_bans(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<BanPage>, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::BanManage,
        &Owner::Platform,
    )
    .await?;
    let page = q.page()?;
    let after = page.after.as_deref().map(parse_ip).transpose()?;
    let limit = page.effective_limit();
    let (now, wall) = (Instant::now(), SystemTime::now());
    let mut bans = state.inner.guard.bans(now);
    bans.retain(|b| after.is_none_or(|a| b.source > a));
    bans.sort_by_key(|b| b.source);
    let next = (bans.len() > limit)
        .then(|| bans.get(limit - 1).map(|b| b.source.to_string()))
        .flatten();
    let notes = state
        .inner
        .ban_notes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let items = bans
        .iter()
        .take(limit)
        .map(|b| ban_view(b, &notes, now, wall))
        .collect();
    Ok(Json(BanPage { items, next }))
}

/// `POST /api/v1/bans`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewBan {
    /// The source address to ban (IPv4 or IPv6).
    ip: String,
    /// How long, in seconds (1 to one year).
    duration_secs: u64,
    /// Why (1 to 200 characters, shown in the listing and audited).
    reason: String,
}

async fn audit_ban(
    state: &AppState,
    caller: &Caller,
    action: Action,
    ip: IpAddr,
    details: &[(&str, DetailValue)],
) -> Result<(), ApiError> {
    let mut event = AuditEvent::new(actor_of(&caller.principal), action, Outcome::Success)
        .with_source(caller.ip);
    if let Ok(target) = Target::new("ip", &ip.to_string()) {
        event = event.with_target(target);
    }
    for (k, v) in details {
        event = event
            .with_detail(k, v.clone())
            .map_err(|e| ApiError::internal(format!("audit event: {e}")))?;
    }
    state.audit(event).await
}

/// Bans a source by hand (`ban.manage`, platform); SIP and web requests
/// from it are refused until the ban ends or is lifted. Banning an address
/// already banned replaces its ban.
#[utoipa::path(post, path = "/api/v1/bans", request_body = NewBan, security(("bearer" = [])),
    responses((status = 201, body = BanView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub(crate) async fn create_ban(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewBan>,
) -> Result<(StatusCode, Json<BanView>), ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::BanManage,
        &Owner::Platform,
    )
    .await?;
    let ip = parse_ip(&req.ip)?;
    if !(1..=MAX_BAN_SECS).contains(&req.duration_secs) {
        return Err(ApiError::bad_request(format!(
            "duration_secs must be between 1 and {MAX_BAN_SECS}"
        )));
    }
    let reason = req.reason.trim();
    if reason.is_empty()
        || reason.chars().count() > MAX_REASON_CHARS
        || reason.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(format!(
            "reason must be 1 to {MAX_REASON_CHARS} characters without control characters"
        )));
    }
    let reason_detail =
        DetailValue::text(reason).map_err(|e| ApiError::bad_request(format!("reason: {e}")))?;
    let (now, wall) = (Instant::now(), SystemTime::now());
    let duration = Duration::from_secs(req.duration_secs);
    let ban = match &state.inner.cluster {
        // Stored for every node first, then applied here.
        Some(c) => c
            .ban(ip, duration)
            .await
            .map_err(|e| super::access_api::sync_error(e, "invalid-ban"))?,
        None => state.inner.guard.ban(ip, duration, now),
    };
    let view = {
        let mut notes = state
            .inner
            .ban_notes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let guard = &state.inner.guard;
        notes.set(ip, reason.to_owned(), |k| {
            guard
                .state()
                .bans
                .banned(k, now)
                .is_some_and(|b| b.is_manual())
        });
        ban_view(&ban, &notes, now, wall)
    };
    audit_ban(
        &state,
        &caller,
        Action::Ban,
        ip,
        &[
            ("reason", reason_detail),
            (
                "duration_secs",
                i64::try_from(req.duration_secs).unwrap_or(i64::MAX).into(),
            ),
        ],
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lifts the ban on a source and forgets its counters (`ban.manage`,
/// platform).
#[utoipa::path(delete, path = "/api/v1/bans/{ip}",
    params(("ip" = String, Path, description = "the banned address")), security(("bearer" = [])),
    responses((status = 204, description = "lifted"), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn delete_ban(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(ip): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::BanManage,
        &Owner::Platform,
    )
    .await?;
    let ip = parse_ip(&ip)?;
    let (here, stored) = match &state.inner.cluster {
        // Lifted in the store (every node), then here.
        Some(c) => c
            .unban(ip)
            .await
            .map_err(|e| super::access_api::sync_error(e, "invalid-ban"))?,
        None => (state.inner.guard.unban(ip, Instant::now()), false),
    };
    let kind = match (&here, stored) {
        (Some(ban), _) => ban.kind.code(),
        (None, true) => "expired",
        (None, false) => return Err(ApiError::not_found("ban")),
    };
    state
        .inner
        .ban_notes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .0
        .remove(&ip);
    let kind =
        DetailValue::text(kind).map_err(|e| ApiError::internal(format!("audit event: {e}")))?;
    audit_ban(&state, &caller, Action::Unban, ip, &[("kind", kind)]).await?;
    Ok(StatusCode::NO_CONTENT)
}
