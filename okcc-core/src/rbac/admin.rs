//! Changing roles: [`RoleAdmin`] checks every change (permission, scope,
//! ceiling, no escalation), writes it through a [`RoleStore`] and returns a
//! [`RoleChange`] record for the audit log.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::authorize::{Denied, Principal, authorize};
use super::permission::{Permission, PermissionSet};
use super::role::{BuiltinRole, BuiltinScopeError, Role, RoleError, RoleId, TenantCeiling};
use super::store::RoleStore;
use crate::ids::{Owner, UserId};
use crate::store::StoreError;

/// What a [`RoleChange`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RoleAction {
    /// A role was assigned to a user.
    Assign,
    /// A role was created (or copied).
    Create,
    /// A role was deleted.
    Delete,
    /// The tenant-role ceiling was replaced.
    SetCeiling,
    /// A role was taken from a user.
    Unassign,
    /// A role's permissions were changed.
    Update,
}

impl RoleAction {
    /// A stable dotted code for audit events: `role.create`, …
    pub fn code(self) -> &'static str {
        match self {
            Self::Assign => "role.assign",
            Self::Create => "role.create",
            Self::Delete => "role.delete",
            Self::SetCeiling => "role.set-ceiling",
            Self::Unassign => "role.unassign",
            Self::Update => "role.update",
        }
    }
}

impl fmt::Display for RoleAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One role change that happened, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RoleChange {
    /// Who made the change.
    pub actor: UserId,
    /// What was done.
    pub action: RoleAction,
    /// The scope of the role (the platform for the ceiling).
    pub scope: Owner,
    /// The role concerned (`None` for the ceiling).
    pub role: Option<RoleId>,
    /// The user concerned (assignments only).
    pub user: Option<UserId>,
    /// Permissions before the change (role or ceiling), if any.
    pub before: Option<PermissionSet>,
    /// Permissions after the change (role or ceiling), if any.
    pub after: Option<PermissionSet>,
}

/// Why a role change was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoleAdminError {
    /// The actor may not make this change (audit it).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The role is not acceptable (ceiling, platform-only, escalation, name).
    #[error(transparent)]
    Invalid(#[from] RoleError),
    /// A built-in role was asked for the wrong kind of scope.
    #[error(transparent)]
    BuiltinScope(#[from] BuiltinScopeError),
    /// The store failed (or the role is not there: [`StoreError::NotFound`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RoleAdminError {
    /// The denial, if the actor lacked the right to make the change.
    pub fn denied(&self) -> Option<&Denied> {
        match self {
            Self::Denied(d) => Some(d),
            _ => None,
        }
    }
}

/// Makes role changes on behalf of a principal.
///
/// Rules: changing roles of a scope needs `role.manage` on that scope
/// (so tenant admins only change their own tenant's roles); a tenant role
/// must fit under the ceiling; nobody grants a permission they do not hold
/// themselves (no escalation); the ceiling needs `tenant.manage` on the
/// platform.
#[derive(Clone, Debug)]
pub struct RoleAdmin {
    store: Arc<dyn RoleStore>,
}

impl RoleAdmin {
    /// Role administration over `store`.
    pub fn new(store: Arc<dyn RoleStore>) -> Self {
        Self { store }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn RoleStore> {
        &self.store
    }

    /// The principal for `user` of `home`, from its assigned roles and the
    /// current ceiling.
    pub async fn principal(&self, user: UserId, home: Owner) -> Result<Principal, StoreError> {
        let roles = self.store.roles_of(&home, &user).await?;
        let ceiling = self.store.ceiling().await?;
        Ok(Principal::new(user, home, &roles, ceiling))
    }

    async fn check_grant(
        &self,
        actor: &Principal,
        scope: &Owner,
        permissions: PermissionSet,
    ) -> Result<(), RoleAdminError> {
        authorize(actor, Permission::RoleManage, scope)?;
        if scope.tenant().is_some() {
            self.store.ceiling().await?.check(permissions)?;
        }
        let lacking = permissions.difference(actor.permissions());
        if !lacking.is_empty() {
            return Err(RoleError::Escalation {
                permissions: lacking,
            }
            .into());
        }
        Ok(())
    }

    /// Creates `role` (revision 0) in its scope.
    pub async fn create_role(
        &self,
        actor: &Principal,
        mut role: Role,
    ) -> Result<RoleChange, RoleAdminError> {
        self.check_grant(actor, &role.scope, role.permissions)
            .await?;
        role.revision = 0;
        let change = RoleChange {
            actor: actor.user().clone(),
            action: RoleAction::Create,
            scope: role.scope.clone(),
            role: Some(role.id.clone()),
            user: None,
            before: None,
            after: Some(role.permissions),
        };
        self.store.insert_role(role).await?;
        Ok(change)
    }

    /// Creates a copy of a built-in role in `scope` (clipped to the
    /// ceiling for tenants), under the built-in's id; edit it afterwards
    /// with [`RoleAdmin::update_role`].
    pub async fn copy_builtin(
        &self,
        actor: &Principal,
        builtin: BuiltinRole,
        scope: Owner,
    ) -> Result<RoleChange, RoleAdminError> {
        let ceiling = self.store.ceiling().await?;
        let role = builtin.role(scope, ceiling)?;
        self.create_role(actor, role).await
    }

    /// Replaces the permissions of role `id` of `scope`.
    pub async fn update_role(
        &self,
        actor: &Principal,
        scope: &Owner,
        id: &RoleId,
        permissions: PermissionSet,
    ) -> Result<RoleChange, RoleAdminError> {
        authorize(actor, Permission::RoleManage, scope)?;
        let mut role = self
            .store
            .role(scope, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        // A role can only be changed by someone who could have granted all
        // of it: the old permissions as well as the new ones.
        self.check_grant(actor, scope, permissions.union(role.permissions))
            .await?;
        let before = role.permissions;
        let expected = role.revision;
        role.permissions = permissions;
        role.revision = expected.saturating_add(1);
        self.store.replace_role(role, expected).await?;
        Ok(RoleChange {
            actor: actor.user().clone(),
            action: RoleAction::Update,
            scope: scope.clone(),
            role: Some(id.clone()),
            user: None,
            before: Some(before),
            after: Some(permissions),
        })
    }

    /// Deletes role `id` of `scope` and its assignments.
    pub async fn delete_role(
        &self,
        actor: &Principal,
        scope: &Owner,
        id: &RoleId,
    ) -> Result<RoleChange, RoleAdminError> {
        authorize(actor, Permission::RoleManage, scope)?;
        let role = self
            .store
            .role(scope, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.check_grant(actor, scope, role.permissions).await?;
        self.store.delete_role(scope, id).await?;
        Ok(RoleChange {
            actor: actor.user().clone(),
            action: RoleAction::Delete,
            scope: scope.clone(),
            role: Some(id.clone()),
            user: None,
            before: Some(role.permissions),
            after: None,
        })
    }

    /// Assigns role `id` of `home` to `user` of `home`.
    pub async fn assign(
        &self,
        actor: &Principal,
        home: &Owner,
        user: &UserId,
        id: &RoleId,
    ) -> Result<RoleChange, RoleAdminError> {
        self.assignment(actor, home, user, id, RoleAction::Assign)
            .await
    }

    /// Takes role `id` from `user` of `home`.
    pub async fn unassign(
        &self,
        actor: &Principal,
        home: &Owner,
        user: &UserId,
        id: &RoleId,
    ) -> Result<RoleChange, RoleAdminError> {
        self.assignment(actor, home, user, id, RoleAction::Unassign)
            .await
    }

    async fn assignment(
        &self,
        actor: &Principal,
        home: &Owner,
        user: &UserId,
        id: &RoleId,
        action: RoleAction,
    ) -> Result<RoleChange, RoleAdminError> {
        authorize(actor, Permission::RoleManage, home)?;
        let role = self
            .store
            .role(home, id)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.check_grant(actor, home, role.permissions).await?;
        if action == RoleAction::Assign {
            self.store.assign(home, user, id).await?;
        } else {
            self.store.unassign(home, user, id).await?;
        }
        Ok(RoleChange {
            actor: actor.user().clone(),
            action,
            scope: home.clone(),
            role: Some(id.clone()),
            user: Some(user.clone()),
            before: None,
            after: Some(role.permissions),
        })
    }

    /// Replaces the ceiling of tenant roles (needs `tenant.manage`).
    pub async fn set_ceiling(
        &self,
        actor: &Principal,
        ceiling: TenantCeiling,
    ) -> Result<RoleChange, RoleAdminError> {
        authorize(actor, Permission::TenantManage, &Owner::Platform)?;
        let before = self.store.ceiling().await?;
        self.store.set_ceiling(ceiling).await?;
        Ok(RoleChange {
            actor: actor.user().clone(),
            action: RoleAction::SetCeiling,
            scope: Owner::Platform,
            role: None,
            user: None,
            before: Some(before.permissions()),
            after: Some(ceiling.permissions()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::rbac::DeniedReason;
    use crate::test_util::block_on;

    fn tenant(s: &str) -> Owner {
        Owner::Tenant(TenantId::new(s).unwrap())
    }
    fn uid(s: &str) -> UserId {
        UserId::new(s).unwrap()
    }

    /// A store with a platform admin `root` and a tenant admin `boss` of
    /// `acme`.
    fn setup() -> (RoleAdmin, Principal, Principal) {
        block_on(async {
            let store = Arc::new(crate::rbac::MemoryRoleStore::new());
            let c = TenantCeiling::default();
            store
                .insert_role(BuiltinRole::PlatformAdmin.role(Owner::Platform, c).unwrap())
                .await
                .unwrap();
            store
                .insert_role(BuiltinRole::TenantAdmin.role(tenant("acme"), c).unwrap())
                .await
                .unwrap();
            let pa = RoleId::new("platform-admin").unwrap();
            let ta = RoleId::new("tenant-admin").unwrap();
            store
                .assign(&Owner::Platform, &uid("root"), &pa)
                .await
                .unwrap();
            store
                .assign(&tenant("acme"), &uid("boss"), &ta)
                .await
                .unwrap();
            let admin = RoleAdmin::new(store);
            let root = admin.principal(uid("root"), Owner::Platform).await.unwrap();
            let boss = admin.principal(uid("boss"), tenant("acme")).await.unwrap();
            (admin, root, boss)
        })
    }

    #[test]
    fn req_6_2_tenant_admin_defines_roles_in_own_tenant_only() {
        let (admin, _root, boss) = setup();
        block_on(async {
            let change = admin
                .copy_builtin(&boss, BuiltinRole::Agent, tenant("acme"))
                .await
                .unwrap();
            assert_eq!(change.action, RoleAction::Create);
            assert_eq!(change.actor, uid("boss"));
            let err = admin
                .copy_builtin(&boss, BuiltinRole::Agent, tenant("globex"))
                .await
                .unwrap_err();
            assert_eq!(err.denied().unwrap().reason, DeniedReason::CrossTenant);
            assert!(
                admin
                    .store()
                    .role(&tenant("globex"), &RoleId::new("agent").unwrap())
                    .await
                    .unwrap()
                    .is_none()
            );
        });
    }

    #[test]
    fn req_6_2_tenant_roles_stay_within_the_ceiling() {
        let (admin, root, boss) = setup();
        block_on(async {
            let ceiling = TenantCeiling::new(PermissionSet::from([
                Permission::CrmRead,
                Permission::RoleManage,
            ]))
            .unwrap();
            let change = admin.set_ceiling(&root, ceiling).await.unwrap();
            assert_eq!(change.action, RoleAction::SetCeiling);
            let denied = admin.set_ceiling(&boss, ceiling).await.unwrap_err();
            assert_eq!(denied.denied().unwrap().reason, DeniedReason::PlatformOnly);
            // boss was clipped when the principal is rebuilt.
            let boss = admin.principal(uid("boss"), tenant("acme")).await.unwrap();
            assert_eq!(boss.permissions(), ceiling.permissions());
            let role = Role::new(
                RoleId::new("purger").unwrap(),
                "Purger",
                tenant("acme"),
                PermissionSet::from([Permission::CrmPurge]),
            )
            .unwrap();
            let err = admin.create_role(&root, role).await.unwrap_err();
            assert!(matches!(
                err,
                RoleAdminError::Invalid(RoleError::AboveCeiling { .. })
            ));
        });
    }

    #[test]
    fn req_6_1_nobody_grants_what_they_do_not_hold() {
        let (admin, _root, boss) = setup();
        block_on(async {
            // A supervisor-like user with role.manage only.
            let rm = Role::new(
                RoleId::new("rm").unwrap(),
                "RM",
                tenant("acme"),
                PermissionSet::from([Permission::RoleManage]),
            )
            .unwrap();
            admin.create_role(&boss, rm).await.unwrap();
            admin
                .assign(
                    &boss,
                    &tenant("acme"),
                    &uid("mini"),
                    &RoleId::new("rm").unwrap(),
                )
                .await
                .unwrap();
            let mini = admin.principal(uid("mini"), tenant("acme")).await.unwrap();
            let err = admin
                .assign(
                    &mini,
                    &tenant("acme"),
                    &uid("mini"),
                    &RoleId::new("tenant-admin").unwrap(),
                )
                .await
                .unwrap_err();
            assert!(matches!(
                err,
                RoleAdminError::Invalid(RoleError::Escalation { .. })
            ));
            let err = admin
                .update_role(
                    &mini,
                    &tenant("acme"),
                    &RoleId::new("rm").unwrap(),
                    PermissionSet::from([Permission::RoleManage, Permission::CrmPurge]),
                )
                .await
                .unwrap_err();
            assert!(matches!(
                err,
                RoleAdminError::Invalid(RoleError::Escalation { .. })
            ));
        });
    }

    #[test]
    fn req_6_2_builtin_copies_are_editable_and_deletable() {
        let (admin, _root, boss) = setup();
        block_on(async {
            admin
                .copy_builtin(&boss, BuiltinRole::Supervisor, tenant("acme"))
                .await
                .unwrap();
            let id = RoleId::new("supervisor").unwrap();
            let change = admin
                .update_role(
                    &boss,
                    &tenant("acme"),
                    &id,
                    PermissionSet::from([Permission::CrmRead]),
                )
                .await
                .unwrap();
            assert_eq!(change.before, Some(BuiltinRole::Supervisor.permissions()));
            assert_eq!(
                change.after,
                Some(PermissionSet::from([Permission::CrmRead]))
            );
            let stored = admin
                .store()
                .role(&tenant("acme"), &id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored.revision, 1);
            admin
                .assign(&boss, &tenant("acme"), &uid("sue"), &id)
                .await
                .unwrap();
            admin
                .delete_role(&boss, &tenant("acme"), &id)
                .await
                .unwrap();
            let sue = admin.principal(uid("sue"), tenant("acme")).await.unwrap();
            assert!(sue.permissions().is_empty());
        });
    }

    #[test]
    fn memory_store_conflicts_and_pages() {
        block_on(async {
            let store = crate::rbac::MemoryRoleStore::new();
            let c = TenantCeiling::default();
            for b in [
                BuiltinRole::Agent,
                BuiltinRole::Supervisor,
                BuiltinRole::TenantAdmin,
            ] {
                store
                    .insert_role(b.role(tenant("acme"), c).unwrap())
                    .await
                    .unwrap();
            }
            let dup = BuiltinRole::Agent.role(tenant("acme"), c).unwrap();
            assert!(matches!(
                store.insert_role(dup.clone()).await,
                Err(StoreError::Conflict { .. })
            ));
            assert!(matches!(
                store.replace_role(dup, 7).await,
                Err(StoreError::Conflict { .. })
            ));
            let p1 = store
                .list_roles(&tenant("acme"), crate::store::Page::first(2))
                .await
                .unwrap();
            assert_eq!(p1.items.len(), 2);
            let p2 = store
                .list_roles(
                    &tenant("acme"),
                    crate::store::Page::after(p1.next.clone().unwrap(), 2),
                )
                .await
                .unwrap();
            assert_eq!(p2.items.len(), 1);
            assert!(p2.next.is_none());
            assert!(matches!(
                store
                    .assign(&tenant("acme"), &uid("x"), &RoleId::new("nope").unwrap())
                    .await,
                Err(StoreError::NotFound)
            ));
        });
    }
}
