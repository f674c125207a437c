//! The review queue (requirement 3) over [`okcc_core::review`]: voice files
//! (sniffed by their bytes, never by name), TTS and SMS templates (checked
//! variables, SMS segments and encoding), the reviewer's decision and the
//! one question a sender asks: is this item usable?
//!
//! Items belong to a tenant; their id is `NAME@TENANT`, so names are per
//! tenant and ids unique across tenants. Submitting under an existing name
//! edits the item: the new version goes back to review (requirement 3.2).
//! Every transition is audited with the core's
//! [`okcc_audit::core_records::review_event`].

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use okcc_core::rbac::{Permission, Principal};
use okcc_core::review::voice::VoiceFormat;
use okcc_core::review::{
    ContentError, ContentHash, ItemId, ReviewContent, ReviewError, ReviewItem, ReviewState,
    SmsLimits, Transition, Variables, VoiceLimits,
};
use okcc_core::{Owner, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::admin::require;
use super::error::{ApiError, Problem, rejection};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, PageQuery};

/// Parses the tenant path segment and refuses an unknown tenant.
fn tenant_owner(t: &str) -> Result<Owner, ApiError> {
    let t = TenantId::new(t).map_err(|e| ApiError::bad_request(format!("tenant: {e}")))?;
    Ok(Owner::Tenant(t))
}

async fn require_known_tenant(state: &AppState, owner: &Owner) -> Result<(), ApiError> {
    if let Owner::Tenant(t) = owner
        && state.inner.directory.tenant(t).await?.is_none()
    {
        return Err(ApiError::not_found("tenant"));
    }
    Ok(())
}

/// The item id of `name` in `owner`'s queue: `NAME@TENANT`. A name is an
/// id slug without `@`, so the split is unambiguous.
fn item_id(name: &str, owner: &Owner) -> Result<ItemId, ApiError> {
    let Owner::Tenant(t) = owner else {
        return Err(ApiError::bad_request("review items belong to a tenant"));
    };
    if name.contains('@') {
        return Err(ApiError::bad_request("name: `@` is not allowed"));
    }
    okcc_core::UserId::new(name).map_err(|e| ApiError::bad_request(format!("name: {e}")))?;
    ItemId::new(&format!("{name}@{t}")).map_err(|e| {
        ApiError::bad_request(format!(
            "name: together with the tenant id it is invalid: {e}"
        ))
    })
}

/// Maps a refused review action; a permission denial is audited.
async fn review_err(state: &AppState, e: ReviewError) -> ApiError {
    match e {
        ReviewError::Denied(d) => state.denied(d).await,
        ReviewError::InvalidTransition { action, from } => ApiError::new(
            StatusCode::CONFLICT,
            "invalid-transition",
            format!(
                "cannot {} an item that is {}",
                action.code().trim_start_matches("review."),
                state_name(from)
            ),
        ),
        ReviewError::SelfApproval => ApiError::new(
            StatusCode::FORBIDDEN,
            "self-approval",
            "the submitter of a version cannot approve it; another reviewer must",
        ),
        ReviewError::BadReason { max } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-reason",
            format!("rejecting needs a note (the reason) of 1 to {max} characters"),
        ),
        other => ApiError::new(StatusCode::CONFLICT, "review-refused", other.to_string()),
    }
}

fn content_err(e: &ContentError) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-content",
        e.to_string(),
    )
}

fn state_name(s: ReviewState) -> &'static str {
    match s {
        ReviewState::Draft => "draft",
        ReviewState::Pending => "pending",
        ReviewState::Approved => "approved",
        ReviewState::Rejected => "rejected",
        ReviewState::Revoked => "revoked",
        _ => "unknown",
    }
}

fn parse_state(s: &str) -> Result<ReviewState, ApiError> {
    match s {
        "draft" => Ok(ReviewState::Draft),
        "pending" => Ok(ReviewState::Pending),
        "approved" => Ok(ReviewState::Approved),
        "rejected" => Ok(ReviewState::Rejected),
        "revoked" => Ok(ReviewState::Revoked),
        _ => Err(ApiError::bad_request(
            "status must be pending, approved, rejected, draft or revoked",
        )),
    }
}

/// The MIME type of a sniffed voice format.
fn content_type(format: VoiceFormat) -> &'static str {
    match format {
        VoiceFormat::Mp3 => "audio/mpeg",
        _ => "audio/wav",
    }
}

/// A review item as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ItemView {
    /// The item id (`NAME@TENANT`), used in the item URLs.
    pub(crate) id: String,
    /// The name given at submission.
    pub(crate) name: String,
    /// The owning tenant.
    pub(crate) tenant: String,
    /// `voice`, `tts` or `sms`.
    pub(crate) kind: String,
    /// `draft`, `pending`, `approved`, `rejected` or `revoked`.
    pub(crate) status: String,
    /// Version number (1 for the first; every edit adds one).
    pub(crate) version: u32,
    /// SHA-256 of the current content (64 hex digits).
    pub(crate) content_hash: String,
    /// Who submitted the current version.
    pub(crate) submitted_by: Option<String>,
    /// Who approved or rejected it.
    pub(crate) decided_by: Option<String>,
    /// The reject reason.
    pub(crate) reason: Option<String>,
    /// What the reviewer sees: voice format, sample rate, channels,
    /// duration and size; or the template source and its preview.
    #[schema(value_type = Object)]
    pub(crate) content: serde_json::Value,
    /// SMS only: segments (billed messages) of the preview.
    pub(crate) segments: Option<usize>,
    /// SMS only: `gsm7` or `ucs2`.
    pub(crate) encoding: Option<String>,
    /// Voice only: the MIME type of the audio (`audio/wav`, `audio/mpeg`).
    pub(crate) content_type: Option<String>,
}

fn view(item: &ReviewItem, content: &ReviewContent) -> Result<ItemView, ApiError> {
    let id = item.id().as_str();
    let (name, tenant) = id.split_once('@').unwrap_or((id, ""));
    let mut out = ItemView {
        id: id.to_owned(),
        name: name.to_owned(),
        tenant: tenant.to_owned(),
        kind: content.kind().code().to_owned(),
        status: state_name(item.state()).to_owned(),
        version: item.version(),
        content_hash: item.content_hash().to_string(),
        submitted_by: item.submitted_by().map(|u| u.as_str().to_owned()),
        decided_by: item.decided_by().map(|u| u.as_str().to_owned()),
        reason: item.reason().map(str::to_owned),
        content: serde_json::to_value(content).map_err(|e| ApiError::internal(e.to_string()))?,
        segments: None,
        encoding: None,
        content_type: None,
    };
    match content {
        ReviewContent::Sms { info, .. } => {
            out.segments = Some(info.segments);
            out.encoding = serde_json::to_value(info.encoding)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
        }
        ReviewContent::Voice { info, .. } => {
            out.content_type = Some(content_type(info.format).to_owned());
        }
        _ => {}
    }
    Ok(out)
}

/// Audits each transition (in order).
async fn audit_transitions(state: &AppState, ts: &[Transition]) -> Result<(), ApiError> {
    for t in ts {
        let event = okcc_audit::core_records::review_event(t)
            .map_err(|e| ApiError::internal(format!("audit event: {e}")))?;
        state.audit(event).await?;
    }
    Ok(())
}

/// Creates `name` with `content` and submits it, or edits the existing
/// item (the new version goes back to review). 201 on create, 200 on edit.
async fn submit(
    state: &AppState,
    caller: &Caller,
    owner: Owner,
    name: &str,
    content: ReviewContent,
) -> Result<(StatusCode, Json<ItemView>), ApiError> {
    let id = item_id(name, &owner)?;
    let store = &state.inner.review;
    if let Some(mut item) = store.get(&id).await? {
        let revision = item.revision();
        let mut ts = Vec::with_capacity(2);
        match item.edit(&caller.principal, content) {
            Ok(t) => ts.push(t),
            Err(e) => return Err(review_err(state, e).await),
        }
        if item.state() == ReviewState::Draft {
            match item.submit(&caller.principal) {
                Ok(t) => ts.push(t),
                Err(e) => return Err(review_err(state, e).await),
            }
        }
        store.save(item.clone(), revision).await?;
        audit_transitions(state, &ts).await?;
        let content = item.read(&caller.principal).map_err(ApiError::from)?;
        return Ok((StatusCode::OK, Json(view(&item, content)?)));
    }
    let (mut item, created) = match ReviewItem::create(&caller.principal, id, owner, content) {
        Ok(v) => v,
        Err(e) => return Err(review_err(state, e).await),
    };
    let submitted = match item.submit(&caller.principal) {
        Ok(t) => t,
        Err(e) => return Err(review_err(state, e).await),
    };
    store.insert(item.clone()).await?;
    audit_transitions(state, &[created, submitted]).await?;
    let content = item.read(&caller.principal).map_err(ApiError::from)?;
    Ok((StatusCode::CREATED, Json(view(&item, content)?)))
}

/// `?name=` of a voice upload.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VoiceQuery {
    /// The item name (an id slug without `@`, unique in the tenant).
    name: String,
}

/// Uploads a voice file (`review.submit`): the raw bytes as the body, WAV
/// or MP3 sniffed from the content (never from a name or content type),
/// submitted for review.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/review/voice",
    params(("tenant" = String, Path, description = "tenant id"), VoiceQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the WAV or MP3 file"),
    security(("bearer" = [])),
    responses((status = 200, description = "an existing item edited, back in review", body = ItemView),
        (status = 201, body = ItemView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn upload_voice(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(t): ApiPath<String>,
    ApiQuery(q): ApiQuery<VoiceQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ItemView>), ApiError> {
    let owner = tenant_owner(&t)?;
    require(&state, &caller.principal, Permission::ReviewSubmit, &owner).await?;
    require_known_tenant(&state, &owner).await?;
    item_id(&q.name, &owner)?;
    let body = body.map_err(|r| rejection(r.status(), r.body_text()))?;
    let mut limits = VoiceLimits::default();
    limits.max_bytes = state.inner.config.voice_body_limit;
    let bytes: Arc<[u8]> = Arc::from(body.as_ref());
    let content = tokio::task::spawn_blocking(move || ReviewContent::voice(bytes, &limits))
        .await
        .map_err(|_| ApiError::internal("voice check failed"))?
        .map_err(|e| content_err(&e))?;
    submit(&state, &caller, owner, &q.name, content).await
}

/// `POST /api/v1/tenants/{tenant}/review/templates`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateInput {
    /// `tts` or `sms`.
    kind: String,
    /// The item name (an id slug without `@`, unique in the tenant).
    name: String,
    /// The template: text with `{name}`, `{company}`, `{amount}`,
    /// `{date}`, `{time}`, `{agent}` variables (`{{`/`}}` for braces).
    text: String,
}

/// Submits a TTS or SMS template (`review.submit`); SMS items show the
/// encoding and the segments of the preview.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/review/templates", request_body = TemplateInput,
    params(("tenant" = String, Path, description = "tenant id")), security(("bearer" = [])),
    responses((status = 200, description = "an existing item edited, back in review", body = ItemView),
        (status = 201, body = ItemView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn submit_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(t): ApiPath<String>,
    ApiJson(req): ApiJson<TemplateInput>,
) -> Result<(StatusCode, Json<ItemView>), ApiError> {
    let owner = tenant_owner(&t)?;
    require(&state, &caller.principal, Permission::ReviewSubmit, &owner).await?;
    require_known_tenant(&state, &owner).await?;
    item_id(&req.name, &owner)?;
    let vars = Variables::default();
    let content = match req.kind.as_str() {
        "tts" => ReviewContent::tts(&req.text, &vars),
        "sms" => ReviewContent::sms(&req.text, &vars, &SmsLimits::default()),
        _ => return Err(ApiError::bad_request("kind must be `tts` or `sms`")),
    }
    .map_err(|e| content_err(&e))?;
    submit(&state, &caller, owner, &req.name, content).await
}

/// `?status=&cursor=&limit=` of the item listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ItemQuery {
    /// Only items in this state: `pending`, `approved`, `rejected`,
    /// `draft` or `revoked`.
    status: Option<String>,
    /// The `next` cursor of the previous page.
    cursor: Option<String>,
    /// Items per page (1 to 1000, default 100).
    limit: Option<u32>,
}

/// A page of review items.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ItemPage {
    /// The items, ordered by id.
    pub(crate) items: Vec<ItemView>,
    /// Cursor of the next page, if any.
    pub(crate) next: Option<String>,
}

/// Lists a tenant's items, optionally by status (`review.read`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/review/items",
    params(("tenant" = String, Path, description = "tenant id"), ItemQuery), security(("bearer" = [])),
    responses((status = 200, body = ItemPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub(crate) async fn list_items(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(t): ApiPath<String>,
    ApiQuery(q): ApiQuery<ItemQuery>,
) -> Result<Json<ItemPage>, ApiError> {
    let owner = tenant_owner(&t)?;
    require(&state, &caller.principal, Permission::ReviewRead, &owner).await?;
    let status = q.status.as_deref().map(parse_state).transpose()?;
    let page = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    }
    .page()?;
    let found = state.inner.review.list(&owner, status, page).await?;
    let mut items = Vec::with_capacity(found.items.len());
    for item in &found.items {
        let content = item.read(&caller.principal).map_err(ApiError::from)?;
        items.push(view(item, content)?);
    }
    Ok(Json(ItemPage {
        items,
        next: found.next,
    }))
}

/// Loads the item `id` of the path's tenant after checking `permission`
/// there; an item of another tenant is "not found".
async fn load(
    state: &AppState,
    principal: &Principal,
    t: &str,
    id: &str,
    permission: Permission,
) -> Result<ReviewItem, ApiError> {
    let owner = tenant_owner(t)?;
    require(state, principal, permission, &owner).await?;
    let id = ItemId::new(id).map_err(|e| ApiError::bad_request(format!("item id: {e}")))?;
    match state.inner.review.get(&id).await? {
        Some(item) if item.owner() == &owner => Ok(item),
        _ => Err(ApiError::not_found("review item")),
    }
}

/// One item (`review.read`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/review/items/{id}",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "item id")),
    security(("bearer" = [])),
    responses((status = 200, body = ItemView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_item(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, String)>,
) -> Result<Json<ItemView>, ApiError> {
    let item = load(&state, &caller.principal, &t, &id, Permission::ReviewRead).await?;
    let content = item.read(&caller.principal).map_err(ApiError::from)?;
    Ok(Json(view(&item, content)?))
}

/// The voice file's bytes with the sniffed content type, for the
/// reviewer's audio player (`review.read`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/review/items/{id}/audio",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "item id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the audio (audio/wav or audio/mpeg)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub(crate) async fn get_audio(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let item = load(&state, &caller.principal, &t, &id, Permission::ReviewRead).await?;
    let content = item.read(&caller.principal).map_err(ApiError::from)?;
    let ReviewContent::Voice { bytes, info } = content else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "the item is a template, not a voice file: it has no audio",
        ));
    };
    let mut resp = Bytes::copy_from_slice(bytes).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(info.format)),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    Ok(resp)
}

/// `POST …/items/{id}/decision`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Decision {
    /// Approve (`true`) or reject (`false`).
    approve: bool,
    /// The reason; required to reject (1 to 500 characters), ignored on
    /// approval.
    #[serde(default)]
    note: Option<String>,
}

/// Approves or rejects the pending version (`review.approve`, platform
/// reviewers). The submitter of a version cannot approve it.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/review/items/{id}/decision", request_body = Decision,
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "item id")),
    security(("bearer" = [])),
    responses((status = 200, body = ItemView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub(crate) async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<Decision>,
) -> Result<Json<ItemView>, ApiError> {
    let mut item = load(
        &state,
        &caller.principal,
        &t,
        &id,
        Permission::ReviewApprove,
    )
    .await?;
    let revision = item.revision();
    let result = if req.approve {
        item.approve(&caller.principal)
    } else {
        item.reject(&caller.principal, req.note.as_deref().unwrap_or(""))
    };
    let transition = match result {
        Ok(t) => t,
        Err(e) => return Err(review_err(&state, e).await),
    };
    state.inner.review.save(item.clone(), revision).await?;
    audit_transitions(&state, &[transition]).await?;
    let content = item.read(&caller.principal).map_err(ApiError::from)?;
    Ok(Json(view(&item, content)?))
}

/// `?hash=` of the usability check.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UsableQuery {
    /// The content hash the caller is about to use (64 hex digits); when
    /// given, the item is usable only if exactly that content was approved.
    hash: Option<String>,
}

/// Is the item usable?
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Usable {
    /// Only approved content is usable.
    pub(crate) usable: bool,
    /// Why not (`null` when usable).
    pub(crate) reason: Option<String>,
    /// The approved content's hash, when usable.
    pub(crate) content_hash: Option<String>,
}

/// Whether the item may be used (`review.read`): approved, and (with
/// `hash`) approved with exactly that content.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/review/items/{id}/usable",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "item id"), UsableQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Usable), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn usable(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<UsableQuery>,
) -> Result<Json<Usable>, ApiError> {
    let expected = q
        .hash
        .as_deref()
        .map(|h| {
            ContentHash::from_hex(h)
                .ok_or_else(|| ApiError::bad_request("hash must be 64 hexadecimal digits"))
        })
        .transpose()?;
    let item = load(&state, &caller.principal, &t, &id, Permission::ReviewRead).await?;
    let verdict = match expected {
        Some(h) => item.is_usable(&h),
        None => item.approved(),
    };
    Ok(Json(match verdict {
        Ok(a) => Usable {
            usable: true,
            reason: None,
            content_hash: Some(a.content_hash().to_string()),
        },
        Err(e) => Usable {
            usable: false,
            reason: Some(match e {
                okcc_core::review::NotUsable::NotApproved(s) => {
                    format!("the item is {}, not approved", state_name(s))
                }
                other => other.to_string(),
            }),
            content_hash: None,
        },
    }))
}
