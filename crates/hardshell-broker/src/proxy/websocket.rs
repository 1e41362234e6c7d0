//! WebSockets in a request the broker reads (inside an inspected tunnel, or
//! plain HTTP): the upgrade request is admitted and swapped like any other
//! (rules, placeholders in its URL and headers), sent on with its upgrade
//! headers kept and `Sec-WebSocket-Extensions` taken out, so no compression
//! is agreed: the scan could not read a compressed frame, and a frame that
//! says it is compressed (or uses any extension bit) ends the connection.
//!
//! On `101` the two sides are joined frame by frame. Each frame is read
//! whole (at most `max_body_bytes`, the scan window, and held within the
//! shell's `max_buffered_bytes` like a request body; past either, the
//! connection ends), counted against the shell's budget, and its payload (the
//! shell's unmasked, on a copy) scanned together with the end of the last
//! data frame, so a value split across frames is found (a control frame,
//! which may come between two frames of a message, is scanned alone); then
//! the frame is passed on as it came. From the shell: a secret's value, or a placeholder (frames are
//! not rewritten, so one would leave unswapped), ends the connection and is
//! recorded. From the destination: frames are not redacted as answers are;
//! one that carries a value bound to the host ends the connection instead,
//! recorded, before the shell sees it. A value split across two frames has
//! its first part passed on before the second shows it.
//!
//! The frame header is read with tungstenite's parser; the splice itself is
//! the broker's, since tungstenite's own connection would re-frame (and
//! re-mask) what it relays.

use std::io::Cursor;
use std::sync::Arc;

use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::OpCode;

use super::shell::{BUDGET_SPENT, Limits, Shell, Slot};
use super::{Event, EventSink};
use crate::host::Host;
use crate::secrets::{LeakScanner, Stopped, StreamScan};

/// Whether `parts` asks to become a WebSocket.
pub(super) fn asks_websocket(parts: &http::request::Parts) -> bool {
    parts
        .headers
        .get_all(http::header::UPGRADE)
        .iter()
        .any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
            })
        })
}

/// Which way frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    FromShell,
    FromDestination,
}

/// Why a WebSocket was ended: what the record says.
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error("the shell sent the value of secret {0} in a WebSocket frame")]
    Leak(String),
    #[error(
        "the shell sent a secret placeholder in a WebSocket frame, where placeholders are not swapped"
    )]
    Placeholder,
    #[error(
        "the destination sent the value of secret {0} in a WebSocket frame (frames are not redacted), so the connection was ended"
    )]
    Echo(String),
    #[error("a WebSocket frame is longer than the {0} bytes the broker reads whole")]
    TooLong(usize),
    #[error("a WebSocket frame uses an extension (compression), which the broker cannot read")]
    Extension,
    #[error("this shell has too many bytes held in the broker to take a WebSocket frame")]
    Held,
    #[error("{BUDGET_SPENT}")]
    Spent,
    /// Not a decision: the peer closed, or sent what is not a frame.
    #[error("the connection ended")]
    Closed,
}

/// Everything one joined WebSocket needs.
pub(super) struct Splice {
    pub(super) shell: Shell,
    /// One of the shell's connection slots, held while the WebSocket is
    /// open (the tunnel it came in gives its own back when it ends).
    pub(super) slot: Slot,
    pub(super) limits: Limits,
    pub(super) events: EventSink,
    pub(super) host: Host,
    pub(super) port: u16,
    /// The leak scan for the shell's frames.
    pub(super) scanner: Arc<LeakScanner>,
    /// The values bound to the host (or swapped into the handshake), for the
    /// destination's frames.
    pub(super) echoes: Arc<LeakScanner>,
}

impl Splice {
    /// How long the rest of a frame may take once `buffered` holds its start;
    /// between frames (nothing buffered), no limit: a WebSocket may be quiet.
    fn due(&self, buffered: &[u8]) -> Option<std::time::Duration> {
        (!buffered.is_empty()).then_some(self.limits.body_idle)
    }

    /// Joins the shell's side (once its `101` has gone out) to the
    /// destination's, until either ends or a frame is refused.
    pub(super) fn start(self, shell: OnUpgrade, destination: Upgraded) {
        tokio::spawn(async move {
            let Ok(shell) = shell.await else { return };
            let _slot = &self.slot;
            let (from_shell, to_shell) = tokio::io::split(TokioIo::new(shell));
            let (from_destination, to_destination) = tokio::io::split(TokioIo::new(destination));
            let ended = tokio::select! {
                ended = self.relay(Way::FromShell, from_shell, to_destination) => ended,
                ended = self.relay(Way::FromDestination, from_destination, to_shell) => ended,
            };
            let event = match ended {
                Ended::Closed => return,
                Ended::Leak(name) => Event::LeakBlocked {
                    name,
                    host: self.host.to_string(),
                },
                other => Event::Denied {
                    host: self.host.to_string(),
                    port: self.port,
                    reason: other.to_string(),
                },
            };
            (self.events)(event);
        });
    }

    /// Frames from `from` to `to`, each read whole, checked, then passed on.
    async fn relay(
        &self,
        way: Way,
        mut from: impl AsyncRead + Unpin,
        mut to: impl AsyncWrite + Unpin,
    ) -> Ended {
        let (scanner, placeholders) = match way {
            Way::FromShell => (self.scanner.clone(), true),
            Way::FromDestination => (self.echoes.clone(), false),
        };
        let mut scan = StreamScan::new(scanner.clone(), placeholders, &[]);
        let mut buffer: Vec<u8> = Vec::with_capacity(16 * 1024);
        let ended = loop {
            let due = self.due(&buffer);
            let mut cursor = Cursor::new(&buffer[..]);
            let (header, length) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                // A frame's start has come and its header not all of it:
                // the rest is due within `body_idle`, as a request body's.
                Ok(None) => match read_more(&mut from, &mut buffer, due).await {
                    true => continue,
                    false => break Ended::Closed,
                },
                Err(_) => break Ended::Closed,
            };
            let head = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
            let Some(length) = usize::try_from(length)
                .ok()
                .filter(|length| *length <= self.limits.max_body_bytes)
            else {
                break Ended::TooLong(self.limits.max_body_bytes);
            };
            if header.rsv1 || header.rsv2 || header.rsv3 {
                break Ended::Extension;
            }
            let whole = head + length;
            // A frame is held whole until it is checked: it takes from the
            // shell's allowance like a request body, so many connections'
            // long frames cannot fill the edge's memory.
            let permits = u32::try_from(whole.div_ceil(1024)).unwrap_or(u32::MAX);
            let Ok(_held) = self.shell.buffered.clone().try_acquire_many_owned(permits) else {
                break Ended::Held;
            };
            // Held permits wait on the rest of the frame: it is due within
            // `body_idle`, or the connection ends and they are given back.
            while buffer.len() < whole {
                if !read_more(&mut from, &mut buffer, Some(self.limits.body_idle)).await {
                    return Ended::Closed;
                }
            }
            if !self.shell.spend(whole, &self.limits) {
                break Ended::Spent;
            }
            let mut payload = buffer[head..whole].to_vec();
            if let Some(mask) = header.mask {
                for (i, byte) in payload.iter_mut().enumerate() {
                    *byte ^= mask[i % 4];
                }
            }
            // A control frame (ping, pong, close) may come between two
            // pieces of a message: scanned alone, so the message's pieces
            // are scanned as one.
            let scanned = match header.opcode {
                OpCode::Control(_) => match scanner.find(&payload) {
                    Some(found) => Err(Stopped::Secret(found)),
                    None => Ok(bytes::Bytes::new()),
                },
                OpCode::Data(_) => scan.push_now(&payload),
            };
            match (scanned, way) {
                (Ok(_), _) => {}
                (Err(Stopped::Secret(found)), Way::FromShell) => break Ended::Leak(found.name),
                (Err(Stopped::Secret(found)), Way::FromDestination) => {
                    break Ended::Echo(found.name);
                }
                (Err(Stopped::Placeholder), _) => break Ended::Placeholder,
            }
            if to.write_all(&buffer[..whole]).await.is_err() {
                break Ended::Closed;
            }
            buffer.drain(..whole);
        };
        let _ = to.shutdown().await;
        ended
    }
}

/// Reads what `from` has into `buffer`, within `due` if given; `false` at
/// its end, or when it is late.
async fn read_more(
    from: &mut (impl AsyncRead + Unpin),
    buffer: &mut Vec<u8>,
    due: Option<std::time::Duration>,
) -> bool {
    let mut piece = [0u8; 16 * 1024];
    let read = from.read(&mut piece);
    let read = match due {
        Some(due) => match tokio::time::timeout(due, read).await {
            Ok(read) => read,
            Err(_) => return false,
        },
        None => read.await,
    };
    match read {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&piece[..n]);
            true
        }
    }
}
