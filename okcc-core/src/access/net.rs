//! IP networks (CIDR) in canonical form, and the strict parser rule files
//! and blocklist feeds use.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest text the parser looks at (`ffff:…:ffff/128` is 43 characters).
const MAX_CIDR_TEXT: usize = 64;

/// Why a text is not an IP address or network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("not an IPv4 or IPv6 address")]
    BadAddress,
    /// The prefix length is not a decimal number.
    #[error("the prefix length after `/` is not a number")]
    BadPrefixLength,
    /// The prefix length is longer than the address.
    #[error("prefix length /{len} is longer than {max} bits")]
    PrefixTooLong {
        /// The length given.
        len: u16,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// Bits outside the prefix are set (`10.0.0.1/8`).
    #[error("host bits are set; did you mean {network}?")]
    HostBitsSet {
        /// The network with the host bits cleared.
        network: Cidr,
    },
    /// The text is longer than any address or network.
    #[error("longer than {MAX_CIDR_TEXT} characters")]
    TooLong,
}

/// An IPv4 or IPv6 network: an address and a prefix length, with every bit
/// after the prefix zero.
///
/// IPv4-mapped IPv6 networks (`::ffff:1.2.3.0/120`) are stored as IPv4
/// (`1.2.3.0/24`), so they match IPv4 sources and IPv4-mapped sources
/// alike. IPv6 networks that are shorter than `/96` and happen to cover the
/// mapped range (`::/0`) are IPv6 rules and do not match IPv4 sources.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// A network from an address and prefix length; host bits must be zero.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, CidrError> {
        let (addr, len) = canonical(addr, len)?;
        let net = Self { addr, len };
        let masked = Self::masked(addr, len);
        if masked.addr == addr {
            Ok(net)
        } else {
            Err(CidrError::HostBitsSet { network: masked })
        }
    }

    /// The network of `addr` with host bits cleared (never fails; a too
    /// long `len` is clamped to the address length).
    pub fn masked(addr: IpAddr, len: u8) -> Self {
        let addr = addr.to_canonical();
        match addr {
            IpAddr::V4(a) => {
                let len = len.min(32);
                let bits = u32::from(a) & mask32(len);
                Self {
                    addr: IpAddr::V4(Ipv4Addr::from(bits)),
                    len,
                }
            }
            IpAddr::V6(a) => {
                let len = len.min(128);
                let bits = u128::from(a) & mask128(len);
                Self {
                    addr: IpAddr::V6(Ipv6Addr::from(bits)),
                    len,
                }
            }
        }
    }

    /// The single-address network (`/32` or `/128`) of `addr`, canonical.
    pub fn host(addr: IpAddr) -> Self {
        match addr.to_canonical() {
            a @ IpAddr::V4(_) => Self { addr: a, len: 32 },
            a @ IpAddr::V6(_) => Self { addr: a, len: 128 },
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// `true` if the network holds `ip` (IPv4-mapped IPv6 is judged as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.len) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.len) == u128::from(n),
            _ => false,
        }
    }
}

fn mask32(len: u8) -> u32 {
    match len {
        0 => 0,
        l => u32::MAX << (32 - u32::from(l.min(32))),
    }
}

fn mask128(len: u8) -> u128 {
    match len {
        0 => 0,
        l => u128::MAX << (128 - u32::from(l.min(128))),
    }
}

/// Maps IPv4-mapped IPv6 networks of length >= 96 to IPv4 and checks the
/// length.
fn canonical(addr: IpAddr, len: u8) -> Result<(IpAddr, u8), CidrError> {
    match addr {
        IpAddr::V4(_) if len > 32 => Err(CidrError::PrefixTooLong {
            len: len.into(),
            max: 32,
        }),
        IpAddr::V6(_) if len > 128 => Err(CidrError::PrefixTooLong {
            len: len.into(),
            max: 128,
        }),
        IpAddr::V6(a) if len >= 96 => match a.to_ipv4_mapped() {
            Some(v4) => Ok((IpAddr::V4(v4), len - 96)),
            None => Ok((addr, len)),
        },
        _ => Ok((addr, len)),
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Parses `1.2.3.4`, `1.2.3.0/24`, `2001:db8::/32` or `::ffff:1.2.3.4`.
    /// A bare address is a host network. Refuses host bits, leading zeros
    /// in the prefix length, zone ids and anything else that is not plain.
    fn from_str(s: &str) -> Result<Self, CidrError> {
        if s.len() > MAX_CIDR_TEXT {
            return Err(CidrError::TooLong);
        }
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::BadAddress)?;
        let len = match len {
            None => match addr {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            },
            Some(l) => parse_len(l)?,
        };
        Self::new(addr, len)
    }
}

fn parse_len(s: &str) -> Result<u8, CidrError> {
    let plain = !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !plain || (s.len() > 1 && s.starts_with('0')) {
        return Err(CidrError::BadPrefixLength);
    }
    let n: u16 = s.parse().map_err(|_| CidrError::BadPrefixLength)?;
    u8::try_from(n).map_err(|_| CidrError::PrefixTooLong { len: n, max: 128 })
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cidr({self})")
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `true` for the ranges that count as home when "block all foreign" is on:
/// loopback, private (RFC 1918), link-local and IPv6 unique-local.
pub fn is_local_range(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(a) => a.is_loopback() || a.is_private() || a.is_link_local(),
        IpAddr::V6(a) => {
            let seg0 = a.segments()[0];
            a.is_loopback() || (seg0 & 0xffc0) == 0xfe80 || (seg0 & 0xfe00) == 0xfc00
        }
    }
}

/// Parses one address or network, as the `ip_cidr` fuzz target does; the
/// text form must survive a round trip through [`Cidr`]'s `Display`.
#[doc(hidden)]
pub fn fuzz_ip_cidr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(net) = text.parse::<Cidr>() {
        let again: Cidr = net.to_string().parse().unwrap_or_else(|e| {
            panic!("{net} does not parse back: {e}");
        });
        assert_eq!(net, again, "round trip of {text:?}");
        assert!(net.contains(net.addr()), "{net} holds its own address");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Result<Cidr, CidrError> {
        s.parse()
    }

    #[test]
    fn req_2_1_parses_addresses_and_networks() {
        assert_eq!(c("1.2.3.4").unwrap().to_string(), "1.2.3.4/32");
        assert_eq!(c("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(c("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert_eq!(c("0.0.0.0/0").unwrap().prefix_len(), 0);
        assert_eq!(c("::/0").unwrap().to_string(), "::/0");
    }

    #[test]
    fn req_2_1_refuses_bad_networks() {
        assert_eq!(c("300.1.1.1"), Err(CidrError::BadAddress));
        assert_eq!(
            c("10.0.0.0/33"),
            Err(CidrError::PrefixTooLong { len: 33, max: 32 })
        );
        assert_eq!(
            c("::/129"),
            Err(CidrError::PrefixTooLong { len: 129, max: 128 })
        );
        assert_eq!(
            c("10.0.0.0/999"),
            Err(CidrError::PrefixTooLong { len: 999, max: 128 })
        );
        assert_eq!(c("10.0.0.0/"), Err(CidrError::BadPrefixLength));
        assert_eq!(c("10.0.0.0/08"), Err(CidrError::BadPrefixLength));
        assert_eq!(c("10.0.0.0/+8"), Err(CidrError::BadPrefixLength));
        assert_eq!(c("01.2.3.4"), Err(CidrError::BadAddress));
        assert_eq!(c("fe80::1%eth0"), Err(CidrError::BadAddress));
        assert_eq!(c(""), Err(CidrError::BadAddress));
        assert!(
            matches!(c("10.0.0.1/8"), Err(CidrError::HostBitsSet { network }) if network.to_string() == "10.0.0.0/8")
        );
        assert_eq!(c(&"1".repeat(100)), Err(CidrError::TooLong));
    }

    #[test]
    fn req_2_1_ipv4_mapped_is_ipv4() {
        assert_eq!(c("::ffff:1.2.3.4").unwrap(), c("1.2.3.4").unwrap());
        assert_eq!(c("::ffff:1.2.3.0/120").unwrap(), c("1.2.3.0/24").unwrap());
        let net = c("1.2.3.0/24").unwrap();
        assert!(net.contains("::ffff:1.2.3.9".parse().unwrap()));
        assert!(!c("::/0").unwrap().contains("1.2.3.4".parse().unwrap()));
        assert!(c("::/0").unwrap().contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn req_2_2_local_ranges_count_as_home() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_local_range(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "2001:db8::1",
            "fec0::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_local_range(ip.parse().unwrap()), "{ip}");
        }
    }
}
