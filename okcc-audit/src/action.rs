//! What happened: a typed, extensible set of audit actions.
//!
//! Every action has a stable dotted code (`crm.delete`, `sip.auth-failure`)
//! that is what the hash chain, the exports and the stores see. New
//! variants may be added in later versions with new codes; an integrator
//! with its own operations uses [`Action::Custom`] with a code of its own
//! (for example `x-acme.report.print`).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::EventError;

macro_rules! actions {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, )*) => {
        /// What an event records.
        ///
        /// The code of each variant is stable: it is hashed into the chain,
        /// so it never changes once released.
        ///
        /// | variant | code |
        /// |---|---|
        $( #[doc = concat!("| `", stringify!($variant), "` | `", $code, "` |")] )*
        /// | `Custom` | the integrator's own code |
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        #[non_exhaustive]
        pub enum Action {
            $( $(#[$doc])* $variant, )*
            /// An action defined by the integrator (see [`CustomAction`]).
            Custom(CustomAction),
        }

        impl Action {
            /// The stable code of this action.
            pub fn code(&self) -> &str {
                match self {
                    $( Self::$variant => $code, )*
                    Self::Custom(c) => c.as_str(),
                }
            }

            fn known(code: &str) -> Option<Self> {
                match code {
                    $( $code => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// Every built-in action (not `Custom`), in declaration order.
            pub fn builtin() -> &'static [Action] {
                const ALL: &[Action] = &[ $( Action::$variant, )* ];
                ALL
            }
        }
    };
}

actions! {
    /// A web or API login (success or failure goes in the result).
    Login => "auth.login",
    /// A logout or session end.
    Logout => "auth.logout",
    /// A second-factor (TOTP) check.
    MfaCheck => "auth.mfa",
    /// A web user's or an extension's password (secret) was set or changed.
    PasswordChange => "auth.password-change",
    /// An operator audit of stored credentials ran (requirement 1.4).
    CredentialAudit => "auth.credential-audit",
    /// A SIP REGISTER was processed.
    SipRegister => "sip.register",
    /// A SIP digest authentication failed.
    SipAuthFailure => "sip.auth-failure",
    /// A call (INVITE) was denied, for example by a toll-fraud rule.
    CallDenied => "sip.call-denied",
    /// A request was denied by an access rule (IP, network, region, whitelist).
    AccessDenied => "access.denied",
    /// An access rule (black/white list, region, home regions) was changed.
    RuleChange => "access.rule-change",
    /// A source was banned (manually or by a guard).
    Ban => "access.ban",
    /// A ban was lifted.
    Unban => "access.unban",
    /// Content was submitted for review.
    ReviewSubmit => "review.submit",
    /// Content was approved by a reviewer.
    ReviewApprove => "review.approve",
    /// Content was rejected by a reviewer.
    ReviewReject => "review.reject",
    /// A reviewed item changed and went back to review.
    ReviewReset => "review.reset",
    /// A customer record was created.
    CrmCreate => "crm.create",
    /// A customer record was changed.
    CrmUpdate => "crm.update",
    /// A customer record was moved to the recycle bin.
    CrmDelete => "crm.delete",
    /// A customer record was restored from the recycle bin.
    CrmRestore => "crm.restore",
    /// A customer record was purged for good.
    CrmPurge => "crm.purge",
    /// A full phone number was shown to a user (requirement 8.2).
    NumberReveal => "number.reveal",
    /// A request to see a full number was made, approved or refused.
    NumberRevealRequest => "number.reveal-request",
    /// A role or its permissions changed.
    RoleChange => "rbac.role-change",
    /// A user's roles changed.
    UserRoleChange => "rbac.user-role-change",
    /// A user was created, disabled or removed.
    UserChange => "user.change",
    /// A tenant was created, changed or removed.
    TenantChange => "tenant.change",
    /// A configuration setting changed.
    ConfigChange => "config.change",
    /// An alert was raised (resource shortage, fraud, attack).
    Alert => "alert.raise",
    /// Audit events were read or exported.
    AuditExport => "audit.export",
    /// Old audit events were archived and purged by retention.
    AuditRetention => "audit.retention",
}

impl Action {
    /// Parses a code: built-in codes give their variant, any other valid
    /// code gives [`Action::Custom`].
    pub fn from_code(code: &str) -> Result<Self, EventError> {
        match Self::known(code) {
            Some(a) => Ok(a),
            None => CustomAction::new(code).map(Self::Custom),
        }
    }

    /// A custom action; a built-in code gives the built-in variant, so
    /// each code has exactly one `Action`.
    pub fn custom(code: &str) -> Result<Self, EventError> {
        Self::from_code(code)
    }
}

impl TryFrom<String> for Action {
    type Error = EventError;
    fn try_from(s: String) -> Result<Self, EventError> {
        Self::from_code(&s)
    }
}

impl From<Action> for String {
    fn from(a: Action) -> Self {
        a.code().to_owned()
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Action({})", self.code())
    }
}

/// The code of an integrator-defined action: 3 to 64 characters from
/// `a-z`, `0-9`, `.`, `_`, `-`, with at least one `.` (a namespace), not
/// starting or ending with `.`, and not a built-in code.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomAction(Arc<str>);

impl CustomAction {
    /// Validates a custom code.
    pub fn new(code: &str) -> Result<Self, EventError> {
        let valid_chars = code.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        let shaped = (3..=64).contains(&code.len())
            && code.contains('.')
            && !code.starts_with(['.', '_', '-'])
            && !code.ends_with('.')
            && !code.contains("..");
        if !valid_chars || !shaped {
            return Err(EventError::InvalidAction);
        }
        if Action::known(code).is_some() {
            return Err(EventError::InvalidAction);
        }
        Ok(Self(Arc::from(code)))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CustomAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomAction({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_5_1_every_builtin_code_round_trips() {
        for a in Action::builtin() {
            assert_eq!(&Action::from_code(a.code()).expect("valid"), a);
        }
        let mut codes: Vec<&str> = Action::builtin().iter().map(Action::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Action::builtin().len(), "codes are unique");
    }

    #[test]
    fn req_5_1_custom_actions_are_namespaced_and_never_shadow_builtins() {
        let a = Action::from_code("x-acme.report.print").expect("valid");
        assert!(matches!(a, Action::Custom(_)));
        assert_eq!(
            Action::custom("crm.delete").expect("valid"),
            Action::CrmDelete
        );
        assert!(CustomAction::new("crm.delete").is_err());
        assert!(Action::from_code("nodot").is_err());
        assert!(Action::from_code("Bad.Case").is_err());
        assert!(Action::from_code("a..b").is_err());
        assert!(Action::from_code("").is_err());
    }

    #[test]
    fn req_5_1_action_serializes_as_its_code() {
        let json = serde_json::to_string(&Action::SipAuthFailure).expect("ser");
        assert_eq!(json, "\"sip.auth-failure\"");
        let back: Action = serde_json::from_str(&json).expect("de");
        assert_eq!(back, Action::SipAuthFailure);
        assert!(serde_json::from_str::<Action>("\"no spaces allowed.x y\"").is_err());
    }
}
