//! Audit events for the records okcc-core returns: authorization denials
//! ([`Denied`]), role changes ([`RoleChange`]) and review transitions
//! ([`Transition`]). okcc-core cannot depend on this crate, so it hands
//! back these records and the caller appends the events built here.
//!
//! | record | action | outcome |
//! |---|---|---|
//! | [`Denied`] | `access.denied` | denied, rule `rbac:<permission>`, reason `forbidden` |
//! | [`RoleChange`] assign / unassign | `rbac.user-role-change` | success |
//! | [`RoleChange`] create / update / delete / ceiling | `rbac.role-change` | success |
//! | [`Transition`] submit / approve / reject | `review.submit` / `review.approve` / `review.reject` |  success |
//! | [`Transition`] create / edit / revoke | `review.create` / `review.edit` / `review.revoke` (custom) | success |
//!
//! Review events carry the actor, reason and content hash; they belong to
//! the item's owner tenant, so a tenant sees the review of its own content.

use okcc_core::ids::Owner;
use okcc_core::rbac::{Denied, RoleAction, RoleChange};
use okcc_core::review::{ReviewAction, Transition};
use okcc_core::{DenyReason, RuleId};

use crate::{Action, Actor, AuditEvent, DetailValue, EventError, Outcome, Target};

fn owner_text(o: &Owner) -> Result<DetailValue, EventError> {
    DetailValue::text(&o.to_string())
}

/// The event for a refused permission check.
pub fn denied_event(d: &Denied) -> Result<AuditEvent, EventError> {
    let actor = Actor::user(d.user.clone(), d.home.tenant().cloned());
    let rule = RuleId::new(format!("rbac:{}", d.permission.name()));
    AuditEvent::new(
        actor,
        Action::AccessDenied,
        Outcome::denied(rule, DenyReason::Forbidden),
    )
    .with_detail("permission", DetailValue::text(d.permission.name())?)?
    .with_detail("reason", DetailValue::text(d.reason.code())?)?
    .with_detail("owner", owner_text(&d.owner)?)
}

/// The event for a role change.
pub fn role_change_event(c: &RoleChange) -> Result<AuditEvent, EventError> {
    let actor = Actor::user(c.actor.clone(), None);
    let action = match c.action {
        RoleAction::Assign | RoleAction::Unassign => Action::UserRoleChange,
        _ => Action::RoleChange,
    };
    let mut e = AuditEvent::new(actor, action, Outcome::Success)
        .with_tenant(c.scope.tenant().cloned())
        .with_detail("change", DetailValue::text(c.action.code())?)?
        .with_detail("scope", owner_text(&c.scope)?)?;
    if let Some(role) = &c.role {
        e = e.with_target(Target::new("role", role.as_str())?);
    }
    if let Some(user) = &c.user {
        e = e.with_detail("user", DetailValue::text(user.as_str())?)?;
    }
    if let Some(before) = c.before {
        e = e.with_detail("before", DetailValue::text(&before.to_string())?)?;
    }
    if let Some(after) = c.after {
        e = e.with_detail("after", DetailValue::text(&after.to_string())?)?;
    }
    Ok(e)
}

/// The event for a review transition: actor, reason and content hash.
pub fn review_event(t: &Transition) -> Result<AuditEvent, EventError> {
    let actor = Actor::user(t.actor.clone(), None);
    let action = match t.action {
        ReviewAction::Submit => Action::ReviewSubmit,
        ReviewAction::Approve => Action::ReviewApprove,
        ReviewAction::Reject => Action::ReviewReject,
        other => Action::custom(other.code())?,
    };
    let mut e = AuditEvent::new(actor, action, Outcome::Success)
        .with_tenant(t.owner.tenant().cloned())
        .with_target(Target::new("review-item", t.item.as_str())?)
        .with_detail("hash", DetailValue::text(&t.content_hash.to_string())?)?
        .with_detail("version", t.version.into())?
        .with_detail(
            "to",
            DetailValue::text(&format!("{:?}", t.to).to_lowercase())?,
        )?;
    if let Some(from) = t.from {
        e = e.with_detail(
            "from",
            DetailValue::text(&format!("{from:?}").to_lowercase())?,
        )?;
    }
    if let Some(reason) = &t.reason {
        e = e.with_detail("reason", DetailValue::text(reason)?)?;
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use okcc_core::ids::{TenantId, UserId};
    use okcc_core::rbac::{
        BuiltinRole, MemoryRoleStore, Permission, Principal, RoleAdmin, RoleStore, TenantCeiling,
        authorize,
    };
    use okcc_core::review::{ItemId, ReviewContent, ReviewItem, Variables};
    use std::sync::Arc;

    fn acme() -> Owner {
        Owner::Tenant(TenantId::new("acme").unwrap())
    }
    fn who(name: &str, home: Owner, b: BuiltinRole) -> Principal {
        let r = b.role(home.clone(), TenantCeiling::default()).unwrap();
        Principal::new(
            UserId::new(name).unwrap(),
            home,
            [&r],
            TenantCeiling::default(),
        )
    }

    #[test]
    fn req_6_2_every_denial_yields_an_audit_event() {
        let agent = who("al", acme(), BuiltinRole::Agent);
        let globex = Owner::Tenant(TenantId::new("globex").unwrap());
        for (p, owner) in [
            (Permission::NumberShowFull, acme()),
            (Permission::CrmRead, globex),
            (Permission::TenantManage, Owner::Platform),
        ] {
            let d = authorize(&agent, p, &owner).unwrap_err();
            let e = denied_event(&d).unwrap();
            assert_eq!(e.action, Action::AccessDenied);
            assert_eq!(e.outcome.code(), "denied");
            assert_eq!(
                e.outcome.rule().unwrap().as_str(),
                format!("rbac:{}", p.name())
            );
            assert_eq!(e.tenant, Some(TenantId::new("acme").unwrap()));
            assert_eq!(
                e.detail.get("reason"),
                Some(&DetailValue::text(d.reason.code()).unwrap())
            );
        }
    }

    #[tokio::test]
    async fn req_6_2_every_role_change_yields_an_audit_event() {
        let store = Arc::new(MemoryRoleStore::new());
        let c = TenantCeiling::default();
        store
            .insert_role(BuiltinRole::TenantAdmin.role(acme(), c).unwrap())
            .await
            .unwrap();
        let admin = RoleAdmin::new(store);
        let boss = who("boss", acme(), BuiltinRole::TenantAdmin);
        let change = admin
            .copy_builtin(&boss, BuiltinRole::Agent, acme())
            .await
            .unwrap();
        let e = role_change_event(&change).unwrap();
        assert_eq!(e.action, Action::RoleChange);
        assert_eq!(e.target.as_ref().unwrap().id.as_str(), "agent");
        assert_eq!(e.tenant, Some(TenantId::new("acme").unwrap()));
        let id = okcc_core::rbac::RoleId::new("agent").unwrap();
        let change = admin
            .assign(&boss, &acme(), &UserId::new("al").unwrap(), &id)
            .await
            .unwrap();
        let e = role_change_event(&change).unwrap();
        assert_eq!(e.action, Action::UserRoleChange);
        assert_eq!(
            e.detail.get("user"),
            Some(&DetailValue::text("al").unwrap())
        );
    }

    #[test]
    fn req_3_2_every_review_transition_yields_an_audit_event() {
        let sup = who("sue", acme(), BuiltinRole::Supervisor);
        let rev = who("rex", Owner::Platform, BuiltinRole::PlatformReviewer);
        let root = who("root", Owner::Platform, BuiltinRole::PlatformAdmin);
        let c = |t: &str| ReviewContent::tts(t, &Variables::default()).unwrap();
        let (mut item, t0) =
            ReviewItem::create(&sup, ItemId::new("greet").unwrap(), acme(), c("Hi {name}"))
                .unwrap();
        let mut transitions = vec![t0];
        transitions.push(item.submit(&sup).unwrap());
        transitions.push(item.reject(&rev, "too loud").unwrap());
        transitions.push(item.edit(&sup, c("Hello {name}")).unwrap());
        transitions.push(item.approve(&rev).unwrap());
        transitions.push(item.revoke(&root, "customer complaint").unwrap());
        let codes: Vec<String> = transitions
            .iter()
            .map(|t| {
                let e = review_event(t).unwrap();
                assert_eq!(e.actor.name(), Some(t.actor.as_str()));
                assert_eq!(e.tenant, Some(TenantId::new("acme").unwrap()));
                assert_eq!(
                    e.detail.get("hash"),
                    Some(&DetailValue::text(&t.content_hash.to_string()).unwrap())
                );
                if let Some(r) = &t.reason {
                    assert_eq!(e.detail.get("reason"), Some(&DetailValue::text(r).unwrap()));
                }
                e.action.code().to_owned()
            })
            .collect();
        assert_eq!(
            codes,
            [
                "review.create",
                "review.submit",
                "review.reject",
                "review.edit",
                "review.approve",
                "review.revoke"
            ]
        );
    }
}
