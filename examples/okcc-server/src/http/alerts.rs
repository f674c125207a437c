//! Resource alerts and the current resource readings (requirement 4),
//! platform only (`monitor.read`).

use axum::Json;
use axum::extract::State;
use okcc_core::Owner;
use okcc_core::rbac::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::admin::require;
use super::error::{ApiError, Problem};
use super::extract::Caller;
use crate::monitor::{AlertsView, Sample, WebhookStats};

/// The alerts in force and the latest raises and clears (`monitor.read`,
/// platform).
#[utoipa::path(get, path = "/api/v1/alerts", security(("bearer" = [])),
    responses((status = 200, body = AlertsView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AlertsView>, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::MonitorRead,
        &Owner::Platform,
    )
    .await?;
    Ok(Json(state.inner.alerts.view()))
}

/// The current readings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct MonitorView {
    /// The monitor's latest sample (`null` until it has taken one).
    pub(crate) sample: Option<Sample>,
    /// Open HTTP/TCP connections now.
    pub(crate) http_connections: u64,
    /// SIP queue depth now.
    pub(crate) sip_queue_depth: u64,
    /// Alerts in force.
    pub(crate) active_alerts: usize,
    /// Webhook delivery counters.
    pub(crate) webhook: WebhookStats,
}

/// The latest resource sample and the live gauges (`monitor.read`,
/// platform).
#[utoipa::path(get, path = "/api/v1/monitor", security(("bearer" = [])),
    responses((status = 200, body = MonitorView), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn monitor(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<MonitorView>, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::MonitorRead,
        &Owner::Platform,
    )
    .await?;
    let alerts = &state.inner.alerts;
    Ok(Json(MonitorView {
        sample: alerts.last(),
        http_connections: state.inner.gauges.http_connections(),
        sip_queue_depth: state.inner.gauges.sip_queue_depth(),
        active_alerts: alerts.view().active.len(),
        webhook: alerts.webhook_stats(),
    }))
}
