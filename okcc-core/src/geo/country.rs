//! ISO 3166-1 alpha-2 country codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The officially assigned ISO 3166-1 alpha-2 codes, sorted, plus `XK`
/// (Kosovo: user-assigned, but used by MaxMind and most registries).
const ASSIGNED: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Why a text is not a country code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CountryCodeError {
    /// Not two ASCII letters.
    #[error("a country code is two letters (ISO 3166-1 alpha-2, e.g. CN)")]
    NotTwoLetters,
    /// Two letters, but no country has them.
    #[error("{0} is not an assigned ISO 3166-1 alpha-2 country code")]
    Unassigned(String),
}

/// A country as an ISO 3166-1 alpha-2 code, stored upper-case (`CN`, `US`).
///
/// [`CountryCode::from_str`] (used for rules) accepts only assigned codes
/// (and `XK`), case-insensitively, so a typo such as `country:XX` is
/// refused. GeoIP data may carry other two-letter codes (MaxMind uses `EU`
/// and `AP` for some ranges); [`CountryCode::from_geo`] accepts any two
/// letters, and such a code simply matches no rule.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Any two ASCII letters, upper-cased; for codes read from GeoIP data.
    pub fn from_geo(s: &str) -> Option<Self> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    /// The code as text (`"CN"`).
    pub fn as_str(&self) -> &str {
        // Invariant: both bytes are ASCII letters (checked on construction).
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// `true` if the code is an assigned ISO 3166-1 alpha-2 code (or `XK`).
    pub fn is_assigned(&self) -> bool {
        ASSIGNED.binary_search(&self.as_str()).is_ok()
    }
}

impl FromStr for CountryCode {
    type Err = CountryCodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = Self::from_geo(s).ok_or(CountryCodeError::NotTwoLetters)?;
        if code.is_assigned() {
            Ok(code)
        } else {
            Err(CountryCodeError::Unassigned(code.as_str().to_owned()))
        }
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_list_is_sorted_and_complete() {
        assert!(ASSIGNED.windows(2).all(|w| w[0] < w[1]));
        // 249 assigned codes + XK.
        assert_eq!(ASSIGNED.len(), 250);
    }

    #[test]
    fn req_2_1_country_codes_are_checked() {
        assert_eq!("cn".parse::<CountryCode>().unwrap().as_str(), "CN");
        assert_eq!(
            "XX".parse::<CountryCode>(),
            Err(CountryCodeError::Unassigned("XX".into()))
        );
        assert_eq!(
            "C".parse::<CountryCode>(),
            Err(CountryCodeError::NotTwoLetters)
        );
        assert_eq!(
            "C1".parse::<CountryCode>(),
            Err(CountryCodeError::NotTwoLetters)
        );
        assert_eq!(
            "中国".parse::<CountryCode>(),
            Err(CountryCodeError::NotTwoLetters)
        );
        assert_eq!(CountryCode::from_geo("eu").unwrap().as_str(), "EU");
        assert!(!CountryCode::from_geo("EU").unwrap().is_assigned());
    }
}
