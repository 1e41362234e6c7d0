//! Text from elsewhere (a shell, a model, a server on the network) made
//! safe to show a person or write in a log line.

/// Control characters (C0, DEL, C1: ESC, CSI, OSC...) and the characters
/// that reorder how text is shown (U+202E and its kind): what must be shown
/// escaped wherever text a shell wrote reaches a person (the CLI, the audit
/// log and the ACME client's log lines use this one predicate).
pub fn disturbs(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` on one line for a log: each character that [`disturbs`] shown as
/// its escape (`\u{1b}`), and cut after `most` characters, saying so.
pub fn log_line(text: &str, most: usize) -> String {
    let mut shown = String::with_capacity(text.len().min(most) + 16);
    for (i, c) in text.chars().enumerate() {
        if i == most {
            shown.push_str("… (cut)");
            break;
        }
        if disturbs(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// The ALPN protocol an ACME server's TLS-ALPN-01 validation offers, alone
/// (RFC 8737 section 6): the edge's TLS and the ACME client agree on it here.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_shows_controls_escaped_and_is_cut() {
        assert_eq!(
            log_line("ok\u{1b}[31m\nnext", 100),
            "ok\\u{1b}[31m\\u{a}next"
        );
        assert_eq!(log_line("abcdef", 3), "abc… (cut)");
        assert_eq!(log_line("\u{202e}txt", 10), "\\u{202e}txt");
    }
}
