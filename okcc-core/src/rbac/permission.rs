//! The closed set of named capabilities ([`Permission`]) and a compact set
//! of them ([`PermissionSet`]).
//!
//! Every permission has a stable dotted name (`crm.delete`) used in APIs,
//! configuration and audit events, and a scope class: *platform-only*
//! permissions act on the platform itself or on every tenant (tenant
//! management, content approval, bans, hardware monitoring) and can never be
//! held by a tenant role; the others may be granted inside a tenant, up to
//! the operator's [`TenantCeiling`](super::TenantCeiling).
//!
//! | name | platform-only | what it allows |
//! |---|---|---|
//! | `user.manage` | no | create, edit and disable web users |
//! | `role.manage` | no | define roles and assign them to users |
//! | `extension.manage` | no | create and edit SIP extensions |
//! | `access.edit` | no | edit IP / region access rules and whitelists |
//! | `ban.manage` | yes | lift or impose dynamic bans |
//! | `review.read` | no | see content under review and its history |
//! | `review.submit` | no | create, edit and submit voice files and templates |
//! | `review.approve` | yes | approve or reject submitted content |
//! | `review.revoke` | yes | revoke approved content |
//! | `crm.read` | no | read customer records |
//! | `crm.write` | no | create and edit customer records |
//! | `crm.delete` | no | move customer records to the recycle bin |
//! | `crm.restore` | no | restore records from the recycle bin |
//! | `crm.purge` | no | delete records from the recycle bin for good |
//! | `number.show_full` | no | see full phone numbers without asking |
//! | `number.reveal.request` | no | ask to see one full number |
//! | `number.reveal.approve` | no | grant such a request |
//! | `audit.read` | no | read the operation log |
//! | `monitor.read` | yes | see hardware resource monitoring and alerts |
//! | `settings.edit` | no | edit the settings of one's own scope |
//! | `tenant.manage` | yes | create tenants, set the tenant-role ceiling |

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! permissions {
    ($( $(#[$doc:meta])* $variant:ident = $bit:literal, $name:literal, $platform_only:literal; )*) => {
        /// One named capability. The set is closed: adding one is a code
        /// change, reviewed like any other (see the module table).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        #[non_exhaustive] // new permissions will come, with new bits
        pub enum Permission {
            $( $(#[$doc])* $variant = $bit, )*
        }

        impl Permission {
            /// Every permission, in bit order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The stable dotted name, e.g. `crm.delete`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// `true` when only platform roles may hold this permission.
            pub fn is_platform_only(self) -> bool {
                match self {
                    $(Self::$variant => $platform_only,)*
                }
            }
        }

        impl FromStr for Permission {
            type Err = UnknownPermission;
            fn from_str(s: &str) -> Result<Self, UnknownPermission> {
                match s {
                    $($name => Ok(Self::$variant),)*
                    _ => Err(UnknownPermission { name: s.chars().take(64).collect() }),
                }
            }
        }
    };
}

permissions! {
    /// `user.manage`: create, edit and disable web users.
    UserManage = 0, "user.manage", false;
    /// `role.manage`: define roles and assign them to users.
    RoleManage = 1, "role.manage", false;
    /// `extension.manage`: create and edit SIP extensions.
    ExtensionManage = 2, "extension.manage", false;
    /// `access.edit`: edit IP / region access rules and whitelists.
    AccessEdit = 3, "access.edit", false;
    /// `ban.manage`: lift or impose dynamic bans (platform-only).
    BanManage = 4, "ban.manage", true;
    /// `review.read`: see content under review.
    ReviewRead = 5, "review.read", false;
    /// `review.submit`: create, edit and submit content for review.
    ReviewSubmit = 6, "review.submit", false;
    /// `review.approve`: approve or reject submitted content (platform-only).
    ReviewApprove = 7, "review.approve", true;
    /// `review.revoke`: revoke approved content (platform-only).
    ReviewRevoke = 8, "review.revoke", true;
    /// `crm.read`: read customer records.
    CrmRead = 9, "crm.read", false;
    /// `crm.write`: create and edit customer records.
    CrmWrite = 10, "crm.write", false;
    /// `crm.delete`: move customer records to the recycle bin.
    CrmDelete = 11, "crm.delete", false;
    /// `crm.restore`: restore records from the recycle bin.
    CrmRestore = 12, "crm.restore", false;
    /// `crm.purge`: delete records from the recycle bin for good.
    CrmPurge = 13, "crm.purge", false;
    /// `number.show_full`: see full phone numbers without asking.
    NumberShowFull = 14, "number.show_full", false;
    /// `number.reveal.request`: ask to see one full number.
    NumberRevealRequest = 15, "number.reveal.request", false;
    /// `number.reveal.approve`: grant a request to see a full number.
    NumberRevealApprove = 16, "number.reveal.approve", false;
    /// `audit.read`: read the operation log.
    AuditRead = 17, "audit.read", false;
    /// `monitor.read`: see hardware resource monitoring (platform-only).
    MonitorRead = 18, "monitor.read", true;
    /// `settings.edit`: edit the settings of one's own scope.
    SettingsEdit = 19, "settings.edit", false;
    /// `tenant.manage`: create tenants and set the tenant-role ceiling
    /// (platform-only).
    TenantManage = 20, "tenant.manage", true;
}

impl Permission {
    fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A permission name that is not in the closed set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {name:?}")]
#[non_exhaustive]
pub struct UnknownPermission {
    /// The name given (cut to 64 characters).
    pub name: String,
}

/// A set of permissions, stored as a bitset (copying it is free).
///
/// Serialized as a sorted list of names; an unknown name is refused.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u64);

impl PermissionSet {
    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Every permission there is.
    pub fn all() -> Self {
        Self::from_iter(Permission::ALL.iter().copied())
    }

    /// Every permission that a tenant role may ever hold (the widest
    /// possible ceiling).
    pub fn tenant_grantable() -> Self {
        Self::from_iter(
            Permission::ALL
                .iter()
                .copied()
                .filter(|p| !p.is_platform_only()),
        )
    }

    /// Adds `p`; returns whether it was new.
    pub fn insert(&mut self, p: Permission) -> bool {
        let new = !self.contains(p);
        self.0 |= p.bit();
        new
    }

    /// Removes `p`; returns whether it was there.
    pub fn remove(&mut self, p: Permission) -> bool {
        let had = self.contains(p);
        self.0 &= !p.bit();
        had
    }

    /// `true` if `p` is in the set.
    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// `true` if every member of `self` is in `other`.
    pub fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// The members of both sets.
    #[must_use]
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The members of either set.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The members of `self` that are not in `other`.
    #[must_use]
    pub fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// `true` if the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The number of members.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The members, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The platform-only members.
    #[must_use]
    pub fn platform_only(self) -> Self {
        Self::from_iter(self.iter().filter(|p| p.is_platform_only()))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Self::empty();
        for p in iter {
            set.insert(p);
        }
        set
    }
}

impl<const N: usize> From<[Permission; N]> for PermissionSet {
    fn from(ps: [Permission; N]) -> Self {
        ps.into_iter().collect()
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Permission::name))
            .finish()
    }
}

impl fmt::Display for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for p in self.iter() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            f.write_str(p.name())?;
        }
        Ok(())
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<Permission>::deserialize(d)?;
        Ok(names.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_6_1_every_permission_has_a_unique_name_and_bit() {
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in Permission::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i, "bits are dense and in order");
            assert!(names.insert(p.name()), "duplicate name {}", p.name());
            assert_eq!(p.name().parse::<Permission>(), Ok(*p));
        }
        assert!(Permission::ALL.len() <= 64);
        for name in [
            "user.manage",
            "role.manage",
            "extension.manage",
            "access.edit",
            "ban.manage",
            "review.submit",
            "review.approve",
            "crm.read",
            "crm.write",
            "crm.delete",
            "crm.restore",
            "crm.purge",
            "number.show_full",
            "number.reveal.request",
            "number.reveal.approve",
            "audit.read",
            "monitor.read",
            "settings.edit",
            "tenant.manage",
        ] {
            assert!(names.contains(name), "{name} is in the closed set");
        }
    }

    #[test]
    fn req_6_1_unknown_permission_names_are_refused() {
        assert!("crm.everything".parse::<Permission>().is_err());
        assert!(serde_json::from_str::<PermissionSet>(r#"["crm.read","nope"]"#).is_err());
    }

    #[test]
    fn req_6_1_sets_round_trip_through_serde() {
        let set = PermissionSet::from([Permission::CrmRead, Permission::NumberShowFull]);
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["crm.read","number.show_full"]"#);
        assert_eq!(serde_json::from_str::<PermissionSet>(&json).unwrap(), set);
        assert_eq!(set.to_string(), "crm.read,number.show_full");
    }

    #[test]
    fn req_6_2_platform_only_permissions_are_never_tenant_grantable() {
        let grantable = PermissionSet::tenant_grantable();
        for p in Permission::ALL {
            assert_eq!(grantable.contains(*p), !p.is_platform_only());
        }
        assert!(!grantable.contains(Permission::TenantManage));
        assert!(!grantable.contains(Permission::ReviewApprove));
    }

    #[test]
    fn set_operations_behave_like_sets() {
        let mut s = PermissionSet::empty();
        assert!(s.insert(Permission::CrmRead));
        assert!(!s.insert(Permission::CrmRead));
        assert!(s.contains(Permission::CrmRead));
        assert_eq!(s.len(), 1);
        assert!(s.is_subset(PermissionSet::all()));
        assert!(s.remove(Permission::CrmRead));
        assert!(s.is_empty());
    }
}
