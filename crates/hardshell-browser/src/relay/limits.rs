//! A session's limits, and the WebSocket configurations that enforce the
//! message sizes where frames are read (tungstenite refuses an oversized
//! message before it is buffered whole).

use std::time::Duration;

use hardshell_ratelimit::Quota;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// What one session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLimits {
    /// A client's command: far below Chromium's own 100 MB cap, since a
    /// command carries no more than a script or a form's text.
    pub max_client_message_bytes: usize,
    /// An answer or event: screenshots and PDFs are big.
    pub max_browser_message_bytes: usize,
    /// Commands a client may send (Playwright bursts at connect).
    pub rate: Quota,
    /// Commands sent to the browser and not answered yet.
    pub max_in_flight: usize,
    /// Pages open at once, the browser's first blank page included.
    pub max_pages: usize,
    /// The session ends after this long without a client message.
    pub idle: Duration,
    /// The session ends after this long, however busy.
    pub lifetime: Duration,
    /// Refusals past a session's first this many are only counted (in its
    /// end record), not recorded one by one. The rate limit alone would let one
    /// client write hundreds a second, and a full audit backlog refuses
    /// every request the edge serves.
    pub max_refusal_records: u64,
    /// Navigations past a session's first this many are only counted, likewise.
    pub max_navigation_records: u64,
}

impl RelayLimits {
    /// 200 commands a second, bursts of 1,000.
    #[allow(clippy::expect_used)] // constants, not input
    pub fn default_rate() -> Quota {
        Quota::new(12_000, 1_000)
            .expect("12,000 a minute in bursts of 1,000 is within Quota's bounds")
    }

    /// Configuration for the client's WebSocket (give it to the handshake).
    pub fn client_config(&self) -> WebSocketConfig {
        sized(self.max_client_message_bytes)
    }

    /// Configuration for the browser's WebSocket.
    pub fn browser_config(&self) -> WebSocketConfig {
        sized(self.max_browser_message_bytes)
    }
}

impl Default for RelayLimits {
    fn default() -> RelayLimits {
        RelayLimits {
            max_client_message_bytes: 4 << 20,
            max_browser_message_bytes: 32 << 20,
            rate: RelayLimits::default_rate(),
            max_in_flight: 1024,
            max_pages: 10,
            idle: Duration::from_secs(300),
            lifetime: Duration::from_secs(3600),
            max_refusal_records: 100,
            max_navigation_records: 1000,
        }
    }
}

fn sized(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}
