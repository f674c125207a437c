//! What the CRM service reports for the operation log.
//!
//! Every service operation, allowed or denied, produces one [`CrmEvent`]
//! through a [`CrmAudit`] sink. Events hold ids, never phone numbers or
//! free text: reasons and search echoes enter masked. The `okcc-audit`
//! crate's store is wired in through an adapter implementing [`CrmAudit`].

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::SystemTime;

use okcc_core::{TenantId, UserId};
use serde::Serialize;

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

/// Where CRM events go. Must not block for long: hand the event to a
/// queue (the `okcc-audit` sink does).
pub trait CrmAudit: Debug + Send + Sync + 'static {
    /// Records one event.
    fn record(&self, event: CrmEvent);
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

impl CrmAudit for MemoryCrmAudit {
    fn record(&self, event: CrmEvent) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
    }
}
