//! SIP over TLS (rustls through rsipstack's TLS listener): the certificate
//! chain and private key come from PEM files named in the configuration.
//! They are checked here at start-up (parsed, and the key matched against
//! the certificate) so a bad file stops the server with a clear message
//! instead of failing each handshake later.

use std::net::SocketAddr;
use std::path::Path;

use rsipstack::transport::tls::{TlsConfig, TlsListenerConnection};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Installs the process-wide rustls crypto provider (ring) once.
pub(crate) fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads and checks `cert` / `key`; returns the PEM bytes.
pub(crate) fn load_pem(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    let cert_pem = std::fs::read(cert).map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_cert {}: not PEM certificates: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "tls_cert {}: no certificate in the file",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("tls_key {}: no usable private key: {e}", key.display()))?;
    install_crypto_provider();
    rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!(
                "tls_cert {} / tls_key {}: {e}",
                cert.display(),
                key.display()
            )
        })?;
    Ok((cert_pem, key_pem))
}

/// A TLS listener on `addr` with the checked certificate and key.
pub(crate) async fn listener(
    addr: SocketAddr,
    cert: &Path,
    key: &Path,
) -> Result<TlsListenerConnection, String> {
    let (cert_pem, key_pem) = load_pem(cert, key)?;
    let config = TlsConfig {
        cert: Some(cert_pem),
        key: Some(key_pem),
        ..TlsConfig::default()
    };
    TlsListenerConnection::new(addr, None, config)
        .await
        .map_err(|e| format!("cannot set up SIP/TLS {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_9_tls_files_are_checked_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let e = load_pem(&cert, &key).unwrap_err();
        assert!(e.starts_with("tls_cert"), "{e}");
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let e = load_pem(&cert, &key).unwrap_err();
        assert!(e.contains("no certificate"), "{e}");
        let a = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(&cert, a.cert.pem()).unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let e = load_pem(&cert, &key).unwrap_err();
        assert!(e.contains("tls_key"), "{e}");
        // A key that does not belong to the certificate.
        std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
        assert!(load_pem(&cert, &key).is_err());
        std::fs::write(&key, a.signing_key.serialize_pem()).unwrap();
        load_pem(&cert, &key).unwrap();
    }
}
