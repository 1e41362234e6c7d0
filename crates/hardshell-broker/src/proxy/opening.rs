//! What a shell opens an inspected tunnel with: a TLS hello, or plain HTTP.
//!
//! Some clients tunnel plain `http://` through `CONNECT` as well: undici's
//! proxy agent (Node's `fetch` behind `HTTP_PROXY`, OpenClaw's managed proxy)
//! sends every request that way. Its first byte tells them apart: a TLS
//! record of the handshake starts with 22; an HTTP/1.1 request with its
//! method's first letter. Anything else is neither, and the tunnel is closed.
//!
//! The byte is read, not peeked (an upgraded connection has no peek), so it
//! is handed back in front of the rest ([`Prefixed`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 22;

/// How the shell began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opening {
    Tls,
    /// Plain HTTP/1.1: read and decided as absolute-form requests are.
    Http,
}

/// Why no opening was read.
#[derive(Debug, thiserror::Error)]
pub(super) enum OpeningError {
    #[error("the shell sent nothing in time")]
    TimedOut,
    #[error("the shell closed the tunnel before sending anything")]
    Closed,
    #[error("reading the tunnel failed: {0}")]
    Read(#[source] io::Error),
    #[error("the shell sent neither TLS nor HTTP")]
    Neither,
}

/// Reads the first byte within `within`; the stream comes back whole.
pub(super) async fn read<S: AsyncRead + Unpin>(
    mut stream: S,
    within: Duration,
) -> Result<(Opening, Prefixed<S>), OpeningError> {
    let mut first = [0u8; 1];
    let read = tokio::time::timeout(within, stream.read(&mut first))
        .await
        .map_err(|_| OpeningError::TimedOut)?
        .map_err(OpeningError::Read)?;
    if read == 0 {
        return Err(OpeningError::Closed);
    }
    let opening = match first[0] {
        TLS_HANDSHAKE => Opening::Tls,
        byte if byte.is_ascii_uppercase() => Opening::Http,
        _ => return Err(OpeningError::Neither),
    };
    Ok((
        opening,
        Prefixed {
            first: Some(first[0]),
            inner: stream,
        },
    ))
}

/// A stream with one byte already read put back in front of it. By hand:
/// the buffered readers that can do this (tokio's `BufReader`) hold a buffer
/// for the connection's whole life, this holds one byte until it is read.
#[derive(Debug)]
pub(super) struct Prefixed<S> {
    first: Option<u8>,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() > 0
            && let Some(byte) = self.first.take()
        {
            buf.put_slice(&[byte]);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn opened(bytes: &'static [u8]) -> Result<(Opening, Vec<u8>), OpeningError> {
        let (opening, mut stream) = read(bytes, Duration::from_secs(1)).await?;
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.unwrap();
        Ok((opening, all))
    }

    #[tokio::test]
    async fn a_tls_hello_and_an_http_request_are_told_apart_and_kept_whole() {
        let (opening, all) = opened(b"\x16\x03\x01\x00").await.unwrap();
        assert_eq!(
            (opening, all.as_slice()),
            (Opening::Tls, &b"\x16\x03\x01\x00"[..])
        );
        let (opening, all) = opened(b"POST /v1 HTTP/1.1\r\n").await.unwrap();
        assert_eq!(
            (opening, all.as_slice()),
            (Opening::Http, &b"POST /v1 HTTP/1.1\r\n"[..])
        );
    }

    #[tokio::test]
    async fn anything_else_or_nothing_is_refused() {
        assert!(matches!(
            opened(b"\x00\x01").await,
            Err(OpeningError::Neither)
        ));
        assert!(matches!(
            opened(b"get / HTTP/1.1").await,
            Err(OpeningError::Neither)
        ));
        assert!(matches!(opened(b"").await, Err(OpeningError::Closed)));
    }
}
