//! Who is asking ([`Principal`]) and the one function that decides
//! ([`authorize`]).
//!
//! The rules, in the order they are checked:
//!
//! | principal | resource owner | permission | outcome |
//! |---|---|---|---|
//! | tenant `T` | any | platform-only | denied: [`DeniedReason::PlatformOnly`] |
//! | tenant `T` | the platform | any | denied: [`DeniedReason::OutsideTenant`] |
//! | tenant `T` | tenant `U ≠ T` | any | denied: [`DeniedReason::CrossTenant`] |
//! | tenant `T` | tenant `T` | held | allowed |
//! | platform | the platform or any tenant | held (through platform roles) | allowed |
//! | anyone | anything | not held | denied: [`DeniedReason::MissingPermission`] |
//!
//! No permission reaches across tenants: a tenant principal only ever acts
//! on its own tenant, and platform users act on tenants only through the
//! permissions of their platform roles.

use std::fmt;

use serde::Serialize;

use super::permission::{Permission, PermissionSet};
use super::role::{Role, TenantCeiling};
use crate::ids::{Owner, UserId};

/// An authenticated user, with the permissions its roles grant in its home
/// scope.
///
/// Built only through [`Principal::new`], which keeps the roles of the
/// user's own scope and clips tenant roles to the ceiling and to
/// tenant-grantable permissions, so a tenant principal can never hold a
/// platform-only permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    user: UserId,
    home: Owner,
    permissions: PermissionSet,
}

impl Principal {
    /// The principal for `user` whose account belongs to `home`, holding
    /// `roles`. Roles of another scope are ignored (they grant nothing);
    /// for a tenant user, the permissions are clipped to `ceiling`.
    pub fn new<'a>(
        user: UserId,
        home: Owner,
        roles: impl IntoIterator<Item = &'a Role>,
        ceiling: TenantCeiling,
    ) -> Self {
        let mut permissions = roles
            .into_iter()
            .filter(|r| r.scope == home)
            .fold(PermissionSet::empty(), |acc, r| acc.union(r.permissions));
        if home.tenant().is_some() {
            permissions = permissions.intersection(ceiling.permissions());
        }
        Self {
            user,
            home,
            permissions,
        }
    }

    /// The user.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The scope the user's account belongs to.
    pub fn home(&self) -> &Owner {
        &self.home
    }

    /// The effective permissions in the home scope.
    pub fn permissions(&self) -> PermissionSet {
        self.permissions
    }

    /// `true` for an operator (platform) user.
    pub fn is_platform(&self) -> bool {
        matches!(self.home, Owner::Platform)
    }
}

/// Proof that one principal may use one permission on resources of one
/// owner. Only [`authorize`] makes one; functions that do privileged work
/// take it as an argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorized {
    user: UserId,
    permission: Permission,
    owner: Owner,
}

impl Authorized {
    /// The user who was authorized.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The permission that was granted.
    pub fn permission(&self) -> Permission {
        self.permission
    }

    /// The owner of the resources it covers.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// `true` if this proof covers `permission` on resources of `owner`.
    pub fn covers(&self, permission: Permission, owner: &Owner) -> bool {
        self.permission == permission && self.owner == *owner
    }
}

/// Why [`authorize`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DeniedReason {
    /// The resource belongs to another tenant.
    CrossTenant,
    /// The principal's roles do not grant the permission.
    MissingPermission,
    /// A tenant principal asked to act on a platform resource.
    OutsideTenant,
    /// A tenant principal asked for a platform-only permission.
    PlatformOnly,
}

impl DeniedReason {
    /// A stable kebab-case code for logs, audit events and APIs.
    pub fn code(self) -> &'static str {
        match self {
            Self::CrossTenant => "cross-tenant",
            Self::MissingPermission => "missing-permission",
            Self::OutsideTenant => "outside-tenant",
            Self::PlatformOnly => "platform-only",
        }
    }
}

impl fmt::Display for DeniedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal by [`authorize`]: who asked for what on whose resources, and
/// why not. Callers turn it into an audit event (every denial of a
/// privileged action is audited) and a 403.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{user} may not use {permission} on {owner}: {reason}")]
#[non_exhaustive]
pub struct Denied {
    /// The user who asked.
    pub user: UserId,
    /// The user's home scope.
    pub home: Owner,
    /// The permission asked for.
    pub permission: Permission,
    /// The owner of the resource.
    pub owner: Owner,
    /// Why not.
    pub reason: DeniedReason,
}

/// Decides whether `principal` may use `permission` on a resource owned by
/// `resource_owner` (see the module table). The one permission check every
/// handler calls.
pub fn authorize(
    principal: &Principal,
    permission: Permission,
    resource_owner: &Owner,
) -> Result<Authorized, Denied> {
    let deny = |reason| Denied {
        user: principal.user.clone(),
        home: principal.home.clone(),
        permission,
        owner: resource_owner.clone(),
        reason,
    };
    if let Owner::Tenant(home) = &principal.home {
        if permission.is_platform_only() {
            return Err(deny(DeniedReason::PlatformOnly));
        }
        match resource_owner {
            Owner::Platform => return Err(deny(DeniedReason::OutsideTenant)),
            Owner::Tenant(t) if t != home => return Err(deny(DeniedReason::CrossTenant)),
            Owner::Tenant(_) => {}
        }
    }
    if !principal.permissions.contains(permission) {
        return Err(deny(DeniedReason::MissingPermission));
    }
    Ok(Authorized {
        user: principal.user.clone(),
        permission,
        owner: resource_owner.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::rbac::{BuiltinRole, RoleId};
    use proptest::prelude::*;

    fn tenant(s: &str) -> Owner {
        Owner::Tenant(TenantId::new(s).unwrap())
    }

    fn principal_with(home: Owner, b: BuiltinRole) -> Principal {
        let role = b.role(home.clone(), TenantCeiling::default()).unwrap();
        Principal::new(
            UserId::new("u").unwrap(),
            home,
            [&role],
            TenantCeiling::default(),
        )
    }

    /// The permission matrix of the built-in roles, acting inside their own
    /// scope: `P` platform admin, `R` platform reviewer, `T` tenant admin,
    /// `S` supervisor, `A` agent.
    #[test]
    fn req_6_1_builtin_role_permission_matrix() {
        #[rustfmt::skip]
        let table: &[(&str, [bool; 5])] = &[
            //                         P      R      T      S      A
            ("user.manage",           [true,  false, true,  false, false]),
            ("role.manage",           [true,  false, true,  false, false]),
            ("extension.manage",      [true,  false, true,  false, false]),
            ("access.edit",           [true,  false, true,  false, false]),
            ("ban.manage",            [true,  false, false, false, false]),
            ("review.read",           [true,  true,  true,  true,  false]),
            ("review.submit",         [true,  false, true,  true,  false]),
            ("review.approve",        [true,  true,  false, false, false]),
            ("review.revoke",         [true,  true,  false, false, false]),
            ("crm.read",              [true,  false, true,  true,  true ]),
            ("crm.write",             [true,  false, true,  true,  true ]),
            ("crm.delete",            [true,  false, true,  true,  false]),
            ("crm.restore",           [true,  false, true,  true,  false]),
            ("crm.purge",             [true,  false, true,  false, false]),
            ("number.show_full",      [true,  false, true,  false, false]),
            ("number.reveal.request", [true,  false, true,  true,  true ]),
            ("number.reveal.approve", [true,  false, true,  true,  false]),
            ("audit.read",            [true,  true,  true,  true,  false]),
            ("monitor.read",          [true,  false, false, false, false]),
            ("settings.edit",         [true,  false, true,  false, false]),
            ("tenant.manage",         [true,  false, false, false, false]),
        ];
        assert_eq!(
            table.len(),
            Permission::ALL.len(),
            "every permission is in the table"
        );
        let acme = tenant("acme");
        for (name, row) in table {
            let p: Permission = name.parse().unwrap();
            for (b, expected) in BuiltinRole::ALL.into_iter().zip(row) {
                let home = if b.is_platform() {
                    Owner::Platform
                } else {
                    acme.clone()
                };
                let who = principal_with(home.clone(), b);
                assert_eq!(
                    authorize(&who, p, &home).is_ok(),
                    *expected,
                    "{b:?} / {name}"
                );
            }
        }
    }

    #[test]
    fn req_6_2_tenant_users_never_reach_another_tenant_or_the_platform() {
        let admin = principal_with(tenant("acme"), BuiltinRole::TenantAdmin);
        let d = authorize(&admin, Permission::CrmRead, &tenant("globex")).unwrap_err();
        assert_eq!(d.reason, DeniedReason::CrossTenant);
        let d = authorize(&admin, Permission::CrmRead, &Owner::Platform).unwrap_err();
        assert_eq!(d.reason, DeniedReason::OutsideTenant);
        let d = authorize(&admin, Permission::TenantManage, &tenant("acme")).unwrap_err();
        assert_eq!(d.reason, DeniedReason::PlatformOnly);
        let ok = authorize(&admin, Permission::CrmRead, &tenant("acme")).unwrap();
        assert!(ok.covers(Permission::CrmRead, &tenant("acme")));
    }

    #[test]
    fn req_6_2_platform_users_reach_tenants_only_through_their_permissions() {
        let reviewer = principal_with(Owner::Platform, BuiltinRole::PlatformReviewer);
        assert!(authorize(&reviewer, Permission::ReviewApprove, &tenant("acme")).is_ok());
        let d = authorize(&reviewer, Permission::CrmRead, &tenant("acme")).unwrap_err();
        assert_eq!(d.reason, DeniedReason::MissingPermission);
        assert_eq!(
            d.to_string(),
            "u may not use crm.read on tenant:acme: missing-permission"
        );
    }

    #[test]
    fn req_6_2_roles_of_another_scope_grant_nothing_and_ceiling_clips() {
        let globex_admin = BuiltinRole::TenantAdmin
            .role(tenant("globex"), TenantCeiling::default())
            .unwrap();
        let p = Principal::new(
            UserId::new("u").unwrap(),
            tenant("acme"),
            [&globex_admin],
            TenantCeiling::default(),
        );
        assert!(p.permissions().is_empty());
        let ceiling = TenantCeiling::new(PermissionSet::from([Permission::CrmRead])).unwrap();
        let own = Role::new(
            RoleId::new("r").unwrap(),
            "R",
            tenant("acme"),
            PermissionSet::from([Permission::CrmRead, Permission::CrmPurge]),
        )
        .unwrap();
        let p = Principal::new(UserId::new("u").unwrap(), tenant("acme"), [&own], ceiling);
        assert_eq!(p.permissions(), PermissionSet::from([Permission::CrmRead]));
    }

    fn arb_owner() -> impl Strategy<Value = Owner> {
        prop_oneof![Just(Owner::Platform), "[abc]".prop_map(|t| tenant(&t)),]
    }

    proptest! {
        /// Whatever roles a tenant user is given, no permission reaches
        /// outside its tenant.
        #[test]
        fn req_6_2_no_permission_crosses_tenants(
            home in "[abc]",
            roles in proptest::collection::vec((arb_owner(), any::<u64>()), 0..4),
            p in proptest::sample::select(Permission::ALL),
            target in arb_owner(),
        ) {
            let home = tenant(&home);
            let roles: Vec<Role> = roles
                .into_iter()
                .map(|(scope, bits)| {
                    let perms: PermissionSet = Permission::ALL
                        .iter()
                        .copied()
                        .filter(|p| bits & (1 << (*p as u8)) != 0)
                        .filter(|p| scope == Owner::Platform || !p.is_platform_only())
                        .collect();
                    Role::new(RoleId::new("r").unwrap(), "R", scope, perms).unwrap()
                })
                .collect();
            let who = Principal::new(UserId::new("u").unwrap(), home.clone(), &roles, TenantCeiling::default());
            if let Ok(proof) = authorize(&who, p, &target) {
                prop_assert_eq!(proof.owner(), &home);
                prop_assert!(!p.is_platform_only());
            }
        }
    }
}
