//! `501 Not Implemented` for requests with a method rsipstack cannot parse,
//! on SIP/TCP (the UDP side is [`super::unknown`]).
//!
//! rsipstack 0.7.14 reads a TCP connection itself, frames it and parses
//! every message with no hook before its parser; a method it does not know
//! is a parse error, and the connection is closed without an answer. It has
//! no socket seam for TCP (only for UDP), and its `TcpConnection` is built
//! from a concrete `tokio::net::TcpStream`. So okcc accepts SIP/TCP
//! connections itself and puts a filter between the socket and rsipstack:
//!
//! - the connection rsipstack knows is a real `TcpConnection` over the
//!   accepted socket (its remote address, its write half: answers, requests
//!   to a phone registered over it, connection limits and idle timeouts are
//!   rsipstack's and the hooks' as before), except that its read half is
//!   one end of a private loopback TCP pair;
//! - okcc reads the socket, frames it as rsipstack's codec does, and copies
//!   every byte to the pair's other end unchanged, except whole requests
//!   whose method is unknown ([`okcc_sip::pipeline::unknown_method`]) and
//!   that okcc's view parser accepts: those are answered `501` with `Allow`
//!   on the connection, after the inspector's checks (bans, scanner
//!   signatures and sweeps; refused ones get nothing), and the connection
//!   stays open.
//!
//! Anything the filter cannot frame (a bad `Content-Length`, more than
//! rsipstack's 64 KiB limit without a complete message) is copied on as it
//! comes, so rsipstack refuses it and closes the connection as before. The
//! whitelist runs once per connection, when it is accepted, as in
//! rsipstack's own listener. The pair is made through a listener on
//! loopback that takes only the connection okcc itself opened.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use okcc_sip::SipMethod;
use okcc_sip::pipeline::{Guard, unknown_method};
use rsipstack::sip::Transport;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::stream::StreamConnection;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::hooks::Metrics;
use super::unknown::{NotImplemented, Verdict};

/// rsipstack's limit on one buffered SIP message on a stream.
pub(crate) const MAX_MESSAGE: usize = 65_535;

/// How long making the loopback pair for one connection may take.
const PAIR_TIMEOUT: Duration = Duration::from_secs(2);

/// One unit framed from the front of a connection's buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// `n` bytes to copy on (keep-alive CRLFs, or a whole message).
    Bytes(usize),
    /// A whole request of `n` bytes with a method rsipstack cannot parse.
    Unknown(usize),
    /// Not enough bytes yet.
    Incomplete,
    /// Cannot be framed as rsipstack frames it: copy everything on from
    /// here and let rsipstack refuse it.
    Unframable,
}

/// Frames the front of `buf` as rsipstack 0.7.14's stream codec does:
/// `\r\n\r\n` and `\r\n` at the front are keep-alives; otherwise the head
/// ends at the first `\r\n\r\n` and `Content-Length` (or `l`) gives the
/// body.
pub(crate) fn frame(buf: &[u8]) -> Unit {
    if buf.starts_with(b"\r\n\r\n") {
        return Unit::Bytes(4);
    }
    if buf.starts_with(b"\r\n") {
        return Unit::Bytes(2);
    }
    let Some(head_end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_MESSAGE {
            Unit::Unframable
        } else {
            Unit::Incomplete
        };
    };
    let head = &buf[..head_end + 4];
    let Some(body) = content_length(head) else {
        return Unit::Unframable;
    };
    let Some(total) = (head_end + 4).checked_add(body) else {
        return Unit::Unframable;
    };
    if buf.len() < total {
        return if buf.len() > MAX_MESSAGE {
            Unit::Unframable
        } else {
            Unit::Incomplete
        };
    }
    if unknown_method(&buf[..total]).is_some() {
        Unit::Unknown(total)
    } else {
        Unit::Bytes(total)
    }
}

/// The first `Content-Length` (or compact `l`) of `head`, 0 when there is
/// none; `None` when its value is not a number (rsipstack's codec refuses
/// the stream then).
fn content_length(head: &[u8]) -> Option<usize> {
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = &line[..colon];
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            return std::str::from_utf8(&line[colon + 1..])
                .ok()?
                .trim()
                .parse()
                .ok();
        }
    }
    Some(0)
}

/// What the filter does with bytes read from a connection, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Copy these bytes on to rsipstack.
    Copy(Vec<u8>),
    /// A whole request with a method rsipstack cannot parse.
    Unknown(Vec<u8>),
}

/// Splits a connection's bytes, as they arrive, into [`Piece`]s: every
/// byte lands in exactly one piece, in order, once it can be framed.
#[derive(Debug)]
pub(crate) struct Framer {
    buf: Vec<u8>,
    /// `false` once something could not be framed: from then on every
    /// byte is copied on as it comes.
    framing: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            framing: true,
        }
    }
}

impl Framer {
    /// Takes `data` (the next bytes read) and appends the pieces now
    /// complete to `out`. At most [`MAX_MESSAGE`] bytes (plus one read)
    /// stay buffered.
    pub(crate) fn push(&mut self, data: &[u8], out: &mut Vec<Piece>) {
        if !self.framing {
            if !data.is_empty() {
                out.push(Piece::Copy(data.to_vec()));
            }
            return;
        }
        self.buf.extend_from_slice(data);
        let (mut start, mut copy_from) = (0, 0);
        while self.framing && start < self.buf.len() {
            match frame(&self.buf[start..]) {
                Unit::Incomplete => break,
                Unit::Unframable => self.framing = false,
                Unit::Bytes(len) => start += len,
                Unit::Unknown(len) => {
                    if copy_from < start {
                        out.push(Piece::Copy(self.buf[copy_from..start].to_vec()));
                    }
                    out.push(Piece::Unknown(self.buf[start..start + len].to_vec()));
                    start += len;
                    copy_from = start;
                }
            }
        }
        let upto = if self.framing { start } else { self.buf.len() };
        if copy_from < upto {
            out.push(Piece::Copy(self.buf[copy_from..upto].to_vec()));
        }
        self.buf.drain(..upto);
    }

    /// Bytes read but not yet framed.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// Binds a stream listener on `addr` (`what`: "SIP/TCP" or "SIP/TLS"),
/// with `SO_REUSEADDR` as rsipstack's own listeners.
fn listen(addr: SocketAddr, what: &str) -> Result<TcpListener, String> {
    let cannot_bind = |e: std::io::Error| format!("cannot bind {what} {addr}: {e}");
    let socket = if addr.is_ipv6() {
        tokio::net::TcpSocket::new_v6()
    } else {
        tokio::net::TcpSocket::new_v4()
    }
    .map_err(cannot_bind)?;
    socket.set_reuseaddr(true).map_err(cannot_bind)?;
    socket.bind(addr).map_err(cannot_bind)?;
    socket
        .listen(128)
        .map_err(|e| format!("cannot listen on {what} {addr}: {e}"))
}

/// Private loopback TCP pairs: one end for rsipstack, one for okcc.
pub(crate) struct Loopback {
    pairs: TcpListener,
    /// One pair is made at a time, so the pair listener's next connection
    /// is the one just opened.
    pairing: tokio::sync::Mutex<()>,
}

impl Loopback {
    /// The pair listener, on an ephemeral loopback port.
    pub(crate) async fn bind(what: &str) -> Result<Self, String> {
        let pairs = match TcpListener::bind(("127.0.0.1", 0)).await {
            Ok(l) => l,
            Err(_) => TcpListener::bind(("::1", 0))
                .await
                .map_err(|e| format!("{what} needs a loopback address: {e}"))?,
        };
        Ok(Self {
            pairs,
            pairing: tokio::sync::Mutex::new(()),
        })
    }

    /// Makes a pair: `(rsipstack's end, okcc's end)`.
    pub(crate) async fn pair(&self) -> std::io::Result<(TcpStream, TcpStream)> {
        let _one = self.pairing.lock().await;
        let target = self.pairs.local_addr()?;
        let make = async {
            let ours = TcpStream::connect(target).await?;
            let expected = ours.local_addr()?;
            loop {
                let (theirs, from) = self.pairs.accept().await?;
                // Anything else that connected to the loopback port is
                // dropped: only the connection okcc opened is used.
                if from == expected {
                    return Ok::<_, std::io::Error>((theirs, ours));
                }
            }
        };
        tokio::time::timeout(PAIR_TIMEOUT, make)
            .await
            .map_err(|_| std::io::Error::other("loopback pair timed out"))?
    }
}

/// A stream listener okcc accepts itself (SIP/TCP here, SIP/TLS in
/// [`super::tls_front`]).
pub(crate) trait StreamFront: Send + Sync + 'static {
    /// The listener's transport.
    const TRANSPORT: Transport;
    /// The listener, loopback pairs and defences.
    fn base(&self) -> &StreamBase;
    /// Serves one admitted connection (`local`: the listener's address)
    /// until it ends; `Err` when it could not be taken.
    fn connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        local: SipAddr,
        endpoint: &EndpointInnerRef,
        token: CancellationToken,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// Accepts on `front`'s listener until `token` is cancelled; each
/// connection the whitelist admits is served on a task of its own and
/// handed to `endpoint`'s transport layer.
pub(crate) async fn serve<F: StreamFront>(
    front: Arc<F>,
    endpoint: EndpointInnerRef,
    token: CancellationToken,
) {
    let transport = F::TRANSPORT;
    let local = match front.base().listener.local_addr() {
        Ok(a) => SipAddr {
            r#type: Some(transport),
            addr: a.into(),
        },
        Err(e) => {
            tracing::error!(error = %e, %transport, "SIP listener has no address");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            () = token.cancelled() => return,
            a = front.base().listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, %transport, "SIP accept failed");
                continue;
            }
        };
        if !front.base().checks.admit(peer, Instant::now()) {
            continue;
        }
        let (front, endpoint) = (Arc::clone(&front), Arc::clone(&endpoint));
        let (local, token) = (local.clone(), token.child_token());
        tokio::spawn(async move {
            if let Err(e) = front
                .connection(stream, peer, local, &endpoint, token)
                .await
            {
                tracing::debug!(error = %e, %peer, %transport, "SIP connection not taken");
            }
        });
    }
}

/// What every stream front has: its listener, the loopback pairs toward
/// rsipstack and the defences for unknown methods.
pub(crate) struct StreamBase {
    pub(crate) listener: TcpListener,
    pub(crate) loopback: Loopback,
    /// The whitelist at accept and the answers to unknown methods.
    pub(crate) checks: NotImplemented,
}

impl StreamBase {
    /// Binds `what` ("SIP/TCP", "SIP/TLS") on `addr`, and the loopback
    /// pair listener; answers list `allow`.
    pub(crate) async fn bind(
        addr: SocketAddr,
        what: &str,
        guard: Arc<Guard>,
        metrics: Arc<Metrics>,
        allow: &'static [SipMethod],
    ) -> Result<Self, String> {
        Ok(Self {
            listener: listen(addr, what)?,
            loopback: Loopback::bind(what).await?,
            checks: NotImplemented::new(guard, metrics, allow),
        })
    }
}

/// The SIP/TCP listener (see the module documentation).
pub(crate) struct TcpFront {
    base: StreamBase,
}

impl TcpFront {
    /// Binds SIP/TCP on `addr` (and the loopback pair listener).
    pub(crate) async fn bind(
        addr: SocketAddr,
        guard: Arc<Guard>,
        metrics: Arc<Metrics>,
        allow: &'static [SipMethod],
    ) -> Result<Self, String> {
        Ok(Self {
            base: StreamBase::bind(addr, "SIP/TCP", guard, metrics, allow).await?,
        })
    }
}

impl StreamFront for TcpFront {
    const TRANSPORT: Transport = Transport::Tcp;

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
        let (rsip_end, okcc_end) = self.base.loopback.pair().await.map_err(|e| e.to_string())?;
        let conn = TcpConnection::from_stream(stream, local, Some(token.clone()))
            .map_err(|e| e.to_string())?;
        let (pipe_read, _pipe_write) = tokio::io::split(rsip_end);
        let Some(socket_read) = conn.inner.read_half.lock().await.replace(pipe_read) else {
            return Err("the connection has no read half".to_owned());
        };
        let sip = SipConnection::Tcp(conn.clone());
        endpoint.transport_layer.add_connection(sip);
        self.filter(socket_read, okcc_end, &conn, peer, &token)
            .await;
        Ok(())
    }
}

impl TcpFront {
    /// Copies the socket to rsipstack's end of the pair, answering unknown
    /// methods on the way, until either side ends.
    async fn filter(
        &self,
        mut socket: tokio::io::ReadHalf<TcpStream>,
        mut pipe: TcpStream,
        conn: &TcpConnection,
        peer: SocketAddr,
        token: &CancellationToken,
    ) {
        let mut chunk = vec![0u8; 16 * 1024];
        let mut framer = Framer::default();
        let mut pieces = Vec::new();
        loop {
            let n = tokio::select! {
                () = token.cancelled() => return,
                r = socket.read(&mut chunk) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                },
            };
            framer.push(chunk.get(..n).unwrap_or_default(), &mut pieces);
            for piece in pieces.drain(..) {
                let copy = match piece {
                    Piece::Copy(bytes) => bytes,
                    Piece::Unknown(request) => {
                        match self
                            .base
                            .checks
                            .verdict(&request, peer, Instant::now(), false)
                        {
                            Verdict::Pass => request,
                            Verdict::Drop => continue,
                            Verdict::Answer(reply) => {
                                if let Err(e) = conn.send_raw(&reply).await {
                                    tracing::debug!(error = %e, %peer, "cannot send 501");
                                }
                                continue;
                            }
                        }
                    }
                };
                if pipe.write_all(&copy).await.is_err() {
                    return;
                }
            }
        }
        // The client closed (or the read failed): rsipstack sees the end of
        // its stream, closes the connection and forgets it.
        let _ = pipe.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(method: &str, body: &str) -> Vec<u8> {
        format!(
            "{method} sip:100@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.4:5060;branch=z9hG4bK1\r\n\
             From: <sip:200@example.com>;tag=f\r\nTo: <sip:100@example.com>\r\nCall-ID: c@h\r\n\
             CSeq: 1 {method}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn req_9_frames_like_rsipstacks_codec() {
        assert_eq!(frame(b"\r\n\r\nOPTIONS"), Unit::Bytes(4));
        assert_eq!(frame(b"\r\nOPTIONS"), Unit::Bytes(2));
        let options = msg("OPTIONS", "");
        assert_eq!(frame(&options), Unit::Bytes(options.len()));
        let foo = msg("FOO", "hello");
        assert_eq!(frame(&foo), Unit::Unknown(foo.len()));
        assert_eq!(frame(&foo[..foo.len() - 1]), Unit::Incomplete, "body cut");
        assert_eq!(frame(&foo[..20]), Unit::Incomplete, "head cut");
        let mut two = foo.clone();
        two.extend_from_slice(&options);
        assert_eq!(frame(&two), Unit::Unknown(foo.len()), "one at a time");
        let compact = b"FOO sip:a SIP/2.0\r\nl: 2\r\n\r\nab".to_vec();
        assert_eq!(frame(&compact), Unit::Unknown(compact.len()));
    }

    /// A stream of keep-alives, known requests and unknown ones (with
    /// bodies), as `(bytes, the unknown requests in it)`.
    fn stream(parts: &[(u8, u8)]) -> (Vec<u8>, Vec<Vec<u8>>) {
        let (mut all, mut unknown) = (Vec::new(), Vec::new());
        for &(kind, len) in parts {
            let body = "b".repeat(usize::from(len));
            match kind % 4 {
                0 => all.extend_from_slice(b"\r\n\r\n"),
                1 => all.extend_from_slice(&msg("OPTIONS", &body)),
                2 => all.extend_from_slice(&msg("REGISTER", "")),
                _ => {
                    let m = msg("XYZZY", &body);
                    all.extend_from_slice(&m);
                    unknown.push(m);
                }
            }
        }
        (all, unknown)
    }

    fn run(data: &[u8], cuts: &[usize]) -> (Vec<Piece>, Vec<u8>) {
        let mut f = Framer::default();
        let mut out = Vec::new();
        let mut at = 0;
        for &c in cuts.iter().chain(std::iter::once(&data.len())) {
            let c = c.clamp(at, data.len());
            f.push(&data[at..c], &mut out);
            at = c;
        }
        (out, f.pending().to_vec())
    }

    proptest::proptest! {
        /// However TCP cuts the stream, every byte comes out once and in
        /// order, and exactly the unknown requests are picked out.
        #[test]
        fn req_9_framer_is_independent_of_how_the_stream_is_cut(
            parts in proptest::collection::vec((0u8..4, 0u8..40), 0..12),
            mut cuts in proptest::collection::vec(0usize..2000, 0..8),
        ) {
            let (data, unknown) = stream(&parts);
            cuts.sort_unstable();
            let (pieces, pending) = run(&data, &cuts);
            proptest::prop_assert!(pending.is_empty());
            let mut joined = Vec::new();
            let mut found = Vec::new();
            for p in &pieces {
                match p {
                    Piece::Copy(b) => { proptest::prop_assert!(!b.is_empty()); joined.extend_from_slice(b) }
                    Piece::Unknown(b) => { joined.extend_from_slice(b); found.push(b.clone()) }
                }
            }
            proptest::prop_assert_eq!(joined, data);
            proptest::prop_assert_eq!(found, unknown);
        }

        /// Arbitrary bytes: nothing lost, nothing made up, bounded buffer.
        #[test]
        fn req_9_framer_conserves_arbitrary_bytes(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            cut in 0usize..600,
        ) {
            let (pieces, pending) = run(&data, &[cut]);
            let mut joined: Vec<u8> = pieces
                .iter()
                .flat_map(|p| match p { Piece::Copy(b) | Piece::Unknown(b) => b.clone() })
                .collect();
            joined.extend_from_slice(&pending);
            proptest::prop_assert_eq!(joined, data);
            proptest::prop_assert!(pending.len() <= MAX_MESSAGE + 600);
        }
    }

    #[test]
    fn req_9_what_rsipstack_refuses_is_passed_on_whole() {
        let bad = b"FOO sip:a SIP/2.0\r\nContent-Length: lots\r\n\r\n";
        assert_eq!(frame(bad), Unit::Unframable);
        let huge = vec![b'a'; MAX_MESSAGE + 1];
        assert_eq!(frame(&huge), Unit::Unframable);
        let mut big_body = b"FOO sip:a SIP/2.0\r\nContent-Length: 999999\r\n\r\n".to_vec();
        assert_eq!(frame(&big_body), Unit::Incomplete);
        big_body.resize(MAX_MESSAGE + 2, b'x');
        assert_eq!(frame(&big_body), Unit::Unframable);
        let overflow = format!("FOO sip:a SIP/2.0\r\nl: {}\r\n\r\n", usize::MAX);
        assert_eq!(frame(overflow.as_bytes()), Unit::Unframable);
    }
}
