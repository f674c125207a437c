//! Access rules (IP / network / region) and the "block all foreign"
//! switch, platform-wide (`access.edit` on the platform), and the
//! "why was this IP blocked?" explanation.

use std::net::IpAddr;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use okcc_audit::Action;
use okcc_core::Owner;
use okcc_core::access::{AccessRequest, Channel, Verdict};
use okcc_core::rbac::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::admin::require;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, Caller};

/// The rule file and the switch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AccessRules {
    /// The rule file text last accepted through the API (see the README's
    /// rule file grammar).
    pub(crate) text: String,
    /// "Block all foreign" is on.
    pub(crate) block_foreign: bool,
}

/// Reads the rules (`access.edit`, platform).
#[utoipa::path(get, path = "/api/v1/access/rules", security(("bearer" = [])),
    responses((status = 200, body = AccessRules), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn get_rules(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AccessRules>, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::AccessEdit,
        &Owner::Platform,
    )
    .await?;
    Ok(Json(current(&state)))
}

fn current(state: &AppState) -> AccessRules {
    let text = match &state.inner.cluster {
        Some(c) => c.api_text(),
        None => state
            .inner
            .rule_text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
    };
    AccessRules {
        text,
        block_foreign: state.inner.access.policy().blocks_foreign(),
    }
}

/// `PUT /api/v1/access/rules`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleText {
    /// The whole rule file; replaces the rules all or nothing.
    text: String,
}

/// Replaces the rule set (`access.edit`, platform); a file with any bad
/// line changes nothing.
#[utoipa::path(put, path = "/api/v1/access/rules", request_body = RuleText, security(("bearer" = [])),
    responses((status = 200, body = AccessRules), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn put_rules(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RuleText>,
) -> Result<Json<AccessRules>, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::AccessEdit,
        &Owner::Platform,
    )
    .await?;
    if let Some(cluster) = &state.inner.cluster {
        // Stored for every node, then applied here.
        cluster
            .put_rules(&req.text)
            .await
            .map_err(|e| sync_error(e, "invalid-rules"))?;
    } else {
        let mut text = state
            .inner
            .rule_text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state
            .inner
            .access
            .load_rule_text("api", &req.text)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-rules",
                    e.to_string(),
                )
            })?;
        text.clone_from(&req.text);
    }
    state
        .audit_change(
            &caller.principal,
            caller.ip,
            Action::RuleChange,
            &Owner::Platform,
            "rule",
            "rule-file",
        )
        .await?;
    Ok(Json(current(&state)))
}

/// A refused cluster write as an API error; `invalid` is the code of a
/// change that does not form a policy.
pub(crate) fn sync_error(e: crate::serve::sync::SyncError, invalid: &'static str) -> ApiError {
    use crate::serve::sync::SyncError;
    match e {
        SyncError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, invalid, m),
        SyncError::Conflict(m) => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("another node changed the rules first, read them and retry: {m}"),
        ),
        SyncError::Unavailable(m) => {
            tracing::error!(error = %m, "cluster store write failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "the rule and ban store is unavailable; nothing was changed",
            )
        }
    }
}

/// `PUT /api/v1/access/block-foreign`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Switch {
    /// On or off.
    on: bool,
}

/// Turns "block all foreign" on or off (`access.edit`, platform). Turning
/// it on needs a GeoIP database and home regions.
#[utoipa::path(put, path = "/api/v1/access/block-foreign", request_body = Switch, security(("bearer" = [])),
    responses((status = 200, body = AccessRules), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn block_foreign(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<Switch>,
) -> Result<Json<AccessRules>, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::AccessEdit,
        &Owner::Platform,
    )
    .await?;
    if let Some(cluster) = &state.inner.cluster {
        cluster
            .set_block_foreign(req.on)
            .await
            .map_err(|e| sync_error(e, "block-foreign-unavailable"))?;
    } else {
        state.inner.access.set_block_foreign(req.on).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "block-foreign-unavailable",
                e.to_string(),
            )
        })?;
    }
    state
        .audit_change(
            &caller.principal,
            caller.ip,
            Action::RuleChange,
            &Owner::Platform,
            "rule",
            "block-foreign",
        )
        .await?;
    Ok(Json(current(&state)))
}

/// `GET /api/v1/access/explain?ip=IP`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExplainQuery {
    /// The source address to explain (IPv4 or IPv6).
    ip: String,
}

/// What the access policy decides for one channel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ChannelVerdict {
    /// `sip-call`, `sip-register` or `web-login`.
    pub(crate) channel: String,
    /// `allowed`, `trusted` (allowed, later checks skipped) or `denied`.
    pub(crate) verdict: String,
    /// Stable reason code: `no-rule`, `allowlisted`, `trusted` or the deny
    /// reason (`blacklisted`, `foreign`, …).
    pub(crate) reason: String,
    /// The rule that decided, if one did (a rule-file id, a feed, or
    /// `switch:block-foreign`).
    pub(crate) rule: Option<String>,
}

/// A ban on the web login of the address.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct LoginBan {
    /// The rule that made the ban (e.g. `guard:brute-force`).
    pub(crate) rule: String,
    /// Seconds until it ends.
    pub(crate) remaining_secs: u64,
    /// Offences that led to it.
    pub(crate) offences: u32,
}

/// Why an address is (or is not) let in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Explanation {
    /// The address, canonical (IPv4-mapped IPv6 shown as IPv4).
    pub(crate) ip: String,
    /// The country GeoIP gave, when it was consulted and knew it.
    pub(crate) country: Option<String>,
    /// "Block all foreign" is on.
    pub(crate) block_foreign: bool,
    /// One verdict per channel.
    pub(crate) channels: Vec<ChannelVerdict>,
    /// A ban on the web login, if one is in force.
    pub(crate) login_ban: Option<LoginBan>,
}

/// Explains why an address is blocked or allowed (`access.edit`,
/// platform): the access policy's verdict on every channel, the rule that
/// decided, the GeoIP country, and any web-login ban. A dry run: nothing is
/// counted or changed.
#[utoipa::path(get, path = "/api/v1/access/explain", params(ExplainQuery), security(("bearer" = [])),
    responses((status = 200, body = Explanation), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub(crate) async fn explain(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ExplainQuery>,
) -> Result<Json<Explanation>, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::AccessEdit,
        &Owner::Platform,
    )
    .await?;
    let ip: IpAddr =
        q.ip.trim()
            .parse::<IpAddr>()
            .map(|ip| ip.to_canonical())
            .map_err(|_| {
                let mut shown: String = q.ip.chars().take(64).collect();
                shown.retain(|c| !c.is_control());
                ApiError::bad_request(format!(
                    "`ip` must be an IPv4 or IPv6 address, got {shown:?}"
                ))
            })?;
    let policy = state.inner.access.policy();
    let mut country = None;
    let channels = Channel::ALL
        .into_iter()
        .map(|channel| {
            let d = policy.check(&AccessRequest::new(ip, channel));
            if country.is_none() {
                country = d.country.as_ref().map(|c| c.as_str().to_owned());
            }
            let verdict = match &d.verdict {
                Verdict::Denied(_) => "denied",
                Verdict::DangerouslyTrusted { .. } => "trusted",
                _ => "allowed",
            };
            ChannelVerdict {
                channel: channel.name().to_owned(),
                verdict: verdict.to_owned(),
                reason: d.reason().to_owned(),
                rule: d.rule().map(|r| r.as_str().to_owned()),
            }
        })
        .collect();
    let login_ban = {
        let g = state
            .inner
            .brute_force
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        g.bans.banned(ip, now).map(|b| LoginBan {
            rule: b.rule().as_str().to_owned(),
            remaining_secs: b.until.saturating_duration_since(now).as_secs(),
            offences: b.offences,
        })
    };
    Ok(Json(Explanation {
        ip: ip.to_string(),
        country,
        block_foreign: policy.blocks_foreign(),
        channels,
        login_ban,
    }))
}
