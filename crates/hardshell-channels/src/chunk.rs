//! Replies cut into messages within a platform's length limit, so a long
//! answer arrives whole and in order instead of being refused (Telegram
//! answers 400 over 4096 units) or cut off.
//!
//! Breaks fall, in order of preference, at a blank line, at a newline, at
//! whitespace, and only then inside a word; never inside a character (so
//! never between a UTF-16 surrogate pair). A chunk that ends inside a code
//! fence is closed with the fence's marker, and the next chunk reopens it
//! with the same opening line, so every message renders on its own.
//!
//! What a break drops (the *break whitespace*): the chunk before it loses its
//! trailing whitespace; the chunk after it loses its leading blank lines
//! (and, after a break at whitespace inside a line, that whitespace), but
//! keeps its first line's indentation. A break inside a word drops nothing.
//! The text's own leading blank lines and trailing whitespace go the same
//! way, and so does a run of whitespace longer than a whole chunk. Take the
//! added fence lines away and the chunks are the text, in order, but for
//! the break whitespace: the tests check exactly this.

mod cut;
mod fence;

use std::ops::Range;

use cut::{cut_within, skip_blank_lines};
use fence::{Fence, MAX_CLOSE_UNITS, open_after};

/// How a platform counts a message's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    /// UTF-16 code units (Telegram): a character outside the Basic
    /// Multilingual Plane, like most emoji, counts two.
    Utf16,
    /// Unicode scalar values.
    Chars,
}

impl LengthUnit {
    fn of(self, c: char) -> usize {
        match self {
            LengthUnit::Utf16 => c.len_utf16(),
            LengthUnit::Chars => 1,
        }
    }

    /// The length of `text` in this unit.
    pub fn measure(self, text: &str) -> usize {
        text.chars().map(|c| self.of(c)).sum()
    }
}

/// The longest message a platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimit {
    /// The most units in one message.
    pub max: usize,
    /// What a unit is.
    pub unit: LengthUnit,
}

/// Telegram's `sendMessage`: 4096 UTF-16 units.
pub const TELEGRAM: ChunkLimit = ChunkLimit {
    max: 4096,
    unit: LengthUnit::Utf16,
};
/// Discord's message content: 2000 characters.
pub const DISCORD: ChunkLimit = ChunkLimit {
    max: 2000,
    unit: LengthUnit::Chars,
};
/// Slack's recommended `chat.postMessage` text length: 4000 characters.
pub const SLACK: ChunkLimit = ChunkLimit {
    max: 4000,
    unit: LengthUnit::Chars,
};
/// WhatsApp Cloud API text body: 4096 characters.
pub const WHATSAPP: ChunkLimit = ChunkLimit {
    max: 4096,
    unit: LengthUnit::Chars,
};

/// The smallest limit honoured: room for a reopened fence, a closing fence
/// and some text. A smaller `max` is raised to this (no platform is near it).
pub const MIN_MAX: usize = 128;

/// Cuts `text` into messages of at most `limit` each, in order. An empty or
/// all-whitespace text gives none.
pub fn split(text: &str, limit: ChunkLimit) -> Vec<String> {
    plan(text, limit)
        .into_iter()
        .map(|piece| piece.render())
        .collect()
}

/// One message: a slice of the reply, with the fence lines it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece<'t> {
    /// The whole reply.
    text: &'t str,
    /// The line reopening the fence the previous message ended inside.
    reopen: Option<String>,
    /// Where the message's own text lies in the reply.
    range: Range<usize>,
    /// The line closing the fence this message ends inside.
    close: Option<String>,
}

impl Piece<'_> {
    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(reopen) = &self.reopen {
            out.push_str(reopen);
            out.push('\n');
        }
        out.push_str(&self.text[self.range.clone()]);
        if let Some(close) = &self.close {
            out.push('\n');
            out.push_str(close);
        }
        out
    }
}

/// The messages for `text`: each chunk is cut from where the last ended,
/// knowing which fence (if any) it opens inside.
fn plan(text: &str, limit: ChunkLimit) -> Vec<Piece<'_>> {
    let limit = ChunkLimit {
        max: limit.max.max(MIN_MAX),
        ..limit
    };
    let mut pieces = Vec::new();
    let mut open: Option<Fence> = None;
    let mut start = skip_blank_lines(text, 0);
    while start < text.len() {
        let reopen = open.as_ref().map(|fence| fence.reopening(limit));
        let reopen_units = reopen
            .as_deref()
            .map_or(0, |line| limit.unit.measure(line) + 1);
        // Most chunks need no closing line; reserve room for one only when
        // the chunk cut without it would need one and it does not fit.
        let mut reserve = 0;
        let (cut, after) = loop {
            // MIN_MAX leaves room for the longest reopening and closing
            // lines and a character (two units); the floor is only a guard.
            let budget = limit.max.saturating_sub(reopen_units + reserve).max(2);
            let cut = cut_within(text, start, budget, limit.unit);
            let body = &text[start..cut.end];
            let after = open_after(open.clone(), body);
            let close_units = after.as_ref().map_or(0, |f| 1 + f.closing().len());
            let units = reopen_units + limit.unit.measure(body) + close_units;
            if units <= limit.max || reserve == MAX_CLOSE_UNITS {
                break (cut, after);
            }
            reserve = MAX_CLOSE_UNITS;
        };
        // An empty cut drops a run of whitespace longer than a chunk.
        if cut.end > start {
            let close = after.as_ref().map(Fence::closing);
            pieces.push(Piece {
                text,
                reopen,
                range: start..cut.end,
                close,
            });
            open = after;
        }
        start = cut.next;
    }
    pieces
}

#[cfg(test)]
mod tests;
