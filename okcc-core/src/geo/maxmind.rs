//! A [`GeoLookup`] over MaxMind DB (`.mmdb`) files, reloadable at run time.
//!
//! This module is okcc-core's one file loader: [`MaxMindGeo::open`] and
//! [`MaxMindGeo::reload`] read a whole file into memory with maxminddb's
//! `open_readfile` (not `open_mmap`, which is `unsafe` in maxminddb 0.32).
//! Lookups never touch the file system. Country and City databases both
//! work: the country is read from `country.iso_code`, falling back to
//! `registered_country.iso_code`.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use maxminddb::{PathElement, Reader};

use super::{CountryCode, GeoLookup};

/// Why a GeoIP database could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeoError {
    /// The file could not be read or is not a MaxMind DB.
    #[error("cannot load GeoIP database: {0}")]
    Load(#[source] maxminddb::MaxMindDbError),
    /// The database does not hold country data for a probe address.
    #[error("GeoIP database type `{0}` holds no country data")]
    NoCountryData(String),
}

const COUNTRY: [PathElement<'static>; 2] =
    [PathElement::Key("country"), PathElement::Key("iso_code")];
const REGISTERED: [PathElement<'static>; 2] = [
    PathElement::Key("registered_country"),
    PathElement::Key("iso_code"),
];

/// MaxMind GeoIP reader; [`MaxMindGeo::reload`] swaps in a new database
/// atomically while lookups go on.
pub struct MaxMindGeo {
    reader: ArcSwap<Reader<Vec<u8>>>,
}

impl fmt::Debug for MaxMindGeo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.reader.load();
        f.debug_struct("MaxMindGeo")
            .field("database_type", &r.metadata().database_type)
            .field("build_epoch", &r.metadata().build_epoch)
            .finish()
    }
}

fn check(reader: Reader<Vec<u8>>) -> Result<Reader<Vec<u8>>, GeoError> {
    let kind = reader.metadata().database_type.to_ascii_lowercase();
    // Anonymous-IP, ASN and other databases have no country: refuse them
    // rather than judge every address as unknown.
    if kind.contains("asn") || kind.contains("anonymous") || kind.contains("isp") {
        return Err(GeoError::NoCountryData(
            reader.metadata().database_type.clone(),
        ));
    }
    Ok(reader)
}

impl MaxMindGeo {
    /// Reads a database file into memory.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GeoError> {
        let reader = check(Reader::open_readfile(path).map_err(GeoError::Load)?)?;
        Ok(Self {
            reader: ArcSwap::from_pointee(reader),
        })
    }

    /// Uses a database already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeoError> {
        let reader = check(Reader::from_source(bytes).map_err(GeoError::Load)?)?;
        Ok(Self {
            reader: ArcSwap::from_pointee(reader),
        })
    }

    /// Reads a new database file and swaps it in. On error the current
    /// database stays in use.
    pub fn reload(&self, path: impl AsRef<Path>) -> Result<(), GeoError> {
        let reader = check(Reader::open_readfile(path).map_err(GeoError::Load)?)?;
        self.reader.store(Arc::new(reader));
        Ok(())
    }

    /// Swaps in a database already in memory. On error nothing changes.
    pub fn reload_bytes(&self, bytes: Vec<u8>) -> Result<(), GeoError> {
        let reader = check(Reader::from_source(bytes).map_err(GeoError::Load)?)?;
        self.reader.store(Arc::new(reader));
        Ok(())
    }

    /// The database type from the metadata (`GeoLite2-Country`).
    pub fn database_type(&self) -> String {
        self.reader.load().metadata().database_type.clone()
    }
}

impl GeoLookup for MaxMindGeo {
    fn country(&self, ip: IpAddr) -> Option<CountryCode> {
        let reader = self.reader.load();
        let found = reader.lookup(ip.to_canonical()).ok()?;
        let code: Option<&str> = found.decode_path(&COUNTRY).ok().flatten();
        let code = match code {
            Some(c) => Some(c),
            None => found.decode_path(&REGISTERED).ok().flatten(),
        };
        code.and_then(CountryCode::from_geo)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use mmdb_writer::Writer;
    use mmdb_writer::ipnet::IpNet;
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Country {
        iso_code: &'static str,
    }

    #[derive(Serialize)]
    struct CountryRecord {
        country: Country,
    }

    #[derive(Serialize)]
    struct CityRecord {
        city: BTreeMap<&'static str, BTreeMap<&'static str, &'static str>>,
        country: Country,
        registered_country: Country,
    }

    fn country_db(kind: &str, pairs: &[(&str, &'static str)]) -> Vec<u8> {
        let mut w = Writer::new(kind);
        for (net, cc) in pairs {
            let net: IpNet = net.parse().unwrap();
            w.insert(
                net,
                &CountryRecord {
                    country: Country { iso_code: cc },
                },
            )
            .unwrap();
        }
        w.to_bytes().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cc(g: &MaxMindGeo, s: &str) -> Option<String> {
        g.country(ip(s)).map(|c| c.to_string())
    }

    #[test]
    fn req_2_1_country_db_v4_v6_and_mapped() {
        let db = country_db(
            "Test-Country",
            &[
                ("81.2.69.0/24", "GB"),
                ("2001:db8::/32", "DE"),
                ("1.0.0.0/8", "CN"),
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("country.mmdb");
        std::fs::write(&path, db).unwrap();
        let geo = MaxMindGeo::open(&path).unwrap();
        assert_eq!(cc(&geo, "81.2.69.142").as_deref(), Some("GB"));
        assert_eq!(cc(&geo, "::ffff:81.2.69.142").as_deref(), Some("GB"));
        assert_eq!(cc(&geo, "2001:db8::1").as_deref(), Some("DE"));
        assert_eq!(cc(&geo, "1.2.3.4").as_deref(), Some("CN"));
        assert_eq!(cc(&geo, "8.8.8.8"), None);
        assert_eq!(cc(&geo, "2001:db9::1"), None);
        assert_eq!(geo.database_type(), "Test-Country");
    }

    #[test]
    fn req_2_1_city_db_works() {
        let mut w = Writer::new("Test-City");
        let rec = CityRecord {
            city: BTreeMap::from([("names", BTreeMap::from([("en", "Beijing")]))]),
            country: Country { iso_code: "CN" },
            registered_country: Country { iso_code: "CN" },
        };
        w.insert("1.0.0.0/8".parse::<IpNet>().unwrap(), &rec)
            .unwrap();
        w.insert("2400:da00::/32".parse::<IpNet>().unwrap(), &rec)
            .unwrap();
        let geo = MaxMindGeo::from_bytes(w.to_bytes().unwrap()).unwrap();
        assert_eq!(cc(&geo, "1.1.1.1").as_deref(), Some("CN"));
        assert_eq!(cc(&geo, "2400:da00::5").as_deref(), Some("CN"));
    }

    #[test]
    fn req_2_1_reload_swaps_the_database_and_keeps_it_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("geo.mmdb");
        std::fs::write(&path, country_db("Test-Country", &[("1.0.0.0/8", "CN")])).unwrap();
        let geo = MaxMindGeo::open(&path).unwrap();
        assert_eq!(cc(&geo, "1.1.1.1").as_deref(), Some("CN"));
        std::fs::write(&path, country_db("Test-Country", &[("1.0.0.0/8", "JP")])).unwrap();
        geo.reload(&path).unwrap();
        assert_eq!(cc(&geo, "1.1.1.1").as_deref(), Some("JP"));
        std::fs::write(&path, b"not a database").unwrap();
        assert!(matches!(geo.reload(&path), Err(GeoError::Load(_))));
        assert!(geo.reload(dir.path().join("missing.mmdb")).is_err());
        assert_eq!(cc(&geo, "1.1.1.1").as_deref(), Some("JP"));
        let asn = country_db("GeoLite2-ASN", &[("1.0.0.0/8", "CN")]);
        assert!(matches!(
            geo.reload_bytes(asn),
            Err(GeoError::NoCountryData(_))
        ));
    }
}
