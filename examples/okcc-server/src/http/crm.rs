//! Customers, the recycle bin and number reveal requests, through
//! [`okcc_crm::CrmService`] (which checks the permission against the
//! tenant, masks numbers and audits every call).

use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use okcc_core::TenantId;
use okcc_crm::customer::{CustomerFields, CustomerId, Phone, PhoneKind};
use okcc_crm::reveal::RevealId;
use okcc_crm::service::SearchInput;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, PageQuery};

fn tenant(s: &str) -> Result<TenantId, ApiError> {
    TenantId::new(s).map_err(|e| ApiError::bad_request(format!("tenant: {e}")))
}

async fn crm_err(state: &AppState, e: okcc_crm::CrmError) -> ApiError {
    // The service audits denials itself; only map them here.
    let _ = state;
    e.into()
}

/// One phone number in a request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PhoneInput {
    /// `mobile`, `work`, `home`, `fax` or `other`.
    #[schema(value_type = String)]
    kind: PhoneKind,
    /// The number as written.
    number: String,
}

/// A customer as written by a client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerInput {
    /// Name.
    name: String,
    /// Company.
    #[serde(default)]
    company: Option<String>,
    /// Phone numbers.
    #[serde(default)]
    phones: Vec<PhoneInput>,
    /// E-mail address.
    #[serde(default)]
    email: Option<String>,
    /// Tags.
    #[serde(default)]
    tags: Vec<String>,
    /// Free notes.
    #[serde(default)]
    notes: String,
    /// Version being replaced (updates only).
    #[serde(default)]
    version: Option<u64>,
}

impl CustomerInput {
    fn fields(&self) -> Result<CustomerFields, ApiError> {
        if self.phones.len() > 20 || self.tags.len() > 50 {
            return Err(ApiError::bad_request("at most 20 phones and 50 tags"));
        }
        let mut f = CustomerFields::named(&self.name);
        f.company.clone_from(&self.company);
        f.email.clone_from(&self.email);
        f.notes.clone_from(&self.notes);
        f.tags = self.tags.iter().cloned().collect();
        for p in &self.phones {
            let phone = Phone::parse(p.kind, &p.number).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-customer",
                    format!("phone: {e}"),
                )
            })?;
            f.phones.push(phone);
        }
        Ok(f)
    }
}

/// A customer as the caller may see it (numbers masked unless allowed).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CustomerOut {
    /// The record (`masked` says whether numbers are masked).
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub(crate) view: serde_json::Value,
}

fn out(v: &okcc_crm::view::CustomerView) -> Result<CustomerOut, ApiError> {
    serde_json::to_value(v)
        .map(|view| CustomerOut { view })
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Creates a customer (`crm.write`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/customers", request_body = CustomerInput,
    params(("tenant" = String, Path, description = "tenant id")), security(("bearer" = [])),
    responses((status = 201, body = CustomerOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn create_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(t): ApiPath<String>,
    ApiJson(req): ApiJson<CustomerInput>,
) -> Result<(StatusCode, Json<CustomerOut>), ApiError> {
    let t = tenant(&t)?;
    let fields = req.fields()?;
    match state
        .inner
        .crm
        .create(&caller.principal, &t, fields, SystemTime::now())
        .await
    {
        Ok(v) => Ok((StatusCode::CREATED, Json(out(&v)?))),
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// Search parameters (one of `name`, `number`, `tag`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// Part of a name.
    name: Option<String>,
    /// A phone number in any form.
    number: Option<String>,
    /// A tag.
    tag: Option<String>,
    /// Cursor of the previous page.
    cursor: Option<String>,
    /// Items per page.
    limit: Option<u32>,
}

/// A page of customers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CustomerPage {
    /// The query as the caller may see it (masked).
    pub(crate) query: String,
    /// The customers.
    #[schema(value_type = Vec<Object>)]
    pub(crate) items: Vec<serde_json::Value>,
    /// Cursor of the next page, if any.
    pub(crate) next: Option<String>,
}

/// Searches customers by name, number or tag (`crm.read`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/customers",
    params(("tenant" = String, Path, description = "tenant id"), SearchQuery), security(("bearer" = [])),
    responses((status = 200, body = CustomerPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn search_customers(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(t): ApiPath<String>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<CustomerPage>, ApiError> {
    let t = tenant(&t)?;
    let input = match (&q.name, &q.number, &q.tag) {
        (Some(n), None, None) => SearchInput::Name(n.clone()),
        (None, Some(n), None) => SearchInput::Number(n.clone()),
        (None, None, Some(n)) => SearchInput::Tag(n.clone()),
        (None, None, None) => SearchInput::Name(String::new()),
        _ => return Err(ApiError::bad_request("give one of name, number or tag")),
    };
    let page = PageQuery {
        cursor: q.cursor.clone(),
        limit: q.limit,
    }
    .page()?;
    match state
        .inner
        .crm
        .search(&caller.principal, &t, &input, page, SystemTime::now())
        .await
    {
        Ok(r) => Ok(Json(CustomerPage {
            query: r.echo,
            items: r
                .page
                .items
                .iter()
                .map(|v| out(v).map(|o| o.view))
                .collect::<Result<_, _>>()?,
            next: r.page.next,
        })),
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// Reads one customer (`crm.read`; full numbers with `number.show_full`
/// or a reveal grant).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/customers/{id}",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = u64, Path, description = "customer id")),
    security(("bearer" = [])),
    responses((status = 200, body = CustomerOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn get_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, u64)>,
) -> Result<Json<CustomerOut>, ApiError> {
    let t = tenant(&t)?;
    match state
        .inner
        .crm
        .get(&caller.principal, &t, CustomerId(id), SystemTime::now())
        .await
    {
        Ok(v) => Ok(Json(out(&v)?)),
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// Updates a customer; `version` must be current (`crm.write`).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/customers/{id}", request_body = CustomerInput,
    params(("tenant" = String, Path, description = "tenant id"), ("id" = u64, Path, description = "customer id")),
    security(("bearer" = [])),
    responses((status = 200, body = CustomerOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(crate) async fn update_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, u64)>,
    ApiJson(req): ApiJson<CustomerInput>,
) -> Result<Json<CustomerOut>, ApiError> {
    let t = tenant(&t)?;
    let version = req
        .version
        .ok_or_else(|| ApiError::bad_request("version is required for an update"))?;
    let fields = req.fields()?;
    match state
        .inner
        .crm
        .update(
            &caller.principal,
            &t,
            CustomerId(id),
            version,
            fields,
            SystemTime::now(),
        )
        .await
    {
        Ok(v) => Ok(Json(out(&v)?)),
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// A reason for deleting or revealing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reason {
    /// Why (kept in the log, masked like free text).
    reason: String,
}

/// Moves a customer to the recycle bin (`crm.delete`).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/customers/{id}", request_body = Reason,
    params(("tenant" = String, Path, description = "tenant id"), ("id" = u64, Path, description = "customer id")),
    security(("bearer" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn delete_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, u64)>,
    ApiJson(req): ApiJson<Reason>,
) -> Result<StatusCode, ApiError> {
    let t = tenant(&t)?;
    match state
        .inner
        .crm
        .delete(
            &caller.principal,
            &t,
            CustomerId(id),
            &req.reason,
            SystemTime::now(),
        )
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// A page of the recycle bin.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct BinPage {
    /// Binned customers with who deleted them, when and why.
    #[schema(value_type = Vec<Object>)]
    pub(crate) items: Vec<serde_json::Value>,
    /// Cursor of the next page, if any.
    pub(crate) next: Option<String>,
}

/// Lists the recycle bin (`crm.read`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/recycle-bin",
    params(("tenant" = String, Path, description = "tenant id"), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = BinPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn list_bin(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(t): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<BinPage>, ApiError> {
    let t = tenant(&t)?;
    match state
        .inner
        .crm
        .list_deleted(&caller.principal, &t, q.page()?, SystemTime::now())
        .await
    {
        Ok(p) => {
            let mut items = Vec::with_capacity(p.items.len());
            for d in &p.items {
                let mut v = out(&d.customer)?.view;
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("deleted_by".to_owned(), d.deletion.by.to_string().into());
                    obj.insert(
                        "deletion_reason".to_owned(),
                        d.deletion.reason.as_str().into(),
                    );
                }
                items.push(v);
            }
            Ok(Json(BinPage {
                items,
                next: p.next,
            }))
        }
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// Restores a customer from the bin (`crm.restore`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/recycle-bin/{id}/restore",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = u64, Path, description = "customer id")),
    security(("bearer" = [])),
    responses((status = 200, body = CustomerOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn restore_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, u64)>,
) -> Result<Json<CustomerOut>, ApiError> {
    let t = tenant(&t)?;
    match state
        .inner
        .crm
        .restore(&caller.principal, &t, CustomerId(id), SystemTime::now())
        .await
    {
        Ok(v) => Ok(Json(out(&v)?)),
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// Purges a binned customer for good (`crm.purge`).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/recycle-bin/{id}",
    params(("tenant" = String, Path, description = "tenant id"), ("id" = u64, Path, description = "customer id")),
    security(("bearer" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn purge_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    let t = tenant(&t)?;
    match state
        .inner
        .crm
        .purge(&caller.principal, &t, CustomerId(id), SystemTime::now())
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// A reveal request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RevealOut {
    /// The request (`state`: pending, approved with expiry, denied).
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub(crate) request: serde_json::Value,
}

fn reveal_out(r: &okcc_crm::reveal::RevealRequest) -> Result<RevealOut, ApiError> {
    serde_json::to_value(r)
        .map(|request| RevealOut { request })
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Asks to see one customer's full numbers (`number.reveal.request`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/customers/{id}/reveal-requests", request_body = Reason,
    params(("tenant" = String, Path, description = "tenant id"), ("id" = u64, Path, description = "customer id")),
    security(("bearer" = [])),
    responses((status = 201, body = RevealOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn request_reveal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, id)): ApiPath<(String, u64)>,
    ApiJson(req): ApiJson<Reason>,
) -> Result<(StatusCode, Json<RevealOut>), ApiError> {
    let t = tenant(&t)?;
    match state
        .inner
        .crm
        .request_reveal(
            &caller.principal,
            &t,
            CustomerId(id),
            &req.reason,
            SystemTime::now(),
        )
        .await
    {
        Ok(r) => Ok((StatusCode::CREATED, Json(reveal_out(&r)?))),
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// Pending reveal requests.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RevealList {
    /// The pending requests.
    #[schema(value_type = Vec<Object>)]
    pub(crate) items: Vec<serde_json::Value>,
}

/// Lists pending reveal requests of a tenant (`number.reveal.approve`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/reveal-requests",
    params(("tenant" = String, Path, description = "tenant id")), security(("bearer" = [])),
    responses((status = 200, body = RevealList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub(crate) async fn list_reveals(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(t): ApiPath<String>,
) -> Result<Json<RevealList>, ApiError> {
    let t = tenant(&t)?;
    match state
        .inner
        .crm
        .pending_reveals(&caller.principal, &t, SystemTime::now())
        .await
    {
        Ok(list) => Ok(Json(RevealList {
            items: list
                .iter()
                .map(|r| reveal_out(r).map(|o| o.request))
                .collect::<Result<_, _>>()?,
        })),
        Err(e) => Err(crm_err(&state, e).await),
    }
}

/// `POST .../reveal-requests/{rid}/decision`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Decision {
    /// `true` grants, `false` denies.
    approve: bool,
}

/// Approves or denies a reveal request (`number.reveal.approve`; never
/// one's own).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/reveal-requests/{rid}/decision", request_body = Decision,
    params(("tenant" = String, Path, description = "tenant id"), ("rid" = u64, Path, description = "request id")),
    security(("bearer" = [])),
    responses((status = 200, body = RevealOut), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub(crate) async fn decide_reveal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((t, rid)): ApiPath<(String, u64)>,
    ApiJson(req): ApiJson<Decision>,
) -> Result<Json<RevealOut>, ApiError> {
    let t = tenant(&t)?;
    match state
        .inner
        .crm
        .decide_reveal(
            &caller.principal,
            &t,
            RevealId(rid),
            req.approve,
            SystemTime::now(),
        )
        .await
    {
        Ok(r) => Ok(Json(reveal_out(&r)?)),
        Err(e) => Err(crm_err(&state, e).await),
    }
}
