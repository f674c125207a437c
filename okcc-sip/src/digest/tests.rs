use std::time::{Duration, SystemTime};

use super::*;
use okcc_core::credential::{DigestAlgorithm, Ha1};

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn rfc7616_auth(algorithm: &str, response: &str) -> String {
    format!(
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
         algorithm={algorithm}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
         cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, response=\"{response}\", \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
    )
}

#[test]
fn rfc7616_3_9_1_md5_and_sha256_vectors() {
    for (alg, hash, want) in [
        (
            "MD5",
            DigestAlgorithm::Md5,
            "8ca523f5e9506fed4657c9700eebdbec",
        ),
        (
            "SHA-256",
            DigestAlgorithm::Sha256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ] {
        let header = rfc7616_auth(alg, want);
        let auth = DigestAuthorization::parse(&header).expect("valid");
        let ha1 = Ha1::dangerous_from_unchecked_secret(
            hash,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(response(&auth, "GET", b"", &ha1), want, "{alg}");
    }
}

#[test]
fn rfc8760_sha512_256_vector() {
    // RFC 7616 §3.9.2 inputs. The response printed in the RFC is known to be
    // wrong (errata); this value is SHA-512/256 computed independently (OpenSSL).
    let want = "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5";
    let header = format!(
        "Digest username=\"J\u{e4}s\u{f8}n Doe\", realm=\"api@example.org\", uri=\"/doe.json\", \
         algorithm=SHA-512-256, nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\", nc=00000001, \
         cnonce=\"NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v\", qop=auth, response=\"{want}\""
    );
    let auth = DigestAuthorization::parse(&header).expect("valid");
    let ha1 = Ha1::dangerous_from_unchecked_secret(
        DigestAlgorithm::Sha512_256,
        "J\u{e4}s\u{f8}n Doe",
        "api@example.org",
        "Secret, or not?",
    );
    assert_eq!(response(&auth, "GET", b"", &ha1), want);
}

fn server() -> DigestServer {
    DigestServer::new(DigestConfig::new(
        "example.com",
        b"0123456789abcdef0123456789abcdef".to_vec(),
    ))
}

/// What a client sends: the header text for `password` over `uri`.
fn client(
    server: &DigestServer,
    nonce: &str,
    alg: Algorithm,
    password: &str,
    uri: &str,
    nc: &str,
) -> String {
    let draft = format!(
        "Digest username=\"1001\", realm=\"example.com\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm={}, qop=auth, nc={nc}, cnonce=\"abc\", response=\"{}\"",
        alg.token(),
        "0".repeat(alg.hex_len())
    );
    let auth = DigestAuthorization::parse(&draft).expect("valid draft");
    let ha1 = Ha1::dangerous_from_unchecked_secret(alg.hash(), "1001", server.realm(), password);
    let r = response(&auth, "REGISTER", b"", &ha1);
    draft.replace(&"0".repeat(alg.hex_len()), &r)
}

fn stored(alg: Algorithm) -> Ha1 {
    Ha1::dangerous_from_unchecked_secret(alg.hash(), "1001", "example.com", "TAV#1532afhj@qF344")
}

#[test]
fn rfc3261_22_verifies_every_algorithm_over_the_raw_uri() {
    let s = server();
    let nonce = s.nonce(t(0));
    for alg in [
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
        Algorithm::Sha512_256,
        Algorithm::Sha512_256Sess,
    ] {
        let h = client(
            &s,
            &nonce,
            alg,
            "TAV#1532afhj@qF344",
            "sip:example.com;transport=TCP",
            "00000001",
        );
        let auth = DigestAuthorization::parse(&h).expect("valid");
        let ok = s.verify(&auth, "REGISTER", b"", Some(&stored(alg)), t(10));
        // Each algorithm uses nc=1 on the same nonce: only the first may pass.
        if alg == Algorithm::Md5 {
            assert_eq!(ok.map(|a| a.username), Ok("1001".to_owned()));
        } else {
            assert_eq!(
                ok,
                Err(DigestFailure::Rejected),
                "{alg:?}: nc reuse is a replay"
            );
            let fresh = s.nonce(t(u64::from(alg.hex_len() as u8) + alg.token().len() as u64));
            let h = client(
                &s,
                &fresh,
                alg,
                "TAV#1532afhj@qF344",
                "sip:example.com;transport=TCP",
                "00000001",
            );
            let auth = DigestAuthorization::parse(&h).expect("valid");
            assert!(
                s.verify(&auth, "REGISTER", b"", Some(&stored(alg)), t(100))
                    .is_ok(),
                "{alg:?}"
            );
        }
    }
}

#[test]
fn unknown_user_and_wrong_password_fail_identically() {
    let s = server();
    let nonce = s.nonce(t(0));
    let wrong = client(
        &s,
        &nonce,
        Algorithm::Sha256,
        "guess",
        "sip:example.com",
        "00000001",
    );
    let auth = DigestAuthorization::parse(&wrong).expect("valid");
    let wrong_pw = s.verify(
        &auth,
        "REGISTER",
        b"",
        Some(&stored(Algorithm::Sha256)),
        t(1),
    );
    let unknown = s.verify(&auth, "REGISTER", b"", None, t(1));
    assert_eq!(wrong_pw, Err(DigestFailure::Rejected));
    assert_eq!(unknown, wrong_pw);
    // The challenge never depends on the user: only the random nonce differs.
    let strip = |v: Vec<String>| -> Vec<String> {
        v.iter()
            .map(|c| {
                let i = c.find("nonce=\"").expect("nonce") + 7;
                format!("{}{}", &c[..i], &c[i + 64..])
            })
            .collect()
    };
    assert_eq!(
        strip(s.challenges(t(1), false)),
        strip(s.challenges(t(1), false))
    );
    let c = s.challenges(t(1), false);
    assert_eq!(c.len(), 2);
    assert!(c[0].contains("algorithm=SHA-256") && c[1].contains("algorithm=MD5"));
    assert!(c.iter().all(|c| c.contains("qop=\"auth\"")));
}

#[test]
fn rfc7616_3_3_expired_nonce_is_stale_only_when_the_response_is_right() {
    let s = server();
    let nonce = s.nonce(t(0));
    let good = client(
        &s,
        &nonce,
        Algorithm::Md5,
        "TAV#1532afhj@qF344",
        "sip:example.com",
        "00000001",
    );
    let auth = DigestAuthorization::parse(&good).expect("valid");
    assert_eq!(
        s.verify(
            &auth,
            "REGISTER",
            b"",
            Some(&stored(Algorithm::Md5)),
            t(301)
        ),
        Err(DigestFailure::Stale)
    );
    let bad = client(
        &s,
        &nonce,
        Algorithm::Md5,
        "nope",
        "sip:example.com",
        "00000001",
    );
    let auth = DigestAuthorization::parse(&bad).expect("valid");
    assert_eq!(
        s.verify(
            &auth,
            "REGISTER",
            b"",
            Some(&stored(Algorithm::Md5)),
            t(301)
        ),
        Err(DigestFailure::Rejected)
    );
    assert!(s.challenges(t(301), true)[0].ends_with("stale=true"));
}

#[test]
fn rfc7616_nonce_count_replay_is_rejected_out_of_order_accepted() {
    let s = server();
    let nonce = s.nonce(t(0));
    let ha1 = stored(Algorithm::Md5);
    let send = |nc: &str| {
        let h = client(
            &s,
            &nonce,
            Algorithm::Md5,
            "TAV#1532afhj@qF344",
            "sip:example.com",
            nc,
        );
        let auth = DigestAuthorization::parse(&h).expect("valid");
        s.verify(&auth, "REGISTER", b"", Some(&ha1), t(5)).is_ok()
    };
    assert!(send("00000001"));
    assert!(send("0000000a"), "nc is hex: the 10th use");
    assert!(!send("0000000a"), "replay");
    assert!(send("00000005"), "late but unused, inside the window");
    assert!(!send("00000005"), "replay of a late one");
    assert!(!send("00000001"), "replay");
}

#[test]
fn forged_or_foreign_nonces_are_rejected() {
    let s = server();
    let other = DigestServer::new(DigestConfig::new(
        "example.com",
        b"another-secret-another-secret-xx".to_vec(),
    ));
    let ha1 = stored(Algorithm::Md5);
    for nonce in [
        other.nonce(t(0)),
        "deadbeef".to_owned(),
        s.nonce(t(0)).replace('0', "1"),
    ] {
        let h = client(
            &s,
            &nonce,
            Algorithm::Md5,
            "TAV#1532afhj@qF344",
            "sip:example.com",
            "00000001",
        );
        let auth = DigestAuthorization::parse(&h).expect("valid");
        assert_eq!(
            s.verify(&auth, "REGISTER", b"", Some(&ha1), t(1)),
            Err(DigestFailure::Rejected)
        );
    }
    // A nonce from the future is refused too.
    let future = s.nonce(t(1000));
    let h = client(
        &s,
        &future,
        Algorithm::Md5,
        "TAV#1532afhj@qF344",
        "sip:example.com",
        "00000001",
    );
    let auth = DigestAuthorization::parse(&h).expect("valid");
    assert_eq!(
        s.verify(&auth, "REGISTER", b"", Some(&ha1), t(1)),
        Err(DigestFailure::Rejected)
    );
}

#[test]
fn nc_tracking_memory_is_bounded_and_eviction_is_safe() {
    let mut cfg = DigestConfig::new("example.com", b"0123456789abcdef0123456789abcdef".to_vec());
    cfg.max_tracked_nonces = 2;
    let s = DigestServer::new(cfg);
    let ha1 = stored(Algorithm::Md5);
    let use_once = |issued: u64| {
        let nonce = s.nonce(t(issued));
        let h = client(
            &s,
            &nonce,
            Algorithm::Md5,
            "TAV#1532afhj@qF344",
            "sip:example.com",
            "00000001",
        );
        let auth = DigestAuthorization::parse(&h).expect("valid");
        s.verify(&auth, "REGISTER", b"", Some(&ha1), t(10))
    };
    assert!(use_once(1).is_ok());
    assert!(use_once(2).is_ok());
    assert!(use_once(3).is_ok()); // evicts the nonce issued at 1
    assert_eq!(
        use_once(1),
        Err(DigestFailure::Stale),
        "evicted nonce must not reopen a replay"
    );
    assert!(s.tracker.lock().expect("lock").windows_len() <= 2);
}

#[test]
fn ha1_debug_is_redacted() {
    let h = stored(Algorithm::Sha256);
    assert!(!format!("{h:?}").contains(h.to_hex().as_str()));
    assert!(Ha1::from_hex(DigestAlgorithm::Md5, "xyz").is_none());
    let upper = Ha1::from_hex(
        DigestAlgorithm::Md5,
        &stored(Algorithm::Md5).to_hex().to_uppercase(),
    )
    .expect("upper-case hex is accepted");
    assert!(upper.ct_eq(&stored(Algorithm::Md5)));
}

#[test]
fn two_clients_challenged_in_the_same_second_both_authenticate_with_nc_1() {
    let s = server();
    let ha1 = stored(Algorithm::Md5);
    let (a, b) = (s.nonce(t(0)), s.nonce(t(0)));
    assert_ne!(a, b, "every challenge gets its own nonce");
    for nonce in [a, b] {
        let h = client(
            &s,
            &nonce,
            Algorithm::Md5,
            "TAV#1532afhj@qF344",
            "sip:example.com",
            "00000001",
        );
        let auth = DigestAuthorization::parse(&h).expect("valid");
        assert!(s.verify(&auth, "REGISTER", b"", Some(&ha1), t(1)).is_ok());
    }
}
