//! Tenants, roles and permissions (requirement 6).
//!
//! One platform operator and many enterprise tenants: every user, extension,
//! customer, template and rule belongs to the platform or to one tenant
//! ([`Owner`](crate::ids::Owner)). Permissions are a closed set of named
//! capabilities ([`Permission`]); roles are named sets of them
//! ([`Role`]) that belong to one scope. The operator defines platform roles
//! and the ceiling of what tenant roles may hold ([`TenantCeiling`]); a
//! tenant admin defines roles inside its tenant, within the ceiling.
//!
//! One function decides: [`authorize`] returns an [`Authorized`] proof or a
//! [`Denied`] naming the reason. No permission reaches across tenants.
//! Role changes go through [`RoleAdmin`], which returns a [`RoleChange`]
//! record; the caller writes it (and every [`Denied`]) to the audit log.
//!
//! ```
//! use okcc_core::ids::{Owner, TenantId, UserId};
//! use okcc_core::rbac::{authorize, BuiltinRole, DeniedReason, Permission, Principal, TenantCeiling};
//!
//! let acme = Owner::Tenant(TenantId::new("acme")?);
//! let agent = BuiltinRole::Agent.role(acme.clone(), TenantCeiling::default())?;
//! let alice = Principal::new(UserId::new("alice")?, acme.clone(), [&agent], TenantCeiling::default());
//!
//! assert!(authorize(&alice, Permission::CrmRead, &acme).is_ok());
//! let denied = authorize(&alice, Permission::NumberShowFull, &acme).unwrap_err();
//! assert_eq!(denied.reason, DeniedReason::MissingPermission);
//! let globex = Owner::Tenant(TenantId::new("globex")?);
//! assert_eq!(authorize(&alice, Permission::CrmRead, &globex).unwrap_err().reason, DeniedReason::CrossTenant);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admin;
mod authorize;
mod permission;
mod role;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
mod store;
#[cfg(any(test, feature = "testkit"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;

pub use admin::{RoleAction, RoleAdmin, RoleAdminError, RoleChange};
pub use authorize::{Authorized, Denied, DeniedReason, Principal, authorize};
pub use permission::{Permission, PermissionSet, UnknownPermission};
pub use role::{BuiltinRole, BuiltinScopeError, Role, RoleError, RoleId, TenantCeiling};
pub use store::{MemoryRoleStore, RoleStore};

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sql::PostgresRoleStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sql::SqliteRoleStore;
