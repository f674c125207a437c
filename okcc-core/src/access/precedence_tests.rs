//! One test per row of the precedence table in the module docs, plus the
//! switch, hot-swap and naive-model checks.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use super::*;
use crate::decision::DenyReason;
use crate::geo::{CountryCode, GeoLookup, StaticGeo};
use crate::ids::{TenantId, UserId};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn geo() -> Arc<dyn GeoLookup> {
    let cc = |s: &str| s.parse::<CountryCode>().unwrap();
    Arc::new(StaticGeo::new([
        ("1.0.0.0/8".parse().unwrap(), cc("CN")),
        ("5.0.0.0/8".parse().unwrap(), cc("RU")),
        ("8.0.0.0/8".parse().unwrap(), cc("US")),
        ("2400::/16".parse().unwrap(), cc("CN")),
        ("2a00::/16".parse().unwrap(), cc("RU")),
    ]))
}

const RULES: &str = "\
trust 198.51.100.7
trust 5.5.5.0/24 channel:sip-register
deny 203.0.113.0/24
deny 1.1.1.0/24 channel:sip-register
deny country:RU
home CN
block-foreign on
allow tenant:acme 1.2.0.0/16
allow tenant:acme country:CN channel:web-login
allow account:1001 1.2.3.4
";

fn control() -> AccessControl {
    let c = AccessControl::new(Some(geo()));
    c.load_rule_text("rules.txt", RULES).unwrap();
    c
}

fn check(c: &AccessControl, addr: &str, ch: Channel) -> AccessDecision {
    c.check(&AccessRequest::new(ip(addr), ch))
}

fn denied(d: &AccessDecision) -> (DenyReason, String) {
    match &d.verdict {
        Verdict::Denied(x) => (x.reason, x.rule.to_string()),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn req_2_4_row_1_trusted_skips_everything() {
    let c = control();
    // 198.51.100.7 is public and unknown to GeoIP: row 6 would deny it.
    let d = check(&c, "198.51.100.7", Channel::SipCall);
    assert!(d.skips_later_checks());
    assert_eq!(d.rule().unwrap().as_str(), "rules.txt:1");
    assert_eq!(d.reason(), "trusted");
    // Trust beats the RU country deny, but only on its channel.
    assert!(check(&c, "5.5.5.5", Channel::SipRegister).skips_later_checks());
    assert_eq!(
        denied(&check(&c, "5.5.5.5", Channel::WebLogin)).0,
        DenyReason::BlockedRegion
    );
    assert!(check(&c, "::ffff:198.51.100.7", Channel::WebLogin).skips_later_checks());
}

#[test]
fn req_2_1_row_2_blacklisted_network() {
    let c = control();
    assert_eq!(
        denied(&check(&c, "203.0.113.9", Channel::WebLogin)),
        (DenyReason::BlockedNetwork, "rules.txt:3".into())
    );
    // A channel-scoped deny applies to its channel only.
    assert_eq!(
        denied(&check(&c, "1.1.1.1", Channel::SipRegister)),
        (DenyReason::BlockedNetwork, "rules.txt:4".into())
    );
    assert!(check(&c, "1.1.1.1", Channel::SipCall).is_allowed());
}

#[test]
fn req_2_1_row_3_blocklist_feed() {
    let c = control();
    c.replace_feed(BlocklistFeed::parse("apiban", "1.9.9.9\n2400::/32\n").unwrap());
    assert_eq!(
        denied(&check(&c, "1.9.9.9", Channel::SipCall)),
        (DenyReason::BlockedNetwork, "feed:apiban".into())
    );
    assert_eq!(
        denied(&check(&c, "2400::1", Channel::SipCall)).1,
        "feed:apiban"
    );
    c.replace_feed(BlocklistFeed::parse("apiban", "1.8.8.8\n").unwrap());
    assert!(check(&c, "1.9.9.9", Channel::SipCall).is_allowed());
    assert!(!check(&c, "1.8.8.8", Channel::SipCall).is_allowed());
    assert!(c.remove_feed("apiban"));
    assert!(!c.remove_feed("apiban"));
    assert!(check(&c, "1.8.8.8", Channel::SipCall).is_allowed());
}

#[test]
fn req_2_1_row_4_blacklisted_country() {
    let c = control();
    let d = check(&c, "5.1.2.3", Channel::SipRegister);
    assert_eq!(
        denied(&d),
        (DenyReason::BlockedRegion, "rules.txt:5".into())
    );
    assert_eq!(d.country.unwrap().as_str(), "RU");
    assert_eq!(
        denied(&check(&c, "2a00::1", Channel::SipCall)).0,
        DenyReason::BlockedRegion
    );
}

#[test]
fn req_2_2_row_5_foreign_region() {
    let c = control();
    let d = check(&c, "8.8.8.8", Channel::WebLogin);
    assert_eq!(
        denied(&d),
        (DenyReason::ForeignRegion, "rules.txt:7".into())
    );
    assert_eq!(d.country.unwrap().as_str(), "US");
    assert!(check(&c, "1.5.5.5", Channel::SipCall).is_allowed());
    assert!(check(&c, "::ffff:1.5.5.5", Channel::SipCall).is_allowed());
    assert!(check(&c, "2400::5", Channel::SipCall).is_allowed());
    // Local ranges count as home.
    for local in [
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.0.1",
        "::1",
        "fe80::1",
        "fd12::1",
    ] {
        assert!(
            check(&c, local, Channel::SipRegister).is_allowed(),
            "{local}"
        );
    }
}

#[test]
fn req_2_2_row_6_unknown_region_is_tunable() {
    let c = control();
    assert_eq!(
        denied(&check(&c, "9.9.9.9", Channel::SipCall)),
        (DenyReason::UnknownRegion, "rules.txt:7".into())
    );
    c.load_rule_text("rules.txt", &format!("{RULES}unknown-region allow\n"))
        .unwrap();
    assert!(check(&c, "9.9.9.9", Channel::SipCall).is_allowed());
    assert_eq!(
        denied(&check(&c, "8.8.8.8", Channel::SipCall)).0,
        DenyReason::ForeignRegion
    );
}

#[test]
fn req_2_3_row_7_tenant_whitelist() {
    let c = control();
    let acme = TenantId::new("acme").unwrap();
    let other = TenantId::new("other").unwrap();
    let req = |a: &str, ch| AccessRequest::new(ip(a), ch).tenant(&acme);
    // Listed network: allowed, naming the allow line.
    let d = c.check(&req("1.2.9.9", Channel::SipRegister));
    assert_eq!(
        (d.reason(), d.rule().unwrap().as_str()),
        ("allowlisted", "rules.txt:8")
    );
    // Home but not on the tenant's list: denied.
    assert_eq!(
        denied(&c.check(&req("1.3.0.1", Channel::SipRegister))),
        (DenyReason::NotAllowlisted, "allowlist:tenant:acme".into())
    );
    // The country entry applies to web logins only.
    assert_eq!(
        c.check(&req("1.3.0.1", Channel::WebLogin))
            .rule()
            .unwrap()
            .as_str(),
        "rules.txt:9"
    );
    // Other tenants have no list.
    assert_eq!(
        c.check(&AccessRequest::new(ip("1.3.0.1"), Channel::SipRegister).tenant(&other))
            .reason(),
        "no-rule"
    );
}

#[test]
fn req_2_3_row_8_account_whitelist() {
    let c = control();
    let acme = TenantId::new("acme").unwrap();
    let a1001 = UserId::new("1001").unwrap();
    let req = |a: &str| {
        AccessRequest::new(ip(a), Channel::SipRegister)
            .tenant(&acme)
            .account(&a1001)
    };
    let d = c.check(&req("1.2.3.4"));
    assert_eq!(d.rule().unwrap().as_str(), "rules.txt:10");
    // On the tenant list but not the account list.
    assert_eq!(
        denied(&c.check(&req("1.2.3.5"))),
        (DenyReason::NotAllowlisted, "allowlist:account:1001".into())
    );
}

#[test]
fn req_2_4_row_9_default_allows_without_rule() {
    let c = control();
    let d = check(&c, "1.77.0.1", Channel::SipCall);
    assert_eq!(d.verdict, Verdict::Allowed { rule: None });
    assert_eq!(d.reason(), "no-rule");
    assert!(d.decision().is_allow());
    assert!(
        AccessControl::new(None)
            .check(&AccessRequest::new(ip("8.8.8.8"), Channel::SipCall))
            .is_allowed()
    );
}

#[test]
fn req_2_2_switch_is_one_call_and_needs_geoip() {
    let c = AccessControl::new(Some(geo()));
    c.load_rule_text("r", "home CN\n").unwrap();
    assert!(check(&c, "8.8.8.8", Channel::SipCall).is_allowed());
    c.set_block_foreign(true).unwrap();
    assert_eq!(
        denied(&check(&c, "8.8.8.8", Channel::SipCall)),
        (DenyReason::ForeignRegion, SWITCH_RULE.into())
    );
    c.set_block_foreign(false).unwrap();
    assert!(check(&c, "8.8.8.8", Channel::SipCall).is_allowed());
    // A reload without a block-foreign line keeps the switch.
    c.set_block_foreign(true).unwrap();
    c.load_rule_text("r", "home CN\ndeny 7.7.7.7\n").unwrap();
    assert!(c.policy().blocks_foreign());

    let no_geo = AccessControl::new(None);
    no_geo.load_rule_text("r", "home CN\n").unwrap();
    assert_eq!(
        no_geo.set_block_foreign(true),
        Err(PolicyError::BlockForeignWithoutGeoIp)
    );
    assert!(!no_geo.policy().blocks_foreign());
    assert!(matches!(
        no_geo.load_rule_text("r", "home CN\nblock-foreign on\n"),
        Err(AccessError::Policy(PolicyError::BlockForeignWithoutGeoIp))
    ));
    assert!(matches!(
        no_geo.load_rule_text("r", "deny country:RU\n"),
        Err(AccessError::Policy(PolicyError::CountryRuleWithoutGeoIp(_)))
    ));
    let no_home = AccessControl::new(Some(geo()));
    assert_eq!(
        no_home.set_block_foreign(true),
        Err(PolicyError::BlockForeignWithoutHome)
    );
    // Removing GeoIP while the switch is on is refused.
    assert!(c.set_geo(None).is_err());
    assert!(c.policy().geo().is_some());
}

#[test]
fn req_2_1_bad_file_leaves_policy_unchanged() {
    let c = control();
    let before = c.policy();
    let err = c
        .load_rule_text("rules.txt", "deny 1.2.3.4\ndeny 300.1.1.1\nbogus\n")
        .unwrap_err();
    match err {
        AccessError::Rules(e) => assert_eq!(e.bad_lines(), [2, 3]),
        other => panic!("{other:?}"),
    }
    assert!(Arc::ptr_eq(&before, &c.policy()));
    assert!(check(&c, "1.2.3.4", Channel::SipCall).is_allowed());
}

#[test]
fn req_2_1_hot_swap_readers_never_see_half_a_rule_set() {
    // Two rule sets; in each, 7.0.0.1 and 7.0.0.2 are either both denied or
    // both allowed. A reader that saw one of each would have seen half.
    let a = "deny 7.0.0.1\ndeny 7.0.0.2\n";
    let b = "deny 6.0.0.1\n";
    let c = Arc::new(AccessControl::new(None));
    c.load_rule_text("a", a).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let c = Arc::clone(&c);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut seen = [0u64; 2];
                for _ in 0..20_000 {
                    // Through the control (one load per check) and through a snapshot.
                    let p = c.policy();
                    let x = p
                        .check(&AccessRequest::new(ip("7.0.0.1"), Channel::SipCall))
                        .is_allowed();
                    let y = p
                        .check(&AccessRequest::new(ip("7.0.0.2"), Channel::SipCall))
                        .is_allowed();
                    assert_eq!(x, y, "half a rule set");
                    seen[usize::from(x)] += 1;
                }
                done.fetch_add(1, Ordering::SeqCst);
                seen
            })
        })
        .collect();
    let mut swaps = 0u64;
    loop {
        c.load_rule_text("r", if swaps.is_multiple_of(2) { b } else { a })
            .unwrap();
        swaps += 1;
        if done.load(Ordering::SeqCst) == 3 {
            break;
        }
    }
    for r in readers {
        let seen = r.join().unwrap();
        assert_eq!(seen[0] + seen[1], 20_000);
    }
    assert!(swaps > 0);
}

#[test]
fn req_2_1_feed_reload_swaps_atomically_under_readers() {
    // Two versions of one large feed (big enough for the direct IPv4
    // table): version A lists 8.0.0.1 and 8.0.0.2, version B lists
    // 9.0.0.1 and 9.0.0.2. A reader must see exactly one version whole.
    let filler = |base: u32| -> Vec<Cidr> {
        (0..40_000u32)
            .map(|i| Cidr::host(IpAddr::V4((base + i * 7).into())))
            .collect()
    };
    let mut a = filler(0x2000_0000);
    a.extend([Cidr::host(ip("8.0.0.1")), Cidr::host(ip("8.0.0.2"))]);
    let mut b = filler(0x3000_0000);
    b.extend([Cidr::host(ip("9.0.0.1")), Cidr::host(ip("9.0.0.2"))]);
    let c = Arc::new(AccessControl::new(None));
    c.replace_feed(BlocklistFeed::from_networks("apiban", a.clone()).unwrap());
    let done = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let c = Arc::clone(&c);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut seen = [0u64; 2];
                // Read until the writer has finished all its swaps (and at
                // least 1,000 times), so reads overlap every swap.
                let mut reads = 0u64;
                while done.load(Ordering::SeqCst) == 0 || reads < 1_000 {
                    reads += 1;
                    let p = c.policy();
                    let blocked = |s: &str| {
                        !p.check(&AccessRequest::new(ip(s), Channel::SipRegister))
                            .is_allowed()
                    };
                    let in_a = [blocked("8.0.0.1"), blocked("8.0.0.2")];
                    let in_b = [blocked("9.0.0.1"), blocked("9.0.0.2")];
                    assert_eq!(in_a[0], in_a[1], "half of version A");
                    assert_eq!(in_b[0], in_b[1], "half of version B");
                    assert_ne!(in_a[0], in_b[0], "both or neither version");
                    seen[usize::from(in_b[0])] += 1;
                    // One load per check through the control, too.
                    let d = c.check(&AccessRequest::new(ip("8.0.0.1"), Channel::SipRegister));
                    assert!(
                        d.is_allowed() || d.rule().is_some_and(|r| r.as_str() == "feed:apiban")
                    );
                }
                (seen, reads)
            })
        })
        .collect();
    let mut swaps = 0u64;
    while swaps < 20 {
        let next = if swaps.is_multiple_of(2) { &b } else { &a };
        c.replace_feed(BlocklistFeed::from_networks("apiban", next.clone()).unwrap());
        swaps += 1;
    }
    done.store(1, Ordering::SeqCst);
    for r in readers {
        let (seen, reads) = r.join().unwrap();
        assert_eq!(seen[0] + seen[1], reads);
    }
    assert_eq!(
        c.policy()
            .check(&AccessRequest::new(ip("1.1.1.1"), Channel::SipRegister))
            .reason(),
        "no-rule"
    );
}

fn arb_net() -> impl Strategy<Value = Cidr> {
    prop_oneof![
        (0u32..16, 0u8..=32)
            .prop_map(|(hi, len)| Cidr::masked(IpAddr::V4(((hi << 28) | (hi << 2)).into()), len)),
        (0u128..16, 0u8..=128)
            .prop_map(|(hi, len)| Cidr::masked(IpAddr::V6(((hi << 124) | (hi << 2)).into()), len)),
    ]
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u32..16, 0u32..64).prop_map(|(hi, lo)| IpAddr::V4(((hi << 28) | lo).into())),
        (0u128..16, 0u128..64).prop_map(|(hi, lo)| IpAddr::V6(((hi << 124) | lo).into())),
        (0u32..16, 0u32..64).prop_map(|(hi, lo)| IpAddr::V6(
            std::net::Ipv4Addr::from((hi << 28) | lo).to_ipv6_mapped()
        )),
    ]
}

fn arb_channels() -> impl Strategy<Value = ChannelSet> {
    (1u8..8).prop_map(|bits| {
        Channel::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .fold(ChannelSet::NONE, |s, (_, c)| s.with(c))
    })
}

proptest! {
    #[test]
    fn req_2_1_policy_agrees_with_naive_scan(
        trusts in proptest::collection::vec((arb_net(), arb_channels()), 0..8),
        denies in proptest::collection::vec((arb_net(), arb_channels()), 0..30),
        ips in proptest::collection::vec(arb_ip(), 1..30),
    ) {
        let mut set = RuleSet::new();
        for (i, (n, ch)) in trusts.iter().enumerate() {
            set.push(RuleEntry::new(format!("t{i}").as_str(), Rule::DangerouslyTrust { network: *n, channels: *ch }));
        }
        for (i, (n, ch)) in denies.iter().enumerate() {
            set.push(RuleEntry::new(format!("d{i}").as_str(), Rule::Deny { target: Target::Network(*n), channels: *ch }));
        }
        let policy = AccessPolicy::compile(&set, None).unwrap();
        for ip in ips {
            for ch in Channel::ALL {
                let naive = |list: &[(Cidr, ChannelSet)], prefix: &str| {
                    list.iter().enumerate()
                        .filter(|(_, (n, c))| n.contains(ip) && c.contains(ch))
                        .max_by(|(i, (a, _)), (j, (b, _))| a.prefix_len().cmp(&b.prefix_len()).then(j.cmp(i)))
                        .map(|(i, _)| format!("{prefix}{i}"))
                };
                let expect = naive(&trusts, "t").or_else(|| naive(&denies, "d"));
                let got = policy.check(&AccessRequest::new(ip, ch));
                prop_assert_eq!(got.rule().map(|r| r.to_string()), expect, "ip {} channel {}", ip, ch);
            }
        }
    }
}
