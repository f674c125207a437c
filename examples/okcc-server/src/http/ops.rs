//! Health, the OpenAPI document and the operation log (query, export,
//! verify).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use okcc_audit::{Action, AuditQuery, ExportFormat, VerifyOptions};
use okcc_core::Owner;
use okcc_core::rbac::Permission;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::admin::require;
use super::error::{ApiError, Problem};
use super::extract::{ApiQuery, Caller, PageQuery};
use super::{ApiDoc, AppState, parse_scope};

/// A health answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` or what is wrong.
    pub(crate) status: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// How long `/readyz` waits for the stores: an orchestrator's probe gives
/// up after about a second, and a store that takes longer is not ready.
pub(crate) const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: the stores answer, all three asked at once and within
/// [`READY_TIMEOUT`] (a database that does not answer would otherwise hold
/// the probe for the pool's acquire timeout, once per store).
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Health), (status = 503, body = Problem)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let unavailable = |what: &str| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            format!("the {what} store does not answer"),
        )
    };
    let inner = &state.inner;
    let checks = async {
        tokio::join!(
            inner.audit.head(),
            inner.directory.user_count(),
            inner.roles.store().ceiling(),
        )
    };
    let Ok((audit, directory, roles)) = tokio::time::timeout(READY_TIMEOUT, checks).await else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            format!(
                "the stores did not answer within {} s",
                READY_TIMEOUT.as_secs()
            ),
        ));
    };
    audit.map_err(|_| unavailable("audit"))?;
    directory.map_err(|_| unavailable("directory"))?;
    roles.map_err(|_| unavailable("role"))?;
    Ok(Json(Health {
        status: "ok".to_owned(),
    }))
}

/// This OpenAPI 3 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, description = "the OpenAPI document", content_type = "application/json")))]
pub(crate) async fn openapi_json() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(text) => {
            let mut resp = text.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => {
            ApiError::internal(format!("cannot render the OpenAPI document: {e}")).into_response()
        }
    }
}

/// Unknown paths.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("endpoint")
}

/// Which events.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// `platform` (every event; platform users only) or a tenant id.
    scope: String,
    /// Cursor of the previous page.
    cursor: Option<String>,
    /// Items per page.
    limit: Option<u32>,
    /// Export format: `csv` (default) or `jsonl`.
    format: Option<String>,
    /// `oldest` (default: oldest first) or `newest` (newest first).
    order: Option<String>,
}

impl AuditParams {
    async fn authorize(&self, state: &AppState, caller: &Caller) -> Result<AuditQuery, ApiError> {
        let owner = parse_scope(&self.scope)?;
        require(state, &caller.principal, Permission::AuditRead, &owner).await?;
        let query = match owner {
            Owner::Platform => AuditQuery::all(),
            Owner::Tenant(t) => AuditQuery::all().tenant(t),
        };
        match self.order.as_deref() {
            None | Some("oldest") => Ok(query),
            Some("newest") => Ok(query.newest_first()),
            Some(other) => Err(ApiError::bad_request(format!(
                "order must be `oldest` or `newest`, not `{}`",
                other.chars().take(16).collect::<String>()
            ))),
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct EventPage {
    /// Stored events, oldest first unless `order=newest` (numbers in them
    /// are already masked).
    #[schema(value_type = Vec<Object>)]
    pub(crate) items: Vec<serde_json::Value>,
    /// Cursor of the next page, if any.
    pub(crate) next: Option<String>,
}

/// Queries the operation log of a scope (`audit.read`).
#[utoipa::path(get, path = "/api/v1/audit/events", params(AuditParams), security(("bearer" = [])),
    responses((status = 200, body = EventPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn audit_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> Result<Json<EventPage>, ApiError> {
    let query = q.authorize(&state, &caller).await?;
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    }
    .page()?;
    let page = state.inner.audit.query(&query, page).await?;
    let items = page
        .items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(EventPage {
        items,
        next: page.next,
    }))
}

/// Exports the operation log of a scope as CSV or JSON Lines
/// (`audit.read`; the export itself is audited).
#[utoipa::path(get, path = "/api/v1/audit/export", params(AuditParams), security(("bearer" = [])),
    responses((status = 200, description = "CSV or JSON Lines", content_type = "text/csv"), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn audit_export(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> Result<Response, ApiError> {
    let (format, content_type) = match q.format.as_deref() {
        None | Some("csv") => (ExportFormat::Csv, "text/csv; charset=utf-8"),
        Some("jsonl") => (ExportFormat::JsonLines, "application/jsonl"),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format must be `csv` or `jsonl`, not `{}`",
                other.chars().take(16).collect::<String>()
            )));
        }
    };
    let query = q.authorize(&state, &caller).await?;
    let mut out: Vec<u8> = Vec::new();
    state.inner.audit.export(&query, format, &mut out).await?;
    let owner = parse_scope(&q.scope)?;
    state
        .audit_change(
            &caller.principal,
            caller.ip,
            Action::AuditExport,
            &owner,
            "audit-log",
            &q.scope,
        )
        .await?;
    let mut resp = out.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

/// The result of a chain verification.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct VerifyOut {
    /// `true` when no tampering was found.
    pub(crate) intact: bool,
    /// The full report (first tampered event, if any).
    #[schema(value_type = Object)]
    pub(crate) report: serde_json::Value,
}

/// Verifies the hash chain of the whole log (`audit.read`, platform).
#[utoipa::path(get, path = "/api/v1/audit/verify", security(("bearer" = [])),
    responses((status = 200, body = VerifyOut), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn audit_verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VerifyOut>, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::AuditRead,
        &Owner::Platform,
    )
    .await?;
    let report = state.inner.audit.verify(&VerifyOptions::all()).await?;
    Ok(Json(VerifyOut {
        intact: report.is_intact(),
        report: serde_json::to_value(&report).map_err(|e| ApiError::internal(e.to_string()))?,
    }))
}
