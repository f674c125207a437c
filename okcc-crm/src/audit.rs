//! What the CRM service reports for the operation log.
//!
//! Every service operation, allowed or denied, produces one [`CrmEvent`]
//! through a [`CrmAudit`] sink. Events hold ids, never phone numbers or
//! free text: reasons and search echoes enter masked. The `okcc-audit`
//! crate's store is wired in through an adapter implementing [`CrmAudit`].

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::SystemTime;

use okcc_audit::{
    Action, Actor, AuditEvent, AuditSink, DetailValue, EventError, EventId, Outcome, Target, Text,
};
use okcc_core::{RuleId, TenantId, UserId};
use serde::Serialize;
use time::OffsetDateTime;

use crate::customer::CustomerId;
use crate::reveal::RevealId;

/// The operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CrmAction {
    /// A customer was created.
    Create,
    /// A customer was moved to the recycle bin.
    Delete,
    /// The recycle bin was listed.
    ListDeleted,
    /// Binned customers were purged (one, all, or past retention).
    Purge,
    /// A customer was read.
    Read,
    /// A customer was restored from the bin.
    Restore,
    /// A reveal request was approved or denied.
    RevealDecide,
    /// Full numbers were shown under a reveal grant or `number.show_full`.
    RevealNumber,
    /// A reveal request was filed.
    RevealRequest,
    /// Customers were searched.
    Search,
    /// A customer was updated.
    Update,
}

/// How the operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CrmOutcome {
    /// It was refused by the permission check (the reason code).
    Denied(&'static str),
    /// It failed (a message that holds no number).
    Failed(String),
    /// It succeeded.
    Success,
}

/// One audited CRM operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CrmEvent {
    /// When.
    pub at: SystemTime,
    /// Who.
    pub actor: UserId,
    /// The tenant acted on.
    pub tenant: TenantId,
    /// What.
    pub action: CrmAction,
    /// The customer, if one.
    pub customer: Option<CustomerId>,
    /// The reveal request, if one.
    pub reveal: Option<RevealId>,
    /// How it ended.
    pub outcome: CrmOutcome,
    /// Masked detail (reason, search echo, counts).
    pub detail: String,
}

/// The audit sink could not take an event.
#[derive(Debug, thiserror::Error)]
#[error("audit sink could not record the event")]
pub struct AuditUnavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where CRM events go.
#[async_trait::async_trait]
pub trait CrmAudit: Debug + Send + Sync + 'static {
    /// Records one event (may wait for room in a queue).
    async fn record(&self, event: CrmEvent) -> Result<(), AuditUnavailable>;
}

/// Keeps events in memory (tests, `--store memory`).
#[derive(Debug, Default)]
pub struct MemoryCrmAudit {
    events: Mutex<Vec<CrmEvent>>,
}

impl MemoryCrmAudit {
    /// A copy of every event so far.
    pub fn events(&self) -> Vec<CrmEvent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait::async_trait]
impl CrmAudit for MemoryCrmAudit {
    async fn record(&self, event: CrmEvent) -> Result<(), AuditUnavailable> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
        Ok(())
    }
}

/// Hands CRM events to the `okcc-audit` [`AuditSink`] (hash-chained
/// store), as [`AuditEvent`]s with the CRM actions of [`Action`].
#[derive(Debug)]
pub struct SinkCrmAudit {
    sink: AuditSink,
}

impl SinkCrmAudit {
    /// Reports to `sink`.
    pub fn new(sink: AuditSink) -> Self {
        Self { sink }
    }
}

/// Converts a CRM event into an operation-log event.
pub fn to_audit_event(event: &CrmEvent) -> Result<AuditEvent, EventError> {
    let action = match event.action {
        CrmAction::Create => Action::CrmCreate,
        CrmAction::Delete => Action::CrmDelete,
        CrmAction::ListDeleted => Action::custom("crm.list-deleted")?,
        CrmAction::Purge => Action::CrmPurge,
        CrmAction::Read => Action::custom("crm.read")?,
        CrmAction::Restore => Action::CrmRestore,
        CrmAction::RevealDecide | CrmAction::RevealRequest => Action::NumberRevealRequest,
        CrmAction::RevealNumber => Action::NumberReveal,
        CrmAction::Search => Action::custom("crm.search")?,
        CrmAction::Update => Action::CrmUpdate,
    };
    let outcome = match &event.outcome {
        CrmOutcome::Success => Outcome::Success,
        CrmOutcome::Failed(reason) => Outcome::failure(reason)
            .or_else(|_| Outcome::failure("failed (reason too long to record)"))?,
        CrmOutcome::Denied(code) => Outcome::denied(
            RuleId::new(format!("rbac:{code}")),
            okcc_core::DenyReason::Forbidden,
        ),
    };
    let actor = Actor::user(event.actor.clone(), Some(event.tenant.clone()));
    let mut out = AuditEvent::at(
        EventId::generate(),
        OffsetDateTime::from(event.at),
        actor,
        action,
        outcome,
    )
    .with_tenant(Some(event.tenant.clone()));
    if let Some(id) = event.customer {
        out = out.with_target(Target::new("customer", &id.0.to_string())?);
    } else if let Some(id) = event.reveal {
        out = out.with_target(Target::new("reveal-request", &id.0.to_string())?);
    }
    if let Some(id) = event.reveal {
        out = out.with_detail(
            "reveal",
            DetailValue::Int(i64::try_from(id.0).unwrap_or(i64::MAX)),
        )?;
    }
    out = out.with_detail("step", DetailValue::Text(Text::new(step(event.action))?))?;
    if !event.detail.is_empty() {
        // Already masked by the service; bounded by the Text limits.
        let detail: String = event.detail.chars().take(200).collect();
        if let Ok(text) = Text::new(&detail) {
            out = out.with_detail("detail", DetailValue::Text(text))?;
        }
    }
    Ok(out)
}

fn step(action: CrmAction) -> &'static str {
    match action {
        CrmAction::Create => "create",
        CrmAction::Delete => "delete",
        CrmAction::ListDeleted => "list-deleted",
        CrmAction::Purge => "purge",
        CrmAction::Read => "read",
        CrmAction::Restore => "restore",
        CrmAction::RevealDecide => "decide",
        CrmAction::RevealNumber => "reveal",
        CrmAction::RevealRequest => "request",
        CrmAction::Search => "search",
        CrmAction::Update => "update",
    }
}

#[async_trait::async_trait]
impl CrmAudit for SinkCrmAudit {
    async fn record(&self, event: CrmEvent) -> Result<(), AuditUnavailable> {
        let event = to_audit_event(&event).map_err(|e| AuditUnavailable(Box::new(e)))?;
        self.sink
            .record(event)
            .await
            .map_err(|e| AuditUnavailable(Box::new(e)))
    }
}
