//! Structured views of the address-bearing headers: From/To/Contact
//! (name-addr), Via and CSeq.

use super::uri::{SipUri, UriError, parse_hostport};

/// Why an address header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The header value is empty.
    #[error("empty value")]
    Empty,
    /// A quoted string or `<` is not closed.
    #[error("unterminated quoted string or angle bracket")]
    Unterminated,
    /// The URI inside is invalid.
    #[error("invalid URI: {0}")]
    Uri(#[from] UriError),
    /// A Via value is not `SIP/2.0/<transport> <host>[:port]`.
    #[error("Via is not SIP/2.0/<transport> <sent-by>")]
    BadVia,
    /// A CSeq value is not `<number> <method>` with a number below 2^31.
    #[error("CSeq is not <number below 2^31> <method>")]
    BadCSeq,
}

/// `true` for the linear whitespace that may sit between tokens (folded lines included).
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims linear whitespace at both ends (byte-wise: LWS bytes are ASCII, so
/// the cut always falls on a character boundary).
pub(crate) fn trim_lws(s: &str) -> &str {
    let bytes = s.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| !is_lws(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_lws(b))
        .map_or(start, |p| p + 1);
    s.get(start..end).unwrap_or("")
}

/// The first element of a comma-separated header value, honouring quotes and `<>`.
/// Returns `Err` when a quote or bracket is left open.
pub(crate) fn first_element(value: &str) -> Result<&str, AddressError> {
    // Jumps from one special byte to the next with memchr instead of a
    // byte-by-byte state machine: outside quotes and brackets only `"`, `<`
    // and `,` matter; inside quotes only `\\` and `"`; inside `<>` only `>`.
    let bytes = value.as_bytes();
    let mut i = 0;
    loop {
        let Some(p) = bytes
            .get(i..)
            .and_then(|b| memchr::memchr3(b'"', b'<', b',', b))
        else {
            return Ok(value);
        };
        i += p;
        match bytes[i] {
            b',' => return Ok(&value[..i]),
            b'"' => {
                i += 1;
                loop {
                    let q = bytes
                        .get(i..)
                        .and_then(|b| memchr::memchr2(b'\\', b'"', b))
                        .ok_or(AddressError::Unterminated)?;
                    i += q;
                    if bytes[i] == b'"' {
                        i += 1;
                        break;
                    }
                    i += 2;
                }
            }
            _ => {
                let q = memchr::memchr(b'>', &bytes[i + 1..]).ok_or(AddressError::Unterminated)?;
                i += q + 2;
            }
        }
    }
}

/// Position of the first `b` in `s`. A plain byte loop: header parts are
/// short, and `str::find(char)` goes through a generic searcher (a
/// `memchr` and a `memcmp` call per hit).
#[inline]
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// `s` split around the first `b` (an ASCII byte, so both halves are
/// `str`s).
#[inline]
pub(crate) fn split_once_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, b)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// `s` split around the last `b` (an ASCII byte).
#[inline]
pub(crate) fn rsplit_once_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = s.bytes().rposition(|c| c == b)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The value of parameter `name` in a `;`-separated parameter list (case-insensitive
/// name). `Some("")` for a flag parameter without a value.
pub(crate) fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = params;
    loop {
        let (p, next) = match split_once_byte(rest, b';') {
            Some((p, next)) => (p, Some(next)),
            None => (rest, None),
        };
        let (k, v) = split_once_byte(p, b'=').unwrap_or((p, ""));
        if trim_lws(k).eq_ignore_ascii_case(name) {
            return Some(trim_lws(v));
        }
        rest = next?;
    }
}

/// A borrowed `name-addr` / `addr-spec` (From, To, Contact, P-Asserted-Identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NameAddr<'a> {
    /// The element as received (first element of the header, trimmed).
    pub raw: &'a str,
    /// The display name: the inside of the quotes (escapes kept) or the bare tokens.
    pub display_name: Option<&'a str>,
    /// The address.
    pub uri: SipUri<'a>,
    /// The `tag` parameter, when present.
    pub tag: Option<&'a str>,
    /// Header parameters after the address, raw (empty when none).
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    /// Parses the first element of a header value.
    pub fn parse(value: &'a str) -> Result<Self, AddressError> {
        let raw = trim_lws(first_element(value)?);
        if raw.is_empty() {
            return Err(AddressError::Empty);
        }
        let (display_name, after_display) = if let Some(q) = raw.strip_prefix('"') {
            let end = closing_quote(q).ok_or(AddressError::Unterminated)?;
            (Some(&q[..end]), trim_lws(&q[end + 1..]))
        } else if let Some(lt) = find_byte(raw, b'<') {
            let name = trim_lws(&raw[..lt]);
            ((!name.is_empty()).then_some(name), &raw[lt..])
        } else {
            (None, raw)
        };
        let (uri_text, params) = if let Some(inner) = after_display.strip_prefix('<') {
            let gt = find_byte(inner, b'>').ok_or(AddressError::Unterminated)?;
            let rest = trim_lws(&inner[gt + 1..]);
            (
                trim_lws(&inner[..gt]),
                rest.strip_prefix(';').unwrap_or(rest),
            )
        } else if display_name.is_some() {
            // A quoted display name must be followed by `<uri>`.
            return Err(AddressError::Unterminated);
        } else {
            match split_once_byte(after_display, b';') {
                Some((u, p)) => (trim_lws(u), p),
                None => (after_display, ""),
            }
        };
        let uri = SipUri::parse(uri_text)?;
        Ok(Self {
            raw,
            display_name,
            uri,
            tag: param(params, "tag"),
            params,
        })
    }
}

fn closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A Contact value: `*` (remove all bindings) or an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Contact<'a> {
    /// `Contact: *`.
    Star,
    /// An address.
    Address(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parses the first element of a Contact header value.
    pub fn parse(value: &'a str) -> Result<Self, AddressError> {
        if trim_lws(value) == "*" {
            Ok(Self::Star)
        } else {
            NameAddr::parse(value).map(Self::Address)
        }
    }

    /// The address, unless this is `*`.
    pub fn address(&self) -> Option<&NameAddr<'a>> {
        match self {
            Self::Star => None,
            Self::Address(a) => Some(a),
        }
    }
}

/// The topmost Via value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Via<'a> {
    /// The value as received (first element, trimmed).
    pub raw: &'a str,
    /// The transport (`UDP`, `TCP`, `TLS`, `WS`, ...), as written.
    pub transport: &'a str,
    /// The sent-by host (IPv6 without brackets).
    pub host: &'a str,
    /// The sent-by port, when given.
    pub port: Option<u16>,
    /// The `branch` parameter.
    pub branch: Option<&'a str>,
}

impl<'a> Via<'a> {
    /// Parses the first element of a Via header value.
    pub fn parse(value: &'a str) -> Result<Self, AddressError> {
        let raw = trim_lws(first_element(value)?);
        let (proto, rest) = split_proto(raw).ok_or(AddressError::BadVia)?;
        // Exactly three `/`-separated parts.
        let (name, rest_proto) = split_once_byte(proto, b'/').ok_or(AddressError::BadVia)?;
        let (version, transport) = split_once_byte(rest_proto, b'/').ok_or(AddressError::BadVia)?;
        if find_byte(transport, b'/').is_some() {
            return Err(AddressError::BadVia);
        }
        let (name, version, transport) = (trim_lws(name), trim_lws(version), trim_lws(transport));
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || transport.is_empty() {
            return Err(AddressError::BadVia);
        }
        let (sent_by, params) = split_once_byte(rest, b';').unwrap_or((rest, ""));
        let (host, port, _) =
            parse_hostport(trim_lws(sent_by)).map_err(|_| AddressError::BadVia)?;
        Ok(Self {
            raw,
            transport,
            host,
            port,
            branch: param(params, "branch"),
        })
    }
}

/// Splits `SIP / 2.0 / UDP host...` into the protocol part and the rest.
fn split_proto(raw: &str) -> Option<(&str, &str)> {
    // The protocol part ends at the first whitespace that follows the transport
    // token, i.e. after two '/' have been seen.
    let bytes = raw.as_bytes();
    let mut slashes = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'/' {
            slashes += 1;
        } else if slashes == 2 && !is_lws(b) {
            // inside the transport token: run to its end
            let end = bytes.get(i..)?.iter().position(|&c| is_lws(c))? + i;
            return Some((&raw[..end], trim_lws(&raw[end..])));
        }
        i += 1;
    }
    None
}

/// CSeq: sequence number and method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CSeq<'a> {
    /// The sequence number (below 2^31, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method, as written.
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses a CSeq value.
    pub fn parse(value: &'a str) -> Result<Self, AddressError> {
        let v = trim_lws(value);
        let split = v.bytes().position(is_lws).ok_or(AddressError::BadCSeq)?;
        let (num, method) = (&v[..split], trim_lws(&v[split..]));
        if num.is_empty() || num.len() > 10 || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AddressError::BadCSeq);
        }
        let seq = num.parse::<u32>().map_err(|_| AddressError::BadCSeq)?;
        let method_ok = !method.is_empty() && method.bytes().all(is_token_byte);
        if seq >= 1 << 31 || !method_ok {
            return Err(AddressError::BadCSeq);
        }
        Ok(Self { seq, method })
    }
}

/// RFC 3261 `token` characters.
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[usize::from(b)]
}

/// RFC 3261 `token` characters, as a lookup table (the header-name check
/// runs on every field of every message).
static TOKEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_20_20_name_addr_forms() {
        let a = NameAddr::parse(r#" "Bob \"B\" Smith" <sip:bob@biloxi.com>;tag=a6c85cf"#)
            .expect("valid");
        assert_eq!(a.display_name, Some(r#"Bob \"B\" Smith"#));
        assert_eq!(a.uri.user, Some("bob"));
        assert_eq!(a.tag, Some("a6c85cf"));

        let a = NameAddr::parse("Alice <sip:alice@atlanta.com>").expect("valid");
        assert_eq!(a.display_name, Some("Alice"));

        let a = NameAddr::parse("sip:carol@chicago.com;tag=887s").expect("valid");
        assert_eq!(
            (a.display_name, a.uri.user, a.tag),
            (None, Some("carol"), Some("887s"))
        );
        assert_eq!(a.uri.params, "");

        let a = NameAddr::parse("<sip:1001@[2001:db8::5]:5060;transport=udp>, <sip:x@y>")
            .expect("valid");
        assert_eq!(a.uri.host, "2001:db8::5");
        assert_eq!(a.uri.params, "transport=udp");

        assert!(NameAddr::parse("\"open <sip:a@b>").is_err());
        assert!(NameAddr::parse("<sip:a@b").is_err());
        assert!(NameAddr::parse("   ").is_err());
    }

    #[test]
    fn rfc3261_20_42_via_parses_sent_by_and_branch() {
        let v =
            Via::parse("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds, SIP/2.0/TCP x")
                .expect("valid");
        assert_eq!(
            (v.transport, v.host, v.port),
            ("UDP", "pc33.atlanta.com", Some(5066))
        );
        assert_eq!(v.branch, Some("z9hG4bK776asdhds"));
        let v = Via::parse("SIP / 2.0 / TCP [2001:db8::9]:5060 ;branch=z9hG4bKx").expect("valid");
        assert_eq!((v.transport, v.host), ("TCP", "2001:db8::9"));
        assert!(Via::parse("SIP/2.0/UDP host:999999;branch=x").is_err());
        assert!(Via::parse("SIP/3.0/UDP host").is_err());
        assert!(Via::parse("garbage").is_err());
    }

    #[test]
    fn rfc3261_8_1_1_5_cseq_below_2_pow_31() {
        assert_eq!(
            CSeq::parse("314159 INVITE"),
            Ok(CSeq {
                seq: 314_159,
                method: "INVITE"
            })
        );
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("99999999999999999999 INVITE").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
    }
}
