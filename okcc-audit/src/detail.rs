//! Free structured detail of an event, with guard rails against secrets
//! and unmasked phone numbers.
//!
//! # The contract
//! - **Secrets never enter an event.** Detail keys that name a secret
//!   (`password`, `secret`, `token`, `ha1`, `credential`, `private_key`,
//!   `api_key`, `otp`, `totp`) are refused, so a caller cannot log one by
//!   accident. Values are bounded [`Text`]s, integers, booleans, addresses
//!   or masked numbers; there is no way to attach a byte blob.
//! - **Phone numbers enter masked.** A number goes in only as a
//!   [`MaskedPhone`], which accepts a value that is *already masked* (it
//!   does not mask anything itself): either with at least four digits
//!   hidden as `*` (requirement 8.3, "hide the middle four digits") or the
//!   fully hidden form made only of `0`s (`00000000`). The masking policy
//!   itself lives in `okcc-core` (`okcc_core::mask`); any masker plugs in
//!   through [`PhoneMasker`] and [`MaskedPhone::mask_with`], which checks
//!   the masker's output against the same contract.
//! - Never put a raw number in a [`Text`] detail or a target id: those are
//!   free text and cannot be checked.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::EventError;
use crate::label::{Label, Text};

/// At most this many detail entries per event.
pub const MAX_DETAIL_ENTRIES: usize = 32;

/// Substrings that mark a detail key as naming a secret.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "ha1",
    "credential",
    "private_key",
    "private-key",
    "api_key",
    "api-key",
    "otp",
];

/// A detail key: a [`Label`] that does not name a secret.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DetailKey(Label);

impl DetailKey {
    /// Validates a key.
    pub fn new(key: &str) -> Result<Self, EventError> {
        let label = Label::checked(key, "detail key")?;
        if SECRET_WORDS.iter().any(|w| key.contains(w)) {
            return Err(EventError::SecretKey);
        }
        Ok(Self(label))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for DetailKey {
    type Error = EventError;
    fn try_from(s: String) -> Result<Self, EventError> {
        Self::new(&s)
    }
}

impl From<DetailKey> for String {
    fn from(k: DetailKey) -> Self {
        k.0.into()
    }
}

impl fmt::Debug for DetailKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DetailKey({:?})", self.as_str())
    }
}

impl fmt::Display for DetailKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A phone number that has already been masked (see the module docs for
/// the contract).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MaskedPhone(Arc<str>);

/// Turns a raw phone number into its masked form; `okcc_core::mask`
/// provides the policy. Closures `Fn(&str) -> String` implement it.
pub trait PhoneMasker {
    /// The masked form of `raw`.
    fn mask(&self, raw: &str) -> String;
}

impl<F: Fn(&str) -> String> PhoneMasker for F {
    fn mask(&self, raw: &str) -> String {
        self(raw)
    }
}

impl MaskedPhone {
    /// The longest masked number, in characters.
    pub const MAX_LEN: usize = 32;

    /// Accepts an already-masked number: 1 to 32 characters from `0-9`,
    /// `*`, `+`, `-`, space; either at least four `*` and at most 11
    /// visible digits, or only `0` digits and no `*` (the fully hidden
    /// form). Anything else is refused with [`EventError::NotMasked`].
    pub fn new(masked: &str) -> Result<Self, EventError> {
        let charset_ok = !masked.is_empty()
            && masked.len() <= Self::MAX_LEN
            && masked
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'+' | b'-' | b' '));
        if !charset_ok {
            return Err(EventError::NotMasked);
        }
        let stars = masked.bytes().filter(|&b| b == b'*').count();
        let digits = masked.bytes().filter(u8::is_ascii_digit).count();
        let hidden_middle = stars >= 4 && digits <= 11;
        let fully_hidden = stars == 0
            && digits > 0
            && masked
                .bytes()
                .all(|b| b != b'+' && (b == b'0' || !b.is_ascii_digit()));
        if hidden_middle || fully_hidden {
            Ok(Self(Arc::from(masked)))
        } else {
            Err(EventError::NotMasked)
        }
    }

    /// Masks `raw` with `masker`, then checks the result against the
    /// contract (a masker that leaks the number is refused).
    pub fn mask_with(raw: &str, masker: &dyn PhoneMasker) -> Result<Self, EventError> {
        Self::new(&masker.mask(raw))
    }

    /// The masked number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MaskedPhone {
    type Error = EventError;
    fn try_from(s: String) -> Result<Self, EventError> {
        Self::new(&s)
    }
}

impl From<MaskedPhone> for String {
    fn from(m: MaskedPhone) -> Self {
        m.0.to_string()
    }
}

impl fmt::Debug for MaskedPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskedPhone({:?})", &*self.0)
    }
}

impl fmt::Display for MaskedPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One detail value. JSON form: `{"text": "..."}`, `{"int": 3}`,
/// `{"bool": true}`, `{"ip": "192.0.2.1"}`, `{"masked_phone": "138****5678"}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum DetailValue {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A bounded text (no secrets, no raw numbers).
    Text(Text),
    /// An IP address.
    Ip(IpAddr),
    /// An already-masked phone number.
    MaskedPhone(MaskedPhone),
}

impl DetailValue {
    /// A text value.
    pub fn text(s: &str) -> Result<Self, EventError> {
        Text::new(s).map(Self::Text)
    }
}

impl From<bool> for DetailValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<i64> for DetailValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<u32> for DetailValue {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<IpAddr> for DetailValue {
    fn from(v: IpAddr) -> Self {
        Self::Ip(v.to_canonical())
    }
}

impl From<Text> for DetailValue {
    fn from(v: Text) -> Self {
        Self::Text(v)
    }
}

impl From<MaskedPhone> for DetailValue {
    fn from(v: MaskedPhone) -> Self {
        Self::MaskedPhone(v)
    }
}

/// The free structured detail of an event: up to 32 key/value pairs,
/// ordered by key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<DetailKey, DetailValue>")]
pub struct Detail(BTreeMap<DetailKey, DetailValue>);

impl Detail {
    /// An empty detail.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` (replacing an earlier value).
    pub fn insert(&mut self, key: &str, value: DetailValue) -> Result<&mut Self, EventError> {
        let key = DetailKey::new(key)?;
        if !self.0.contains_key(&key) && self.0.len() >= MAX_DETAIL_ENTRIES {
            return Err(EventError::TooManyDetails {
                max: MAX_DETAIL_ENTRIES,
            });
        }
        self.0.insert(key, value);
        Ok(self)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&DetailValue> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// The entries, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&DetailKey, &DetailValue)> {
        self.0.iter()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<BTreeMap<DetailKey, DetailValue>> for Detail {
    type Error = EventError;
    fn try_from(map: BTreeMap<DetailKey, DetailValue>) -> Result<Self, EventError> {
        if map.len() > MAX_DETAIL_ENTRIES {
            return Err(EventError::TooManyDetails {
                max: MAX_DETAIL_ENTRIES,
            });
        }
        Ok(Self(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_5_1_detail_keys_naming_secrets_are_refused() {
        for key in [
            "password",
            "new_password",
            "sip-secret",
            "ha1",
            "api_key",
            "totp",
            "token",
        ] {
            assert_eq!(DetailKey::new(key), Err(EventError::SecretKey), "{key}");
        }
        assert!(DetailKey::new("claimed_user").is_ok());
    }

    #[test]
    fn req_8_3_detail_accepts_only_masked_numbers() {
        assert!(MaskedPhone::new("138****5678").is_ok());
        assert!(MaskedPhone::new("+86 138****5678").is_ok());
        assert!(MaskedPhone::new("00000000").is_ok());
        for raw in [
            "13812345678",
            "+8613812345678",
            "138**45678",
            "12345678",
            "",
            "abc****",
        ] {
            assert_eq!(MaskedPhone::new(raw), Err(EventError::NotMasked), "{raw}");
        }
    }

    #[test]
    fn req_8_3_masker_output_is_checked() {
        let good = |raw: &str| format!("{}****{}", &raw[..3], &raw[7..]);
        assert_eq!(
            MaskedPhone::mask_with("13812345678", &good)
                .expect("masked")
                .as_str(),
            "138****5678"
        );
        let leaky = |raw: &str| raw.to_owned();
        assert_eq!(
            MaskedPhone::mask_with("13812345678", &leaky),
            Err(EventError::NotMasked)
        );
    }

    #[test]
    fn req_5_1_detail_is_bounded() {
        let mut d = Detail::new();
        for i in 0..MAX_DETAIL_ENTRIES {
            d.insert(&format!("k{i}"), DetailValue::Int(1))
                .expect("room");
        }
        assert_eq!(
            d.insert("one-more", DetailValue::Bool(true)).map(|_| ()),
            Err(EventError::TooManyDetails { max: 32 })
        );
        d.insert("k0", DetailValue::Bool(false))
            .expect("replacing is fine");
        assert_eq!(d.get("k0"), Some(&DetailValue::Bool(false)));
    }

    #[test]
    fn req_5_1_detail_json_is_tagged_and_validated() {
        let mut d = Detail::new();
        d.insert("phone", MaskedPhone::new("138****5678").expect("m").into())
            .expect("ok");
        let json = serde_json::to_string(&d).expect("ser");
        assert_eq!(json, r#"{"phone":{"masked_phone":"138****5678"}}"#);
        assert_eq!(serde_json::from_str::<Detail>(&json).expect("de"), d);
        assert!(
            serde_json::from_str::<Detail>(r#"{"phone":{"masked_phone":"13812345678"}}"#).is_err()
        );
        assert!(serde_json::from_str::<Detail>(r#"{"password":{"text":"x"}}"#).is_err());
    }
}
