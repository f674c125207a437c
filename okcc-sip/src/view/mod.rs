//! A zero-copy, borrowed view of one SIP request.
//!
//! [`SipRequestView::parse`] reads untrusted bytes (one UDP datagram, or one
//! framed TCP/TLS message) and borrows everything from them: nothing is
//! copied or allocated. It checks the size cap first, never panics, and
//! refuses anything a registrar or proxy should not act on (duplicate
//! single-valued headers, a `Content-Length` larger than the body, invalid
//! Request-URIs, ...). Header values are kept as raw text; compact header
//! names (`v:`, `f:`, `t:`, `m:`, `i:`, `l:`) are folded into their long forms.
//!
//! ```
//! use okcc_sip::view::{Limits, SipMethod, SipRequestView};
//!
//! let msg = b"REGISTER sip:[2001:db8::1] SIP/2.0\r\n\
//! v: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK1\r\n\
//! f: \"Alice\" <sip:1001@example.com>;tag=1\r\n\
//! t: <sip:1001@example.com>\r\n\
//! i: abc@192.0.2.4\r\n\
//! CSeq: 1 REGISTER\r\n\
//! l: 0\r\n\r\n";
//! let view = SipRequestView::parse(msg, &Limits::default())?;
//! assert_eq!(view.method, SipMethod::Register);
//! assert_eq!(view.request_uri.host, "2001:db8::1");
//! assert_eq!(view.from_user(), Some("1001"));
//! # Ok::<(), okcc_sip::view::ParseError>(())
//! ```

mod address;
mod header;
mod method;
mod uri;

pub use address::{AddressError, CSeq, Contact, NameAddr, Via};
pub use header::HeaderName;
pub use method::SipMethod;
pub use uri::{SipUri, UriError, UriScheme, unescape};

pub(crate) use address::{first_element, is_token_byte, trim_lws};
use address::{rsplit_once_byte, split_once_byte};

/// Default cap on one message: 64 KiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Parser limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Messages longer than this are refused before any parsing (default 64 KiB).
    pub max_message_bytes: usize,
    /// At most this many header fields (default 256).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_headers: 256,
        }
    }
}

impl Limits {
    /// Limits with another message size cap.
    pub fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max;
        self
    }
}

/// What is wrong with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The message exceeds [`Limits::max_message_bytes`].
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The message length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Nothing but whitespace (keep-alive).
    #[error("empty message")]
    Empty,
    /// No empty line ends the header section.
    #[error("header section is not terminated by an empty line")]
    Incomplete,
    /// The header section is not UTF-8.
    #[error("header section is not valid UTF-8")]
    NotUtf8,
    /// This is a response, not a request.
    #[error("message is a response, not a request")]
    NotARequest,
    /// The request line is not `METHOD SP Request-URI SP SIP/2.0`.
    #[error("malformed request line")]
    BadRequestLine,
    /// The version is not `SIP/2.0` (answer 505).
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    /// The Request-URI is invalid.
    #[error("invalid Request-URI: {0}")]
    BadRequestUri(UriError),
    /// A header line has no `name:` prefix.
    #[error("malformed header line")]
    BadHeaderLine,
    /// More header fields than [`Limits::max_headers`].
    #[error("too many header fields")]
    TooManyHeaders,
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    MissingHeader(HeaderName),
    /// A single-valued header appears twice.
    #[error("duplicate {0} header")]
    DuplicateHeader(HeaderName),
    /// A header value is invalid.
    #[error("invalid {0} header")]
    InvalidHeader(HeaderName),
    /// `Content-Length` says more bytes than the message holds.
    #[error("Content-Length {declared} exceeds the {available} bytes of body")]
    ContentLengthMismatch {
        /// The declared length.
        declared: usize,
        /// The bytes present after the header section.
        available: usize,
    },
}

/// A refused message: what is wrong, and whether a `400` can be addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
#[non_exhaustive]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// `true` when Via, From, To, Call-ID and CSeq were all valid, so a
    /// `400 Bad Request` (or `505`) can be sent back; otherwise drop the
    /// message and count it.
    pub answerable: bool,
}

impl ParseError {
    fn early(kind: ParseErrorKind) -> Self {
        Self {
            kind,
            answerable: false,
        }
    }

    /// The SIP status to answer with when [`ParseError::answerable`]: `505`
    /// for a wrong version, `400` otherwise.
    pub fn status(&self) -> u16 {
        match self.kind {
            ParseErrorKind::UnsupportedVersion => 505,
            _ => 400,
        }
    }
}

/// A borrowed, stack-neutral view of one SIP request.
///
/// Every `&str` points into the parsed bytes. Single-valued headers hold
/// their only value; Via and Contact hold the first value and a count.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SipRequestView<'a> {
    /// The method.
    pub method: SipMethod,
    /// The method token as received (for extension methods).
    pub method_raw: &'a str,
    /// The Request-URI.
    pub request_uri: SipUri<'a>,
    /// The topmost Via.
    pub via: Via<'a>,
    /// How many Via header fields the request holds.
    pub via_count: usize,
    /// The From header.
    pub from: NameAddr<'a>,
    /// The To header.
    pub to: NameAddr<'a>,
    /// The first Contact, if any.
    pub contact: Option<Contact<'a>>,
    /// Call-ID.
    pub call_id: &'a str,
    /// CSeq.
    pub cseq: CSeq<'a>,
    /// Expires (values beyond `u32::MAX` saturate).
    pub expires: Option<u32>,
    /// Max-Forwards.
    pub max_forwards: Option<u8>,
    /// User-Agent, raw.
    pub user_agent: Option<&'a str>,
    /// The first Authorization value, raw.
    pub authorization: Option<&'a str>,
    /// The first Proxy-Authorization value, raw.
    pub proxy_authorization: Option<&'a str>,
    /// The first P-Asserted-Identity value, raw.
    pub p_asserted_identity: Option<&'a str>,
    /// The first Remote-Party-ID value, raw.
    pub remote_party_id: Option<&'a str>,
    /// Content-Length as declared (`None` when absent: the body runs to the end).
    pub content_length: Option<usize>,
    /// The body (exactly `Content-Length` bytes when declared).
    pub body: &'a [u8],
    head: &'a str,
}

impl<'a> SipRequestView<'a> {
    /// Parses one request. Checks `limits` before reading anything else.
    pub fn parse(bytes: &'a [u8], limits: &Limits) -> Result<Self, ParseError> {
        parse(bytes, limits)
    }

    /// The user part of the From URI (escapes kept).
    pub fn from_user(&self) -> Option<&'a str> {
        self.from.uri.user
    }

    /// The user part of the To URI (escapes kept).
    pub fn to_user(&self) -> Option<&'a str> {
        self.to.uri.user
    }

    /// Every header field in order, compact names folded: `(name, raw name, raw value)`.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            rest: self.head,
            left: usize::MAX,
        }
    }
}

/// Iterator over the header fields of a view (see [`SipRequestView::headers`]).
#[derive(Clone, Debug)]
pub struct Headers<'a> {
    rest: &'a str,
    left: usize,
}

impl<'a> Iterator for Headers<'a> {
    type Item = (HeaderName, &'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (line, rest) = next_field(self.rest)?;
        self.rest = rest;
        let (name, value) = split_field(line)?;
        Some((HeaderName::classify(name), name, value))
    }
}

/// Splits off one logical header field (with its folded continuation lines).
/// Returns `None` at the end of the section.
fn next_field(s: &str) -> Option<(&str, &str)> {
    if s.is_empty() {
        return None;
    }
    let bytes = s.as_bytes();
    let mut end = 0;
    loop {
        let nl = memchr::memchr(b'\n', &bytes[end..]).map_or(bytes.len(), |p| end + p);
        let next = (nl + 1).min(bytes.len());
        match bytes.get(next) {
            Some(b' ' | b'\t') => end = next,
            _ => {
                let line = s[..nl].strip_suffix('\r').unwrap_or(&s[..nl]);
                return Some((line, &s[next..]));
            }
        }
    }
}

/// `name: value` with the name trimmed of trailing whitespace and the value of LWS.
fn split_field(line: &str) -> Option<(&str, &str)> {
    let colon = memchr::memchr(b':', line.as_bytes())?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let name = name
        .bytes()
        .rposition(|c| c != b' ' && c != b'\t')
        .map_or("", |p| &name[..=p]);
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return None;
    }
    Some((name, trim_lws(value)))
}

/// A decimal made only of digits, at most `max`; `None` otherwise (sign, space, overflow).
fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        let digit = u64::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        acc.checked_mul(10)?
            .checked_add(digit)
            .filter(|v| *v <= max)
    })
}

/// Like [`parse_decimal`] but saturating at `u32::MAX` (for Expires).
fn parse_saturating_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        parse_decimal(s, u64::from(u32::MAX))
            .map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX)),
    )
}

#[derive(Default)]
struct Found<'a> {
    via: Option<Via<'a>>,
    via_count: usize,
    from: Option<NameAddr<'a>>,
    to: Option<NameAddr<'a>>,
    contact: Option<Contact<'a>>,
    call_id: Option<&'a str>,
    cseq: Option<CSeq<'a>>,
    expires: Option<u32>,
    max_forwards: Option<u8>,
    user_agent: Option<&'a str>,
    authorization: Option<&'a str>,
    proxy_authorization: Option<&'a str>,
    p_asserted_identity: Option<&'a str>,
    remote_party_id: Option<&'a str>,
    content_length: Option<usize>,
    seen_from: bool,
    seen_to: bool,
    seen_call_id: bool,
    seen_cseq: bool,
    seen_expires: bool,
    seen_max_forwards: bool,
    seen_content_length: bool,
}

impl Found<'_> {
    fn answerable(&self) -> bool {
        self.via.is_some()
            && self.from.is_some()
            && self.to.is_some()
            && self.call_id.is_some()
            && self.cseq.is_some()
    }
}

/// Records the first error; parsing goes on so that `answerable` is known.
fn note(first: &mut Option<ParseErrorKind>, kind: ParseErrorKind) {
    if first.is_none() {
        *first = Some(kind);
    }
}

fn once(seen: &mut bool, name: HeaderName, first: &mut Option<ParseErrorKind>) -> bool {
    if *seen {
        note(first, ParseErrorKind::DuplicateHeader(name));
        false
    } else {
        *seen = true;
        true
    }
}

// Each arm first records "seen" (for duplicate detection) and then parses, so the
// nested `if`s are not collapsible into guards without losing that side effect.
#[allow(clippy::collapsible_match)]
fn parse<'a>(bytes: &'a [u8], limits: &Limits) -> Result<SipRequestView<'a>, ParseError> {
    use ParseErrorKind as K;
    if bytes.len() > limits.max_message_bytes {
        return Err(ParseError::early(K::TooLarge {
            len: bytes.len(),
            max: limits.max_message_bytes,
        }));
    }
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .ok_or_else(|| ParseError::early(K::Empty))?;
    let msg = &bytes[start..];
    let (head_end, body_start) =
        head_bounds(msg).ok_or_else(|| ParseError::early(K::Incomplete))?;
    let head = std::str::from_utf8(&msg[..head_end]).map_err(|_| ParseError::early(K::NotUtf8))?;
    let rest = &msg[body_start..];

    // Request line.
    let (line, mut fields) = next_field(head).ok_or_else(|| ParseError::early(K::Incomplete))?;
    if line.starts_with("SIP/") {
        return Err(ParseError::early(K::NotARequest));
    }
    let (method_raw, after) =
        split_once_byte(line, b' ').ok_or_else(|| ParseError::early(K::BadRequestLine))?;
    let (uri_text, version) =
        rsplit_once_byte(after, b' ').ok_or_else(|| ParseError::early(K::BadRequestLine))?;
    if method_raw.is_empty()
        || !method_raw.bytes().all(is_token_byte)
        || uri_text.is_empty()
        || uri_text
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(ParseError::early(K::BadRequestLine));
    }
    let mut first: Option<K> = None;
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        note(&mut first, K::UnsupportedVersion);
    }
    let request_uri = SipUri::parse(uri_text);
    let request_uri = match request_uri {
        Ok(u) => Some(u),
        Err(e) => {
            note(&mut first, K::BadRequestUri(e));
            None
        }
    };

    let mut f = Found::default();
    let mut count = 0usize;
    while let Some((line, rest_fields)) = next_field(fields) {
        fields = rest_fields;
        count += 1;
        if count > limits.max_headers {
            return Err(ParseError {
                kind: K::TooManyHeaders,
                answerable: false,
            });
        }
        let Some((name, value)) = split_field(line) else {
            note(&mut first, K::BadHeaderLine);
            continue;
        };
        let h = HeaderName::classify(name);
        let invalid = |first: &mut Option<K>| note(first, K::InvalidHeader(h));
        match h {
            HeaderName::Via => {
                f.via_count += 1;
                if f.via.is_none() {
                    match Via::parse(value) {
                        Ok(v) => f.via = Some(v),
                        Err(_) => invalid(&mut first),
                    }
                }
            }
            HeaderName::From => {
                if once(&mut f.seen_from, h, &mut first) {
                    f.from = NameAddr::parse(value).map_err(|_| invalid(&mut first)).ok();
                }
            }
            HeaderName::To => {
                if once(&mut f.seen_to, h, &mut first) {
                    f.to = NameAddr::parse(value).map_err(|_| invalid(&mut first)).ok();
                }
            }
            HeaderName::Contact => {
                if f.contact.is_none() {
                    f.contact = Contact::parse(value).map_err(|_| invalid(&mut first)).ok();
                }
            }
            HeaderName::CallId => {
                if once(&mut f.seen_call_id, h, &mut first) {
                    if value.is_empty() || value.bytes().any(|b| b.is_ascii_whitespace()) {
                        invalid(&mut first);
                    } else {
                        f.call_id = Some(value);
                    }
                }
            }
            HeaderName::CSeq => {
                if once(&mut f.seen_cseq, h, &mut first) {
                    f.cseq = CSeq::parse(value).map_err(|_| invalid(&mut first)).ok();
                }
            }
            HeaderName::Expires => {
                if once(&mut f.seen_expires, h, &mut first) {
                    // Huge values saturate (RFC 3261 §20.19 caps delta-seconds).
                    match parse_saturating_u32(value) {
                        Some(v) => f.expires = Some(v),
                        None => invalid(&mut first),
                    }
                }
            }
            HeaderName::MaxForwards => {
                if once(&mut f.seen_max_forwards, h, &mut first) {
                    match parse_decimal(value, 255) {
                        Some(v) => f.max_forwards = u8::try_from(v).ok(),
                        None => invalid(&mut first),
                    }
                }
            }
            HeaderName::ContentLength => {
                if once(&mut f.seen_content_length, h, &mut first) {
                    match parse_decimal(value, limits.max_message_bytes as u64) {
                        Some(v) => f.content_length = usize::try_from(v).ok(),
                        None => invalid(&mut first),
                    }
                }
            }
            HeaderName::UserAgent => {
                f.user_agent.get_or_insert(value);
            }
            HeaderName::Authorization => {
                f.authorization.get_or_insert(value);
            }
            HeaderName::ProxyAuthorization => {
                f.proxy_authorization.get_or_insert(value);
            }
            HeaderName::PAssertedIdentity => {
                f.p_asserted_identity.get_or_insert(value);
            }
            HeaderName::RemotePartyId => {
                f.remote_party_id.get_or_insert(value);
            }
            _ => {}
        }
    }
    for (present, name) in [
        (f.via_count > 0, HeaderName::Via),
        (f.seen_from, HeaderName::From),
        (f.seen_to, HeaderName::To),
        (f.seen_call_id, HeaderName::CallId),
        (f.seen_cseq, HeaderName::CSeq),
    ] {
        if !present {
            note(&mut first, K::MissingHeader(name));
        }
    }
    if f.cseq.is_some_and(|c| c.method != method_raw) {
        note(&mut first, K::InvalidHeader(HeaderName::CSeq));
    }
    let body = match f.content_length {
        Some(n) => match rest.get(..n) {
            Some(b) => b,
            None => {
                note(
                    &mut first,
                    K::ContentLengthMismatch {
                        declared: n,
                        available: rest.len(),
                    },
                );
                rest
            }
        },
        None => rest,
    };
    let answerable = f.answerable();
    if let Some(kind) = first {
        return Err(ParseError { kind, answerable });
    }
    match (request_uri, f.via, f.from, f.to, f.call_id, f.cseq) {
        (Some(request_uri), Some(via), Some(from), Some(to), Some(call_id), Some(cseq)) => {
            Ok(SipRequestView {
                method: SipMethod::classify(method_raw),
                method_raw,
                request_uri,
                via,
                via_count: f.via_count,
                from,
                to,
                contact: f.contact,
                call_id,
                cseq,
                expires: f.expires,
                max_forwards: f.max_forwards,
                user_agent: f.user_agent,
                authorization: f.authorization,
                proxy_authorization: f.proxy_authorization,
                p_asserted_identity: f.p_asserted_identity,
                remote_party_id: f.remote_party_id,
                content_length: f.content_length,
                body,
                head: fields_start(head),
            })
        }
        // Every missing piece recorded an error above; this arm is unreachable in
        // practice but answers safely anyway.
        _ => Err(ParseError {
            kind: K::BadRequestLine,
            answerable,
        }),
    }
}

/// Where the header section ends: `(end of the head including the last
/// line's `\n`, start of the body)`, at the first empty line (`\r\n\r\n`
/// or a bare `\n\n`, whichever comes first). One pass over the line ends
/// (no substring searcher is built per message).
fn head_bounds(msg: &[u8]) -> Option<(usize, usize)> {
    memchr::memchr_iter(b'\n', msg).find_map(|p| match msg.get(p + 1) {
        Some(b'\n') => Some((p + 1, p + 2)),
        Some(b'\r') if msg.get(p + 2) == Some(&b'\n') && p > 0 && msg[p - 1] == b'\r' => {
            Some((p + 1, p + 3))
        }
        _ => None,
    })
}

/// The header section without the request line.
fn fields_start(head: &str) -> &str {
    next_field(head).map_or("", |(_, rest)| rest)
}

#[cfg(test)]
mod tests;
