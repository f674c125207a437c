//! The REST admin API (`/api/v1`, issue 10), as a library-style module:
//! [`router`] builds the axum router over an [`AppState`] of
//! `Arc<dyn …Store>` trait objects, so it runs on the memory stores in tests
//! and on the SQL stores once `okcc-server serve` plugs them in.
//!
//! Conventions: JSON bodies; errors as `application/problem+json` with a
//! stable `code` ([`error::Problem`]); listings paged by an opaque cursor
//! (`?cursor=…&limit=…`, answer `{items, next}`); bearer session tokens from
//! `POST /api/v1/sessions`; every handler checks one permission with
//! `okcc_core::rbac::authorize` and audits what it changes; the OpenAPI 3
//! document is served at `/api/v1/openapi.json`.
#![allow(
    dead_code,
    reason = "wired into `okcc-server serve` by the serve command (issue 9); exercised by the router tests"
)]

mod access_api;
mod admin;
mod alerts;
mod auth;
mod bans;
mod console;
mod crm;
pub(crate) mod directory;
mod directory_sql;
mod error;
mod extract;
mod ops;
mod review;
mod totp;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{delete, get, post, put};
use okcc_audit::{Action, Actor, AuditEvent, AuditStore, Outcome, Target};
use okcc_core::access::AccessControl;
use okcc_core::credential::{CredentialStore, WebPasswordHasher};
use okcc_core::guard::brute_force::{BruteForceConfig, BruteForceGuard};
use okcc_core::guard::{BanConfig, BanTable};

/// The web login's brute-force counters and the bans they made.
#[derive(Debug)]
pub(crate) struct LoginGuard {
    pub(crate) guard: BruteForceGuard,
    pub(crate) bans: BanTable,
}
use okcc_core::rbac::{Principal, RoleAdmin, RoleStore};
use okcc_core::review::ReviewStore;
use okcc_sip::digest::{DigestConfig, DigestServer};
use okcc_sip::pipeline::{Guard, GuardConfig};

use crate::monitor::{AlertBook, Gauges};
use okcc_core::{Owner, PasswordPolicy, TenantId};
use okcc_crm::CrmService;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;

pub(crate) use auth::bootstrap_admin;
pub(crate) use directory::{Directory, MemoryDirectory};
pub(crate) use directory_sql::{PostgresDirectory, SqliteDirectory};
pub(crate) use error::{ApiError, Problem};

/// Settings of the API.
#[derive(Clone, Debug)]
pub(crate) struct ApiConfig {
    /// Largest accepted request body (default 1 MiB).
    pub(crate) body_limit: usize,
    /// A request taking longer is answered 408 (default 30 s).
    pub(crate) request_timeout: Duration,
    /// How long a session token lives (default 8 h).
    pub(crate) session_ttl: Duration,
    /// The issuer shown in authenticator apps.
    pub(crate) totp_issuer: String,
    /// The SIP realm extensions authenticate in.
    pub(crate) sip_realm: String,
    /// Largest voice file upload (`POST …/review/voice`, default 10 MiB);
    /// also the review's voice size limit.
    pub(crate) voice_body_limit: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            body_limit: 1 << 20,
            request_timeout: Duration::from_secs(30),
            session_ttl: Duration::from_secs(8 * 3600),
            totp_issuer: "okcc".to_owned(),
            sip_realm: "okcc".to_owned(),
            voice_body_limit: okcc_core::review::VoiceLimits::default().max_bytes,
        }
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    pub(crate) inner: Arc<Shared>,
}

/// The shared state behind [`AppState`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ApiConfig,
    pub(crate) directory: Arc<dyn Directory>,
    pub(crate) credentials: Arc<dyn CredentialStore>,
    pub(crate) roles: RoleAdmin,
    pub(crate) crm: Arc<CrmService>,
    pub(crate) audit: Arc<dyn AuditStore>,
    pub(crate) access: Arc<AccessControl>,
    pub(crate) policy: PasswordPolicy,
    pub(crate) hasher: WebPasswordHasher,
    pub(crate) brute_force: Mutex<LoginGuard>,
    pub(crate) sessions: auth::Sessions,
    /// The rule file last accepted through the API.
    pub(crate) rule_text: Mutex<String>,
    /// A hash verified when the user does not exist, so a login takes as
    /// long for unknown users as for known ones.
    pub(crate) dummy_hash: okcc_core::credential::PhcHash,
    /// Voice files and templates under review.
    pub(crate) review: Arc<dyn ReviewStore>,
    /// The SIP guard pipeline, whose ban table the ban endpoints manage.
    pub(crate) guard: Arc<Guard>,
    /// Rules and bans shared with the other nodes (`serve`); `None`: this
    /// node's memory only (tests).
    pub(crate) cluster: Option<Arc<crate::serve::sync::Cluster>>,
    /// The reasons given for manual bans.
    pub(crate) ban_notes: Mutex<bans::BanNotes>,
    /// Gauges the server updates (connections, SIP queue depth).
    pub(crate) gauges: Arc<Gauges>,
    /// Resource alerts and the monitor's latest sample.
    pub(crate) alerts: Arc<AlertBook>,
}

/// The stores and services [`AppState::new`] wires together.
#[derive(Debug)]
pub(crate) struct Stores {
    pub(crate) directory: Arc<dyn Directory>,
    pub(crate) credentials: Arc<dyn CredentialStore>,
    pub(crate) roles: Arc<dyn RoleStore>,
    pub(crate) crm: Arc<CrmService>,
    pub(crate) audit: Arc<dyn AuditStore>,
    pub(crate) access: Arc<AccessControl>,
    pub(crate) review: Arc<dyn ReviewStore>,
    /// The SIP guard (serve passes the running server's).
    pub(crate) guard: Arc<Guard>,
    /// The cluster sync (serve passes the running server's).
    pub(crate) cluster: Option<Arc<crate::serve::sync::Cluster>>,
    /// Gauges the server updates; the monitor reads them.
    pub(crate) gauges: Arc<Gauges>,
    /// Where the monitor ([`crate::monitor::spawn`]) records alerts.
    pub(crate) alerts: Arc<AlertBook>,
}

impl AppState {
    /// State over `stores`; fails only if the hasher cannot hash.
    pub(crate) fn new(
        config: ApiConfig,
        stores: Stores,
        policy: PasswordPolicy,
        hasher: WebPasswordHasher,
        brute_force: BruteForceConfig,
    ) -> Result<Self, String> {
        let dummy_pw = PasswordPolicy::permissive()
            .check("dummy-password-for-timing-9f3k", &[])
            .map_err(|e| format!("dummy password refused: {e}"))?;
        let dummy_hash = hasher.hash(&dummy_pw).map_err(|e| e.to_string())?;
        Ok(Self {
            inner: Arc::new(Shared {
                config,
                directory: stores.directory,
                credentials: stores.credentials,
                roles: RoleAdmin::new(stores.roles),
                crm: stores.crm,
                audit: stores.audit,
                access: stores.access,
                policy,
                hasher,
                brute_force: Mutex::new(LoginGuard {
                    guard: BruteForceGuard::new(brute_force),
                    bans: BanTable::new(BanConfig::default()),
                }),
                sessions: auth::Sessions::default(),
                rule_text: Mutex::new(String::new()),
                dummy_hash,
                review: stores.review,
                guard: stores.guard,
                cluster: stores.cluster,
                ban_notes: Mutex::new(bans::BanNotes::default()),
                gauges: stores.gauges,
                alerts: stores.alerts,
            }),
        })
    }

    /// Appends one event to the operation log; a log that cannot take it
    /// makes the request fail with 503 (the change is reported, not hidden).
    pub(crate) async fn audit(&self, event: AuditEvent) -> Result<(), ApiError> {
        self.inner.audit.append(vec![event]).await.map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, "audit log append failed");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "audit-unavailable",
                "the operation log is unavailable; the change may have been applied, check before retrying",
            )
        })
    }

    /// Audits a successful change `action` on `target_kind`/`target_id` of
    /// `owner` by `principal`.
    pub(crate) async fn audit_change(
        &self,
        principal: &Principal,
        source: IpAddr,
        action: Action,
        owner: &Owner,
        target_kind: &str,
        target_id: &str,
    ) -> Result<(), ApiError> {
        let mut event = AuditEvent::new(actor_of(principal), action, Outcome::Success)
            .with_tenant(owner.tenant().cloned())
            .with_source(source);
        if let Ok(target) = Target::new(target_kind, target_id) {
            event = event.with_target(target);
        }
        self.audit(event).await
    }

    /// Audits a refused privileged action (requirement: every denial is
    /// logged), then hands back the error.
    pub(crate) async fn denied(&self, d: okcc_core::rbac::Denied) -> ApiError {
        if let Ok(event) = okcc_audit::core_records::denied_event(&d)
            && let Err(e) = self.inner.audit.append(vec![event]).await
        {
            tracing::error!(error = %e, "audit log append failed for a denial");
        }
        d.into()
    }
}

/// Sends CRM events to the operation log store directly (the admin API is
/// not the hot path, so each event is committed before the answer).
#[derive(Debug)]
pub(crate) struct StoreCrmAudit(pub(crate) Arc<dyn AuditStore>);

#[async_trait::async_trait]
impl okcc_crm::audit::CrmAudit for StoreCrmAudit {
    async fn record(
        &self,
        event: okcc_crm::audit::CrmEvent,
    ) -> Result<(), okcc_crm::audit::AuditUnavailable> {
        let event = okcc_crm::audit::to_audit_event(&event)
            .map_err(|e| okcc_crm::audit::AuditUnavailable(Box::new(e)))?;
        self.0
            .append(vec![event])
            .await
            .map(|_| ())
            .map_err(|e| okcc_crm::audit::AuditUnavailable(Box::new(e)))
    }
}

impl Stores {
    /// Every store in memory (tests, `--store memory`), under `access`.
    pub(crate) fn in_memory(access: Arc<AccessControl>) -> Self {
        let audit: Arc<dyn AuditStore> = Arc::new(okcc_audit::MemoryAuditStore::new());
        let crm = CrmService::new(
            Arc::new(okcc_crm::store::memory::MemoryCustomerStore::new()),
            Arc::new(StoreCrmAudit(Arc::clone(&audit))),
            okcc_crm::service::CrmConfig::default(),
        );
        let credentials: Arc<dyn CredentialStore> =
            Arc::new(okcc_core::credential::MemoryCredentialStore::new());
        let mut nonce_key = vec![0u8; 32];
        rand::fill(&mut nonce_key[..]);
        let guard = Guard::new(
            GuardConfig::default(),
            Arc::clone(&access),
            Arc::new(DigestServer::new(DigestConfig::new("okcc", nonce_key))),
            Arc::clone(&credentials),
        );
        Self {
            directory: Arc::new(MemoryDirectory::default()),
            credentials,
            roles: Arc::new(okcc_core::rbac::MemoryRoleStore::new()),
            crm: Arc::new(crm),
            audit,
            access,
            review: Arc::new(okcc_core::review::MemoryReviewStore::new()),
            guard: Arc::new(guard),
            cluster: None,
            gauges: Arc::new(Gauges::default()),
            alerts: Arc::new(AlertBook::default()),
        }
    }
}

/// The audit actor for a principal.
pub(crate) fn actor_of(p: &Principal) -> Actor {
    Actor::user(p.user().clone(), p.home().tenant().cloned())
}

/// Parses a scope path segment: `platform` or a tenant id.
pub(crate) fn parse_scope(s: &str) -> Result<Owner, ApiError> {
    if s == "platform" {
        return Ok(Owner::Platform);
    }
    TenantId::new(s)
        .map(Owner::Tenant)
        .map_err(|e| ApiError::bad_request(format!("scope must be `platform` or a tenant id: {e}")))
}

/// The OpenAPI document of every endpoint.
#[derive(OpenApi)]
#[openapi(
    info(title = "okcc admin API", version = "1", description = "REST admin API of okcc-server."),
    paths(
        ops::healthz,
        ops::readyz,
        ops::openapi_json,
        ops::audit_events,
        ops::audit_verify,
        ops::audit_export,
        auth::login,
        auth::logout,
        auth::me,
        auth::change_password,
        auth::totp_enrol,
        auth::totp_confirm,
        admin::list_tenants,
        admin::create_tenant,
        admin::list_users,
        admin::create_user,
        admin::list_roles,
        admin::create_role,
        admin::update_role,
        admin::delete_role,
        admin::assign_role,
        admin::unassign_role,
        admin::list_extensions,
        admin::create_extension,
        admin::set_extension_password,
        crm::create_customer,
        crm::search_customers,
        crm::get_customer,
        crm::update_customer,
        crm::delete_customer,
        crm::list_bin,
        crm::restore_customer,
        crm::purge_customer,
        crm::request_reveal,
        crm::list_reveals,
        crm::decide_reveal,
        access_api::get_rules,
        access_api::put_rules,
        access_api::block_foreign,
        review::upload_voice,
        review::submit_template,
        review::list_items,
        review::get_item,
        review::get_audio,
        review::decide,
        review::usable,
        bans::list_bans,
        bans::create_ban,
        bans::delete_ban,
        alerts::list_alerts,
        alerts::monitor,
        access_api::explain,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API router with its middleware: body limit (every body extractor
/// answers 413 as a problem), timeout, security
/// headers; no CORS layer (browsers on other origins are refused by default).
pub(crate) fn router(state: AppState) -> Router {
    let config = state.inner.config.clone();
    let api = Router::new()
        .route("/openapi.json", get(ops::openapi_json))
        .route("/sessions", post(auth::login))
        .route("/sessions/current", delete(auth::logout))
        .route("/me", get(auth::me))
        .route("/me/password", put(auth::change_password))
        .route("/me/totp", post(auth::totp_enrol))
        .route("/me/totp/confirm", post(auth::totp_confirm))
        .route(
            "/tenants",
            get(admin::list_tenants).post(admin::create_tenant),
        )
        .route(
            "/scopes/{scope}/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/scopes/{scope}/roles",
            get(admin::list_roles).post(admin::create_role),
        )
        .route(
            "/scopes/{scope}/roles/{role}",
            put(admin::update_role).delete(admin::delete_role),
        )
        .route(
            "/scopes/{scope}/users/{user}/roles/{role}",
            put(admin::assign_role).delete(admin::unassign_role),
        )
        .route(
            "/scopes/{scope}/extensions",
            get(admin::list_extensions).post(admin::create_extension),
        )
        .route(
            "/scopes/{scope}/extensions/{ext}/password",
            put(admin::set_extension_password),
        )
        .route(
            "/tenants/{tenant}/customers",
            get(crm::search_customers).post(crm::create_customer),
        )
        .route(
            "/tenants/{tenant}/customers/{id}",
            get(crm::get_customer)
                .put(crm::update_customer)
                .delete(crm::delete_customer),
        )
        .route("/tenants/{tenant}/recycle-bin", get(crm::list_bin))
        .route(
            "/tenants/{tenant}/recycle-bin/{id}",
            delete(crm::purge_customer),
        )
        .route(
            "/tenants/{tenant}/recycle-bin/{id}/restore",
            post(crm::restore_customer),
        )
        .route(
            "/tenants/{tenant}/customers/{id}/reveal-requests",
            post(crm::request_reveal),
        )
        .route("/tenants/{tenant}/reveal-requests", get(crm::list_reveals))
        .route(
            "/tenants/{tenant}/reveal-requests/{rid}/decision",
            post(crm::decide_reveal),
        )
        .route(
            "/access/rules",
            get(access_api::get_rules).put(access_api::put_rules),
        )
        .route("/access/block-foreign", put(access_api::block_foreign))
        .route("/access/explain", get(access_api::explain))
        .route("/audit/events", get(ops::audit_events))
        .route("/audit/verify", get(ops::audit_verify))
        .route("/audit/export", get(ops::audit_export))
        .route(
            "/tenants/{tenant}/review/voice",
            post(review::upload_voice).layer(DefaultBodyLimit::max(config.voice_body_limit)),
        )
        .route(
            "/tenants/{tenant}/review/templates",
            post(review::submit_template),
        )
        .route("/tenants/{tenant}/review/items", get(review::list_items))
        .route("/tenants/{tenant}/review/items/{id}", get(review::get_item))
        .route(
            "/tenants/{tenant}/review/items/{id}/audio",
            get(review::get_audio),
        )
        .route(
            "/tenants/{tenant}/review/items/{id}/decision",
            post(review::decide),
        )
        .route(
            "/tenants/{tenant}/review/items/{id}/usable",
            get(review::usable),
        )
        .route("/bans", get(bans::list_bans).post(bans::create_ban))
        .route("/bans/{ip}", delete(bans::delete_ban))
        .route("/alerts", get(alerts::list_alerts))
        .route("/monitor", get(alerts::monitor));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .nest("/api/v1", api)
        .fallback(ops::not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000"),
        ))
        .merge(console::routes())
}
