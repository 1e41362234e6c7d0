//! Screenshots the agent's browser took, kept by the edge so the owner is
//! shown the edge's own copy (the one the relay carried), never an image the
//! agent hands over. Each is decoded and encoded again before it is kept: the
//! owner's browser then decodes only this encoder's output, never bytes a
//! page or a compromised browser chose.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::broadcast;

/// Largest screenshot taken, encoded (a full-page capture of a long page).
const MAX_PNG_BYTES: usize = 16 << 20;
/// Largest decoded image: 4096 × 4096 RGBA (64 MiB; a viewport is a
/// few). A page compresses a huge flat image into a few bytes, so this,
/// not the encoded size, bounds what one screenshot makes the edge hold.
const MAX_DECODED_BYTES: usize = 4096 * 4096 * 4;
/// Screenshots decoded at once (each on a blocking thread); past this, one
/// is dropped rather than queued, so a client asking for them in a loop
/// cannot make the edge hold many decoded images.
const DECODING_AT_ONCE: usize = 2;
/// Kept per conversation: the newest.
const KEPT_PER_SESSION: usize = 4;
/// Kept in all, across conversations: the oldest go first.
const KEPT_BYTES: usize = 64 << 20;
/// Announcements a slow chat stream may fall behind by.
const EVENTS_KEPT: usize = 16;

/// A screenshot was kept for `session` as number `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shot {
    pub session: String,
    pub id: u64,
}

#[derive(Debug, Default)]
struct Kept {
    /// (session, id, png), oldest first.
    shots: VecDeque<(String, u64, Bytes)>,
    bytes: usize,
    next: u64,
}

/// The kept screenshots (see the module).
#[derive(Debug)]
pub struct Screenshots {
    kept: Mutex<Kept>,
    events: broadcast::Sender<Shot>,
    decoding: std::sync::atomic::AtomicUsize,
}

impl Default for Screenshots {
    fn default() -> Self {
        Self {
            kept: Mutex::default(),
            events: broadcast::channel(EVENTS_KEPT).0,
            decoding: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl Screenshots {
    /// Keeps `data` (a screenshot as the browser answered it, base64) for
    /// `session`, decoded off the caller's task; dropped when
    /// [`DECODING_AT_ONCE`] are being decoded already, or when it is not a
    /// PNG within the limits. Returns whether it was taken up.
    pub fn put_base64(self: &std::sync::Arc<Self>, session: &str, data: &str) -> bool {
        use std::sync::atomic::Ordering;
        if self.decoding.fetch_add(1, Ordering::AcqRel) >= DECODING_AT_ONCE {
            self.decoding.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        let (this, session, data) = (self.clone(), session.to_owned(), data.to_owned());
        tokio::task::spawn_blocking(move || {
            use base64::Engine as _;
            if let Ok(png) = base64::engine::general_purpose::STANDARD.decode(data) {
                this.put(&session, &png);
            }
            this.decoding.fetch_sub(1, Ordering::AcqRel);
        });
        true
    }

    /// Keeps `png` (as the browser sent it) for `session` once it decodes
    /// within the limits, encoded afresh, and announces it. `None`: not kept.
    pub fn put(&self, session: &str, png: &[u8]) -> Option<u64> {
        let clean = reencode(png)?;
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.next += 1;
        let id = kept.next;
        kept.bytes += clean.len();
        kept.shots.push_back((session.to_owned(), id, clean));
        let mine = kept.shots.iter().filter(|(s, ..)| s == session).count();
        if mine > KEPT_PER_SESSION
            && let Some(at) = kept.shots.iter().position(|(s, ..)| s == session)
            && let Some((_, _, gone)) = kept.shots.remove(at)
        {
            kept.bytes -= gone.len();
        }
        while kept.bytes > KEPT_BYTES {
            match kept.shots.pop_front() {
                Some((_, _, gone)) => kept.bytes -= gone.len(),
                None => break,
            }
        }
        drop(kept);
        let _ = self.events.send(Shot {
            session: session.to_owned(),
            id,
        });
        Some(id)
    }

    /// Screenshot `id` of `session`, while it is kept.
    pub fn get(&self, session: &str, id: u64) -> Option<Bytes> {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.shots
            .iter()
            .find(|(s, shot, _)| s == session && *shot == id)
            .map(|(_, _, png)| png.clone())
    }

    /// Screenshots kept from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Shot> {
        self.events.subscribe()
    }
}

/// `png` decoded (within the limits) and encoded again as 8-bit RGBA or RGB.
fn reencode(png: &[u8]) -> Option<Bytes> {
    if png.len() > MAX_PNG_BYTES {
        return None;
    }
    let mut decoder = png::Decoder::new_with_limits(
        std::io::Cursor::new(png),
        png::Limits {
            bytes: MAX_DECODED_BYTES,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().ok()?;
    let mut pixels = vec![0; reader.output_buffer_size()?];
    let frame = reader.next_frame(&mut pixels).ok()?;
    let color = match frame.color_type {
        png::ColorType::Rgba => png::ColorType::Rgba,
        png::ColorType::Rgb => png::ColorType::Rgb,
        png::ColorType::GrayscaleAlpha | png::ColorType::Grayscale | png::ColorType::Indexed => {
            return None;
        }
    };
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, frame.width, frame.height);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer
        .write_image_data(pixels.get(..frame.buffer_size())?)
        .ok()?;
    writer.finish().ok()?;
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap_or_else(|e| panic!("{e}"));
        writer
            .write_image_data(&vec![200; (width * height * 3) as usize])
            .unwrap_or_else(|e| panic!("{e}"));
        writer.finish().unwrap_or_else(|e| panic!("{e}"));
        out
    }

    #[test]
    fn a_screenshot_is_kept_encoded_afresh_and_only_for_its_session() {
        let shots = Screenshots::default();
        let mut events = shots.subscribe();
        let mut original = png(4, 3);
        // Trailing bytes after the image's end: gone from the copy kept.
        original.extend_from_slice(b"<script>alert(1)</script>");
        let id = shots
            .put("web-a", &original)
            .unwrap_or_else(|| panic!("not kept"));
        let kept = shots
            .get("web-a", id)
            .unwrap_or_else(|| panic!("not found"));
        assert!(kept.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(!kept.windows(8).any(|w| w == b"<script>"));
        assert_eq!(shots.get("web-b", id), None);
        assert_eq!(
            events.try_recv().ok(),
            Some(Shot {
                session: "web-a".into(),
                id
            })
        );
    }

    #[test]
    fn what_is_not_an_image_is_not_kept_and_old_ones_go() {
        let shots = Screenshots::default();
        assert_eq!(shots.put("web-a", b"not a png"), None);
        assert_eq!(shots.put("web-a", &png(4, 3)[..20]), None);
        let ids: Vec<u64> = (0..6)
            .filter_map(|_| shots.put("web-a", &png(2, 2)))
            .collect();
        assert_eq!(ids.len(), 6);
        // The newest four are kept.
        assert!(shots.get("web-a", ids[0]).is_none());
        assert!(shots.get("web-a", ids[1]).is_none());
        assert!(shots.get("web-a", ids[5]).is_some());
    }
}
