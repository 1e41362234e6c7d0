//! Code fences as the chunker sees them: a line of three or more backticks
//! or tildes, indented at most three spaces (CommonMark's fenced code block,
//! which the chat platforms' own renderers follow for ``` blocks), closed by a
//! line of the same character at least as long with nothing but spaces after.
//! Fences are read line by line in each chunk as it will be sent, since every
//! message is rendered on its own.

use super::ChunkLimit;

/// Longest marker run read as a fence: every chunk must have room to close
/// the fence it ends inside, so the closing line's length is bounded.
pub const MAX_MARKER: usize = 32;

/// The most a closing line costs: its newline and the longest marker.
pub const MAX_CLOSE_UNITS: usize = 1 + MAX_MARKER;

/// An open fence: how it was opened, and what closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The opening line as written (no newline, no carriage return).
    opening: String,
    indent: usize,
    marker: char,
    count: usize,
}

impl Fence {
    /// The fence `line` opens, if it is an opening line.
    pub fn opening(line: &str) -> Option<Fence> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (indent, rest) = indented(line)?;
        let marker = rest.chars().next().filter(|c| matches!(c, '`' | '~'))?;
        let count = rest.chars().take_while(|&c| c == marker).count();
        if !(3..=MAX_MARKER).contains(&count) {
            return None;
        }
        // CommonMark: a backtick fence's info string holds no backtick
        // (otherwise the line is inline code, as in "```a```").
        if marker == '`' && rest[count..].contains('`') {
            return None;
        }
        Some(Fence {
            opening: line.to_owned(),
            indent,
            marker,
            count,
        })
    }

    /// True if `line` closes this fence.
    pub fn closes(&self, line: &str) -> bool {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some((_, rest)) = indented(line) else {
            return false;
        };
        let run = rest.chars().take_while(|&c| c == self.marker).count();
        run >= self.count && rest[run..].chars().all(|c| c == ' ' || c == '\t')
    }

    /// The line that reopens this fence at the top of the next chunk: the
    /// opening line itself, so the info string (```rust) carries over, unless
    /// it is too long to repeat in every chunk (over an eighth of the limit);
    /// then the bare marker, which opens the same fence without its info.
    pub fn reopening(&self, limit: ChunkLimit) -> String {
        if limit.unit.measure(&self.opening) <= limit.max / 8 {
            return self.opening.clone();
        }
        let mut line = " ".repeat(self.indent);
        line.extend(std::iter::repeat_n(self.marker, self.count));
        line
    }

    /// The line that closes this fence at the end of a chunk.
    pub fn closing(&self) -> String {
        std::iter::repeat_n(self.marker, self.count).collect()
    }
}

/// Splits off up to three spaces of indentation; none if there are more.
fn indented(line: &str) -> Option<(usize, &str)> {
    let rest = line.trim_start_matches(' ');
    let indent = line.len() - rest.len();
    (indent <= 3).then_some((indent, rest))
}

/// True if `rest`, at the start of a line, would read as a fence line: a
/// break inside a line must not start the next chunk with one.
pub fn starts_like_fence(rest: &str) -> bool {
    indented(rest).is_some_and(|(_, rest)| rest.starts_with("```") || rest.starts_with("~~~"))
}

/// The fence open after `text`, read line by line from the fence `open`
/// before it (a partial last line counts: the message ends there).
pub fn open_after(mut open: Option<Fence>, text: &str) -> Option<Fence> {
    for line in text.split('\n') {
        open = match open {
            None => Fence::opening(line),
            Some(fence) if fence.closes(line) => None,
            Some(fence) => Some(fence),
        };
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_open_and_close_as_commonmark_says() {
        let rust = Fence::opening("```rust").unwrap();
        assert!(rust.closes("```") && rust.closes("  ````  ") && rust.closes("```\r"));
        assert!(!rust.closes("~~~") && !rust.closes("``") && !rust.closes("``` x"));
        assert!(
            !rust.closes("    ```"),
            "four spaces make an indented code line"
        );
        let tilde = Fence::opening("~~~~ info with `ticks`").unwrap();
        assert!(tilde.closes("~~~~") && !tilde.closes("~~~"));
        for not_a_fence in ["``", "```a```", "    ```", "x```", "", &"`".repeat(33)] {
            assert_eq!(Fence::opening(not_a_fence), None, "{not_a_fence:?}");
        }
    }

    #[test]
    fn open_after_follows_the_lines() {
        let open = open_after(None, "text\n```py\nprint()\n");
        assert_eq!(open.as_ref().map(Fence::closing), Some("```".to_owned()));
        assert_eq!(open_after(open, "more\n```\nafter"), None);
        assert!(
            open_after(None, "a\n  ~~~").is_some(),
            "a partial last line counts"
        );
    }
}
