//! SIP message helpers shared by the call and proxy tests: status line,
//! headers and the MD5 digest answer to a challenge. Each test crate
//! uses a part of them.
#![allow(dead_code)]

use okcc_core::credential::DigestAlgorithm;

/// The password every test extension has.
pub(crate) const PASSWORD: &str = "TAV#1532afhj@qF344";

pub(crate) fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

pub(crate) fn param<'a>(challenge: &'a str, key: &str) -> &'a str {
    let i = challenge.find(&format!("{key}=")).unwrap() + key.len() + 1;
    let rest = &challenge[i..];
    if let Some(r) = rest.strip_prefix('"') {
        &r[..r.find('"').unwrap()]
    } else {
        &rest[..rest.find([',', ' ']).unwrap_or(rest.len())]
    }
}

/// The MD5 challenge in header `name` of `resp`.
pub(crate) fn challenge(resp: &str, name: &str) -> String {
    header(resp, name)
        .into_iter()
        .find(|c| c.contains("algorithm=MD5"))
        .unwrap_or_else(|| panic!("no MD5 {name} in {resp}"))
        .to_owned()
}

/// A digest answer (MD5, qop=auth) as header `name`.
pub(crate) fn authorization(
    name: &str,
    challenge: &str,
    user: &str,
    method: &str,
    uri: &str,
) -> String {
    let alg = DigestAlgorithm::Md5;
    let realm = param(challenge, "realm");
    let nonce = param(challenge, "nonce");
    let ha1 = alg.hex_digest(format!("{user}:{realm}:{PASSWORD}").as_bytes());
    let ha2 = alg.hex_digest(format!("{method}:{uri}").as_bytes());
    let cnonce = "0a4f113b";
    let nc = "00000001";
    let resp = alg.hex_digest(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}").as_bytes());
    format!(
        "{name}: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{resp}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\"\r\n"
    )
}

/// A TLS client config that trusts only `cert` (a test's self-signed one).
pub(crate) fn trusting(cert: &rcgen::Certificate) -> std::sync::Arc<rustls::ClientConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    std::sync::Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The next whole message on a stream: keep-alive CRLFs skipped, the head,
/// then `Content-Length` bytes of body; `None` when the stream ends (or a
/// read fails or times out) first.
pub(crate) fn read_message(s: &mut impl std::io::Read) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") || buf == b"\r\n\r\n" {
        if buf == b"\r\n" {
            buf.clear(); // a keep-alive
        }
        match s.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let len: usize = header(&head, "Content-Length")
        .first()
        .map_or(Some(0), |v| v.parse().ok())?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some(head + &String::from_utf8_lossy(&body))
}
