//! The review state machine for one item (requirement 3).
//!
//! ```text
//! create ──> Draft ──submit──> Pending ──approve──> Approved ──revoke──> Revoked
//!              │ edit            │  └────reject───> Rejected
//!              └─> Draft         │
//!   edit of Pending, Approved, Rejected or Revoked ──> new version, Pending
//! ```
//!
//! | action | permission (on the item's owner) | from | to |
//! |---|---|---|---|
//! | create | `review.submit` | — | Draft (version 1) |
//! | edit | `review.submit` | Draft | Draft (same version) |
//! | edit | `review.submit` | Pending, Approved, Rejected, Revoked | Pending (version + 1) |
//! | submit | `review.submit` | Draft | Pending |
//! | approve | `review.approve`, and not the version's submitter | Pending | Approved |
//! | reject (reason) | `review.approve` | Pending | Rejected |
//! | revoke (reason) | `review.revoke` | Approved | Revoked |
//!
//! Only an Approved item is usable, and only with the content hash that
//! was approved ([`ReviewItem::is_usable`]). Every successful action
//! returns a [`Transition`] (actor, reason, content hash) for the audit
//! log; a refused one changes nothing.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::content::{ContentHash, ReviewContent};
use crate::ids::{IdError, Owner, UserId};
use crate::rbac::{Authorized, Denied, Permission, Principal, authorize};

/// Names a review item (same slug rules as [`UserId`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct ItemId(Arc<str>);

impl ItemId {
    /// Parses and validates an item id.
    pub fn new(s: &str) -> Result<Self, IdError> {
        UserId::new(s)?;
        Ok(Self(Arc::from(s)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<ItemId> for String {
    fn from(id: ItemId) -> Self {
        id.0.to_string()
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemId({:?})", &*self.0)
    }
}

/// Where an item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ReviewState {
    /// Being written; not yet submitted.
    Draft,
    /// Submitted; waiting for a reviewer.
    Pending,
    /// Approved by a reviewer other than the submitter: usable.
    Approved,
    /// Rejected by a reviewer, with a reason.
    Rejected,
    /// Approved once, then revoked by the operator.
    Revoked,
}

impl ReviewState {
    /// A stable code: `draft`, `pending`, `approved`, `rejected`, `revoked`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Revoked => "revoked",
        }
    }

    /// The state with [`code`](Self::code) `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::Pending,
            Self::Approved,
            Self::Rejected,
            Self::Revoked,
        ]
        .into_iter()
        .find(|st| st.code() == s)
    }
}

/// What a [`Transition`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ReviewAction {
    /// Approved the pending version.
    Approve,
    /// Created the item as a draft.
    Create,
    /// Changed the content.
    Edit,
    /// Rejected the pending version.
    Reject,
    /// Revoked the approved version.
    Revoke,
    /// Submitted the draft for review.
    Submit,
}

impl ReviewAction {
    /// A stable dotted code for audit events: `review.approve`, …
    pub fn code(self) -> &'static str {
        match self {
            Self::Approve => "review.approve",
            Self::Create => "review.create",
            Self::Edit => "review.edit",
            Self::Reject => "review.reject",
            Self::Revoke => "review.revoke",
            Self::Submit => "review.submit",
        }
    }
}

/// One transition that happened, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Transition {
    /// The item.
    pub item: ItemId,
    /// The item's owner.
    pub owner: Owner,
    /// The version after the transition.
    pub version: u32,
    /// What was done.
    pub action: ReviewAction,
    /// The state before (`None` on create).
    pub from: Option<ReviewState>,
    /// The state after.
    pub to: ReviewState,
    /// Who did it.
    pub actor: UserId,
    /// The reason given (reject, revoke).
    pub reason: Option<String>,
    /// The hash of the content concerned.
    pub content_hash: ContentHash,
}

/// Why an action was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// The actor lacks the permission on the item's owner (audit it).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The action does not apply in the item's state.
    #[error("cannot {} an item that is {from:?}", action.code())]
    InvalidTransition {
        /// The action tried.
        action: ReviewAction,
        /// The item's state.
        from: ReviewState,
    },
    /// The submitter of a version tried to approve it (maker-checker).
    #[error("the submitter of a version cannot approve it")]
    SelfApproval,
    /// A reject or revoke reason is empty or too long.
    #[error("a reason of 1 to {max} characters is required")]
    BadReason {
        /// The limit.
        max: usize,
    },
}

/// Why an item is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotUsable {
    /// The item is not approved.
    #[error("item is {0:?}, not approved")]
    NotApproved(ReviewState),
    /// The item is approved, but with other content.
    #[error("content differs from the approved version")]
    HashMismatch,
}

const MAX_REASON: usize = 500;

/// One voice file, TTS template or SMS template under review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReviewItem {
    id: ItemId,
    owner: Owner,
    version: u32,
    content: ReviewContent,
    hash: ContentHash,
    state: ReviewState,
    submitted_by: Option<UserId>,
    decided_by: Option<UserId>,
    reason: Option<String>,
    revision: u64,
}

/// Proof that an item is approved, with the approved content. Only
/// [`ReviewItem::is_usable`] and [`ReviewItem::approved`] make one.
#[derive(Clone, Copy, Debug)]
pub struct Approved<'a> {
    item: &'a ReviewItem,
}

impl<'a> Approved<'a> {
    /// The approved item.
    pub fn item(&self) -> &'a ReviewItem {
        self.item
    }

    /// The approved content: the one thing a campaign or SMS sender uses.
    pub fn content(&self) -> &'a ReviewContent {
        &self.item.content
    }

    /// The approved content's hash.
    pub fn content_hash(&self) -> ContentHash {
        self.item.hash
    }

    /// Who approved it.
    pub fn approved_by(&self) -> Option<&'a UserId> {
        self.item.decided_by.as_ref()
    }
}

fn check_reason(reason: &str) -> Result<(), ReviewError> {
    let n = reason.chars().count();
    if reason.trim().is_empty() || n > MAX_REASON {
        return Err(ReviewError::BadReason { max: MAX_REASON });
    }
    Ok(())
}

impl ReviewItem {
    /// Creates a draft of `content` owned by `owner` (`review.submit`).
    pub fn create(
        actor: &Principal,
        id: ItemId,
        owner: Owner,
        content: ReviewContent,
    ) -> Result<(Self, Transition), ReviewError> {
        authorize(actor, Permission::ReviewSubmit, &owner)?;
        let hash = content.hash();
        let item = Self {
            id,
            owner,
            version: 1,
            content,
            hash,
            state: ReviewState::Draft,
            submitted_by: None,
            decided_by: None,
            reason: None,
            revision: 0,
        };
        let t = item.transition(actor, ReviewAction::Create, None, None);
        Ok((item, t))
    }

    /// An item read back from a store, checked: the content must match
    /// `hash`, and the state must be one the state machine can reach
    /// (someone submitted every non-draft version; approved, rejected and
    /// revoked ones were decided by someone, approved ones not by the
    /// submitter; rejected and revoked ones carry a valid reason). The
    /// error says what is wrong, for a "corrupt row" report.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[allow(clippy::too_many_arguments)] // one argument per stored column
    pub(crate) fn restore(
        id: ItemId,
        owner: Owner,
        version: u32,
        content: ReviewContent,
        hash: ContentHash,
        state: ReviewState,
        submitted_by: Option<UserId>,
        decided_by: Option<UserId>,
        reason: Option<String>,
        revision: u64,
    ) -> Result<Self, &'static str> {
        use ReviewState::{Approved, Draft, Pending, Rejected, Revoked};
        if content.hash() != hash {
            return Err("review item content does not match its hash");
        }
        if version == 0 {
            return Err("review item version 0");
        }
        if state != Draft && submitted_by.is_none() {
            return Err("submitted review item without a submitter");
        }
        match state {
            Draft | Pending if decided_by.is_some() || reason.is_some() => {
                return Err("undecided review item with a decision");
            }
            Approved if decided_by.is_none() || reason.is_some() => {
                return Err("approved review item without an approver");
            }
            Approved if decided_by == submitted_by => {
                return Err("review item approved by its submitter");
            }
            Rejected | Revoked
                if decided_by.is_none()
                    || reason.as_deref().is_none_or(|r| check_reason(r).is_err()) =>
            {
                return Err("rejected or revoked review item without a decider and reason");
            }
            _ => {}
        }
        Ok(Self {
            id,
            owner,
            version,
            content,
            hash,
            state,
            submitted_by,
            decided_by,
            reason,
            revision,
        })
    }

    fn transition(
        &self,
        actor: &Principal,
        action: ReviewAction,
        from: Option<ReviewState>,
        reason: Option<String>,
    ) -> Transition {
        Transition {
            item: self.id.clone(),
            owner: self.owner.clone(),
            version: self.version,
            action,
            from,
            to: self.state,
            actor: actor.user().clone(),
            reason,
            content_hash: self.hash,
        }
    }

    /// The content, for a store writing the item (readers go through
    /// [`ReviewItem::read`]).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn content_for_store(&self) -> &ReviewContent {
        &self.content
    }

    /// The item's id.
    pub fn id(&self) -> &ItemId {
        &self.id
    }

    /// The platform or tenant the item belongs to.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The version number (1 for the first).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The state.
    pub fn state(&self) -> ReviewState {
        self.state
    }

    /// The current content's hash.
    pub fn content_hash(&self) -> ContentHash {
        self.hash
    }

    /// Who submitted the current version.
    pub fn submitted_by(&self) -> Option<&UserId> {
        self.submitted_by.as_ref()
    }

    /// Who approved, rejected or revoked the current version.
    pub fn decided_by(&self) -> Option<&UserId> {
        self.decided_by.as_ref()
    }

    /// The reject or revoke reason.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Bumped by every transition; stores compare it.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The current content, for someone allowed to read it
    /// (`review.read` on the owner).
    pub fn read(&self, actor: &Principal) -> Result<&ReviewContent, Denied> {
        authorize(actor, Permission::ReviewRead, &self.owner)?;
        Ok(&self.content)
    }

    /// Checks that `actor` may read the item (`review.read`).
    pub fn check_read(&self, actor: &Principal) -> Result<Authorized, Denied> {
        authorize(actor, Permission::ReviewRead, &self.owner)
    }

    fn step(&mut self, to: ReviewState) {
        self.state = to;
        self.revision = self.revision.saturating_add(1);
    }

    /// Replaces the content. A draft stays a draft; any other state starts a
    /// new pending version submitted by `actor`.
    pub fn edit(
        &mut self,
        actor: &Principal,
        content: ReviewContent,
    ) -> Result<Transition, ReviewError> {
        authorize(actor, Permission::ReviewSubmit, &self.owner)?;
        let from = self.state;
        self.hash = content.hash();
        self.content = content;
        self.decided_by = None;
        self.reason = None;
        if from == ReviewState::Draft {
            self.step(ReviewState::Draft);
        } else {
            self.version = self.version.saturating_add(1);
            self.submitted_by = Some(actor.user().clone());
            self.step(ReviewState::Pending);
        }
        Ok(self.transition(actor, ReviewAction::Edit, Some(from), None))
    }

    /// Submits a draft for review.
    pub fn submit(&mut self, actor: &Principal) -> Result<Transition, ReviewError> {
        authorize(actor, Permission::ReviewSubmit, &self.owner)?;
        self.expect(ReviewAction::Submit, ReviewState::Draft)?;
        self.submitted_by = Some(actor.user().clone());
        self.step(ReviewState::Pending);
        Ok(self.transition(actor, ReviewAction::Submit, Some(ReviewState::Draft), None))
    }

    /// Approves the pending version; the submitter cannot.
    pub fn approve(&mut self, actor: &Principal) -> Result<Transition, ReviewError> {
        authorize(actor, Permission::ReviewApprove, &self.owner)?;
        self.expect(ReviewAction::Approve, ReviewState::Pending)?;
        if self.submitted_by.as_ref() == Some(actor.user()) {
            return Err(ReviewError::SelfApproval);
        }
        self.decided_by = Some(actor.user().clone());
        self.step(ReviewState::Approved);
        Ok(self.transition(
            actor,
            ReviewAction::Approve,
            Some(ReviewState::Pending),
            None,
        ))
    }

    /// Rejects the pending version with a reason (1 to 500 characters).
    pub fn reject(&mut self, actor: &Principal, reason: &str) -> Result<Transition, ReviewError> {
        authorize(actor, Permission::ReviewApprove, &self.owner)?;
        self.expect(ReviewAction::Reject, ReviewState::Pending)?;
        check_reason(reason)?;
        self.decided_by = Some(actor.user().clone());
        self.reason = Some(reason.to_owned());
        self.step(ReviewState::Rejected);
        Ok(self.transition(
            actor,
            ReviewAction::Reject,
            Some(ReviewState::Pending),
            Some(reason.to_owned()),
        ))
    }

    /// Revokes the approved version with a reason (operator only:
    /// `review.revoke` is platform-only).
    pub fn revoke(&mut self, actor: &Principal, reason: &str) -> Result<Transition, ReviewError> {
        authorize(actor, Permission::ReviewRevoke, &self.owner)?;
        self.expect(ReviewAction::Revoke, ReviewState::Approved)?;
        check_reason(reason)?;
        self.decided_by = Some(actor.user().clone());
        self.reason = Some(reason.to_owned());
        self.step(ReviewState::Revoked);
        Ok(self.transition(
            actor,
            ReviewAction::Revoke,
            Some(ReviewState::Approved),
            Some(reason.to_owned()),
        ))
    }

    fn expect(&self, action: ReviewAction, state: ReviewState) -> Result<(), ReviewError> {
        if self.state == state {
            Ok(())
        } else {
            Err(ReviewError::InvalidTransition {
                action,
                from: self.state,
            })
        }
    }

    /// The one question a campaign or SMS sender asks: is the content with
    /// hash `expected` approved for use? Returns the proof with the
    /// approved content.
    pub fn is_usable(&self, expected: &ContentHash) -> Result<Approved<'_>, NotUsable> {
        let approved = self.approved()?;
        if approved.content_hash() == *expected {
            Ok(approved)
        } else {
            Err(NotUsable::HashMismatch)
        }
    }

    /// The approved content, whatever its hash.
    pub fn approved(&self) -> Result<Approved<'_>, NotUsable> {
        if self.state == ReviewState::Approved {
            Ok(Approved { item: self })
        } else {
            Err(NotUsable::NotApproved(self.state))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::rbac::{BuiltinRole, DeniedReason, TenantCeiling};
    use crate::review::Variables;

    pub(crate) fn who(name: &str, home: Owner, b: BuiltinRole) -> Principal {
        let r = b.role(home.clone(), TenantCeiling::default()).unwrap();
        Principal::new(
            UserId::new(name).unwrap(),
            home,
            [&r],
            TenantCeiling::default(),
        )
    }
    fn acme() -> Owner {
        Owner::Tenant(TenantId::new("acme").unwrap())
    }
    fn tts(t: &str) -> ReviewContent {
        ReviewContent::tts(t, &Variables::default()).unwrap()
    }

    #[test]
    fn req_3_2_draft_pending_approved_then_usable_by_hash() {
        let sup = who("sup", acme(), BuiltinRole::Supervisor);
        let rev = who("rev", Owner::Platform, BuiltinRole::PlatformReviewer);
        let (mut item, t) = ReviewItem::create(
            &sup,
            ItemId::new("greet").unwrap(),
            acme(),
            tts("Hi {name}"),
        )
        .unwrap();
        assert_eq!((t.action, t.to), (ReviewAction::Create, ReviewState::Draft));
        let h = item.content_hash();
        assert_eq!(
            item.is_usable(&h).unwrap_err(),
            NotUsable::NotApproved(ReviewState::Draft)
        );
        item.submit(&sup).unwrap();
        assert!(item.is_usable(&h).is_err());
        let t = item.approve(&rev).unwrap();
        assert_eq!(t.actor.as_str(), "rev");
        assert_eq!(t.content_hash, h);
        let ok = item.is_usable(&h).unwrap();
        assert_eq!(ok.approved_by().unwrap().as_str(), "rev");
        assert_eq!(ok.content(), &tts("Hi {name}"));
        assert_eq!(
            item.is_usable(&tts("other").hash()).unwrap_err(),
            NotUsable::HashMismatch
        );
    }

    #[test]
    fn req_3_2_editing_approved_or_rejected_makes_a_new_pending_version() {
        let sup = who("sup", acme(), BuiltinRole::Supervisor);
        let rev = who("rev", Owner::Platform, BuiltinRole::PlatformReviewer);
        let (mut item, _) =
            ReviewItem::create(&sup, ItemId::new("x").unwrap(), acme(), tts("v1")).unwrap();
        item.submit(&sup).unwrap();
        item.approve(&rev).unwrap();
        let old = item.content_hash();
        let t = item.edit(&sup, tts("v2")).unwrap();
        assert_eq!((t.version, t.to), (2, ReviewState::Pending));
        assert!(
            item.is_usable(&old).is_err(),
            "a changed item goes back to review"
        );
        assert_eq!(
            item.reject(&rev, "  "),
            Err(ReviewError::BadReason { max: 500 })
        );
        let t = item.reject(&rev, "contains a phone number").unwrap();
        assert_eq!(t.reason.as_deref(), Some("contains a phone number"));
        let t = item.edit(&sup, tts("v3")).unwrap();
        assert_eq!((t.version, t.to), (3, ReviewState::Pending));
    }

    #[test]
    fn req_3_2_maker_checker_and_operator_revoke() {
        let root = who("root", Owner::Platform, BuiltinRole::PlatformAdmin);
        let rev = who("rev", Owner::Platform, BuiltinRole::PlatformReviewer);
        let (mut item, _) =
            ReviewItem::create(&root, ItemId::new("p").unwrap(), acme(), tts("hello")).unwrap();
        item.submit(&root).unwrap();
        let before = item.clone();
        assert_eq!(item.approve(&root), Err(ReviewError::SelfApproval));
        assert_eq!(item, before, "a refused action changes nothing");
        item.approve(&rev).unwrap();
        let admin = who("boss", acme(), BuiltinRole::TenantAdmin);
        let err = item.revoke(&admin, "no").unwrap_err();
        assert!(matches!(err, ReviewError::Denied(d) if d.reason == DeniedReason::PlatformOnly));
        let t = item.revoke(&rev, "complaint received").unwrap();
        assert_eq!(t.to, ReviewState::Revoked);
        assert!(item.approved().is_err());
        assert!(matches!(
            item.approve(&rev),
            Err(ReviewError::InvalidTransition { .. })
        ));
    }

    #[test]
    fn req_6_2_tenants_cannot_read_or_change_other_tenants_items() {
        let sup = who("sup", acme(), BuiltinRole::Supervisor);
        let other = who(
            "eve",
            Owner::Tenant(TenantId::new("globex").unwrap()),
            BuiltinRole::TenantAdmin,
        );
        let (mut item, _) =
            ReviewItem::create(&sup, ItemId::new("x").unwrap(), acme(), tts("v1")).unwrap();
        assert!(item.read(&other).is_err());
        assert!(item.read(&sup).is_ok());
        let err = item.edit(&other, tts("pwned")).unwrap_err();
        assert!(matches!(err, ReviewError::Denied(d) if d.reason == DeniedReason::CrossTenant));
        assert_eq!(item.content_hash(), tts("v1").hash());
    }
}
