//! Header names, with the compact forms of RFC 3261 §7.3.3 folded in.

use std::fmt;

/// A SIP header name the guard understands; anything else is [`HeaderName::Other`].
///
/// Compact forms (`v`, `f`, `t`, `m`, `i`, `l`, ...) and any letter case map to
/// the same variant, so `v:` and `VIA:` are both [`HeaderName::Via`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderName {
    /// `Authorization`.
    Authorization,
    /// `Call-ID` (compact `i`).
    CallId,
    /// `Contact` (compact `m`).
    Contact,
    /// `Content-Length` (compact `l`).
    ContentLength,
    /// `Content-Type` (compact `c`).
    ContentType,
    /// `CSeq`.
    CSeq,
    /// `Expires`.
    Expires,
    /// `From` (compact `f`).
    From,
    /// `Max-Forwards`.
    MaxForwards,
    /// `P-Asserted-Identity`.
    PAssertedIdentity,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `Remote-Party-ID`.
    RemotePartyId,
    /// `To` (compact `t`).
    To,
    /// `User-Agent`.
    UserAgent,
    /// `Via` (compact `v`).
    Via,
    /// Any other header.
    Other,
}

impl HeaderName {
    /// Classifies a raw header name (any case, compact forms folded).
    pub fn classify(raw: &str) -> Self {
        let b = raw.as_bytes();
        if b.len() == 1 {
            return match b[0].to_ascii_lowercase() {
                b'i' => Self::CallId,
                b'm' => Self::Contact,
                b'l' => Self::ContentLength,
                b'c' => Self::ContentType,
                b'f' => Self::From,
                b't' => Self::To,
                b'v' => Self::Via,
                _ => Self::Other,
            };
        }
        let candidates: &[(&str, Self)] = match b.len() {
            2 => &[("to", Self::To)],
            3 => &[("via", Self::Via)],
            4 => &[("cseq", Self::CSeq), ("from", Self::From)],
            7 => &[
                ("call-id", Self::CallId),
                ("contact", Self::Contact),
                ("expires", Self::Expires),
            ],
            10 => &[("user-agent", Self::UserAgent)],
            12 => &[
                ("max-forwards", Self::MaxForwards),
                ("content-type", Self::ContentType),
            ],
            13 => &[("authorization", Self::Authorization)],
            14 => &[("content-length", Self::ContentLength)],
            15 => &[("remote-party-id", Self::RemotePartyId)],
            19 => &[
                ("proxy-authorization", Self::ProxyAuthorization),
                ("p-asserted-identity", Self::PAssertedIdentity),
            ],
            _ => &[],
        };
        // A byte loop, no `memcmp` call: the names are short.
        candidates
            .iter()
            .find(|(name, _)| raw.eq_ignore_ascii_case(name))
            .map_or(Self::Other, |(_, h)| *h)
    }

    /// The canonical (long) spelling, or `"other"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorization => "Authorization",
            Self::CallId => "Call-ID",
            Self::Contact => "Contact",
            Self::ContentLength => "Content-Length",
            Self::ContentType => "Content-Type",
            Self::CSeq => "CSeq",
            Self::Expires => "Expires",
            Self::From => "From",
            Self::MaxForwards => "Max-Forwards",
            Self::PAssertedIdentity => "P-Asserted-Identity",
            Self::ProxyAuthorization => "Proxy-Authorization",
            Self::RemotePartyId => "Remote-Party-ID",
            Self::To => "To",
            Self::UserAgent => "User-Agent",
            Self::Via => "Via",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_7_3_3_compact_forms_fold_to_long_names() {
        for (raw, want) in [
            ("v", HeaderName::Via),
            ("F", HeaderName::From),
            ("t", HeaderName::To),
            ("m", HeaderName::Contact),
            ("i", HeaderName::CallId),
            ("l", HeaderName::ContentLength),
            ("VIA", HeaderName::Via),
            ("call-id", HeaderName::CallId),
            ("CSEQ", HeaderName::CSeq),
            ("Proxy-Authorization", HeaderName::ProxyAuthorization),
            ("p-asserted-identity", HeaderName::PAssertedIdentity),
            ("X-Foo", HeaderName::Other),
            ("x", HeaderName::Other),
        ] {
            assert_eq!(HeaderName::classify(raw), want, "{raw}");
        }
    }
}
