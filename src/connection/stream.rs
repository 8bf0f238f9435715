//! The transports a connection runs over: TCP, a Unix socket, or TLS over TCP.
//!
//! Design note (TLS). rustls buffers encrypted records: `poll_write` on a TLS stream can
//! accept plaintext and return `Ok(n)` while part of the ciphertext still sits in that buffer
//! because the socket would block. The I/O task stops writing once its own buffer is empty and
//! never calls `poll_flush`, so for TLS `poll_read` first pushes out whatever is buffered
//! (registering for write readiness if the socket is full). The I/O task polls reads on every
//! turn, so no request can stay stranded in the TLS buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

// The TLS transport: its own file beside this one (declared here so that the connection
// module's root need not change).
#[path = "tls.rs"]
pub(crate) mod tls;

/// A connected byte stream: TCP, a Unix socket, or TLS over TCP.
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    /// Boxed: a rustls client session is over a kilobyte, the other variants a few words.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            #[cfg(unix)]
            Stream::Unix($s) => $e,
            #[cfg(feature = "tls")]
            Stream::Tls($s) => {
                let $s = &mut **$s;
                $e
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))] mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        #[cfg(feature = "tls")]
        if let Stream::Tls(s) = self.as_mut().get_mut() {
            // See the design note: drive out buffered ciphertext before waiting for a reply.
            if let Poll::Ready(Err(e)) = Pin::new(&mut **s).poll_flush(cx) {
                return Poll::Ready(Err(e));
            }
        }
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }
}
