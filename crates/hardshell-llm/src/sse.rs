//! An incremental parser for `text/event-stream` (server-sent events), as the WHATWG
//! HTML standard defines it: fed bytes in whatever pieces the network delivers, it
//! returns each event once its terminating blank line has arrived.
//!
//! Hand-written rather than taken from a crate because both of its users need the
//! same pure, synchronous core: the client decodes a reply with it, and the edge's
//! usage meter runs it over bytes it relays. The available crates wrap an async byte
//! stream instead, and none bounds the memory a hostile stream can make it hold.

/// Longest line (and longest event) accepted: far above any real event, small enough
/// that a stream without line breaks cannot exhaust memory.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// One dispatched event. `event` is the `event:` field, `"message"` when absent;
/// `data` joins the event's `data:` lines with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("server-sent event longer than {limit} bytes")]
    EventTooLong { limit: usize },
}

#[derive(Debug)]
pub struct SseParser {
    /// The line being read, without its terminator.
    line: Vec<u8>,
    /// The data of the event being read; `None` until its first `data:` line.
    data: Option<Vec<u8>>,
    event: Option<String>,
    /// The last byte fed was a CR, so an LF starting the next piece ends no line.
    after_cr: bool,
    /// Whether the byte-order mark at the start of the stream is still possible.
    at_start: bool,
    limit: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    pub fn new() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }

    pub fn with_limit(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            data: None,
            event: None,
            after_cr: false,
            at_start: true,
            limit,
        }
    }

    /// Parses the next piece of the stream and returns the events it completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut events = Vec::new();
        if self.at_start && !bytes.is_empty() {
            // The standard allows one UTF-8 byte-order mark before the first line;
            // a mark split across pieces is rare enough to be treated as text.
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            self.at_start = false;
        }
        for &byte in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.process_line(&line)? {
                        events.push(event);
                    }
                }
                _ => {
                    if self.line.len() >= self.limit {
                        return Err(SseError::EventTooLong { limit: self.limit });
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(events)
    }

    /// Whether part of an event has been read but not yet dispatched: at the end of
    /// the stream, that part was cut off.
    pub fn has_partial_event(&self) -> bool {
        !self.line.is_empty() || self.data.is_some() || self.event.is_some()
    }

    fn process_line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.starts_with(b":") {
            return Ok(None); // a comment, often sent to keep the connection alive
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"data" => {
                let data = self.data.get_or_insert_with(Vec::new);
                if data.len() + value.len() + 1 > self.limit {
                    return Err(SseError::EventTooLong { limit: self.limit });
                }
                // As the standard says: each line's value and a LF, and the last LF
                // removed at dispatch, so empty data lines are kept.
                data.extend_from_slice(value);
                data.push(b'\n');
            }
            // `id` and `retry` steer browser reconnection, which this client does not
            // do (a reply cannot be resumed); unknown fields are ignored by the standard.
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        // The standard dispatches nothing for an event without data lines.
        let mut data = self.data.take()?;
        data.pop();
        Some(SseEvent {
            event: event
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "message".to_owned()),
            data: String::from_utf8_lossy(&data).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests;
