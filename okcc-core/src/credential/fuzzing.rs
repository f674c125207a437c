//! Entry points for the fuzz targets (not part of the stable API).

use super::{Ha1Audit, parse_ha1_line};

/// Parses arbitrary bytes as one `user:hex` line; when it parses, the
/// record round-trips through hex and audits without panicking.
pub fn ha1_audit_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(record) = parse_ha1_line(&text) {
        assert!(!record.user.is_empty());
        let hex = record.ha1.to_hex();
        let again = parse_ha1_line(&format!("{}:{}", record.user, hex.as_str()));
        assert!(again.is_ok_and(|r| r.ha1.ct_eq(&record.ha1)));
        let candidates = ["123456", "password"];
        let _ = Ha1Audit::new("realm", &candidates).check(&record);
    }
}
