//! The HTTP listener counts its open connections for the resource monitor
//! (`connections` gauge): each accepted stream holds a
//! [`crate::monitor::OpenConnection`] until hyper drops it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::monitor::{Gauges, OpenConnection};

/// A TCP listener whose streams count themselves in [`Gauges`].
pub(crate) struct CountedListener {
    inner: TcpListener,
    gauges: Arc<Gauges>,
}

impl CountedListener {
    pub(crate) fn new(inner: TcpListener, gauges: Arc<Gauges>) -> Self {
        Self { inner, gauges }
    }
}

impl axum::serve::Listener for CountedListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let open = self.gauges.track_connection();
        (CountedStream { io, _open: open }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted stream; the gauge goes down when it is dropped.
pub(crate) struct CountedStream {
    io: TcpStream,
    _open: OpenConnection,
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn req_4_open_http_connections_are_counted_until_closed() {
        let gauges = Arc::new(Gauges::default());
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let mut listener = CountedListener::new(tcp, Arc::clone(&gauges));
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let (stream, peer) = axum::serve::Listener::accept(&mut listener).await;
        assert_eq!(peer, client.local_addr().expect("client addr"));
        assert_eq!(gauges.http_connections(), 1);
        client.shutdown().await.expect("shutdown");
        drop(stream);
        assert_eq!(gauges.http_connections(), 0);
    }
}
