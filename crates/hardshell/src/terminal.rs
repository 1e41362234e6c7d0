//! Text that came from a shell, made safe to put on the owner's terminal or
//! in a log line: what the agent (or a model, or a tool) wrote must not move
//! the cursor, recolour, retitle, turn echo off, or reorder what is shown.

use std::borrow::Cow;

/// `text` with every control character but newline and tab shown as an
/// escape (`\u{1b}`), and the bidirectional controls too: for text shown as
/// text (a memory note, a reply).
pub fn printable(text: &str) -> Cow<'_, str> {
    escaped(text, |c| c == '\n' || c == '\t')
}

/// [`printable`], newlines and tabs escaped as well: for one row of a list,
/// or one log line.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escaped(text, |_| false)
}

fn escaped(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| disturbs(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if disturbs(c) && !keep(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// C0, DEL and C1 controls (ESC, CSI, OSC among them), and the characters
/// that change the order text is shown in (U+202E and its kind): the audit
/// crate's predicate, one list for the whole project.
pub(crate) use hardshell_audit::event::disturbs;

#[cfg(test)]
mod tests {
    use super::{one_line, printable};

    #[test]
    fn escapes_and_controls_are_shown_not_obeyed() {
        // SGR colour, an OSC title, a CSI that turns echo off... and C1 CSI.
        let hostile = "note\u{1b}[31mred\u{1b}]0;owned\u{7}\u{1b}[8m\u{9b}2J\r\u{202e}txt.exe";
        let shown = printable(hostile);
        assert!(
            !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{shown:?}"
        );
        assert!(shown.starts_with("note\\u{1b}[31mred"), "{shown}");
        assert!(shown.contains("\\u{202e}txt.exe"), "{shown}");
    }

    #[test]
    fn plain_text_keeps_its_lines_and_tabs_but_a_log_line_does_not() {
        let text = "# Notes\n- one\tthing\n";
        assert_eq!(printable(text), text);
        assert_eq!(one_line(text), "# Notes\\u{a}- one\\u{9}thing\\u{a}");
        assert_eq!(one_line("plain ünïcode ✓"), "plain ünïcode ✓");
    }
}
