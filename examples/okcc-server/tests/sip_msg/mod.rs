//! SIP message helpers shared by the call and proxy tests: status line,
//! headers, the MD5 digest answer to a challenge, and the network
//! namespace re-run for tests that feed the server hostile messages.

use std::process::Command;

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

/// Re-runs `test` in a network namespace of its own with only loopback up
/// (returns `false`), or returns `true` when already inside it. Without
/// `unshare` the test is skipped, unless CI is set.
pub(crate) fn in_own_netns(test: &str) -> bool {
    if std::env::var_os("OKCC_TEST_IN_NETNS").is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("OKCC_TEST_IN_NETNS", "1")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) if s.code() == Some(101) => panic!("{test} failed inside its network namespace"),
        other => {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot run {test} in its own network namespace (unshare -n): {other:?}"
            );
            eprintln!("skipping {test}: unshare -n is not available here ({other:?})");
        }
    }
    false
}
