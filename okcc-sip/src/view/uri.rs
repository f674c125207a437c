//! Borrowed SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), IPv6 references included.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use super::address::{find_byte, split_once_byte};

/// The scheme of a URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriScheme {
    /// `sip:`.
    Sip,
    /// `sips:`.
    Sips,
    /// `tel:`.
    Tel,
    /// Any other scheme (kept as raw text only).
    Other,
}

/// Why a URI was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// No `scheme:` prefix.
    #[error("URI has no scheme")]
    NoScheme,
    /// `sip:@host`: the user part is present but empty.
    #[error("URI has an empty user part")]
    EmptyUser,
    /// The host is empty or holds characters a host name cannot hold.
    #[error("URI host is empty or invalid")]
    BadHost,
    /// `[..]` does not hold a valid IPv6 address, or the bracket is unclosed.
    #[error("URI holds an invalid IPv6 reference")]
    BadIpv6,
    /// The port is not a number from 0 to 65535.
    #[error("URI port is not a number from 0 to 65535")]
    BadPort,
}

/// A borrowed URI. All parts are slices of the raw text; escapes are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SipUri<'a> {
    /// The URI exactly as received.
    pub raw: &'a str,
    /// The scheme.
    pub scheme: UriScheme,
    /// The user part (`alice` in `sip:alice:pw@host`; the number of a `tel:` URI),
    /// escapes kept (`%61lice`). The password part is never exposed.
    pub user: Option<&'a str>,
    /// The host without IPv6 brackets; empty for `tel:` and unknown schemes.
    pub host: &'a str,
    /// The port, when given.
    pub port: Option<u16>,
    /// The URI parameters after the first `;`, raw (empty when none).
    pub params: &'a str,
}

impl<'a> SipUri<'a> {
    /// Parses a URI. Leading and trailing whitespace must already be trimmed.
    pub fn parse(raw: &'a str) -> Result<Self, UriError> {
        let colon = find_byte(raw, b':').ok_or(UriError::NoScheme)?;
        let scheme_text = &raw[..colon];
        let rest = &raw[colon + 1..];
        let scheme = if scheme_text.eq_ignore_ascii_case("sip") {
            UriScheme::Sip
        } else if scheme_text.eq_ignore_ascii_case("sips") {
            UriScheme::Sips
        } else if scheme_text.eq_ignore_ascii_case("tel") {
            UriScheme::Tel
        } else if !scheme_text.is_empty()
            && scheme_text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            UriScheme::Other
        } else {
            return Err(UriError::NoScheme);
        };
        match scheme {
            UriScheme::Other => Ok(Self {
                raw,
                scheme,
                user: None,
                host: "",
                port: None,
                params: "",
            }),
            UriScheme::Tel => {
                let (number, params) = split_once_byte(rest, b';').unwrap_or((rest, ""));
                if number.is_empty() {
                    return Err(UriError::EmptyUser);
                }
                Ok(Self {
                    raw,
                    scheme,
                    user: Some(number),
                    host: "",
                    port: None,
                    params,
                })
            }
            UriScheme::Sip | UriScheme::Sips => Self::parse_sip(raw, scheme, rest),
        }
    }

    fn parse_sip(raw: &'a str, scheme: UriScheme, rest: &'a str) -> Result<Self, UriError> {
        let head_end = find_byte(rest, b'?').unwrap_or(rest.len());
        let head = &rest[..head_end];
        let (user, hostpart) = match find_byte(head, b'@') {
            Some(at) => {
                let userinfo = &head[..at];
                let user = split_once_byte(userinfo, b':').map_or(userinfo, |(u, _)| u);
                if user.is_empty() {
                    return Err(UriError::EmptyUser);
                }
                (Some(user), &head[at + 1..])
            }
            None => (None, head),
        };
        let (host, port, params) = parse_hostport(hostpart)?;
        Ok(Self {
            raw,
            scheme,
            user,
            host,
            port,
            params,
        })
    }

    /// The user part with `%XX` escapes decoded (RFC 3261 §19.1.4 compares
    /// users after unescaping). Invalid escapes or non-UTF-8 results give `None`.
    pub fn user_unescaped(&self) -> Option<Cow<'a, str>> {
        self.user.and_then(unescape)
    }
}

/// Splits `host[:port][;params]` (IPv6 in brackets) into its parts.
pub(crate) fn parse_hostport(hostpart: &str) -> Result<(&str, Option<u16>, &str), UriError> {
    let (host, after_host) = if let Some(v6) = hostpart.strip_prefix('[') {
        let close = find_byte(v6, b']').ok_or(UriError::BadIpv6)?;
        let host = &v6[..close];
        host.parse::<Ipv6Addr>().map_err(|_| UriError::BadIpv6)?;
        (host, &v6[close + 1..])
    } else {
        let end = hostpart
            .bytes()
            .position(|c| c == b':' || c == b';')
            .unwrap_or(hostpart.len());
        let host = &hostpart[..end];
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !valid {
            return Err(UriError::BadHost);
        }
        (host, &hostpart[end..])
    };
    if let Some(p) = after_host.strip_prefix(':') {
        let end = find_byte(p, b';').unwrap_or(p.len());
        Ok((
            host,
            Some(parse_port(&p[..end])?),
            p.get(end + 1..).unwrap_or(""),
        ))
    } else if let Some(params) = after_host.strip_prefix(';') {
        Ok((host, None, params))
    } else if after_host.is_empty() {
        Ok((host, None, ""))
    } else {
        Err(UriError::BadHost)
    }
}

fn parse_port(s: &str) -> Result<u16, UriError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::BadPort);
    }
    s.parse::<u16>().map_err(|_| UriError::BadPort)
}

/// Decodes `%XX` escapes; `None` when an escape is invalid or the result is not UTF-8.
pub fn unescape(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex_val(*bytes.get(i + 1)?)?;
            let lo = hex_val(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_19_1_parses_user_host_port_params() {
        let u = SipUri::parse("sip:alice:secret@example.com:5070;transport=tcp?subject=x")
            .expect("valid");
        assert_eq!(u.scheme, UriScheme::Sip);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.host, "example.com");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params, "transport=tcp");
    }

    #[test]
    fn rfc5118_ipv6_references_parse() {
        let u = SipUri::parse("sip:[2001:db8::1]:5060").expect("valid");
        assert_eq!((u.user, u.host, u.port), (None, "2001:db8::1", Some(5060)));
        let u = SipUri::parse("sips:alice@[2001:db8::10];transport=tls").expect("valid");
        assert_eq!(
            (u.user, u.host, u.port),
            (Some("alice"), "2001:db8::10", None)
        );
        assert_eq!(SipUri::parse("sip:[2001:db8::1"), Err(UriError::BadIpv6));
        assert_eq!(
            SipUri::parse("sip:[2001:db8:::1:2:3:4:5]"),
            Err(UriError::BadIpv6)
        );
    }

    #[test]
    fn rejects_bad_ports_hosts_and_empty_users() {
        assert_eq!(SipUri::parse("sip:a@h:99999"), Err(UriError::BadPort));
        assert_eq!(SipUri::parse("sip:a@h:-1"), Err(UriError::BadPort));
        assert_eq!(SipUri::parse("sip:@h"), Err(UriError::EmptyUser));
        assert_eq!(SipUri::parse("sip:a@"), Err(UriError::BadHost));
        assert_eq!(SipUri::parse("sip:a@h o"), Err(UriError::BadHost));
        assert_eq!(SipUri::parse("nocolon"), Err(UriError::NoScheme));
    }

    #[test]
    fn tel_and_escaped_users() {
        let u = SipUri::parse("tel:+4930123;phone-context=example.com").expect("valid");
        assert_eq!((u.scheme, u.user), (UriScheme::Tel, Some("+4930123")));
        let u = SipUri::parse("sip:%61lice@example.com").expect("valid");
        assert_eq!(u.user, Some("%61lice"));
        assert_eq!(u.user_unescaped().as_deref(), Some("alice"));
        let u = SipUri::parse("sip:%zz@example.com").expect("valid");
        assert_eq!(u.user_unescaped(), None);
    }
}
