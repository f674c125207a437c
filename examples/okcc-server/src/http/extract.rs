//! Extractors whose rejections are problems, the caller (bearer token),
//! the peer address and the cursor page query.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use okcc_core::rbac::Principal;
use okcc_core::store::Page;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, rejection};

/// A JSON body; bad JSON is a 400/415/422 problem.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(rejection(r.status(), r.body_text())),
        }
    }
}

/// Path parameters; a bad one is a 400 problem.
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(r) => Err(rejection(r.status(), r.body_text())),
        }
    }
}

/// Query parameters; a bad one is a 400 problem.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(r) => Err(rejection(r.status(), r.body_text())),
        }
    }
}

/// The peer address. The server must be run with
/// `into_make_service_with_connect_info::<SocketAddr>()`; without it every
/// request is refused rather than judged as coming from nowhere.
pub(crate) fn peer_ip(parts: &Parts) -> Result<IpAddr, ApiError> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
        .ok_or_else(|| ApiError::internal("the server does not know the peer address"))
}

/// The peer address as an extractor.
pub(crate) struct PeerIp(pub(crate) IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        peer_ip(parts).map(Self)
    }
}

/// An authenticated caller whose session may be used for everything
/// (password already changed).
pub(crate) struct Caller {
    pub(crate) principal: Principal,
    pub(crate) ip: IpAddr,
    pub(crate) token_hash: [u8; 32],
}

/// An authenticated caller who may still have to change the password:
/// only the password change, `GET /me`, TOTP enrolment and logout take it.
pub(crate) struct AnyCaller(pub(crate) Caller, pub(crate) bool);

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = peer_ip(parts)?;
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("a bearer token is required (POST /api/v1/sessions)")
            })?;
        let (session, token_hash) = state
            .inner
            .sessions
            .lookup(token, std::time::SystemTime::now())
            .ok_or_else(|| {
                ApiError::unauthorized("the session token is invalid, expired or revoked")
            })?;
        let principal = state
            .inner
            .roles
            .principal(session.user.clone(), session.home.clone())
            .await?;
        Ok(Self(
            Caller {
                principal,
                ip,
                token_hash,
            },
            session.must_change_password,
        ))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AnyCaller(caller, must_change) = AnyCaller::from_request_parts(parts, state).await?;
        if must_change {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "password-change-required",
                "change the password first (PUT /api/v1/me/password)",
            ));
        }
        Ok(caller)
    }
}

/// `?cursor=…&limit=…` of every listing.
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// The `next` cursor of the previous page.
    pub(crate) cursor: Option<String>,
    /// Items per page (1 to 1000, default 100).
    pub(crate) limit: Option<u32>,
}

impl PageQuery {
    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=Page::MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {}",
                Page::MAX_LIMIT
            )));
        }
        Ok(match &self.cursor {
            Some(c) if c.len() > 256 => {
                return Err(ApiError::bad_request(
                    "cursor is longer than 256 characters",
                ));
            }
            Some(c) => Page::after(c.clone(), limit),
            None => Page::first(limit),
        })
    }
}
