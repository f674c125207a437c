//! CrmService: permissions, recycle bin, masking and reveal grants, with
//! every operation audited.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use okcc_core::rbac::{Permission, PermissionSet, Principal, Role, RoleId, TenantCeiling};
use okcc_core::store::Page;
use okcc_core::{Owner, TenantId, UserId};
use okcc_crm::audit::{CrmAction, CrmOutcome, MemoryCrmAudit};
use okcc_crm::customer::{CustomerFields, Phone, PhoneKind};
use okcc_crm::reveal::{RevealPolicy, RevealState};
use okcc_crm::service::{CrmConfig, SearchInput};
use okcc_crm::store::memory::MemoryCustomerStore;
use okcc_crm::{CrmError, CrmService};

const NUMBER: &str = "13812345678";

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn t(mins: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_006_400 + mins * 60)
}

fn principal(user: &str, tenant: &TenantId, perms: &[Permission]) -> Principal {
    let owner = Owner::Tenant(tenant.clone());
    let mut set = PermissionSet::empty();
    for p in perms {
        set.insert(*p);
    }
    let role = Role::new(RoleId::new("r").unwrap(), "test role", owner.clone(), set).unwrap();
    Principal::new(
        UserId::new(user).unwrap(),
        owner,
        [&role],
        TenantCeiling::default(),
    )
}

fn agent() -> Principal {
    use Permission::*;
    principal(
        "agent",
        &acme(),
        &[CrmRead, CrmWrite, CrmDelete, NumberRevealRequest],
    )
}

fn supervisor() -> Principal {
    use Permission::*;
    principal(
        "boss",
        &acme(),
        &[
            CrmRead,
            CrmWrite,
            CrmDelete,
            CrmRestore,
            NumberShowFull,
            NumberRevealApprove,
        ],
    )
}

fn admin() -> Principal {
    use Permission::*;
    principal("admin", &acme(), &[CrmRead, CrmRestore, CrmPurge])
}

fn service(policy: RevealPolicy) -> (CrmService, Arc<MemoryCrmAudit>) {
    let audit = Arc::new(MemoryCrmAudit::default());
    let mut config = CrmConfig::default();
    config.reveal = policy;
    let svc = CrmService::new(Arc::new(MemoryCustomerStore::new()), audit.clone(), config);
    (svc, audit)
}

fn zhang() -> CustomerFields {
    let mut f = CustomerFields::named(&format!("Zhang {NUMBER}"));
    f.phones
        .push(Phone::parse(PhoneKind::Mobile, NUMBER).unwrap());
    f.notes = format!("prefers {NUMBER} after 6pm");
    f.tags.insert("vip".into());
    f
}

fn no_number_in_audit(audit: &MemoryCrmAudit) {
    let json = serde_json::to_string(&audit.events()).unwrap();
    assert!(!json.contains(NUMBER), "number leaked into audit: {json}");
}

#[tokio::test]
async fn req_7_delete_restore_purge_each_need_their_permission_and_are_audited() {
    let (svc, audit) = service(RevealPolicy::default());
    let a = acme();
    let c = svc.create(&agent(), &a, zhang(), t(0)).await.unwrap();
    svc.delete(&agent(), &a, c.id, "duplicate of 17", t(1))
        .await
        .unwrap();
    // The agent may delete but neither restore nor purge.
    assert!(matches!(
        svc.restore(&agent(), &a, c.id, t(2)).await,
        Err(CrmError::Denied(_))
    ));
    // Restore does not imply purge.
    assert!(matches!(
        svc.purge(&supervisor(), &a, c.id, t(2)).await,
        Err(CrmError::Denied(_))
    ));
    let bin = svc
        .list_deleted(&admin(), &a, Page::first(10), t(3))
        .await
        .unwrap();
    assert_eq!(bin.items.len(), 1);
    assert_eq!(bin.items[0].deletion.by.as_str(), "agent");
    assert_eq!(bin.items[0].deletion.reason.as_str(), "duplicate of 17");
    let restored = svc.restore(&admin(), &a, c.id, t(4)).await.unwrap();
    assert_eq!(restored.id, c.id);
    svc.delete(&supervisor(), &a, c.id, "left", t(5))
        .await
        .unwrap();
    assert_eq!(svc.purge_expired(&admin(), &a, t(6)).await.unwrap(), 0);
    assert_eq!(
        svc.purge_expired(&admin(), &a, t(5 + 30 * 24 * 60 + 1))
            .await
            .unwrap(),
        1
    );

    let events = audit.events();
    let actions: Vec<(CrmAction, bool)> = events
        .iter()
        .map(|e| (e.action, e.outcome == CrmOutcome::Success))
        .collect();
    assert_eq!(
        actions,
        vec![
            (CrmAction::Create, true),
            (CrmAction::Delete, true),
            (CrmAction::Restore, false),
            (CrmAction::Purge, false),
            (CrmAction::ListDeleted, true),
            (CrmAction::Restore, true),
            (CrmAction::Delete, true),
            (CrmAction::Purge, true),
            (CrmAction::Purge, true),
        ]
    );
    assert_eq!(events[2].outcome, CrmOutcome::Denied("missing-permission"));
    no_number_in_audit(&audit);
}

#[tokio::test]
async fn req_7_restore_conflict_when_number_reused() {
    let (svc, _) = service(RevealPolicy::default());
    let a = acme();
    let old = svc.create(&agent(), &a, zhang(), t(0)).await.unwrap();
    svc.delete(&agent(), &a, old.id, "moved", t(1))
        .await
        .unwrap();
    svc.create(&agent(), &a, zhang(), t(2)).await.unwrap();
    let err = svc.restore(&admin(), &a, old.id, t(3)).await.unwrap_err();
    assert!(
        matches!(err, CrmError::Store(okcc_core::StoreError::Conflict { .. })),
        "{err:?}"
    );
    assert!(!err.to_string().contains("1381"));
}

#[tokio::test]
async fn req_7_stale_update_is_refused() {
    let (svc, _) = service(RevealPolicy::default());
    let a = acme();
    let c = svc.create(&agent(), &a, zhang(), t(0)).await.unwrap();
    svc.update(
        &agent(),
        &a,
        c.id,
        c.version,
        CustomerFields::named("Zhang San"),
        t(1),
    )
    .await
    .unwrap();
    let stale = svc
        .update(
            &supervisor(),
            &a,
            c.id,
            c.version,
            CustomerFields::named("Li"),
            t(2),
        )
        .await;
    assert!(matches!(
        stale,
        Err(CrmError::Store(okcc_core::StoreError::Conflict { .. }))
    ));
    let invalid = svc
        .update(
            &agent(),
            &a,
            c.id,
            c.version + 1,
            CustomerFields::named(""),
            t(3),
        )
        .await;
    assert!(matches!(invalid, Err(CrmError::Invalid { .. })));
}

#[tokio::test]
async fn req_8_2_views_and_search_echo_are_masked_without_show_full() {
    let (svc, audit) = service(RevealPolicy::default());
    let a = acme();
    let c = svc.create(&agent(), &a, zhang(), t(0)).await.unwrap();
    assert_eq!(c.phones[0].number, "138****5678");
    assert_eq!(c.name, "Zhang ***********");
    let full = svc.get(&supervisor(), &a, c.id, t(1)).await.unwrap();
    assert_eq!(full.phones[0].number, NUMBER);
    let input = SearchInput::Number("+86 138 1234 5678".into());
    let found = svc
        .search(&agent(), &a, &input, Page::first(10), t(2))
        .await
        .unwrap();
    // National and international forms are different keys (no default region).
    assert!(found.page.items.is_empty());
    let input = SearchInput::Number("138-1234-5678".into());
    let found = svc
        .search(&agent(), &a, &input, Page::first(10), t(2))
        .await
        .unwrap();
    assert_eq!(found.echo, "138-****-5678");
    assert_eq!(found.page.items.len(), 1);
    assert_eq!(found.page.items[0].notes, "prefers *********** after 6pm");
    let input = SearchInput::Name(format!("Zhang {NUMBER}"));
    let found = svc
        .search(&agent(), &a, &input, Page::first(10), t(2))
        .await
        .unwrap();
    assert_eq!(found.echo, "Zhang ***********");
    let input = SearchInput::Number("138x12345678".into());
    let bad = svc
        .search(&agent(), &a, &input, Page::first(10), t(3))
        .await
        .unwrap_err();
    assert!(!bad.to_string().contains("1234"), "{bad}");
    no_number_in_audit(&audit);
}

#[tokio::test]
async fn req_8_2_reveal_grant_is_for_that_user_and_record_for_15_minutes() {
    let (svc, audit) = service(RevealPolicy::default());
    let a = acme();
    let c = svc.create(&agent(), &a, zhang(), t(0)).await.unwrap();
    let other = svc
        .create(&agent(), &a, CustomerFields::named("Li"), t(0))
        .await
        .unwrap();
    let req = svc
        .request_reveal(&agent(), &a, c.id, "customer asked for a callback", t(1))
        .await
        .unwrap();
    let before = svc.get(&agent(), &a, c.id, t(1)).await.unwrap();
    assert_eq!(before.phones[0].number, "138****5678");
    // An agent cannot approve (least of all their own request).
    assert!(matches!(
        svc.decide_reveal(&agent(), &a, req.id, true, t(2)).await,
        Err(CrmError::Denied(_))
    ));
    assert_eq!(
        svc.pending_reveals(&supervisor(), &a, t(2))
            .await
            .unwrap()
            .len(),
        1
    );
    svc.decide_reveal(&supervisor(), &a, req.id, true, t(2))
        .await
        .unwrap();
    let during = svc.get(&agent(), &a, c.id, t(3)).await.unwrap();
    assert_eq!(during.phones[0].number, NUMBER);
    assert!(svc.get(&agent(), &a, other.id, t(3)).await.unwrap().masked);
    let colleague = principal("agent2", &a, &[Permission::CrmRead]);
    assert!(svc.get(&colleague, &a, c.id, t(3)).await.unwrap().masked);
    // 15 minutes after approval the grant is gone.
    assert!(svc.get(&agent(), &a, c.id, t(17)).await.unwrap().masked);

    let events = audit.events();
    let reveals: Vec<_> = events
        .iter()
        .filter(|e| e.action == CrmAction::RevealNumber)
        .collect();
    assert_eq!(reveals.len(), 1);
    assert_eq!(reveals[0].actor.as_str(), "agent");
    assert_eq!(reveals[0].reveal, Some(req.id));
    let decided = events
        .iter()
        .filter(|e| e.action == CrmAction::RevealDecide)
        .count();
    assert_eq!(decided, 2, "the denied attempt and the approval");
    let requested = events
        .iter()
        .filter(|e| e.action == CrmAction::RevealRequest)
        .count();
    assert_eq!(requested, 1);
    no_number_in_audit(&audit);
}

#[tokio::test]
async fn req_8_2_auto_approve_policy() {
    let mut policy = RevealPolicy::default();
    policy.auto_approve_per_day = 1;
    let (svc, _) = service(policy);
    let a = acme();
    let c = svc.create(&agent(), &a, zhang(), t(0)).await.unwrap();
    svc.request_reveal(&agent(), &a, c.id, "callback", t(1))
        .await
        .unwrap();
    let view = svc.get(&agent(), &a, c.id, t(2)).await.unwrap();
    assert_eq!(view.phones[0].number, NUMBER);
    let second = svc
        .request_reveal(&agent(), &a, c.id, "again", t(3))
        .await
        .unwrap();
    assert_eq!(second.state, RevealState::Pending);
}

#[tokio::test]
async fn req_6_no_crm_operation_crosses_tenants() {
    let (svc, audit) = service(RevealPolicy::default());
    let a = acme();
    let c = svc.create(&agent(), &a, zhang(), t(0)).await.unwrap();
    let globex = TenantId::new("globex").unwrap();
    let everything: Vec<Permission> = PermissionSet::tenant_grantable().iter().collect();
    let outsider = principal("spy", &globex, &everything);
    assert!(matches!(
        svc.get(&outsider, &a, c.id, t(1)).await,
        Err(CrmError::Denied(_))
    ));
    // Acting in their own tenant on a foreign id finds nothing.
    assert!(svc.get(&outsider, &globex, c.id, t(1)).await.is_err());
    assert!(
        svc.delete(&outsider, &globex, c.id, "x", t(1))
            .await
            .is_err()
    );
    assert!(svc.get(&agent(), &a, c.id, t(2)).await.is_ok());
    assert_eq!(
        audit.events()[1].outcome,
        CrmOutcome::Denied("cross-tenant")
    );
}

#[tokio::test]
async fn req_5_crm_events_reach_the_hash_chained_audit_store_masked() {
    use okcc_audit::{Action, AuditQuery, AuditSink, AuditStore, MemoryAuditStore, SinkConfig};
    use okcc_crm::audit::SinkCrmAudit;

    let store = Arc::new(MemoryAuditStore::new());
    let (sink, _writer) = AuditSink::spawn(store.clone(), SinkConfig::default());
    let audit = Arc::new(SinkCrmAudit::new(sink.clone()));
    let svc = CrmService::new(
        Arc::new(MemoryCustomerStore::new()),
        audit,
        CrmConfig::default(),
    );
    let a = acme();
    let c = svc.create(&agent(), &a, zhang(), t(0)).await.unwrap();
    let req = svc
        .request_reveal(&agent(), &a, c.id, &format!("call {NUMBER}"), t(1))
        .await
        .unwrap();
    svc.decide_reveal(&supervisor(), &a, req.id, true, t(2))
        .await
        .unwrap();
    svc.get(&agent(), &a, c.id, t(3)).await.unwrap();
    assert!(svc.purge_all(&agent(), &a, t(4)).await.is_err());
    sink.flush().await.unwrap();
    let page = store
        .query(&AuditQuery::all(), Page::first(100))
        .await
        .unwrap();
    let actions: Vec<String> = page
        .items
        .iter()
        .map(|e| e.event.action.code().to_owned())
        .collect();
    assert_eq!(
        actions,
        vec![
            "crm.create",
            "number.reveal-request",
            "number.reveal-request",
            "number.reveal",
            "crm.purge"
        ]
    );
    assert_eq!(page.items[3].event.action, Action::NumberReveal);
    assert_eq!(page.items[4].event.outcome.code(), "denied");
    let json = serde_json::to_string(&page.items).unwrap();
    assert!(!json.contains(NUMBER), "{json}");
    assert!(store.verify(&Default::default()).await.unwrap().is_intact());
}
