//! SIP over TLS (rustls; accepted by [`super::tls_front`]): the certificate
//! chain and private key come from PEM files named in the configuration.
//! They are checked here at start-up (parsed, and the key matched against
//! the certificate) so a bad file stops the server with a clear message
//! instead of failing each handshake later.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rsipstack::platform::tls::{TlsClientConfig, TlsConnector as SeamConnector, TlsStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::config::TrunkConfig;

/// Longest a TCP connect plus TLS handshake to the trunk may take.
const TRUNK_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Installs the process-wide rustls crypto provider (ring) once.
pub(crate) fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The server's certificate and key, checked.
pub(crate) struct ServerCert {
    /// For the handshake with clients (and with okcc's own loopback end,
    /// see [`super::tls_front`]).
    pub(crate) config: Arc<rustls::ServerConfig>,
    /// The first certificate of the chain: the loopback client accepts
    /// exactly this one.
    pub(crate) end_entity: CertificateDer<'static>,
}

/// Reads and checks `cert` / `key` (PEM).
pub(crate) fn load(cert: &Path, key: &Path) -> Result<ServerCert, String> {
    let cert_pem = std::fs::read(cert).map_err(|e| format!("tls_cert {}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("tls_key {}: {e}", key.display()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_cert {}: not PEM certificates: {e}", cert.display()))?;
    let Some(end_entity) = chain.first().cloned() else {
        return Err(format!(
            "tls_cert {}: no certificate in the file",
            cert.display()
        ));
    };
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("tls_key {}: no usable private key: {e}", key.display()))?;
    install_crypto_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!(
                "tls_cert {} / tls_key {}: {e}",
                cert.display(),
                key.display()
            )
        })?;
    Ok(ServerCert {
        config: Arc::new(config),
        end_entity,
    })
}

/// A client config that accepts only `end_entity` (whatever the name), for
/// okcc's loopback TLS sessions with itself.
pub(crate) fn pinned_client(end_entity: CertificateDer<'static>) -> Arc<ClientConfig> {
    install_crypto_provider();
    Arc::new(
        ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier::new(Some(end_entity))))
            .with_no_client_auth(),
    )
}

/// Outbound SIP/TLS to the configured trunk (`[trunk] transport = "tls"`).
///
/// Installed as rsipstack's process-wide TLS client connector, so every
/// outbound TLS connection the stack opens goes through it. It dials only
/// the trunk's configured address and checks the certificate chain against
/// the configured CA file (default: the Mozilla roots of `webpki-roots`) and
/// the configured host name, never a name taken from a message. A failed
/// check ends the connection before any SIP byte is written.
pub(crate) struct TrunkConnector {
    addr: SocketAddr,
    name: ServerName<'static>,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TrunkConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkConnector")
            .field("addr", &self.addr)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TrunkConnector {
    /// The connector for trunk `t` at `addr`; `Err` names the bad setting.
    pub(crate) fn new(t: &TrunkConfig, addr: SocketAddr) -> Result<Self, String> {
        install_crypto_provider();
        let name = ServerName::try_from(t.server_name().to_owned()).map_err(|_| {
            format!(
                "trunk.tls_server_name: `{}` is not a DNS name or IP address",
                t.server_name()
            )
        })?;
        let mut roots = RootCertStore::empty();
        match &t.tls_ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("trunk.tls_ca_file {}: {e}", path.display()))?;
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| {
                        format!(
                            "trunk.tls_ca_file {}: not PEM certificates: {e}",
                            path.display()
                        )
                    })?;
                if certs.is_empty() {
                    return Err(format!(
                        "trunk.tls_ca_file {}: no certificate in the file",
                        path.display()
                    ));
                }
                for c in certs {
                    roots.add(c).map_err(|e| {
                        format!("trunk.tls_ca_file {}: unusable CA: {e}", path.display())
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let mut config = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        if t.insecure_skip_verify {
            config
                .dangerous()
                .set_certificate_verifier(Arc::new(Verifier::new(None)));
        }
        Ok(Self {
            addr,
            name,
            config: Arc::new(config),
        })
    }

    /// TCP connect + TLS handshake to the trunk, bounded in time.
    async fn dial(&self) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.config));
        let work = async {
            let tcp = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            connector
                .connect(self.name.clone(), tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))
        };
        tokio::time::timeout(TRUNK_CONNECT_TIMEOUT, work)
            .await
            .map_err(|_| "timed out".to_owned())?
    }
}

#[async_trait::async_trait]
impl SeamConnector for TrunkConnector {
    async fn connect(
        &self,
        _config: &TlsClientConfig,
        addr: SocketAddr,
    ) -> rsipstack::Result<Box<dyn TlsStream>> {
        // The stack only dials addresses it was given; the only one given
        // for TLS is the trunk. Anything else is refused, not dialled.
        if addr != self.addr {
            return Err(rsipstack::Error::Error(format!(
                "outbound TLS to {addr} refused: only the trunk ({}) is dialled",
                self.addr
            )));
        }
        match self.dial().await {
            Ok(stream) => {
                let local = stream
                    .get_ref()
                    .0
                    .local_addr()
                    .map_err(|e| rsipstack::Error::Error(e.to_string()))?;
                let (r, w) = tokio::io::split(stream);
                Ok(Box::new(TrunkStream {
                    read: Mutex::new(r),
                    write: Mutex::new(w),
                    local,
                }))
            }
            Err(e) => {
                tracing::warn!(trunk = %self.addr, name = ?self.name, error = %e,
                    "TLS connection to the trunk failed; nothing was sent");
                Err(rsipstack::Error::Error(format!(
                    "TLS to trunk {}: {e}",
                    self.addr
                )))
            }
        }
    }
}

/// An established TLS session with the trunk.
struct TrunkStream {
    read: Mutex<ReadHalf<tokio_rustls::client::TlsStream<TcpStream>>>,
    write: Mutex<WriteHalf<tokio_rustls::client::TlsStream<TcpStream>>>,
    local: SocketAddr,
}

#[async_trait::async_trait]
impl TlsStream for TrunkStream {
    async fn recv(&self) -> rsipstack::Result<Vec<u8>> {
        let mut buf = vec![0u8; 16 * 1024];
        let n = self.read.lock().await.read(&mut buf).await?;
        buf.truncate(n);
        Ok(buf)
    }

    async fn send_all(&self, data: Vec<u8>) -> rsipstack::Result<()> {
        let mut w = self.write.lock().await;
        w.write_all(&data).await?;
        w.flush().await?;
        Ok(())
    }

    async fn shutdown(&self) -> rsipstack::Result<()> {
        self.write.lock().await.shutdown().await?;
        Ok(())
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// A certificate check that is not a chain check: with no pin
/// (`insecure_skip_verify`) any certificate for any name is accepted; with a
/// pin only that exact certificate is. The handshake signatures are always
/// checked, so the session is encrypted to whoever holds the presented key.
#[derive(Debug)]
struct Verifier {
    pin: Option<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Verifier {
    fn new(pin: Option<CertificateDer<'static>>) -> Self {
        Self {
            pin,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pin {
            Some(pin) if pin.as_ref() != end_entity.as_ref() => {
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_9_tls_files_are_checked_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let e = load(&cert, &key).err().unwrap();
        assert!(e.starts_with("tls_cert"), "{e}");
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let e = load(&cert, &key).err().unwrap();
        assert!(e.contains("no certificate"), "{e}");
        let a = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(&cert, a.cert.pem()).unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let e = load(&cert, &key).err().unwrap();
        assert!(e.contains("tls_key"), "{e}");
        // A key that does not belong to the certificate.
        std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
        assert!(load(&cert, &key).is_err());
        std::fs::write(&key, a.signing_key.serialize_pem()).unwrap();
        load(&cert, &key).map(|_| ()).unwrap();
    }

    fn trunk(ca: Option<std::path::PathBuf>) -> TrunkConfig {
        TrunkConfig {
            address: "127.0.0.1:5061".to_owned(),
            transport: "tls".to_owned(),
            tls_server_name: Some("trunk.test".to_owned()),
            tls_ca_file: ca,
            insecure_skip_verify: false,
        }
    }

    #[test]
    fn req_9_trunk_ca_file_is_checked_with_clear_errors() {
        let addr: SocketAddr = "127.0.0.1:5061".parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let e = TrunkConnector::new(&trunk(Some(ca.clone())), addr).unwrap_err();
        assert!(e.starts_with("trunk.tls_ca_file"), "{e}");
        std::fs::write(&ca, "no PEM here").unwrap();
        let e = TrunkConnector::new(&trunk(Some(ca.clone())), addr).unwrap_err();
        assert!(e.contains("no certificate"), "{e}");
        let a = rcgen::generate_simple_self_signed(vec!["trunk.test".to_owned()]).unwrap();
        std::fs::write(&ca, a.cert.pem()).unwrap();
        let c = TrunkConnector::new(&trunk(Some(ca)), addr).unwrap();
        assert_eq!(c.name, ServerName::try_from("trunk.test").unwrap());
        // Default roots: the built-in Mozilla store.
        TrunkConnector::new(&trunk(None), addr).unwrap();
    }

    #[tokio::test]
    async fn req_9_trunk_connector_dials_only_the_trunk() {
        let addr: SocketAddr = "127.0.0.1:5061".parse().unwrap();
        let c = TrunkConnector::new(&trunk(None), addr).unwrap();
        let other: SocketAddr = "127.0.0.1:5062".parse().unwrap();
        let e = SeamConnector::connect(&c, &TlsClientConfig::default(), other)
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("refused"), "{e}");
    }
}
