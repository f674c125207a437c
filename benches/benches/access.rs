//! Access control: longest-prefix match over 1M prefixes (vs a naive
//! ipnetwork scan over 10k), and a full decision with 100k rules + GeoIP.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use ipnetwork::IpNetwork;
use mmdb_writer::Writer;
use mmdb_writer::ipnet::IpNet;
use okcc_core::access::{
    AccessControl, AccessRequest, BlocklistFeed, Channel, Cidr, PrefixTable, Rule, RuleEntry,
    RuleSet, Target,
};
use okcc_core::geo::GeoLookup;
use okcc_core::geo::maxmind::MaxMindGeo;
use okcc_core::{TenantId, UserId};

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// `n` mixed prefixes: 70 % IPv4 (70 % /32, rest /16../31), 30 % IPv6
/// (half /128, rest /32../64) inside 2000::/4.
fn prefixes(n: usize, rng: &mut Rng) -> Vec<Cidr> {
    (0..n)
        .map(|_| {
            let r = rng.next();
            if r % 10 < 7 {
                let len = if rng.next() % 10 < 7 {
                    32
                } else {
                    16 + (rng.next() % 16) as u8
                };
                Cidr::masked(IpAddr::V4(Ipv4Addr::from(rng.next() as u32)), len)
            } else {
                let len = if rng.next().is_multiple_of(2) {
                    128
                } else {
                    32 + (rng.next() % 33) as u8
                };
                let a =
                    (u128::from(rng.next()) << 64 | u128::from(rng.next())) >> 4 | (2u128 << 124);
                Cidr::masked(IpAddr::V6(Ipv6Addr::from(a)), len)
            }
        })
        .collect()
}

/// Lookup addresses, shaped like traffic at a busy edge: half are a random
/// address inside a random table prefix (a blocklisted source coming
/// back), half are uniformly random sources of the same family mix as the
/// table (70 % IPv4; about a third of those still fall in one of the
/// table's short IPv4 prefixes, the IPv6 ones almost never hit). Families
/// and hits are interleaved at random, so neither the branch predictor
/// nor the caches see a pattern a real caller would not give them. The
/// probes sit in one array read in order (1.1 MB of `IpAddr`, prefetched;
/// reading it alone costs about 2 ns per probe), so the lookup's own
/// memory reads dominate.
fn probes(nets: &[Cidr], n: usize, rng: &mut Rng) -> Vec<IpAddr> {
    (0..n)
        .map(|_| {
            if rng.next().is_multiple_of(2) {
                let net = nets[(rng.next() as usize) % nets.len()];
                match net.addr() {
                    IpAddr::V4(a) => {
                        let host = u32::MAX.checked_shr(u32::from(net.prefix_len()));
                        let host = host.unwrap_or(0) & rng.next() as u32;
                        IpAddr::V4(Ipv4Addr::from(u32::from(a) | host))
                    }
                    IpAddr::V6(a) => {
                        let host = u128::MAX.checked_shr(u32::from(net.prefix_len()));
                        let r = u128::from(rng.next()) << 64 | u128::from(rng.next());
                        IpAddr::V6(Ipv6Addr::from(u128::from(a) | (host.unwrap_or(0) & r)))
                    }
                }
            } else if rng.next() % 10 < 7 {
                IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from(
                    (u128::from(rng.next()) << 64 | u128::from(rng.next())) >> 4 | (2u128 << 124),
                ))
            }
        })
        .collect()
}

fn lpm(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let nets = prefixes(1_000_000, &mut rng);
    let t0 = Instant::now();
    let table = PrefixTable::build(nets.iter().enumerate().map(|(i, n)| (*n, i as u32)));
    let built = t0.elapsed();
    eprintln!(
        "PrefixTable: {} prefixes built in {built:?}, {} heap bytes = {:.1} B/prefix",
        table.len(),
        table.heap_bytes(),
        table.heap_bytes() as f64 / table.len() as f64
    );
    let ips = probes(&nets, 1 << 16, &mut rng);
    let hits = ips
        .iter()
        .filter(|ip| table.longest(**ip).is_some())
        .count();
    let v4 = ips.iter().filter(|ip| ip.is_ipv4()).count();
    eprintln!(
        "probes: {} ({:.0} % IPv4), {:.0} % inside a table prefix",
        ips.len(),
        100.0 * v4 as f64 / ips.len() as f64,
        100.0 * hits as f64 / ips.len() as f64
    );
    let mut i = 0usize;
    c.bench_function("access/lpm_1m_prefixes", |b| {
        b.iter(|| {
            i = (i + 1) & (ips.len() - 1);
            black_box(table.longest(black_box(ips[i])))
        });
    });

    let small: Vec<IpNetwork> = nets[..10_000]
        .iter()
        .map(|n| IpNetwork::new(n.addr(), n.prefix_len()).expect("valid"))
        .collect();
    let small_ips = probes(&nets[..10_000], 1 << 12, &mut rng);
    let mut j = 0usize;
    c.bench_function("access/naive_ipnetwork_scan_10k", |b| {
        b.iter(|| {
            j = (j + 1) & (small_ips.len() - 1);
            let ip = black_box(small_ips[j]).to_canonical();
            black_box(
                small
                    .iter()
                    .filter(|n| n.contains(ip))
                    .max_by_key(|n| n.prefix()),
            )
        });
    });
}

#[derive(serde::Serialize)]
struct Country {
    iso_code: &'static str,
}

#[derive(serde::Serialize)]
struct Record {
    country: Country,
}

fn geo_db(rng: &mut Rng) -> MaxMindGeo {
    const CODES: [&str; 8] = ["CN", "US", "DE", "RU", "JP", "GB", "FR", "BR"];
    let mut w = Writer::new("Bench-Country");
    for i in 0..20_000u32 {
        let net: IpNet = format!(
            "{}/{}",
            Ipv4Addr::from(i << 16 | (rng.next() as u32 & 0xff00)),
            24
        )
        .parse()
        .expect("net");
        w.insert(
            net,
            &Record {
                country: Country {
                    iso_code: CODES[(rng.next() % 8) as usize],
                },
            },
        )
        .expect("insert");
    }
    MaxMindGeo::from_bytes(w.to_bytes().expect("bytes")).expect("db")
}

fn full_decision(c: &mut Criterion) {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let geo: Arc<dyn GeoLookup> = Arc::new(geo_db(&mut rng));
    let nets = prefixes(100_000, &mut rng);
    let mut set = RuleSet::new();
    for (i, n) in nets.iter().enumerate() {
        set.push(RuleEntry::new(
            format!("r:{i}").as_str(),
            Rule::Deny {
                target: Target::Network(*n),
                channels: Default::default(),
            },
        ));
    }
    let text = "trust 198.51.100.0/24\ndeny country:RU\nhome CN\nhome US\nblock-foreign on\nunknown-region allow\n\
                allow tenant:acme country:CN\nallow tenant:acme country:US\nallow tenant:acme 10.0.0.0/8\n";
    set.entries.extend(
        RuleSet::parse_text("rules.txt", text)
            .expect("rules")
            .entries,
    );
    let control = AccessControl::new(Some(geo));
    control.replace_rules(&set).expect("policy");
    let feed: Vec<Cidr> = prefixes(10_000, &mut rng);
    control.replace_feed(BlocklistFeed::from_networks("bench", feed).expect("feed"));
    let acme = TenantId::new("acme").expect("id");
    let account = UserId::new("1001").expect("id");
    let ips: Vec<IpAddr> = (0..4096u32)
        .map(|i| {
            IpAddr::V4(Ipv4Addr::from(
                ((i * 5) % 20_000) << 16 | (rng.next() as u32 & 0xffff),
            ))
        })
        .collect();
    let mut i = 0usize;
    c.bench_function("access/full_decision_100k_rules_geoip", |b| {
        b.iter(|| {
            i = (i + 1) & (ips.len() - 1);
            let req = AccessRequest::new(black_box(ips[i]), Channel::SipRegister)
                .tenant(&acme)
                .account(&account);
            black_box(control.check(&req))
        });
    });

    // The GeoIP lookup alone (the decision above does one per check when a
    // country rule or "block all foreign" needs it).
    let geo = geo_db(&mut Rng(0x1234_5678_9abc_def1));
    let mut g = 0usize;
    c.bench_function("access/maxmind_country_lookup", |b| {
        b.iter(|| {
            g = (g + 1) & (ips.len() - 1);
            black_box(geo.country(black_box(ips[g])))
        });
    });
}

fn feed_reload(c: &mut Criterion) {
    // Feed reload: parse + build + atomic swap of a 400k-entry list while
    // the policy holds 100k rules.
    let mut rng = Rng(0x0bad_5eed_1234_5678);
    let mut set = RuleSet::new();
    for (i, n) in prefixes(100_000, &mut rng).iter().enumerate() {
        set.push(RuleEntry::new(
            format!("r:{i}").as_str(),
            Rule::Deny {
                target: Target::Network(*n),
                channels: Default::default(),
            },
        ));
    }
    let control = AccessControl::new(None);
    control.replace_rules(&set).expect("policy");
    let list: String = prefixes(400_000, &mut rng)
        .iter()
        .map(|n| format!("{n}\n"))
        .collect();
    let t0 = Instant::now();
    let feed = BlocklistFeed::parse("apiban", &list).expect("feed");
    eprintln!(
        "feed: 400k entries, {} heap bytes = {:.1} B/entry",
        feed.heap_bytes(),
        feed.heap_bytes() as f64 / feed.len() as f64
    );
    control.replace_feed(feed);
    eprintln!("feed reload (first): {:?}", t0.elapsed());
    let mut group = c.benchmark_group("access/feed_reload");
    group.sample_size(10);
    group.bench_function("parse_build_swap_400k", |b| {
        b.iter(|| {
            let feed = BlocklistFeed::parse("apiban", black_box(&list)).expect("feed");
            control.replace_feed(feed);
        });
    });
    group.finish();
}

criterion_group!(benches, lpm, full_decision, feed_reload);
criterion_main!(benches);
