//! GeoIP: which country an address is in.
//!
//! [`GeoLookup`] is the plug-in point (synchronous, in-memory, cheap: it
//! sits on the per-packet path). Two implementations ship:
//! - [`StaticGeo`], built from a list of networks and countries in memory
//!   (tests, small deployments, data from elsewhere);
//! - [`maxmind::MaxMindGeo`], which reads MaxMind `.mmdb` files (Country or
//!   City databases, GeoLite2 or GeoIP2) and can reload a new file without
//!   a restart. It is the only part of okcc-core that reads a file, kept in
//!   its own module: the loader reads the whole file into memory
//!   (`open_readfile`), after which every lookup is pure.

mod country;
pub mod maxmind;

use std::fmt::Debug;
use std::net::IpAddr;

pub use country::{CountryCode, CountryCodeError};

use crate::access::{Cidr, PrefixTable};

/// Finds the country of an address.
///
/// Implementations judge IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as IPv4.
pub trait GeoLookup: Debug + Send + Sync + 'static {
    /// The country `ip` is located in, or `None` if the data does not know.
    fn country(&self, ip: IpAddr) -> Option<CountryCode>;
}

impl<G: GeoLookup + ?Sized> GeoLookup for std::sync::Arc<G> {
    fn country(&self, ip: IpAddr) -> Option<CountryCode> {
        (**self).country(ip)
    }
}

/// An in-memory GeoIP table: networks mapped to countries, longest prefix
/// wins.
#[derive(Clone, Debug, Default)]
pub struct StaticGeo {
    table: PrefixTable<CountryCode>,
}

impl StaticGeo {
    /// Builds the table from (network, country) pairs.
    pub fn new(entries: impl IntoIterator<Item = (Cidr, CountryCode)>) -> Self {
        Self {
            table: PrefixTable::build(entries),
        }
    }
}

impl GeoLookup for StaticGeo {
    fn country(&self, ip: IpAddr) -> Option<CountryCode> {
        self.table.longest(ip).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_2_1_static_geo_finds_countries() {
        let geo = StaticGeo::new([
            ("1.0.0.0/8".parse().unwrap(), "CN".parse().unwrap()),
            ("1.2.0.0/16".parse().unwrap(), "JP".parse().unwrap()),
            ("2001:db8::/32".parse().unwrap(), "DE".parse().unwrap()),
        ]);
        assert_eq!(
            geo.country("1.1.1.1".parse().unwrap()).unwrap().as_str(),
            "CN"
        );
        assert_eq!(
            geo.country("::ffff:1.2.3.4".parse().unwrap())
                .unwrap()
                .as_str(),
            "JP"
        );
        assert_eq!(
            geo.country("2001:db8::9".parse().unwrap())
                .unwrap()
                .as_str(),
            "DE"
        );
        assert_eq!(geo.country("9.9.9.9".parse().unwrap()), None);
    }
}
