//! Tenants, users, roles and SIP extensions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use okcc_audit::Action;
use okcc_core::credential::{DigestAlgorithm, SipCredential};
use okcc_core::rbac::{
    BuiltinRole, Permission, PermissionSet, Principal, Role, RoleChange, RoleId, authorize,
};
use okcc_core::{Owner, TenantId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{check_and_hash, scope_name};
use super::directory::{ExtensionRecord, TenantRecord, UserRecord};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, PageQuery};
use super::{AppState, parse_scope};

/// Checks one permission; a denial is audited.
pub(crate) async fn require(
    state: &AppState,
    p: &Principal,
    permission: Permission,
    owner: &Owner,
) -> Result<(), ApiError> {
    match authorize(p, permission, owner) {
        Ok(_) => Ok(()),
        Err(d) => Err(state.denied(d).await),
    }
}

fn check_display_name(name: &str, field: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{field} must be 1 to 100 characters without control characters"
        )));
    }
    Ok(())
}

/// Refuses a tenant scope whose tenant does not exist.
async fn existing_scope(state: &AppState, scope: &str) -> Result<Owner, ApiError> {
    let owner = parse_scope(scope)?;
    if let Owner::Tenant(t) = &owner
        && state.inner.directory.tenant(t).await?.is_none()
    {
        return Err(ApiError::not_found("tenant"));
    }
    Ok(owner)
}

/// A tenant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct TenantView {
    /// Tenant id (slug).
    pub(crate) id: String,
    /// Display name.
    pub(crate) name: String,
}

/// A page of tenants.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct TenantPage {
    /// The tenants.
    pub(crate) items: Vec<TenantView>,
    /// Cursor of the next page, if any.
    pub(crate) next: Option<String>,
}

/// Lists tenants (`tenant.manage`, platform).
#[utoipa::path(get, path = "/api/v1/tenants", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = TenantPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn list_tenants(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<TenantPage>, ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::TenantManage,
        &Owner::Platform,
    )
    .await?;
    let page = state.inner.directory.list_tenants(q.page()?).await?;
    Ok(Json(TenantPage {
        items: page
            .items
            .into_iter()
            .map(|t| TenantView {
                id: t.id.to_string(),
                name: t.name,
            })
            .collect(),
        next: page.next,
    }))
}

/// Creates a tenant (`tenant.manage`, platform).
#[utoipa::path(post, path = "/api/v1/tenants", request_body = TenantView, security(("bearer" = [])),
    responses((status = 201, body = TenantView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<TenantView>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    require(
        &state,
        &caller.principal,
        Permission::TenantManage,
        &Owner::Platform,
    )
    .await?;
    let id = TenantId::new(&req.id).map_err(|e| ApiError::bad_request(format!("id: {e}")))?;
    if id.as_str() == "platform" {
        return Err(ApiError::bad_request("id: `platform` is reserved"));
    }
    check_display_name(&req.name, "name")?;
    state
        .inner
        .directory
        .insert_tenant(TenantRecord {
            id: id.clone(),
            name: req.name.clone(),
        })
        .await?;
    state
        .audit_change(
            &caller.principal,
            caller.ip,
            Action::TenantChange,
            &Owner::Tenant(id.clone()),
            "tenant",
            id.as_str(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(req)))
}

/// A web user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserView {
    /// User id.
    pub(crate) id: String,
    /// `platform` or the tenant id.
    pub(crate) scope: String,
    /// Display name.
    pub(crate) display_name: String,
    /// The account is disabled.
    pub(crate) disabled: bool,
    /// The password must be changed at next login.
    pub(crate) must_change_password: bool,
    /// TOTP is enrolled.
    pub(crate) totp_enabled: bool,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id.to_string(),
            scope: scope_name(&u.home),
            display_name: u.display_name,
            disabled: u.disabled,
            must_change_password: u.must_change_password,
            totp_enabled: u.totp_secret.is_some(),
        }
    }
}

/// A page of users.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UserPage {
    /// The users.
    pub(crate) items: Vec<UserView>,
    /// Cursor of the next page, if any.
    pub(crate) next: Option<String>,
}

/// Lists the users of a scope (`user.manage`).
#[utoipa::path(get, path = "/api/v1/scopes/{scope}/users", params(("scope" = String, Path, description = "`platform` or a tenant id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = UserPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(scope): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let owner = parse_scope(&scope)?;
    require(&state, &caller.principal, Permission::UserManage, &owner).await?;
    let page = state.inner.directory.list_users(&owner, q.page()?).await?;
    Ok(Json(UserPage {
        items: page.items.into_iter().map(UserView::from).collect(),
        next: page.next,
    }))
}

/// `POST /api/v1/scopes/{scope}/users`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    /// User id (slug, unique across the platform).
    id: String,
    /// Display name.
    display_name: String,
    /// Initial password (policy applies; must be changed at first login).
    password: String,
}

/// Creates a web user in a scope (`user.manage`).
#[utoipa::path(post, path = "/api/v1/scopes/{scope}/users", request_body = NewUser,
    params(("scope" = String, Path, description = "`platform` or a tenant id")), security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(scope): ApiPath<String>,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let owner = parse_scope(&scope)?;
    require(&state, &caller.principal, Permission::UserManage, &owner).await?;
    let owner = existing_scope(&state, &scope).await?;
    let id = UserId::new(&req.id).map_err(|e| ApiError::bad_request(format!("id: {e}")))?;
    check_display_name(&req.display_name, "display_name")?;
    if state.inner.directory.user(&id).await?.is_some() {
        return Err(ApiError::conflict(format!("user {id} exists")));
    }
    let login = check_and_hash(&state, &req.password, &[id.as_str(), &req.display_name]).await?;
    let record = UserRecord::new(id.clone(), owner.clone(), &req.display_name);
    state.inner.directory.insert_user(record.clone()).await?;
    state.inner.credentials.set_web_login(&id, login).await?;
    state
        .audit_change(
            &caller.principal,
            caller.ip,
            Action::UserChange,
            &owner,
            "user",
            id.as_str(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// A role.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RoleView {
    /// Role id.
    pub(crate) id: String,
    /// Display name.
    pub(crate) name: String,
    /// Permission names (`crm.read`, ...).
    pub(crate) permissions: Vec<String>,
    /// Revision (bumped by every change).
    pub(crate) revision: u64,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        Self {
            id: r.id.to_string(),
            name: r.name,
            permissions: r.permissions.iter().map(|p| p.name().to_owned()).collect(),
            revision: r.revision,
        }
    }
}

/// A page of roles.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RolePage {
    /// The roles.
    pub(crate) items: Vec<RoleView>,
    /// Cursor of the next page, if any.
    pub(crate) next: Option<String>,
}

/// Lists the roles of a scope (`role.manage`).
#[utoipa::path(get, path = "/api/v1/scopes/{scope}/roles", params(("scope" = String, Path, description = "`platform` or a tenant id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = RolePage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(scope): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<RolePage>, ApiError> {
    let owner = parse_scope(&scope)?;
    require(&state, &caller.principal, Permission::RoleManage, &owner).await?;
    let page = state
        .inner
        .roles
        .store()
        .list_roles(&owner, q.page()?)
        .await?;
    Ok(Json(RolePage {
        items: page.items.into_iter().map(RoleView::from).collect(),
        next: page.next,
    }))
}

fn parse_permissions(names: &[String]) -> Result<PermissionSet, ApiError> {
    if names.len() > 64 {
        return Err(ApiError::bad_request("at most 64 permissions"));
    }
    let mut set = PermissionSet::empty();
    for n in names {
        let p: Permission = n.parse().map_err(|e: okcc_core::rbac::UnknownPermission| {
            ApiError::bad_request(e.to_string())
        })?;
        set.insert(p);
    }
    Ok(set)
}

/// `POST /api/v1/scopes/{scope}/roles`: a new role, or a copy of a
/// built-in role (`builtin`: `tenant-admin`, `supervisor`, `agent`, ...).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRole {
    /// Role id (ignored for a built-in copy, which keeps the built-in id).
    #[serde(default)]
    id: Option<String>,
    /// Display name.
    #[serde(default)]
    name: Option<String>,
    /// Permission names.
    #[serde(default)]
    permissions: Vec<String>,
    /// Copy this built-in role instead.
    #[serde(default)]
    builtin: Option<String>,
}

async fn audit_role(
    state: &AppState,
    caller: &Caller,
    change: &RoleChange,
) -> Result<(), ApiError> {
    let event = okcc_audit::core_records::role_change_event(change)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .with_source(caller.ip);
    state.audit(event).await
}

async fn role_error(state: &AppState, e: okcc_core::rbac::RoleAdminError) -> ApiError {
    match e {
        okcc_core::rbac::RoleAdminError::Denied(d) => state.denied(d).await,
        other => other.into(),
    }
}

/// Creates a role (`role.manage`; no escalation, tenant ceiling applies).
#[utoipa::path(post, path = "/api/v1/scopes/{scope}/roles", request_body = NewRole,
    params(("scope" = String, Path, description = "`platform` or a tenant id")), security(("bearer" = [])),
    responses((status = 201, body = RoleView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(scope): ApiPath<String>,
    ApiJson(req): ApiJson<NewRole>,
) -> Result<(StatusCode, Json<RoleView>), ApiError> {
    let owner = parse_scope(&scope)?;
    require(&state, &caller.principal, Permission::RoleManage, &owner).await?;
    let owner = existing_scope(&state, &scope).await?;
    let admin = &state.inner.roles;
    let result = if let Some(b) = &req.builtin {
        let builtin = BuiltinRole::ALL
            .into_iter()
            .find(|r| r.id() == b)
            .ok_or_else(|| ApiError::bad_request(format!("unknown built-in role `{b}`")))?;
        admin
            .copy_builtin(&caller.principal, builtin, owner.clone())
            .await
    } else {
        let id = req
            .id
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("id is required"))?;
        let id = RoleId::new(id).map_err(|e| ApiError::bad_request(format!("id: {e}")))?;
        let name = req
            .name
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("name is required"))?;
        let role = Role::new(
            id,
            name,
            owner.clone(),
            parse_permissions(&req.permissions)?,
        )
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-role",
                e.to_string(),
            )
        })?;
        admin.create_role(&caller.principal, role).await
    };
    let change = match result {
        Ok(c) => c,
        Err(e) => return Err(role_error(&state, e).await),
    };
    audit_role(&state, &caller, &change).await?;
    let id = change
        .role
        .clone()
        .ok_or_else(|| ApiError::internal("role change without role"))?;
    let role = admin
        .store()
        .role(&owner, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("role"))?;
    Ok((StatusCode::CREATED, Json(role.into())))
}

/// `PUT /api/v1/scopes/{scope}/roles/{role}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleUpdate {
    /// The new permission names.
    permissions: Vec<String>,
}

/// Replaces a role's permissions (`role.manage`).
#[utoipa::path(put, path = "/api/v1/scopes/{scope}/roles/{role}", request_body = RoleUpdate,
    params(("scope" = String, Path, description = "`platform` or a tenant id"), ("role" = String, Path, description = "role id")),
    security(("bearer" = [])),
    responses((status = 200, body = RoleView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn update_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((scope, role)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<RoleUpdate>,
) -> Result<Json<RoleView>, ApiError> {
    let owner = parse_scope(&scope)?;
    require(&state, &caller.principal, Permission::RoleManage, &owner).await?;
    let id = RoleId::new(&role).map_err(|e| ApiError::bad_request(format!("role: {e}")))?;
    let perms = parse_permissions(&req.permissions)?;
    let change = match state
        .inner
        .roles
        .update_role(&caller.principal, &owner, &id, perms)
        .await
    {
        Ok(c) => c,
        Err(e) => return Err(role_error(&state, e).await),
    };
    audit_role(&state, &caller, &change).await?;
    let role = state
        .inner
        .roles
        .store()
        .role(&owner, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("role"))?;
    Ok(Json(role.into()))
}

/// Deletes a role and its assignments (`role.manage`).
#[utoipa::path(delete, path = "/api/v1/scopes/{scope}/roles/{role}",
    params(("scope" = String, Path, description = "`platform` or a tenant id"), ("role" = String, Path, description = "role id")),
    security(("bearer" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((scope, role)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let owner = parse_scope(&scope)?;
    require(&state, &caller.principal, Permission::RoleManage, &owner).await?;
    let id = RoleId::new(&role).map_err(|e| ApiError::bad_request(format!("role: {e}")))?;
    let change = match state
        .inner
        .roles
        .delete_role(&caller.principal, &owner, &id)
        .await
    {
        Ok(c) => c,
        Err(e) => return Err(role_error(&state, e).await),
    };
    audit_role(&state, &caller, &change).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn assignment(
    state: &AppState,
    caller: &Caller,
    scope: &str,
    user: &str,
    role: &str,
    assign: bool,
) -> Result<StatusCode, ApiError> {
    let owner = parse_scope(scope)?;
    require(state, &caller.principal, Permission::RoleManage, &owner).await?;
    let role = RoleId::new(role).map_err(|e| ApiError::bad_request(format!("role: {e}")))?;
    let user = UserId::new(user).map_err(|e| ApiError::bad_request(format!("user: {e}")))?;
    match state.inner.directory.user(&user).await? {
        Some(u) if u.home == owner => {}
        _ => return Err(ApiError::not_found("user")),
    }
    let admin = &state.inner.roles;
    let result = if assign {
        admin.assign(&caller.principal, &owner, &user, &role).await
    } else {
        admin
            .unassign(&caller.principal, &owner, &user, &role)
            .await
    };
    let change = match result {
        Ok(c) => c,
        Err(e) => return Err(role_error(state, e).await),
    };
    audit_role(state, caller, &change).await?;
    state.inner.sessions.revoke_user(&user);
    Ok(StatusCode::NO_CONTENT)
}

/// Assigns a role to a user of the same scope (`role.manage`); the user's
/// sessions end so the change applies at once.
#[utoipa::path(put, path = "/api/v1/scopes/{scope}/users/{user}/roles/{role}",
    params(("scope" = String, Path, description = "`platform` or a tenant id"), ("user" = String, Path, description = "user id"),
        ("role" = String, Path, description = "role id")),
    security(("bearer" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn assign_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((scope, user, role)): ApiPath<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    assignment(&state, &caller, &scope, &user, &role, true).await
}

/// Takes a role from a user (`role.manage`).
#[utoipa::path(delete, path = "/api/v1/scopes/{scope}/users/{user}/roles/{role}",
    params(("scope" = String, Path, description = "`platform` or a tenant id"), ("user" = String, Path, description = "user id"),
        ("role" = String, Path, description = "role id")),
    security(("bearer" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn unassign_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((scope, user, role)): ApiPath<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    assignment(&state, &caller, &scope, &user, &role, false).await
}

/// A SIP extension, with the weak-password flag ("in red").
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ExtensionView {
    /// SIP user name.
    pub(crate) name: String,
    /// `platform` or the tenant id.
    pub(crate) scope: String,
    /// Display name.
    pub(crate) display_name: String,
    /// The stored secret is weak (show it in red).
    pub(crate) weak: bool,
    /// Why it is weak.
    pub(crate) weak_reasons: Vec<String>,
}

/// A page of extensions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ExtensionPage {
    /// The extensions.
    pub(crate) items: Vec<ExtensionView>,
    /// Cursor of the next page, if any.
    pub(crate) next: Option<String>,
}

/// Lists the extensions of a scope with the weak flag (`extension.manage`).
#[utoipa::path(get, path = "/api/v1/scopes/{scope}/extensions", params(("scope" = String, Path, description = "`platform` or a tenant id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, body = ExtensionPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn list_extensions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(scope): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ExtensionPage>, ApiError> {
    let owner = parse_scope(&scope)?;
    require(
        &state,
        &caller.principal,
        Permission::ExtensionManage,
        &owner,
    )
    .await?;
    let page = state
        .inner
        .directory
        .list_extensions(&owner, q.page()?)
        .await?;
    let realm = state.inner.config.sip_realm.clone();
    let mut rows = Vec::with_capacity(page.items.len());
    for e in page.items {
        let cred = state
            .inner
            .credentials
            .sip_credential(&e.name, &realm)
            .await?;
        rows.push((e, cred));
    }
    let items = tokio::task::spawn_blocking(move || {
        let dictionary = crate::password::weak_dictionary();
        rows.into_iter()
            .map(|(e, cred)| {
                let reasons = crate::password::weak_reasons(
                    &e.name,
                    &realm,
                    cred.as_ref().map(|c| c.ha1(DigestAlgorithm::Md5)),
                    &dictionary,
                );
                ExtensionView {
                    scope: scope_name(&e.owner),
                    weak: !reasons.is_empty(),
                    weak_reasons: reasons,
                    name: e.name,
                    display_name: e.display_name,
                }
            })
            .collect()
    })
    .await
    .map_err(|_| ApiError::internal("weak-password check failed"))?;
    Ok(Json(ExtensionPage {
        items,
        next: page.next,
    }))
}

fn check_extension_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "name must be 1 to 32 characters from a-z A-Z 0-9 . _ -",
        ))
    }
}

/// `POST /api/v1/scopes/{scope}/extensions`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewExtension {
    /// SIP user name (unique across the platform).
    name: String,
    /// Display name.
    display_name: String,
    /// SIP password (policy applies).
    password: String,
}

async fn store_sip_password(state: &AppState, name: &str, password: &str) -> Result<(), ApiError> {
    let accepted = state.inner.policy.check(password, &[name]).map_err(|r| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak-password",
            "the password does not meet the password policy",
        )
        .with_errors(r.violations().iter().map(|v| v.message()).collect())
    })?;
    let cred = SipCredential::derive(name, &state.inner.config.sip_realm, &accepted);
    state.inner.credentials.set_sip_credential(cred).await?;
    Ok(())
}

/// Creates an extension with a policy-checked password (`extension.manage`).
#[utoipa::path(post, path = "/api/v1/scopes/{scope}/extensions", request_body = NewExtension,
    params(("scope" = String, Path, description = "`platform` or a tenant id")), security(("bearer" = [])),
    responses((status = 201, body = ExtensionView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create_extension(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(scope): ApiPath<String>,
    ApiJson(req): ApiJson<NewExtension>,
) -> Result<(StatusCode, Json<ExtensionView>), ApiError> {
    let owner = parse_scope(&scope)?;
    require(
        &state,
        &caller.principal,
        Permission::ExtensionManage,
        &owner,
    )
    .await?;
    let owner = existing_scope(&state, &scope).await?;
    check_extension_name(&req.name)?;
    check_display_name(&req.display_name, "display_name")?;
    if state.inner.directory.extension(&req.name).await?.is_some() {
        return Err(ApiError::conflict(format!("extension {} exists", req.name)));
    }
    // Check the password before writing anything.
    state
        .inner
        .policy
        .check(&req.password, &[&req.name])
        .map_err(|r| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak-password",
                "the password does not meet the password policy",
            )
            .with_errors(r.violations().iter().map(|v| v.message()).collect())
        })?;
    state
        .inner
        .directory
        .insert_extension(ExtensionRecord {
            name: req.name.clone(),
            owner: owner.clone(),
            display_name: req.display_name.clone(),
        })
        .await?;
    store_sip_password(&state, &req.name, &req.password).await?;
    state
        .audit_change(
            &caller.principal,
            caller.ip,
            Action::PasswordChange,
            &owner,
            "extension",
            &req.name,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ExtensionView {
            name: req.name,
            scope: scope_name(&owner),
            display_name: req.display_name,
            weak: false,
            weak_reasons: Vec::new(),
        }),
    ))
}

/// `PUT /api/v1/scopes/{scope}/extensions/{ext}/password`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSecret {
    /// The new SIP password (policy applies).
    password: String,
}

/// Sets an extension's password (`extension.manage`).
#[utoipa::path(put, path = "/api/v1/scopes/{scope}/extensions/{ext}/password", request_body = NewSecret,
    params(("scope" = String, Path, description = "`platform` or a tenant id"), ("ext" = String, Path, description = "extension name")),
    security(("bearer" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn set_extension_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((scope, ext)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<NewSecret>,
) -> Result<StatusCode, ApiError> {
    let owner = parse_scope(&scope)?;
    require(
        &state,
        &caller.principal,
        Permission::ExtensionManage,
        &owner,
    )
    .await?;
    match state.inner.directory.extension(&ext).await? {
        Some(e) if e.owner == owner => {}
        _ => return Err(ApiError::not_found("extension")),
    }
    store_sip_password(&state, &ext, &req.password).await?;
    state
        .audit_change(
            &caller.principal,
            caller.ip,
            Action::PasswordChange,
            &owner,
            "extension",
            &ext,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
