//! SIP over TLS with the same front as TCP ([`super::tcp_front`]): `501 Not
//! Implemented` for requests with a method rsipstack cannot parse, and a
//! bound on the handshake.
//!
//! rsipstack 0.7.14's `TlsConnection` keeps its read half private, so the
//! read-half swap that works for TCP is impossible. What it does offer is
//! `TlsConnection::from_server_stream`, which takes a rustls server stream
//! over a `TcpStream` *and* the remote address separately. So okcc accepts
//! SIP/TLS itself and terminates the client's TLS; rsipstack gets a
//! connection whose remote address is the client's real one (source checks,
//! connection limits, bindings and the audit all see the client) but whose
//! stream is a second TLS session over a private loopback TCP pair, with
//! okcc's own end as the client:
//!
//! ```text
//! phone ==TLS== okcc front ==TLS over loopback== rsipstack TlsConnection
//! ```
//!
//! - The loopback session uses the server's own certificate and key; okcc's
//!   end accepts exactly that certificate ([`super::tls::pinned_client`]),
//!   and the pair listener takes only the connection okcc opened.
//! - Client to rsipstack, okcc frames the plaintext as rsipstack's codec
//!   does ([`Framer`]) and copies every byte on unchanged, except whole
//!   requests with an unknown method that okcc's view accepts: those are
//!   answered `501` with `Allow` after the inspector's checks (refused ones
//!   get nothing), and the connection stays open.
//! - rsipstack to client, okcc frames too, so a `501` goes out only between
//!   two whole messages, never inside one.
//! - The whitelist runs at accept, as in rsipstack's listener; the client's
//!   handshake must end within [`HANDSHAKE_TIMEOUT`] (rsipstack's own
//!   listener waits for ever), and at most [`MAX_HANDSHAKES`] are in
//!   progress at once (one more connection is closed at once). Idle timeouts and the per-source limit are
//!   rsipstack's and the hooks', on its connection: when rsipstack closes
//!   it, okcc closes the client's.
//!
//! The cost is a second TLS session per connection (one handshake, then
//! AES-GCM both ways on loopback) and two loopback sockets.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use okcc_sip::SipMethod;
use okcc_sip::pipeline::Guard;
use rsipstack::sip::Transport;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::tls::TlsConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;

use super::hooks::Metrics;
use super::tcp_front::{Framer, Piece, StreamBase, StreamFront};
use super::tls::ServerCert;
use super::unknown::{NotImplemented, Verdict};

/// Longest a client's TLS handshake may take.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest okcc's loopback handshake with rsipstack's end may take.
const LOOPBACK_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Client handshakes in progress at once, at most: a connection beyond
/// is closed at once (each one waiting holds a socket and TLS state for
/// up to [`HANDSHAKE_TIMEOUT`]).
pub(crate) const MAX_HANDSHAKES: usize = 256;

/// `501`s waiting for a message boundary toward the client, at most; more
/// are dropped (as a lost datagram would be).
const MAX_QUEUED_REPLIES: usize = 64;

/// The SIP/TLS listener (see the module documentation).
pub(crate) struct TlsFront {
    base: StreamBase,
    /// Client-facing handshakes, and rsipstack's end of the loopback one.
    acceptor: TlsAcceptor,
    /// okcc's end of the loopback handshake.
    connector: TlsConnector,
    /// Permits for client handshakes in progress.
    handshakes: Arc<tokio::sync::Semaphore>,
}

impl TlsFront {
    /// Binds SIP/TLS on `addr` with `cert` (and the loopback pair listener).
    pub(crate) async fn bind(
        addr: SocketAddr,
        cert: ServerCert,
        guard: Arc<Guard>,
        metrics: Arc<Metrics>,
        allow: &'static [SipMethod],
    ) -> Result<Self, String> {
        Self::bind_with(addr, cert, guard, metrics, allow, MAX_HANDSHAKES).await
    }

    /// [`Self::bind`] with at most `max_handshakes` client handshakes at once.
    async fn bind_with(
        addr: SocketAddr,
        cert: ServerCert,
        guard: Arc<Guard>,
        metrics: Arc<Metrics>,
        allow: &'static [SipMethod],
        max_handshakes: usize,
    ) -> Result<Self, String> {
        Ok(Self {
            handshakes: Arc::new(tokio::sync::Semaphore::new(max_handshakes)),
            base: StreamBase::bind(addr, "SIP/TLS", guard, metrics, allow).await?,
            acceptor: TlsAcceptor::from(cert.config),
            connector: TlsConnector::from(super::tls::pinned_client(cert.end_entity)),
        })
    }
}

impl StreamFront for TlsFront {
    const TRANSPORT: Transport = Transport::Tls;

    fn base(&self) -> &StreamBase {
        &self.base
    }

    async fn connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        local: SipAddr,
        endpoint: &EndpointInnerRef,
        token: CancellationToken,
    ) -> Result<(), String> {
        let Ok(permit) = self.handshakes.try_acquire() else {
            // Dropping `stream` closes it.
            return Err("too many TLS handshakes in progress".to_owned());
        };
        let client = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(stream))
            .await
            .map_err(|_| "TLS handshake timed out".to_owned())?
            .map_err(|e| format!("TLS handshake: {e}"))?;
        drop(permit);
        let (rsip_end, okcc_end) = self.base.loopback.pair().await.map_err(|e| e.to_string())?;
        let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
        let (rsip_tls, okcc_tls) = tokio::time::timeout(LOOPBACK_HANDSHAKE_TIMEOUT, async {
            tokio::try_join!(
                self.acceptor.accept(rsip_end),
                self.connector.connect(name, okcc_end)
            )
        })
        .await
        .map_err(|_| "loopback TLS handshake timed out".to_owned())?
        .map_err(|e| format!("loopback TLS handshake: {e}"))?;
        let remote = SipAddr {
            r#type: Some(Transport::Tls),
            addr: peer.into(),
        };
        let conn = TlsConnection::from_server_stream(rsip_tls, local, remote, Some(token.clone()))
            .await
            .map_err(|e| e.to_string())?;
        endpoint
            .transport_layer
            .add_connection(SipConnection::Tls(conn));
        relay(&self.base.checks, client, okcc_tls, peer, &token).await;
        Ok(())
    }
}

/// Relays between the client's session and rsipstack's (see the module
/// documentation) until rsipstack closes its connection, the client goes
/// and rsipstack has seen the end, or `token` is cancelled.
async fn relay<C, R>(
    checks: &NotImplemented,
    client: C,
    rsip: R,
    peer: SocketAddr,
    token: &CancellationToken,
) where
    C: AsyncRead + AsyncWrite,
    R: AsyncRead + AsyncWrite,
{
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut rsip_r, mut rsip_w) = tokio::io::split(rsip);
    let (mut up_buf, mut down_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut up, mut down) = (Framer::default(), Framer::default());
    let mut pieces = Vec::new();
    let mut replies: Vec<Vec<u8>> = Vec::new();
    let mut client_open = true;
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            r = client_r.read(&mut up_buf), if client_open => {
                let n = match r {
                    Ok(n) if n > 0 => n,
                    // The client closed (or the read failed): rsipstack
                    // sees the end of its stream and closes; what it
                    // still sends is relayed until then.
                    _ => {
                        client_open = false;
                        let _ = rsip_w.shutdown().await;
                        continue;
                    }
                };
                up.push(up_buf.get(..n).unwrap_or_default(), &mut pieces);
                for piece in pieces.drain(..) {
                    let copy = match piece {
                        Piece::Copy(bytes) => bytes,
                        Piece::Unknown(request) => {
                            match checks.verdict(&request, peer, Instant::now(), false) {
                                Verdict::Pass => request,
                                Verdict::Drop => continue,
                                Verdict::Answer(reply) => {
                                    if replies.len() < MAX_QUEUED_REPLIES {
                                        replies.push(reply);
                                    }
                                    continue;
                                }
                            }
                        }
                    };
                    if rsip_w.write_all(&copy).await.is_err() {
                        return;
                    }
                }
                if rsip_w.flush().await.is_err() {
                    return;
                }
            }
            r = rsip_r.read(&mut down_buf) => {
                let n = match r {
                    Ok(n) if n > 0 => n,
                    // rsipstack closed the connection (idle, limit,
                    // shutdown, or the client went).
                    _ => break,
                };
                down.push(down_buf.get(..n).unwrap_or_default(), &mut pieces);
                for piece in pieces.drain(..) {
                    let (Piece::Copy(bytes) | Piece::Unknown(bytes)) = piece;
                    if client_w.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
            }
        }
        // Answers go out only between two whole messages from rsipstack.
        if !replies.is_empty() && down.pending().is_empty() {
            for reply in replies.drain(..) {
                if client_w.write_all(&reply).await.is_err() {
                    return;
                }
            }
        }
        if client_w.flush().await.is_err() {
            return;
        }
    }
    if client_open {
        let _ = rsip_w.shutdown().await;
    }
    let _ = client_w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;

    const ALLOW: &[SipMethod] = &[SipMethod::Invite, SipMethod::Options];

    fn request(method: &str) -> Vec<u8> {
        format!(
            "{method} sip:100@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 192.0.2.4:5061;branch=z9hG4bK{method}\r\n\
             From: <sip:200@example.com>;tag=f\r\nTo: <sip:100@example.com>\r\nCall-ID: c@h\r\n\
             CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    /// Reads from `s` until `want` bytes came (or 2 s passed).
    async fn read_n(s: &mut DuplexStream, want: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < want {
            match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        got
    }

    async fn nothing_comes(s: &mut DuplexStream) -> bool {
        let mut buf = [0u8; 1];
        tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf))
            .await
            .is_err()
    }

    #[tokio::test]
    async fn req_9_relay_answers_unknown_methods_between_whole_messages() {
        let checks = NotImplemented::new(
            Arc::new(crate::serve::unknown::tests::guard("")),
            Arc::new(Metrics::default()),
            ALLOW,
        );
        let (mut phone, client_end) = tokio::io::duplex(1 << 16);
        let (mut stack, rsip_end) = tokio::io::duplex(1 << 16);
        let token = CancellationToken::new();
        let peer: SocketAddr = "192.0.2.4:5061".parse().unwrap();
        let relay = {
            let token = token.clone();
            tokio::spawn(async move { relay(&checks, client_end, rsip_end, peer, &token).await })
        };

        // rsipstack is half-way through a message when the phone sends an
        // unknown method and an OPTIONS.
        let response = b"SIP/2.0 200 OK\r\nCSeq: 9 INVITE\r\nContent-Length: 5\r\n\r\nhello";
        stack.write_all(&response[..40]).await.unwrap();
        // (The test runtime has one thread: the relay reads it now.)
        tokio::time::sleep(Duration::from_millis(50)).await;
        let options = request("OPTIONS");
        phone
            .write_all(&[request("FOO"), options.clone()].concat())
            .await
            .unwrap();
        // rsipstack gets the OPTIONS only, the phone nothing yet: neither
        // the half message nor the 501 that must not cut into it.
        assert_eq!(read_n(&mut stack, options.len()).await, options);
        assert!(nothing_comes(&mut phone).await);
        // The rest of the message: then the whole of it, then the 501.
        stack.write_all(&response[40..]).await.unwrap();
        let got = read_n(&mut phone, response.len() + 20).await;
        assert!(
            got.starts_with(response),
            "{}",
            String::from_utf8_lossy(&got)
        );
        let rest = String::from_utf8_lossy(&got[response.len()..]).into_owned();
        let rest = rest + &String::from_utf8_lossy(&read_n(&mut phone, 400).await);
        assert!(
            rest.starts_with("SIP/2.0 501 Not Implemented\r\n"),
            "{rest}"
        );
        assert!(rest.contains("CSeq: 1 FOO\r\n"), "{rest}");

        // The phone goes: rsipstack sees the end of its stream, and what it
        // still sends is relayed until it closes too.
        drop(phone);
        let mut buf = [0u8; 16];
        assert_eq!(stack.read(&mut buf).await.unwrap(), 0);
        drop(stack);
        tokio::time::timeout(Duration::from_secs(2), relay)
            .await
            .expect("the relay ends when both sides are gone")
            .unwrap();
    }

    /// At most `max_handshakes` connections wait in their handshake; one
    /// more is closed at once, and a slot frees up when one goes.
    #[tokio::test]
    async fn req_9_handshakes_in_progress_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let front = TlsFront::bind_with(
            "127.0.0.1:0".parse().unwrap(),
            crate::serve::tls::load(&cert, &key).ok().unwrap(),
            Arc::new(crate::serve::unknown::tests::guard("trust 127.0.0.1\n")),
            Arc::new(Metrics::default()),
            ALLOW,
            2,
        )
        .await
        .unwrap();
        let addr = front.base.listener.local_addr().unwrap();
        let endpoint = rsipstack::EndpointBuilder::new().build();
        let token = CancellationToken::new();
        tokio::spawn(super::super::tcp_front::serve(
            Arc::new(front),
            Arc::clone(&endpoint.inner),
            token.clone(),
        ));
        let closed_at_once = |mut s: TcpStream| async move {
            let mut b = [0u8; 1];
            matches!(
                tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await,
                Ok(Ok(0) | Err(_))
            )
        };
        let waits = |mut s: TcpStream| async move {
            let mut b = [0u8; 1];
            let waited = tokio::time::timeout(Duration::from_millis(300), s.read(&mut b))
                .await
                .is_err();
            (waited, s)
        };
        // Two silent clients hold both slots.
        let a = TcpStream::connect(addr).await.unwrap();
        let (waited, a) = waits(a).await;
        assert!(waited, "the first waits for its handshake");
        let (waited, _b) = waits(TcpStream::connect(addr).await.unwrap()).await;
        assert!(waited, "the second too");
        assert!(
            closed_at_once(TcpStream::connect(addr).await.unwrap()).await,
            "a third is closed at once"
        );
        // One goes: its slot is free again.
        drop(a);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (waited, _d) = waits(TcpStream::connect(addr).await.unwrap()).await;
        assert!(waited, "a slot freed up");
        token.cancel();
    }

    #[tokio::test]
    async fn req_9_relay_ends_when_rsipstack_closes_or_on_shutdown() {
        let checks = Arc::new(NotImplemented::new(
            Arc::new(crate::serve::unknown::tests::guard("")),
            Arc::new(Metrics::default()),
            ALLOW,
        ));
        let peer: SocketAddr = "192.0.2.4:5061".parse().unwrap();
        // rsipstack closes (idle timeout, per-source limit): so does the phone's.
        let (mut phone, client_end) = tokio::io::duplex(1 << 16);
        let (stack, rsip_end) = tokio::io::duplex(1 << 16);
        let c = Arc::clone(&checks);
        let token = CancellationToken::new();
        let t = token.clone();
        let relay_a = tokio::spawn(async move { relay(&c, client_end, rsip_end, peer, &t).await });
        drop(stack);
        let mut buf = [0u8; 16];
        assert_eq!(phone.read(&mut buf).await.unwrap(), 0);
        relay_a.await.unwrap();
        // Shutdown: the relay ends with both sides still open.
        let (_phone, client_end) = tokio::io::duplex(1 << 16);
        let (_stack, rsip_end) = tokio::io::duplex(1 << 16);
        let t = token.clone();
        let relay_b =
            tokio::spawn(async move { relay(&checks, client_end, rsip_end, peer, &t).await });
        token.cancel();
        tokio::time::timeout(Duration::from_secs(2), relay_b)
            .await
            .expect("cancelled")
            .unwrap();
    }
}
