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
//! | [`TollVerdict`] denial | `sip.call-denied` | denied, rule `toll:<rule>` |
//! | [`TollAlert`] (warn or critical) | `alert.raise` | success |
//! | toll account unlock | `toll.unlock` (custom) | success |
//!
//! Review events carry the actor, reason and content hash; they belong to
//! the item's owner tenant, so a tenant sees the review of its own content.

use okcc_core::ids::Owner;
use okcc_core::rbac::{Denied, RoleAction, RoleChange};
use okcc_core::review::{ReviewAction, Transition};
use okcc_core::toll::{TollAlert, TollVerdict};
use okcc_core::{DenyReason, RuleId, TenantId, UserId};

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

/// The SIP account as actor: its own id when the account name is a valid
/// id, else the `toll-guard` component (the name goes in the details).
fn toll_actor(tenant: &TenantId, account: &str) -> Result<Actor, EventError> {
    match UserId::new(account) {
        Ok(user) => Ok(Actor::sip_account(user, Some(tenant.clone()))),
        Err(_) => Ok(Actor::system(crate::Label::new("toll-guard")?)),
    }
}

/// The events for one toll-guard verdict on `account`'s call `call_id`:
/// a `sip.call-denied` event when it denied, then one `alert.raise` event
/// per alert (requirement 10.5). An allowed call with no alert gives none.
pub fn toll_verdict_events(
    tenant: &TenantId,
    account: &str,
    call_id: &str,
    v: &TollVerdict,
) -> Result<Vec<AuditEvent>, EventError> {
    let mut out = Vec::with_capacity(1 + v.alerts.len());
    if let Some(d) = v.decision.denial() {
        let mut e = AuditEvent::new(
            toll_actor(tenant, account)?,
            Action::CallDenied,
            Outcome::denied(d.rule.clone(), d.reason),
        )
        .with_tenant(Some(tenant.clone()))
        .with_detail("account", DetailValue::text(account)?)?
        .with_detail("call_id", DetailValue::text(call_id)?)?
        .with_detail("locked", v.locked.into())?;
        if let Some(rule) = v.rule {
            e = e.with_detail("toll_rule", DetailValue::text(rule.code())?)?;
        }
        out.push(e);
    }
    for a in &v.alerts {
        out.push(toll_alert_event(a)?);
    }
    Ok(out)
}

/// The `alert.raise` event for one toll alert (from a verdict or a sweep).
pub fn toll_alert_event(a: &TollAlert) -> Result<AuditEvent, EventError> {
    let level = match a.level {
        okcc_core::toll::AlertLevel::Warn => "warn",
        okcc_core::toll::AlertLevel::Critical => "critical",
    };
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut e = AuditEvent::new(
        toll_actor(&a.tenant, &a.account)?,
        Action::Alert,
        Outcome::Success,
    )
    .with_tenant(Some(a.tenant.clone()))
    .with_detail("source", DetailValue::text("toll")?)?
    .with_detail("level", DetailValue::text(level)?)?
    .with_detail("toll_rule", DetailValue::text(a.rule.code())?)?
    .with_detail("account", DetailValue::text(&a.account)?)?
    .with_detail("value", clamp(a.value).into())?
    .with_detail("limit", clamp(a.limit).into())?;
    if let Some(id) = &a.call_id {
        e = e.with_detail("call_id", DetailValue::text(id)?)?;
    }
    Ok(e)
}

/// The `toll.unlock` event: `admin` unlocked `account`'s outbound calling.
pub fn toll_unlock_event(
    admin: &UserId,
    tenant: &TenantId,
    account: &str,
) -> Result<AuditEvent, EventError> {
    AuditEvent::new(
        Actor::user(admin.clone(), None),
        Action::custom("toll.unlock")?,
        Outcome::Success,
    )
    .with_tenant(Some(tenant.clone()))
    .with_detail("account", DetailValue::text(account)?)
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

    #[test]
    fn req_9_1_toll_denials_and_alerts_become_audit_events() {
        use okcc_core::toll::{CallAttempt, Threshold, TollConfig, TollGuard, TollPolicy};
        use std::time::Instant;
        let mut p = TollPolicy::default();
        p.account_limits.calls_per_minute = Some(Threshold::new(Some(0), 1));
        let mut g = TollGuard::new(TollConfig::default(), p.validate().unwrap());
        let t = TenantId::new("acme").unwrap();
        let local = okcc_core::toll::LocalTime::new(4, 600);
        let now = Instant::now();
        let v = g.check_call(&CallAttempt::new(&t, "1001", "c1", "0201"), now, local);
        let ev = toll_verdict_events(&t, "1001", "c1", &v).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].action, Action::Alert);
        let v = g.check_call(&CallAttempt::new(&t, "1001", "c2", "0202"), now, local);
        let ev = toll_verdict_events(&t, "1001", "c2", &v).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].action, Action::CallDenied);
        assert_eq!(
            ev[0].outcome.rule().unwrap().as_str(),
            "toll:account-calls-per-minute"
        );
        assert_eq!(ev[0].tenant, Some(t.clone()));
        assert_eq!(ev[0].detail.get("locked"), Some(&true.into()));
        assert_eq!(ev[1].action, Action::Alert);
        assert_eq!(
            ev[1].detail.get("level"),
            Some(&DetailValue::text("critical").unwrap())
        );
        let odd = toll_verdict_events(&t, "+1 555", "c3", &v).unwrap();
        assert_eq!(
            odd[0].detail.get("account"),
            Some(&DetailValue::text("+1 555").unwrap())
        );
        let admin = UserId::new("root").unwrap();
        let u = toll_unlock_event(&admin, &t, "1001").unwrap();
        assert_eq!(u.action.code(), "toll.unlock");
    }
}
