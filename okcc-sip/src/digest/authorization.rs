//! The `Authorization` / `Proxy-Authorization` Digest credentials parser
//! (RFC 3261 §25.1 `dig-resp`, RFC 7616 §3.4).

use std::borrow::Cow;

use super::algorithm::Algorithm;

/// Why credentials were refused before any hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizationError {
    /// The scheme is not `Digest`.
    #[error("authorization scheme is not Digest")]
    NotDigest,
    /// A parameter is not `name=value` or a quoted string is unterminated.
    #[error("malformed auth-param")]
    Syntax,
    /// A parameter appears twice.
    #[error("duplicate auth-param")]
    Duplicate,
    /// A required parameter is missing (`username`, `realm`, `nonce`, `uri`,
    /// `response`; `cnonce` and `nc` with `qop`).
    #[error("missing auth-param {0}")]
    Missing(&'static str),
    /// The algorithm is not MD5, SHA-256 or SHA-512-256 (each with `-sess`).
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    /// `qop` is not `auth` or `auth-int`.
    #[error("unsupported qop")]
    UnsupportedQop,
    /// `nc` is not exactly eight hex digits.
    #[error("nc is not eight hex digits")]
    BadNonceCount,
    /// `response` is not lowercase/uppercase hex of the algorithm's length.
    #[error("response is not a hex digest of the right length")]
    BadResponse,
}

/// The quality of protection the client chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Qop {
    /// `qop=auth`.
    Auth,
    /// `qop=auth-int` (the body is hashed too).
    AuthInt,
}

impl Qop {
    fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }

    pub(crate) fn token(self) -> &'static str {
        self.as_str()
    }
}

/// Parsed Digest credentials, borrowing from the raw header value.
///
/// `uri` is kept exactly as sent: the response is computed over that text,
/// never over a re-printed URI.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DigestAuthorization<'a> {
    /// `username` (quoted-string escapes removed).
    pub username: Cow<'a, str>,
    /// `realm` (quoted-string escapes removed).
    pub realm: Cow<'a, str>,
    /// `nonce`, raw.
    pub nonce: &'a str,
    /// `uri`, raw.
    pub uri: &'a str,
    /// `response`, raw hex.
    pub response: &'a str,
    /// `algorithm` (MD5 when absent).
    pub algorithm: Algorithm,
    /// `cnonce`.
    pub cnonce: Option<&'a str>,
    /// `qop`.
    pub qop: Option<Qop>,
    /// `nc` as a number.
    pub nc: Option<u32>,
    /// `nc` exactly as sent (hashed as text).
    pub nc_raw: Option<&'a str>,
    /// `opaque`.
    pub opaque: Option<&'a str>,
    /// `userhash=true` (RFC 7616 §3.4.4).
    pub userhash: bool,
}

impl<'a> DigestAuthorization<'a> {
    /// Parses a raw `Authorization` / `Proxy-Authorization` value.
    pub fn parse(value: &'a str) -> Result<Self, AuthorizationError> {
        parse(value)
    }
}

fn lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits one `name=value` off `s`; returns `(name, value, quoted, rest)`.
fn next_param(s: &str) -> Result<(&str, &str, bool, &str), AuthorizationError> {
    let eq = s.find('=').ok_or(AuthorizationError::Syntax)?;
    let name = s[..eq].trim_matches(lws);
    if name.is_empty() || !name.bytes().all(crate::view::is_token_byte) {
        return Err(AuthorizationError::Syntax);
    }
    let after = s[eq + 1..].trim_start_matches(lws);
    if let Some(q) = after.strip_prefix('"') {
        let bytes = q.as_bytes();
        let mut i = 0;
        loop {
            match bytes.get(i) {
                None => return Err(AuthorizationError::Syntax),
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let value = q.get(..i).ok_or(AuthorizationError::Syntax)?;
        let rest = q.get(i + 1..).unwrap_or("").trim_start_matches(lws);
        let rest = match rest.strip_prefix(',') {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return Err(AuthorizationError::Syntax),
        };
        Ok((name, value, true, rest))
    } else {
        let end = after.find(',').unwrap_or(after.len());
        let value = after[..end].trim_matches(lws);
        if value.is_empty() || value.contains(lws) {
            return Err(AuthorizationError::Syntax);
        }
        Ok((name, value, false, after.get(end + 1..).unwrap_or("")))
    }
}

fn unquote(v: &str, quoted: bool) -> Cow<'_, str> {
    if quoted && v.contains('\\') {
        let mut out = String::with_capacity(v.len());
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    } else {
        Cow::Borrowed(v)
    }
}

fn set<'a>(slot: &mut Option<&'a str>, v: &'a str) -> Result<(), AuthorizationError> {
    if slot.replace(v).is_some() {
        Err(AuthorizationError::Duplicate)
    } else {
        Ok(())
    }
}

fn parse(value: &str) -> Result<DigestAuthorization<'_>, AuthorizationError> {
    let v = value.trim_matches(lws);
    let scheme_end = v.find(lws).ok_or(AuthorizationError::NotDigest)?;
    if !v[..scheme_end].eq_ignore_ascii_case("Digest") {
        return Err(AuthorizationError::NotDigest);
    }
    let mut rest = v[scheme_end..].trim_start_matches(lws);
    let (mut username, mut realm, mut nonce, mut uri, mut response) =
        (None, None, None, None, None);
    let (mut algorithm, mut cnonce, mut qop, mut nc, mut opaque, mut userhash) =
        (None, None, None, None, None, None);
    let (mut username_quoted, mut realm_quoted) = (false, false);
    let mut count = 0;
    while !rest
        .trim_start_matches([' ', '\t', '\r', '\n', ','])
        .is_empty()
    {
        count += 1;
        if count > 32 {
            return Err(AuthorizationError::Syntax);
        }
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n', ',']);
        let (name, val, quoted, after) = next_param(rest)?;
        rest = after;
        match name.to_ascii_lowercase().as_str() {
            "username" => {
                username_quoted = quoted;
                set(&mut username, val)?;
            }
            "realm" => {
                realm_quoted = quoted;
                set(&mut realm, val)?;
            }
            "nonce" => set(&mut nonce, val)?,
            "uri" => set(&mut uri, val)?,
            "response" => set(&mut response, val)?,
            "algorithm" => set(&mut algorithm, val)?,
            "cnonce" => set(&mut cnonce, val)?,
            "qop" => set(&mut qop, val)?,
            "nc" => set(&mut nc, val)?,
            "opaque" => set(&mut opaque, val)?,
            "userhash" => set(&mut userhash, val)?,
            _ => {}
        }
    }
    let username = username.ok_or(AuthorizationError::Missing("username"))?;
    let realm = realm.ok_or(AuthorizationError::Missing("realm"))?;
    let nonce = nonce.ok_or(AuthorizationError::Missing("nonce"))?;
    let uri = uri.ok_or(AuthorizationError::Missing("uri"))?;
    let response = response.ok_or(AuthorizationError::Missing("response"))?;
    let algorithm = match algorithm {
        None => Algorithm::Md5,
        Some(a) => Algorithm::from_token(a).ok_or(AuthorizationError::UnsupportedAlgorithm)?,
    };
    let qop = match qop {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
        Some(q) if q.eq_ignore_ascii_case("auth-int") => Some(Qop::AuthInt),
        Some(_) => return Err(AuthorizationError::UnsupportedQop),
    };
    let nc_num = match nc {
        None => None,
        Some(n) if n.len() == 8 && n.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(u32::from_str_radix(n, 16).map_err(|_| AuthorizationError::BadNonceCount)?)
        }
        Some(_) => return Err(AuthorizationError::BadNonceCount),
    };
    if qop.is_some() {
        cnonce.ok_or(AuthorizationError::Missing("cnonce"))?;
        nc.ok_or(AuthorizationError::Missing("nc"))?;
    }
    if response.len() != algorithm.hex_len() || !response.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthorizationError::BadResponse);
    }
    Ok(DigestAuthorization {
        username: unquote(username, username_quoted),
        realm: unquote(realm, realm_quoted),
        nonce,
        uri,
        response,
        algorithm,
        cnonce,
        qop,
        nc: nc_num,
        nc_raw: nc,
        opaque,
        userhash: userhash.is_some_and(|u| u.eq_ignore_ascii_case("true")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8760_sha_tokens_and_hex_nc_parse() {
        let a = DigestAuthorization::parse(
            "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"n1\", uri=\"sip:bob@biloxi.com;transport=tcp\", \
             response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", algorithm=SHA-256, \
             qop=auth, nc=0000000a, cnonce=\"c\"",
        )
        .expect("valid");
        assert_eq!(a.algorithm, Algorithm::Sha256);
        assert_eq!(a.nc, Some(10));
        assert_eq!(a.nc_raw, Some("0000000a"));
        assert_eq!(a.uri, "sip:bob@biloxi.com;transport=tcp");
        let a = DigestAuthorization::parse(
            "digest username=\"a\\\"b\",realm=r,nonce=n,uri=\"u\",response=\"8ca523f5e9506fed4657c9700eebdbec\"",
        )
        .expect("valid");
        assert_eq!(a.username, "a\"b");
        assert_eq!(a.algorithm, Algorithm::Md5);
    }

    #[test]
    fn rejects_malformed_credentials() {
        let ok = "username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"8ca523f5e9506fed4657c9700eebdbec\"";
        assert_eq!(
            DigestAuthorization::parse(&format!("Basic {ok}")),
            Err(AuthorizationError::NotDigest)
        );
        assert_eq!(
            DigestAuthorization::parse(&format!("Digest {ok}, algorithm=SHA-1")),
            Err(AuthorizationError::UnsupportedAlgorithm)
        );
        assert_eq!(
            DigestAuthorization::parse(&format!("Digest {ok}, nonce=\"x\"")),
            Err(AuthorizationError::Duplicate)
        );
        assert_eq!(
            DigestAuthorization::parse(&format!("Digest {ok}, qop=auth, nc=00000001")),
            Err(AuthorizationError::Missing("cnonce"))
        );
        assert_eq!(
            DigestAuthorization::parse(&format!("Digest {ok}, qop=auth, nc=1, cnonce=\"c\"")),
            Err(AuthorizationError::BadNonceCount)
        );
        assert_eq!(
            DigestAuthorization::parse("Digest username=\"a, realm=r"),
            Err(AuthorizationError::Syntax)
        );
        assert_eq!(
            DigestAuthorization::parse(&format!("Digest {ok}, algorithm=SHA-256")),
            Err(AuthorizationError::BadResponse)
        );
    }
}
