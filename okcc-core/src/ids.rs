//! Identifiers shared across okcc: tenants, users and who owns a resource.
//!
//! Ids are short slugs: 1 to 64 characters from `a-z`, `A-Z`, `0-9`, `.`,
//! `_`, `-` and `@`, starting with a letter or digit. Anything else is
//! refused when parsed, so an id can be written into logs, file formats and
//! URLs without escaping.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a text is not a valid id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is empty.
    #[error("id is empty")]
    Empty,
    /// The id is longer than 64 characters.
    #[error("id is longer than {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The id holds a character outside the allowed set.
    #[error(
        "id holds a character outside a-z A-Z 0-9 . _ - @ or does not start with a letter or digit"
    )]
    BadCharacter,
}

const MAX_ID: usize = 64;

fn validate(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID {
        return Err(IdError::TooLong { max: MAX_ID });
    }
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(IdError::BadCharacter)
    }
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            /// Parses and validates an id.
            pub fn new(s: &str) -> Result<Self, IdError> {
                validate(s)?;
                Ok(Self(Arc::from(s)))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

slug_id!(
    /// An enterprise tenant (a call-center customer of the platform).
    TenantId
);
slug_id!(
    /// A user of the platform or of one tenant (web user, agent, SIP account).
    UserId
);

/// Who owns a resource: the platform operator or one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "owner", content = "tenant", rename_all = "kebab-case")]
pub enum Owner {
    /// The platform operator.
    Platform,
    /// One enterprise tenant.
    Tenant(TenantId),
}

impl Owner {
    /// The tenant, if the owner is one.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::Platform => None,
            Self::Tenant(t) => Some(t),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Platform => f.write_str("platform"),
            Self::Tenant(t) => write!(f, "tenant:{t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_slugs_and_refuse_the_rest() {
        assert!(TenantId::new("acme").is_ok());
        assert!(UserId::new("agent.1001@acme").is_ok());
        assert_eq!(TenantId::new(""), Err(IdError::Empty));
        assert_eq!(TenantId::new("-acme"), Err(IdError::BadCharacter));
        assert_eq!(TenantId::new("ac me"), Err(IdError::BadCharacter));
        assert_eq!(TenantId::new("acmé"), Err(IdError::BadCharacter));
        assert_eq!(
            TenantId::new(&"a".repeat(65)),
            Err(IdError::TooLong { max: 64 })
        );
    }

    #[test]
    fn ids_round_trip_through_serde_and_refuse_bad_input() {
        let t: TenantId = serde_json::from_str("\"acme\"").expect("valid");
        assert_eq!(serde_json::to_string(&t).expect("ser"), "\"acme\"");
        assert!(serde_json::from_str::<TenantId>("\"a b\"").is_err());
        let o = Owner::Tenant(t);
        assert_eq!(o.to_string(), "tenant:acme");
    }
}
