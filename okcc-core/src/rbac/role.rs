//! Roles: named sets of permissions that belong to the platform or to one
//! tenant, the operator's [`TenantCeiling`], and the [`BuiltinRole`]
//! defaults.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::permission::{Permission, PermissionSet};
use crate::ids::{IdError, Owner};

/// Names a role inside its scope (the same slug rules as
/// [`TenantId`](crate::ids::TenantId): 1 to 64 characters from `a-z A-Z 0-9
/// . _ - @`, starting with a letter or digit).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleId(Arc<str>);

impl RoleId {
    /// Parses and validates a role id.
    pub fn new(s: &str) -> Result<Self, IdError> {
        // The tenant id rules are the slug rules; reuse their validation.
        crate::ids::TenantId::new(s)?;
        Ok(Self(Arc::from(s)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RoleId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl TryFrom<String> for RoleId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::new(&s)
    }
}

impl From<RoleId> for String {
    fn from(id: RoleId) -> Self {
        id.0.to_string()
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoleId({:?})", &*self.0)
    }
}

/// Why a role (or a ceiling) is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoleError {
    /// A tenant role (or the ceiling) names permissions only platform roles
    /// may hold.
    #[error("permissions {permissions} are platform-only and cannot be held by a tenant role")]
    PlatformOnly {
        /// The offending permissions.
        permissions: PermissionSet,
    },
    /// A tenant role holds permissions above the operator's ceiling.
    #[error("permissions {permissions} are above the operator's ceiling for tenant roles")]
    AboveCeiling {
        /// The permissions above the ceiling.
        permissions: PermissionSet,
    },
    /// The actor tried to grant permissions it does not hold itself.
    #[error("permissions {permissions} cannot be granted by someone who does not hold them")]
    Escalation {
        /// The permissions the actor lacks.
        permissions: PermissionSet,
    },
    /// The display name is empty, too long or holds control characters.
    #[error("role name must be 1 to {max} printable characters")]
    BadName {
        /// The limit.
        max: usize,
    },
}

/// The most permissions a tenant role may hold, set by the operator.
///
/// Never holds a platform-only permission. A tenant role above the ceiling
/// cannot be created; if the operator lowers the ceiling later, existing
/// roles keep their stored permissions but a [`Principal`](super::Principal)
/// only ever gets the part under the current ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PermissionSet", into = "PermissionSet")]
pub struct TenantCeiling(PermissionSet);

impl TenantCeiling {
    /// A ceiling of `permissions`; refused if any is platform-only.
    pub fn new(permissions: PermissionSet) -> Result<Self, RoleError> {
        let platform = permissions.platform_only();
        if platform.is_empty() {
            Ok(Self(permissions))
        } else {
            Err(RoleError::PlatformOnly {
                permissions: platform,
            })
        }
    }

    /// The permissions under the ceiling.
    pub fn permissions(self) -> PermissionSet {
        self.0
    }

    /// `Ok` if `permissions` fit under the ceiling, otherwise the excess.
    pub fn check(self, permissions: PermissionSet) -> Result<(), RoleError> {
        let platform = permissions.platform_only();
        if !platform.is_empty() {
            return Err(RoleError::PlatformOnly {
                permissions: platform,
            });
        }
        let above = permissions.difference(self.0);
        if above.is_empty() {
            Ok(())
        } else {
            Err(RoleError::AboveCeiling { permissions: above })
        }
    }
}

impl Default for TenantCeiling {
    /// Every tenant-grantable permission.
    fn default() -> Self {
        Self(PermissionSet::tenant_grantable())
    }
}

impl TryFrom<PermissionSet> for TenantCeiling {
    type Error = RoleError;
    fn try_from(p: PermissionSet) -> Result<Self, RoleError> {
        Self::new(p)
    }
}

impl From<TenantCeiling> for PermissionSet {
    fn from(c: TenantCeiling) -> Self {
        c.0
    }
}

const MAX_ROLE_NAME: usize = 100;

/// A named set of permissions that belongs to the platform or to one
/// tenant (its `scope`).
///
/// A role only ever grants permissions inside its own scope: a tenant
/// role's permissions apply to that tenant's resources, a platform role's to
/// the platform and, through platform permissions, to every tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Role {
    /// The role's id, unique inside its scope.
    pub id: RoleId,
    /// A display name ("Night-shift supervisor").
    pub name: String,
    /// The platform or the tenant the role belongs to.
    pub scope: Owner,
    /// What the role grants.
    pub permissions: PermissionSet,
    /// Bumped by every stored change; stores compare it for
    /// version-checked writes.
    pub revision: u64,
}

impl Role {
    /// A new role (revision 0). Refused when the name is not 1 to 100
    /// printable characters, or a tenant role names a platform-only
    /// permission. The ceiling is checked when the role is stored (see
    /// [`RoleAdmin`](super::RoleAdmin)).
    pub fn new(
        id: RoleId,
        name: &str,
        scope: Owner,
        permissions: PermissionSet,
    ) -> Result<Self, RoleError> {
        check_name(name)?;
        if scope.tenant().is_some() {
            let platform = permissions.platform_only();
            if !platform.is_empty() {
                return Err(RoleError::PlatformOnly {
                    permissions: platform,
                });
            }
        }
        Ok(Self {
            id,
            name: name.to_owned(),
            scope,
            permissions,
            revision: 0,
        })
    }
}

fn check_name(name: &str) -> Result<(), RoleError> {
    let n = name.chars().count();
    if n == 0 || n > MAX_ROLE_NAME || name.chars().any(char::is_control) || name.trim().is_empty() {
        return Err(RoleError::BadName { max: MAX_ROLE_NAME });
    }
    Ok(())
}

/// The roles okcc ships as defaults. Copy one into a scope with
/// [`BuiltinRole::role`] and edit the copy as needed.
///
/// | role | scope | permissions |
/// |---|---|---|
/// | platform admin | platform | all |
/// | platform reviewer | platform | `review.read`, `review.approve`, `review.revoke`, `audit.read` |
/// | tenant admin | tenant | every tenant-grantable permission (clipped by the ceiling) |
/// | supervisor | tenant | `review.read`, `review.submit`, `crm.read`, `crm.write`, `crm.delete`, `crm.restore`, `number.reveal.request`, `number.reveal.approve`, `audit.read` |
/// | agent | tenant | `crm.read`, `crm.write`, `number.reveal.request` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BuiltinRole {
    /// Runs the platform: every permission.
    PlatformAdmin,
    /// Reviews tenants' content for the operator.
    PlatformReviewer,
    /// Administers one tenant, within the ceiling.
    TenantAdmin,
    /// Leads agents in one tenant.
    Supervisor,
    /// Handles calls and customer records in one tenant.
    Agent,
}

impl BuiltinRole {
    /// Every built-in role.
    pub const ALL: [Self; 5] = [
        Self::PlatformAdmin,
        Self::PlatformReviewer,
        Self::TenantAdmin,
        Self::Supervisor,
        Self::Agent,
    ];

    /// The role's default id (`platform-admin`, `agent`, …).
    pub fn id(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform-admin",
            Self::PlatformReviewer => "platform-reviewer",
            Self::TenantAdmin => "tenant-admin",
            Self::Supervisor => "supervisor",
            Self::Agent => "agent",
        }
    }

    /// The role's default display name.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "Platform administrator",
            Self::PlatformReviewer => "Platform content reviewer",
            Self::TenantAdmin => "Tenant administrator",
            Self::Supervisor => "Supervisor",
            Self::Agent => "Agent",
        }
    }

    /// `true` for roles that belong to the platform.
    pub fn is_platform(self) -> bool {
        matches!(self, Self::PlatformAdmin | Self::PlatformReviewer)
    }

    /// The default permissions (see the table on [`BuiltinRole`]).
    pub fn permissions(self) -> PermissionSet {
        use Permission as P;
        match self {
            Self::PlatformAdmin => PermissionSet::all(),
            Self::PlatformReviewer => PermissionSet::from([
                P::ReviewRead,
                P::ReviewApprove,
                P::ReviewRevoke,
                P::AuditRead,
            ]),
            Self::TenantAdmin => PermissionSet::tenant_grantable(),
            Self::Supervisor => PermissionSet::from([
                P::ReviewRead,
                P::ReviewSubmit,
                P::CrmRead,
                P::CrmWrite,
                P::CrmDelete,
                P::CrmRestore,
                P::NumberRevealRequest,
                P::NumberRevealApprove,
                P::AuditRead,
            ]),
            Self::Agent => PermissionSet::from([P::CrmRead, P::CrmWrite, P::NumberRevealRequest]),
        }
    }

    /// A copy of this built-in role for `scope`, with its default id and
    /// name; tenant copies are clipped to `ceiling`. Refused when a platform
    /// role is asked for a tenant or a tenant role for the platform.
    pub fn role(self, scope: Owner, ceiling: TenantCeiling) -> Result<Role, BuiltinScopeError> {
        let perms = match (&scope, self.is_platform()) {
            (Owner::Platform, true) => self.permissions(),
            (Owner::Tenant(_), false) => self.permissions().intersection(ceiling.permissions()),
            _ => return Err(BuiltinScopeError { role: self }),
        };
        // Invariant: built-in ids are valid slugs and names valid names.
        let id = RoleId(Arc::from(self.id()));
        Ok(Role {
            id,
            name: self.display_name().to_owned(),
            scope,
            permissions: perms,
            revision: 0,
        })
    }
}

/// A built-in role was asked for the wrong kind of scope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("built-in role {} does not belong in that scope", role.id())]
#[non_exhaustive]
pub struct BuiltinScopeError {
    /// The role asked for.
    pub role: BuiltinRole,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;

    fn acme() -> Owner {
        Owner::Tenant(TenantId::new("acme").unwrap())
    }

    #[test]
    fn req_6_2_tenant_roles_refuse_platform_only_permissions() {
        let err = Role::new(
            RoleId::new("x").unwrap(),
            "X",
            acme(),
            PermissionSet::from([Permission::CrmRead, Permission::TenantManage]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            RoleError::PlatformOnly {
                permissions: PermissionSet::from([Permission::TenantManage])
            }
        );
        assert!(
            Role::new(
                RoleId::new("x").unwrap(),
                "X",
                Owner::Platform,
                PermissionSet::all()
            )
            .is_ok()
        );
    }

    #[test]
    fn req_6_2_ceiling_refuses_platform_only_and_reports_excess() {
        assert!(TenantCeiling::new(PermissionSet::from([Permission::BanManage])).is_err());
        let c = TenantCeiling::new(PermissionSet::from([Permission::CrmRead])).unwrap();
        assert_eq!(
            c.check(PermissionSet::from([
                Permission::CrmRead,
                Permission::CrmPurge
            ])),
            Err(RoleError::AboveCeiling {
                permissions: PermissionSet::from([Permission::CrmPurge])
            })
        );
        assert!(serde_json::from_str::<TenantCeiling>(r#"["tenant.manage"]"#).is_err());
    }

    #[test]
    fn req_6_2_builtins_copy_into_matching_scopes_only() {
        let c = TenantCeiling::new(PermissionSet::from([Permission::CrmRead])).unwrap();
        let agent = BuiltinRole::Agent.role(acme(), c).unwrap();
        assert_eq!(
            agent.permissions,
            PermissionSet::from([Permission::CrmRead])
        );
        assert!(BuiltinRole::Agent.role(Owner::Platform, c).is_err());
        assert!(BuiltinRole::PlatformAdmin.role(acme(), c).is_err());
        for b in BuiltinRole::ALL {
            assert!(RoleId::new(b.id()).is_ok());
            assert!(check_name(b.display_name()).is_ok());
        }
    }

    #[test]
    fn role_names_are_checked() {
        let id = RoleId::new("r").unwrap();
        for bad in ["", "  ", "a\nb", &"x".repeat(101)] {
            assert!(Role::new(id.clone(), bad, acme(), PermissionSet::empty()).is_err());
        }
        assert!(RoleId::new("bad id").is_err());
    }
}
