//! [`CrmService`]: every CRM operation, permission-checked and audited.
//!
//! | operation | permission |
//! |---|---|
//! | create, update | `crm.write` |
//! | get, search, list the bin | `crm.read` |
//! | delete | `crm.delete` |
//! | restore | `crm.restore` |
//! | purge one, all, past retention | `crm.purge` |
//! | see full numbers | `number.show_full`, or an active reveal grant |
//! | file a reveal request | `number.reveal.request` |
//! | approve / deny one | `number.reveal.approve` |
//!
//! Each check goes through [`okcc_core::rbac::authorize`] with the record's
//! tenant as owner, so no operation reaches across tenants. Every call,
//! allowed or denied, is reported to the [`CrmAudit`] sink; a get under a
//! reveal grant is reported as [`CrmAction::RevealNumber`].

use std::sync::Arc;
use std::time::SystemTime;

use okcc_core::mask::{MaskMode, ParsedNumber, mask_best_effort, mask_text};
use okcc_core::rbac::{Permission, Principal, authorize};
use okcc_core::recycle::{DeleteReason, Deletion, Retention};
use okcc_core::store::{Page, PageOf};
use okcc_core::{Owner, TenantId};

use crate::audit::{AuditUnavailable, CrmAction, CrmAudit, CrmEvent, CrmOutcome};
use crate::customer::{CustomerFields, CustomerId};
use crate::error::{CrmError, FieldError};
use crate::reveal::{RevealBook, RevealId, RevealPolicy, RevealRequest, utc_day_start};
use crate::store::{CustomerQuery, CustomerStore};
use crate::store::{MemoryRevealStore, RevealStore};
use crate::view::{CustomerView, NumberAccess};

/// A search as a user types it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchInput {
    /// Part of a name.
    Name(String),
    /// A phone number in any form.
    Number(String),
    /// A tag.
    Tag(String),
}

impl std::fmt::Debug for SearchInput {
    /// Never prints the searched text (it may be a number).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Name(_) => "Name(..)",
            Self::Number(_) => "Number(..)",
            Self::Tag(_) => "Tag(..)",
        })
    }
}

/// Search results with the query echoed as the viewer may see it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchResult {
    /// The query, masked unless the viewer sees full numbers.
    pub echo: String,
    /// The matching customers, as views.
    pub page: PageOf<CustomerView>,
}

/// A binned customer as the viewer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeletedView {
    /// The record.
    pub customer: CustomerView,
    /// Who deleted it, when and why (reason masked like free text).
    pub deletion: Deletion,
}

/// Service settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CrmConfig {
    /// How numbers are masked for viewers without `number.show_full`.
    pub mask_mode: MaskMode,
    /// How long the bin keeps records (default 30 days).
    pub retention: Retention,
    /// Reveal requests.
    pub reveal: RevealPolicy,
}

/// How often a reveal step is retried after losing a race.
const FILE_ATTEMPTS: usize = 4;

/// The CRM operations (see the module docs).
#[derive(Debug)]
pub struct CrmService {
    store: Arc<dyn CustomerStore>,
    audit: Arc<dyn CrmAudit>,
    book: RevealBook,
    reveals: Arc<dyn RevealStore>,
    config: CrmConfig,
}

struct Ctx<'a> {
    principal: &'a Principal,
    tenant: &'a TenantId,
    action: CrmAction,
    customer: Option<CustomerId>,
    reveal: Option<RevealId>,
    now: SystemTime,
}

impl<'a> Ctx<'a> {
    /// The context of one operation (no reveal grant involved yet).
    fn new(
        principal: &'a Principal,
        tenant: &'a TenantId,
        action: CrmAction,
        customer: Option<CustomerId>,
        now: SystemTime,
    ) -> Self {
        Self {
            principal,
            tenant,
            action,
            customer,
            reveal: None,
            now,
        }
    }
}

impl CrmService {
    /// A service over `store`, reporting to `audit`, keeping reveal
    /// requests in memory (see [`CrmService::with_reveals`]).
    pub fn new(store: Arc<dyn CustomerStore>, audit: Arc<dyn CrmAudit>, config: CrmConfig) -> Self {
        Self {
            store,
            audit,
            book: RevealBook::new(config.reveal),
            reveals: Arc::new(MemoryRevealStore::new()),
            config,
        }
    }

    /// Keeps reveal requests and grants in `reveals` (SQLite or
    /// PostgreSQL: they survive a restart and are shared by every node).
    #[must_use]
    pub fn with_reveals(mut self, reveals: Arc<dyn RevealStore>) -> Self {
        self.reveals = reveals;
        self
    }

    /// Files a reveal request by the book's rules; the store files it only
    /// if the requester's counts did not change meanwhile (another node),
    /// else the decision is taken again on fresh counts.
    async fn file_reveal(
        &self,
        tenant: &TenantId,
        id: CustomerId,
        requester: &okcc_core::UserId,
        reason: &str,
        now: SystemTime,
    ) -> Result<RevealRequest, CrmError> {
        self.reveals.prune(self.book.prune_before(now)).await?;
        let day = utc_day_start(now);
        for _ in 0..FILE_ATTEMPTS {
            let counts = self.reveals.counts(tenant, requester, day).await?;
            let new = self
                .book
                .request(tenant, id, requester, reason, counts, now)?;
            match self.reveals.insert(new, counts, day).await {
                Err(okcc_core::StoreError::Conflict { .. }) => continue,
                other => return other.map_err(CrmError::from),
            }
        }
        Err(CrmError::Store(okcc_core::StoreError::conflict(
            "reveal requests of this user keep changing; try again",
        )))
    }

    /// Approves or denies a request by the book's rules, against the
    /// version read (a concurrent decision wins; this one then sees it).
    async fn decide_stored(
        &self,
        tenant: &TenantId,
        request: RevealId,
        approver: &okcc_core::UserId,
        approve: bool,
        now: SystemTime,
    ) -> Result<RevealRequest, CrmError> {
        for _ in 0..FILE_ATTEMPTS {
            let stored = self
                .reveals
                .get(tenant, request)
                .await?
                .ok_or(crate::reveal::RevealError::NotFound)?;
            let state = self
                .book
                .decide(tenant, &stored.request, approver, approve, now)?;
            match self
                .reveals
                .set_state(tenant, request, state, stored.version)
                .await
            {
                Err(okcc_core::StoreError::Conflict { .. }) => continue,
                Err(okcc_core::StoreError::NotFound) => {
                    return Err(crate::reveal::RevealError::NotFound.into());
                }
                other => return other.map(|s| s.request).map_err(CrmError::from),
            }
        }
        Err(CrmError::Store(okcc_core::StoreError::conflict(
            "reveal request keeps changing; try again",
        )))
    }

    async fn emit(
        &self,
        ctx: &Ctx<'_>,
        outcome: CrmOutcome,
        detail: String,
    ) -> Result<(), AuditUnavailable> {
        let event = CrmEvent {
            at: ctx.now,
            actor: ctx.principal.user().clone(),
            tenant: ctx.tenant.clone(),
            action: ctx.action,
            customer: ctx.customer,
            reveal: ctx.reveal,
            outcome,
            detail,
        };
        self.audit.record(event).await
    }

    async fn check(&self, ctx: &Ctx<'_>, permission: Permission) -> Result<(), CrmError> {
        let owner = Owner::Tenant(ctx.tenant.clone());
        match authorize(ctx.principal, permission, &owner) {
            Ok(_) => Ok(()),
            Err(denied) => {
                let outcome = CrmOutcome::Denied(denied.reason.code());
                // A failed audit write does not change the denial.
                let _unaudited = self.emit(ctx, outcome, permission.name().to_owned()).await;
                Err(CrmError::Denied(denied))
            }
        }
    }

    /// Records the end of an operation. If a successful operation cannot
    /// be audited, the caller gets [`CrmError::AuditUnavailable`].
    async fn finish<T>(
        &self,
        ctx: &Ctx<'_>,
        result: Result<T, CrmError>,
        detail: String,
    ) -> Result<T, CrmError> {
        let recorded = match &result {
            Ok(_) => self.emit(ctx, CrmOutcome::Success, detail).await,
            // Error messages hold ids and rule names, never numbers; mask
            // anyway in case a backend quotes a value.
            Err(e) => {
                let reason = mask_text(&e.to_string(), MaskMode::Full);
                self.emit(ctx, CrmOutcome::Failed(reason), detail).await
            }
        };
        match (result, recorded) {
            (Ok(_), Err(e)) => Err(CrmError::AuditUnavailable(e)),
            (result, _) => result,
        }
    }

    /// What the principal may see of numbers in `tenant`.
    pub fn number_access(&self, principal: &Principal, tenant: &TenantId) -> NumberAccess {
        match authorize(
            principal,
            Permission::NumberShowFull,
            &Owner::Tenant(tenant.clone()),
        ) {
            Ok(_) => NumberAccess::Full,
            Err(_) => NumberAccess::Masked(self.config.mask_mode),
        }
    }

    fn masked(&self, access: NumberAccess, text: &str) -> String {
        match access {
            NumberAccess::Full => text.to_owned(),
            NumberAccess::Masked(mode) => mask_text(text, mode),
        }
    }

    /// Creates a customer (`crm.write`).
    pub async fn create(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        fields: CustomerFields,
        now: SystemTime,
    ) -> Result<CustomerView, CrmError> {
        let mut ctx = Ctx::new(principal, tenant, CrmAction::Create, None, now);
        self.check(&ctx, Permission::CrmWrite).await?;
        let result = match fields.validate() {
            Ok(()) => self
                .store
                .insert(tenant, fields, now)
                .await
                .map_err(CrmError::from),
            Err(e) => Err(e),
        };
        ctx.customer = result.as_ref().ok().map(|c| c.id);
        let access = self.number_access(principal, tenant);
        self.finish(
            &ctx,
            result.map(|c| CustomerView::new(&c, access)),
            String::new(),
        )
        .await
    }

    /// Reads one customer (`crm.read`); numbers are full with
    /// `number.show_full` or an active reveal grant (then audited as a
    /// reveal), masked otherwise.
    pub async fn get(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        id: CustomerId,
        now: SystemTime,
    ) -> Result<CustomerView, CrmError> {
        let mut ctx = Ctx::new(principal, tenant, CrmAction::Read, Some(id), now);
        self.check(&ctx, Permission::CrmRead).await?;
        let result = match self.store.get(tenant, id).await {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(CrmError::Store(okcc_core::StoreError::NotFound)),
            Err(e) => Err(e.into()),
        };
        let mut access = self.number_access(principal, tenant);
        let mut result = result;
        if result.is_ok() && access != NumberAccess::Full {
            match self.reveals.grant(tenant, id, principal.user(), now).await {
                Ok(Some(grant)) => {
                    access = NumberAccess::Full;
                    ctx.action = CrmAction::RevealNumber;
                    ctx.reveal = Some(grant.id);
                }
                Ok(None) => {}
                // Unknown whether a grant exists: fail rather than mask
                // silently (the caller may retry).
                Err(e) => result = Err(e.into()),
            }
        }
        self.finish(
            &ctx,
            result.map(|c| CustomerView::new(&c, access)),
            String::new(),
        )
        .await
    }

    /// Updates a customer if `expected_version` is current (`crm.write`).
    pub async fn update(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        id: CustomerId,
        expected_version: u64,
        fields: CustomerFields,
        now: SystemTime,
    ) -> Result<CustomerView, CrmError> {
        let ctx = Ctx::new(principal, tenant, CrmAction::Update, Some(id), now);
        self.check(&ctx, Permission::CrmWrite).await?;
        let result = match fields.validate() {
            Ok(()) => self
                .store
                .update(tenant, id, expected_version, fields, now)
                .await
                .map_err(CrmError::from),
            Err(e) => Err(e),
        };
        let access = self.number_access(principal, tenant);
        self.finish(
            &ctx,
            result.map(|c| CustomerView::new(&c, access)),
            format!("expected version {expected_version}"),
        )
        .await
    }

    /// Searches by name, tag or number (`crm.read`); the query is echoed
    /// masked for viewers without `number.show_full`.
    pub async fn search(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        input: &SearchInput,
        page: Page,
        now: SystemTime,
    ) -> Result<SearchResult, CrmError> {
        let ctx = Ctx::new(principal, tenant, CrmAction::Search, None, now);
        self.check(&ctx, Permission::CrmRead).await?;
        let access = self.number_access(principal, tenant);
        let (query, echo) = match input {
            SearchInput::Name(n) => (Ok(CustomerQuery::Name(n.clone())), self.masked(access, n)),
            SearchInput::Tag(t) => (Ok(CustomerQuery::Tag(t.clone())), self.masked(access, t)),
            SearchInput::Number(n) => {
                let echo = match access {
                    NumberAccess::Full => n.clone(),
                    NumberAccess::Masked(mode) => mask_best_effort(n, mode),
                };
                let query = ParsedNumber::parse(n)
                    .map(|p| CustomerQuery::NumberKey(p.key()))
                    .map_err(|e| CrmError::Invalid {
                        violations: vec![FieldError::Phone(e)],
                    });
                (query, echo)
            }
        };
        let result = match query {
            Ok(q) => self
                .store
                .search(tenant, &q, page)
                .await
                .map_err(CrmError::from),
            Err(e) => Err(e),
        };
        let result = result.map(|p| SearchResult {
            echo: echo.clone(),
            page: PageOf::new(
                p.items
                    .iter()
                    .map(|c| CustomerView::new(c, access))
                    .collect(),
                p.next,
            ),
        });
        // The audit detail is always masked, whoever searched.
        let audit_echo = match input {
            SearchInput::Number(n) => mask_best_effort(n, self.config.mask_mode),
            SearchInput::Name(s) | SearchInput::Tag(s) => mask_text(s, self.config.mask_mode),
        };
        self.finish(&ctx, result, audit_echo).await
    }

    /// Moves a customer to the recycle bin with a reason (`crm.delete`).
    pub async fn delete(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        id: CustomerId,
        reason: &str,
        now: SystemTime,
    ) -> Result<(), CrmError> {
        let ctx = Ctx::new(principal, tenant, CrmAction::Delete, Some(id), now);
        self.check(&ctx, Permission::CrmDelete).await?;
        let result = match DeleteReason::new(reason) {
            Ok(reason) => {
                let deletion = Deletion::new(principal.user().clone(), now, reason);
                self.store
                    .soft_delete(tenant, id, deletion)
                    .await
                    .map_err(CrmError::from)
            }
            Err(e) => Err(e.into()),
        };
        self.finish(&ctx, result, mask_text(reason, self.config.mask_mode))
            .await
    }

    /// Lists the recycle bin (`crm.read`).
    pub async fn list_deleted(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        page: Page,
        now: SystemTime,
    ) -> Result<PageOf<DeletedView>, CrmError> {
        let ctx = Ctx::new(principal, tenant, CrmAction::ListDeleted, None, now);
        self.check(&ctx, Permission::CrmRead).await?;
        let access = self.number_access(principal, tenant);
        let result = self
            .store
            .list_deleted(tenant, page)
            .await
            .map_err(CrmError::from)
            .map(|p| {
                let items = p
                    .items
                    .iter()
                    .map(|b| {
                        let customer = CustomerView::new(&b.record, access);
                        let mut deletion = b.deletion.clone();
                        if let Ok(r) =
                            DeleteReason::new(&self.masked(access, b.deletion.reason.as_str()))
                        {
                            deletion.reason = r;
                        }
                        DeletedView { customer, deletion }
                    })
                    .collect();
                PageOf::new(items, p.next)
            });
        self.finish(&ctx, result, String::new()).await
    }

    /// Restores a customer from the bin (`crm.restore`); a conflict if a
    /// live customer took one of its numbers.
    pub async fn restore(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        id: CustomerId,
        now: SystemTime,
    ) -> Result<CustomerView, CrmError> {
        let ctx = Ctx::new(principal, tenant, CrmAction::Restore, Some(id), now);
        self.check(&ctx, Permission::CrmRestore).await?;
        let access = self.number_access(principal, tenant);
        let result = self.store.restore(tenant, id).await.map_err(CrmError::from);
        self.finish(
            &ctx,
            result.map(|c| CustomerView::new(&c, access)),
            String::new(),
        )
        .await
    }

    /// Purges one binned customer for good (`crm.purge`).
    pub async fn purge(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        id: CustomerId,
        now: SystemTime,
    ) -> Result<(), CrmError> {
        let ctx = Ctx::new(principal, tenant, CrmAction::Purge, Some(id), now);
        self.check(&ctx, Permission::CrmPurge).await?;
        let result = self.store.purge(tenant, id).await.map_err(CrmError::from);
        self.finish(&ctx, result, "one".to_owned()).await
    }

    /// Empties the tenant's bin (`crm.purge`); returns how many.
    pub async fn purge_all(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        now: SystemTime,
    ) -> Result<u64, CrmError> {
        let ctx = Ctx::new(principal, tenant, CrmAction::Purge, None, now);
        self.check(&ctx, Permission::CrmPurge).await?;
        let result = self.store.purge_all(tenant).await.map_err(CrmError::from);
        let detail = format!("all: {}", result.as_ref().map_or(0, |n| *n));
        self.finish(&ctx, result, detail).await
    }

    /// Purges what the retention period says is due (`crm.purge`).
    pub async fn purge_expired(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        now: SystemTime,
    ) -> Result<u64, CrmError> {
        let ctx = Ctx::new(principal, tenant, CrmAction::Purge, None, now);
        self.check(&ctx, Permission::CrmPurge).await?;
        let result = match self.config.retention.cutoff(now) {
            Some(cutoff) => self
                .store
                .purge_deleted_before(tenant, cutoff)
                .await
                .map_err(CrmError::from),
            None => Ok(0),
        };
        let detail = format!("past retention: {}", result.as_ref().map_or(0, |n| *n));
        self.finish(&ctx, result, detail).await
    }

    /// Files a request to see one customer's full numbers
    /// (`number.reveal.request`); the policy may approve it at once.
    pub async fn request_reveal(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        id: CustomerId,
        reason: &str,
        now: SystemTime,
    ) -> Result<RevealRequest, CrmError> {
        let mut ctx = Ctx::new(principal, tenant, CrmAction::RevealRequest, Some(id), now);
        self.check(&ctx, Permission::NumberRevealRequest).await?;
        let result = match self.store.get(tenant, id).await {
            Ok(Some(_)) => {
                self.file_reveal(tenant, id, principal.user(), reason, now)
                    .await
            }
            Ok(None) => Err(CrmError::Store(okcc_core::StoreError::NotFound)),
            Err(e) => Err(e.into()),
        };
        ctx.reveal = result.as_ref().ok().map(|r| r.id);
        let detail = match &result {
            Ok(r) if matches!(r.state, crate::reveal::RevealState::Approved { .. }) => {
                "auto-approved: "
            }
            _ => "",
        };
        let detail = format!("{detail}{}", mask_text(reason, self.config.mask_mode));
        self.finish(&ctx, result, detail).await
    }

    /// Approves or denies a pending reveal request (`number.reveal.approve`;
    /// never one's own).
    pub async fn decide_reveal(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        request: RevealId,
        approve: bool,
        now: SystemTime,
    ) -> Result<RevealRequest, CrmError> {
        let mut ctx = Ctx {
            principal,
            tenant,
            action: CrmAction::RevealDecide,
            customer: None,
            reveal: Some(request),
            now,
        };
        self.check(&ctx, Permission::NumberRevealApprove).await?;
        let result = self
            .decide_stored(tenant, request, principal.user(), approve, now)
            .await;
        ctx.customer = result.as_ref().ok().map(|r| r.customer);
        self.finish(
            &ctx,
            result,
            if approve { "approve" } else { "deny" }.to_owned(),
        )
        .await
    }

    /// Pending reveal requests of the tenant (`number.reveal.approve`).
    pub async fn pending_reveals(
        &self,
        principal: &Principal,
        tenant: &TenantId,
        now: SystemTime,
    ) -> Result<Vec<RevealRequest>, CrmError> {
        let ctx = Ctx::new(principal, tenant, CrmAction::RevealDecide, None, now);
        self.check(&ctx, Permission::NumberRevealApprove).await?;
        let page = self
            .reveals
            .pending(
                tenant,
                okcc_core::store::Page::first(okcc_core::store::Page::MAX_LIMIT),
            )
            .await?;
        Ok(page.items)
    }
}
