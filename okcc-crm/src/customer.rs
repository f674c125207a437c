//! The customer record and its validated input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::SystemTime;

use okcc_core::mask::ParsedNumber;
use okcc_core::recycle::Recyclable;
use okcc_core::{TenantId, UserId};
use serde::{Deserialize, Serialize};

use crate::error::{CrmError, FieldError};

/// A customer's id, unique per store (assigned by the store on insert).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub u64);

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "customer-{}", self.0)
    }
}

/// What a phone number is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PhoneKind {
    /// Fax line.
    Fax,
    /// Home landline.
    Home,
    /// Mobile phone.
    Mobile,
    /// Anything else.
    Other,
    /// Office line.
    Work,
}

/// One phone number of a customer, as written and as a unique key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Phone {
    /// What the number is for.
    pub kind: PhoneKind,
    /// The number as entered (trimmed). Never shown without masking to a
    /// viewer who may not see full numbers.
    pub number: String,
    /// The normalised key (`+8613812345678`, `01012345678`): the same
    /// however the number was written.
    pub key: String,
}

impl fmt::Debug for Phone {
    /// Never prints the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phone")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Phone {
    /// Parses a number (see [`okcc_core::mask::ParsedNumber::parse`]).
    pub fn parse(kind: PhoneKind, number: &str) -> Result<Self, FieldError> {
        let parsed = ParsedNumber::parse(number).map_err(FieldError::Phone)?;
        Ok(Self {
            kind,
            number: number.trim().to_owned(),
            key: parsed.key(),
        })
    }
}

/// The editable fields of a customer (input to create and update).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerFields {
    /// Display name (1–200 characters).
    pub name: String,
    /// Company (up to 200 characters).
    pub company: Option<String>,
    /// Phone numbers (up to 10); unique per tenant among live customers.
    pub phones: Vec<Phone>,
    /// E-mail address (up to 254 characters, one `@`).
    pub email: Option<String>,
    /// Tags (up to 32, each 1–64 characters).
    pub tags: BTreeSet<String>,
    /// Notes (up to 10,000 characters).
    pub notes: String,
    /// Custom fields (up to 50; keys 1–64, values up to 1,000 characters).
    pub custom: BTreeMap<String, String>,
    /// The agent who owns the customer.
    pub owner: Option<UserId>,
}

impl fmt::Debug for CustomerFields {
    /// Free-text fields may hold numbers: only the shape is printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerFields")
            .field("phones", &self.phones.len())
            .field("tags", &self.tags.len())
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// Limits on customer fields.
pub mod limits {
    /// Name and company, in characters.
    pub const NAME: usize = 200;
    /// Phone numbers per customer.
    pub const PHONES: usize = 10;
    /// E-mail address, in characters.
    pub const EMAIL: usize = 254;
    /// Tags per customer.
    pub const TAGS: usize = 32;
    /// One tag, a custom-field key, in characters.
    pub const TAG: usize = 64;
    /// Notes, in characters.
    pub const NOTES: usize = 10_000;
    /// Custom fields per customer.
    pub const CUSTOM: usize = 50;
    /// A custom-field value, in characters.
    pub const CUSTOM_VALUE: usize = 1_000;
}

fn bad_text(s: &str, max: usize, allow_newlines: bool) -> bool {
    s.chars().count() > max
        || s.chars()
            .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\t')))
}

impl CustomerFields {
    /// A customer called `name` with nothing else set.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// Checks every field; lists every violation.
    pub fn validate(&self) -> Result<(), CrmError> {
        use limits::*;
        let mut v = Vec::new();
        if self.name.trim().is_empty() || bad_text(&self.name, NAME, false) {
            v.push(FieldError::Name);
        }
        if self
            .company
            .as_deref()
            .is_some_and(|c| bad_text(c, NAME, false))
        {
            v.push(FieldError::Company);
        }
        if self.phones.len() > PHONES {
            v.push(FieldError::TooManyPhones { max: PHONES });
        }
        let mut keys = BTreeSet::new();
        if self.phones.iter().any(|p| !keys.insert(p.key.as_str())) {
            v.push(FieldError::DuplicatePhone);
        }
        if let Some(e) = &self.email {
            let at = e.matches('@').count();
            if at != 1
                || e.starts_with('@')
                || e.ends_with('@')
                || bad_text(e, EMAIL, false)
                || e.contains(' ')
            {
                v.push(FieldError::Email);
            }
        }
        if self.tags.len() > TAGS
            || self
                .tags
                .iter()
                .any(|t| t.trim().is_empty() || bad_text(t, TAG, false))
        {
            v.push(FieldError::Tags);
        }
        if bad_text(&self.notes, NOTES, true) {
            v.push(FieldError::Notes);
        }
        if self.custom.len() > CUSTOM
            || self.custom.iter().any(|(k, val)| {
                k.trim().is_empty() || bad_text(k, TAG, false) || bad_text(val, CUSTOM_VALUE, true)
            })
        {
            v.push(FieldError::Custom);
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(CrmError::Invalid { violations: v })
        }
    }
}

/// A stored customer record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Customer {
    /// The id.
    pub id: CustomerId,
    /// The tenant the record belongs to.
    pub tenant: TenantId,
    /// Bumped by every update; updates name the version they saw.
    pub version: u64,
    /// The fields.
    pub fields: CustomerFields,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it was last changed.
    pub updated_at: SystemTime,
}

impl Recyclable for Customer {
    type Id = CustomerId;
    type Key = String;

    fn id(&self) -> CustomerId {
        self.id
    }

    fn unique_keys(&self) -> Vec<String> {
        self.fields.phones.iter().map(|p| p.key.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_7_validation_lists_every_violation() {
        let mut f = CustomerFields::named("");
        f.email = Some("no-at-sign".into());
        f.tags.insert(String::new());
        let p = Phone::parse(PhoneKind::Mobile, "138 1234 5678").unwrap();
        f.phones = vec![
            p.clone(),
            Phone::parse(PhoneKind::Work, "13812345678").unwrap(),
        ];
        let Err(CrmError::Invalid { violations }) = f.validate() else {
            panic!("invalid");
        };
        assert_eq!(
            violations,
            vec![
                FieldError::Name,
                FieldError::DuplicatePhone,
                FieldError::Email,
                FieldError::Tags
            ]
        );
        assert!(!format!("{p:?}").contains("138"));
        assert!(Phone::parse(PhoneKind::Mobile, "call me").is_err());
    }
}
