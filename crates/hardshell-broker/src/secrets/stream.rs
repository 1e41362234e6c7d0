//! The leak scan over a request body that passes in pieces, past the part
//! the broker reads whole (its scan window): each piece is scanned together
//! with the end of what came before it, and that end is held back until the
//! next piece has been seen, so a value split across two pieces is found
//! before any of it leaves in the stream.
//!
//! What is held is bounded: twice the longest form searched for. A value
//! found with its whitespace taken out (wrapped over lines) is found across
//! a piece's edge only while that whitespace is no longer than the value.
//! Past the window, a placeholder is not swapped (its text could be split
//! anywhere, and what came before has left already): one stops the stream.

use std::sync::Arc;

use bytes::Bytes;

use super::{Finding, LeakScanner, PREFIX};

/// Why a streamed body was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// A secret's value, in one of the forms the scan knows.
    Secret(Finding),
    /// An `hs-secret:` placeholder (or the start of one) past the window.
    Placeholder,
}

/// One streamed body's scan.
pub struct StreamScan {
    scanner: Arc<LeakScanner>,
    /// Whether a placeholder stops the stream: not where placeholders are
    /// text (a model route's body).
    placeholders: bool,
    /// The end of what came before (its first `sent` bytes have left
    /// already) and what is held back, scanned with the next piece.
    pending: Vec<u8>,
    sent: usize,
    hold: usize,
    /// Bytes pushed since the last scan: each scan reads all that is
    /// pending, so pieces are gathered to at least [`BATCH`] (or the hold)
    /// first, or a shell sending a body a byte at a time would have every
    /// byte cost a scan of the whole hold.
    unscanned: usize,
}

/// The least a streamed body's scan reads anew each time (see
/// [`StreamScan::push`]).
const BATCH: usize = 16 * 1024;

impl std::fmt::Debug for StreamScan {
    /// Lengths only: the pending bytes are the shell's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamScan")
            .field("pending", &self.pending.len())
            .field("hold", &self.hold)
            .finish_non_exhaustive()
    }
}

impl StreamScan {
    /// A scan of what follows `before` (the window as the shell sent it,
    /// already scanned and sent): its end is scanned again with the first
    /// piece, so a value or placeholder across the window's edge is found.
    pub fn new(scanner: Arc<LeakScanner>, placeholders: bool, before: &[u8]) -> Self {
        let hold = (2 * scanner.longest()).max(PREFIX.len());
        let pending = before[before.len().saturating_sub(hold)..].to_vec();
        Self {
            scanner,
            placeholders,
            sent: pending.len(),
            pending,
            hold,
            unscanned: 0,
        }
    }

    /// What of `piece` (and of what was held) may leave now; the rest is
    /// held for the next piece. Pieces are gathered until enough are new to
    /// scan (nothing leaves meanwhile): the cost of a scan is paid per
    /// [`BATCH`], not per piece.
    pub fn push(&mut self, piece: &[u8]) -> Result<Bytes, Stopped> {
        self.pending.extend_from_slice(piece);
        self.unscanned += piece.len();
        if self.unscanned < BATCH.max(self.hold) {
            return Ok(Bytes::new());
        }
        self.scan_and_release()
    }

    /// As [`push`](Self::push), scanned at once whatever its size: for
    /// pieces already held whole and paid for per piece (WebSocket frames).
    pub fn push_now(&mut self, piece: &[u8]) -> Result<Bytes, Stopped> {
        self.pending.extend_from_slice(piece);
        self.scan_and_release()
    }

    fn scan_and_release(&mut self) -> Result<Bytes, Stopped> {
        self.unscanned = 0;
        if let Some(found) = self.scanner.find(&self.pending) {
            return Err(Stopped::Secret(found));
        }
        // A placeholder wholly within what has left was the window's, and
        // swapped there; one reaching past it is not.
        let sent = self.sent;
        if self.placeholders
            && self
                .pending
                .windows(PREFIX.len())
                .enumerate()
                .any(|(at, window)| at + PREFIX.len() > sent && window == PREFIX.as_bytes())
        {
            return Err(Stopped::Placeholder);
        }
        // The start of a placeholder at the very end, completed by the
        // next piece, is found then: it is held until.
        let release = self.pending.len().saturating_sub(self.hold);
        Ok(self.release(release))
    }

    /// What is held, at the end of the body, scanned first.
    pub fn finish(&mut self) -> Result<Bytes, Stopped> {
        self.scan_and_release()?;
        Ok(self.release(self.pending.len()))
    }

    /// The pending bytes up to `to` that have not left yet.
    fn release(&mut self, to: usize) -> Bytes {
        let out = Bytes::copy_from_slice(self.pending.get(self.sent..to).unwrap_or_default());
        self.pending.drain(..to);
        self.sent = self.sent.saturating_sub(to);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::secrets::NamedSecret;

    const VALUE: &[u8] = b"ghp_0123456789abcdefABCDEF0123456789ab";

    fn scan(before: &[u8]) -> StreamScan {
        let scanner = LeakScanner::new(&[NamedSecret::new("TOKEN", VALUE.to_vec())]);
        StreamScan::new(Arc::new(scanner), true, before)
    }

    /// Every piece's release, joined, with the finish.
    fn passed(scan: &mut StreamScan, pieces: &[&[u8]]) -> Result<Vec<u8>, Stopped> {
        let mut out = Vec::new();
        for piece in pieces {
            out.extend_from_slice(&scan.push(piece)?);
        }
        out.extend_from_slice(&scan.finish()?);
        Ok(out)
    }

    #[test]
    fn a_body_sent_a_byte_at_a_time_is_scanned_per_batch_and_its_end_at_finish() {
        let mut s = scan(b"");
        // Nothing leaves, and nothing is scanned, until a batch is in.
        for byte in b"some text, then " {
            assert!(s.push(&[*byte]).unwrap().is_empty());
        }
        for byte in VALUE {
            assert!(s.push(&[*byte]).unwrap().is_empty());
        }
        assert_eq!(s.unscanned, 16 + VALUE.len());
        // The end of the body is scanned before anything of it leaves.
        assert!(matches!(s.finish(), Err(Stopped::Secret(_))));
        // A batch's worth is scanned and released (but for the hold).
        let mut s = scan(b"");
        let out = s.push(&vec![b'x'; BATCH]).unwrap();
        assert_eq!(out.len(), BATCH - s.hold);
        assert_eq!(s.unscanned, 0);
    }

    #[test]
    fn what_passes_is_what_came_in_without_the_window() {
        let mut s = scan(b"the window's end");
        let pieces: Vec<Vec<u8>> = (0..50).map(|i| vec![b'a' + (i % 26); 7]).collect();
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        assert_eq!(passed(&mut s, &refs).unwrap(), pieces.concat());
    }

    #[test]
    fn a_value_split_across_pieces_is_found_before_any_of_it_leaves() {
        let (first, second) = VALUE.split_at(20);
        let mut s = scan(b"");
        let mut left = s.push_now(&[b'x'; 4096]).unwrap().to_vec();
        let mut head = b"prefix ".to_vec();
        head.extend_from_slice(first);
        left.extend_from_slice(&s.push_now(&head).unwrap());
        assert!(
            !left.windows(first.len()).any(|w| w == first),
            "part of the value left"
        );
        assert!(matches!(s.push_now(second), Err(Stopped::Secret(_))));
    }

    #[test]
    fn a_value_or_placeholder_across_the_windows_edge_is_found() {
        let (first, second) = VALUE.split_at(10);
        assert!(matches!(
            scan(first).push_now(second),
            Err(Stopped::Secret(_))
        ));
        assert_eq!(
            scan(b"..hs-sec").push_now(b"ret:KEY"),
            Err(Stopped::Placeholder)
        );
    }

    #[test]
    fn a_placeholder_past_the_window_stops_it_and_one_within_does_not() {
        let mut s = scan(b"{\"key\": \"hs-secret:KEY\", ");
        assert!(s.push_now(b"\"more\": 1}").is_ok());
        assert_eq!(
            scan(b"").push_now(b"x hs-secret:KEY"),
            Err(Stopped::Placeholder)
        );
        // Base64'd past the window: found as any other form.
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, VALUE);
        let mut s = scan(b"");
        let (a, b) = encoded.as_bytes().split_at(17);
        assert!(s.push_now(a).is_ok());
        assert!(matches!(s.push_now(b), Err(Stopped::Secret(_))));
    }
}
