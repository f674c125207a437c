//! Errors as RFC 9457 `application/problem+json` with a stable `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use okcc_core::StoreError;
use okcc_core::rbac::{Denied, RoleAdminError};
use okcc_crm::CrmError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub(crate) struct Problem {
    /// A URI naming the problem type (`urn:okcc:problem:<code>`).
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// A short summary of the problem type.
    pub(crate) title: String,
    /// The HTTP status.
    pub(crate) status: u16,
    /// What went wrong with this request, in plain words.
    pub(crate) detail: String,
    /// A stable machine-readable code (`invalid-input`, `forbidden`, ...).
    pub(crate) code: String,
    /// Individual problems (for example every failed password rule).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<String>,
}

/// An error a handler returns; rendered as a [`Problem`].
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) detail: String,
    pub(crate) errors: Vec<String>,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-input", detail)
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    pub(crate) fn with_errors(mut self, errors: Vec<String>) -> Self {
        self.errors = errors;
        self
    }

    pub(crate) fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:okcc:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            errors: self.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} may not use {} on {}: {}",
                d.user,
                d.permission,
                d.owner,
                d.reason.code()
            ),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("resource"),
            StoreError::Conflict { what } => Self::conflict(format!("conflict: {what}")),
            StoreError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "the store is unavailable; try again later",
            ),
            other => {
                tracing::error!(error = %other, "store backend error");
                Self::internal("store backend error")
            }
        }
    }
}

impl From<RoleAdminError> for ApiError {
    fn from(e: RoleAdminError) -> Self {
        match e {
            RoleAdminError::Denied(d) => d.into(),
            RoleAdminError::Store(s) => s.into(),
            other => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-role",
                other.to_string(),
            ),
        }
    }
}

impl From<CrmError> for ApiError {
    fn from(e: CrmError) -> Self {
        match e {
            CrmError::Denied(d) => d.into(),
            CrmError::Store(s) => s.into(),
            CrmError::Invalid { violations } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-customer",
                "the customer record is invalid",
            )
            .with_errors(violations.iter().map(ToString::to_string).collect()),
            CrmError::AuditUnavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit-unavailable",
                "the operation log is unavailable; try again later",
            ),
            CrmError::Recycle(r) => Self::conflict(r.to_string()),
            CrmError::Reveal(r) => Self::new(StatusCode::CONFLICT, "reveal-refused", r.to_string()),
            other => Self::internal(other.to_string()),
        }
    }
}

/// Rejections of axum's extractors (bad JSON, bad path, bad query) as
/// problems.
pub(crate) fn rejection(status: StatusCode, text: String) -> ApiError {
    let status = if status.is_client_error() {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        _ => "invalid-input",
    };
    ApiError::new(status, code, text)
}
