//! Access rules (IP / network / region) and the "block all foreign"
//! switch, platform-wide (`access.edit` on the platform).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use okcc_audit::Action;
use okcc_core::Owner;
use okcc_core::rbac::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::admin::require;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, Caller};

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
    AccessRules {
        text: state
            .inner
            .rule_text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
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
    {
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
    state.inner.access.set_block_foreign(req.on).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "block-foreign-unavailable",
            e.to_string(),
        )
    })?;
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
