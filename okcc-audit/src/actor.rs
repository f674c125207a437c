//! Who did it: a user, a SIP account, the system, or nobody known.

use std::fmt;

use okcc_core::{TenantId, UserId};
use serde::{Deserialize, Serialize};

use crate::label::Label;

/// The principal behind an event.
///
/// Construct with [`Actor::user`], [`Actor::sip_account`],
/// [`Actor::system`] or [`Actor::Anonymous`].
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Actor {
    /// A web or API user of the platform (tenant `None`) or of one tenant.
    #[non_exhaustive]
    User {
        /// The user.
        user: UserId,
        /// The user's tenant; `None` for platform (operator) users.
        tenant: Option<TenantId>,
        /// The role the user acted in, when known.
        role: Option<Label>,
    },
    /// A SIP account (extension) authenticated by digest.
    #[non_exhaustive]
    SipAccount {
        /// The account (SIP user name).
        account: UserId,
        /// The account's tenant.
        tenant: Option<TenantId>,
    },
    /// okcc itself: a guard, a scheduled job, retention.
    #[non_exhaustive]
    System {
        /// Which component (`sip-guard`, `retention`, `monitor`).
        component: Label,
    },
    /// An unauthenticated party (a failed login for an unknown user, a
    /// scanner). Put what it claimed to be in the detail, as text.
    Anonymous,
}

impl Actor {
    /// A user acting without a named role.
    pub fn user(user: UserId, tenant: Option<TenantId>) -> Self {
        Self::User {
            user,
            tenant,
            role: None,
        }
    }

    /// A user acting in `role`.
    pub fn user_in_role(user: UserId, tenant: Option<TenantId>, role: Label) -> Self {
        Self::User {
            user,
            tenant,
            role: Some(role),
        }
    }

    /// A SIP account.
    pub fn sip_account(account: UserId, tenant: Option<TenantId>) -> Self {
        Self::SipAccount { account, tenant }
    }

    /// A system component.
    pub fn system(component: Label) -> Self {
        Self::System { component }
    }

    /// The tenant the actor belongs to, if any.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::User { tenant, .. } | Self::SipAccount { tenant, .. } => tenant.as_ref(),
            Self::System { .. } | Self::Anonymous => None,
        }
    }

    /// The kind as a stable code: `user`, `sip-account`, `system`,
    /// `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User { .. } => "user",
            Self::SipAccount { .. } => "sip-account",
            Self::System { .. } => "system",
            Self::Anonymous => "anonymous",
        }
    }

    /// The actor's name within its kind (user id, account, component);
    /// `None` for anonymous.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::User { user, .. } => Some(user.as_str()),
            Self::SipAccount { account, .. } => Some(account.as_str()),
            Self::System { component } => Some(component.as_str()),
            Self::Anonymous => None,
        }
    }

    /// The role, for users acting in one.
    pub fn role(&self) -> Option<&Label> {
        match self {
            Self::User { role, .. } => role.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Debug for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Actor({self})")
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())?;
        if let Some(name) = self.name() {
            write!(f, ":{name}")?;
        }
        if let Some(t) = self.tenant() {
            write!(f, "@{t}")?;
        }
        if let Some(r) = self.role() {
            write!(f, " as {r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_5_1_actor_names_operator_and_tenant() {
        let t = TenantId::new("acme").expect("valid");
        let a = Actor::user_in_role(
            UserId::new("alice").expect("valid"),
            Some(t.clone()),
            Label::new("tenant-admin").expect("valid"),
        );
        assert_eq!(a.to_string(), "user:alice@acme as tenant-admin");
        assert_eq!(a.tenant(), Some(&t));
        let json = serde_json::to_string(&a).expect("ser");
        assert_eq!(
            json,
            r#"{"kind":"user","user":"alice","tenant":"acme","role":"tenant-admin"}"#
        );
        assert_eq!(serde_json::from_str::<Actor>(&json).expect("de"), a);
        assert_eq!(
            serde_json::to_string(&Actor::Anonymous).expect("ser"),
            r#"{"kind":"anonymous"}"#
        );
        assert!(serde_json::from_str::<Actor>(r#"{"kind":"user","user":"a b"}"#).is_err());
    }
}
