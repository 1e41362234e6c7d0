//! Where one chunk ends and the next begins: the last break of the most
//! preferred kind that leaves the chunk within its budget.

use super::LengthUnit;
use super::fence::starts_like_fence;

/// A break: the chunk's text ends at `end` (its trailing whitespace cut
/// off) and the next chunk's text starts at `next`. `end == start` means the
/// budget held only whitespace, which is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub end: usize,
    pub next: usize,
}

/// How far a break inside a word may move back to keep the next chunk from
/// starting with what reads as a fence line ("```" cut out of a line).
const FENCE_DODGE_CHARS: usize = 8;

/// The break for a chunk starting at `start` with room for `budget` units
/// (at least one character's worth: two UTF-16 units).
pub fn cut_within(text: &str, start: usize, budget: usize, unit: LengthUnit) -> Cut {
    let mut used = 0;
    let mut fit = start;
    for (at, c) in text[start..].char_indices() {
        used += unit.of(c);
        if used > budget {
            break;
        }
        fit = start + at + c.len_utf8();
    }
    if fit == text.len() {
        return Cut {
            end: start + text[start..].trim_end().len(),
            next: text.len(),
        };
    }
    let window = &text[start..fit];
    if window.trim_start().is_empty() {
        let run = text[start..].len() - text[start..].trim_start().len();
        return Cut {
            end: start,
            next: skip_blank_lines(text, start + run),
        };
    }
    let has_text = |end: usize| !text[start..end].trim().is_empty();
    let newlines = || window.rmatch_indices('\n').map(|(at, _)| start + at);
    // 1. At a blank line: the newline ending the last line before one.
    if let Some(end) = newlines().find(|&end| has_text(end) && blank_line_follows(text, end + 1)) {
        return line_break(text, end);
    }
    // 2. At a newline.
    if let Some(end) = newlines().find(|&end| has_text(end)) {
        return line_break(text, end);
    }
    // 3. At whitespace inside the line, then 4. inside a word; first only
    // where the next chunk would not start like a fence line.
    let spaces = || {
        window
            .char_indices()
            .rev()
            .filter(|&(_, c)| c.is_whitespace())
            .map(|(at, c)| (start + at, start + at + c.len_utf8()))
            .filter(|&(end, _)| has_text(end))
    };
    let space_break = |(end, after): (usize, usize)| Cut {
        end: start + text[start..end].trim_end().len(),
        next: skip_blank_lines(text, after),
    };
    if let Some(cut) = spaces()
        .map(space_break)
        .find(|cut| !starts_like_fence(&text[cut.next..]))
    {
        return cut;
    }
    let inside_word = std::iter::once(fit)
        .chain(
            window
                .char_indices()
                .rev()
                .take(FENCE_DODGE_CHARS)
                .map(|(at, _)| start + at),
        )
        .filter(|&end| end > start && has_text(end))
        .find(|&end| !starts_like_fence(&text[end..]));
    if let Some(end) = inside_word {
        return Cut { end, next: end };
    }
    if let Some(cut) = spaces().map(space_break).next() {
        return cut;
    }
    Cut {
        end: fit,
        next: fit,
    }
}

/// A break at the newline at `at`.
fn line_break(text: &str, at: usize) -> Cut {
    Cut {
        end: text[..at].trim_end().len(),
        next: skip_blank_lines(text, at),
    }
}

/// True if the line starting at `from` is blank (whitespace, then a newline).
fn blank_line_follows(text: &str, from: usize) -> bool {
    text[from..]
        .chars()
        .take_while(|c| c.is_whitespace())
        .any(|c| c == '\n')
}

/// Skips the whitespace at `from` up to and including its last newline, so
/// the next chunk starts with its first line's indentation; to the end of
/// the text if only whitespace is left.
pub fn skip_blank_lines(text: &str, from: usize) -> usize {
    let rest = &text[from..];
    let run = rest.len() - rest.trim_start().len();
    if run == rest.len() {
        return text.len();
    }
    match rest[..run].rfind('\n') {
        Some(newline) => from + newline + 1,
        None => from,
    }
}
