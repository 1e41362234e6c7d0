//! A long-lived shell's output (the agent's, the workload's), logged by the
//! edge as that shell's: one log event per
//! line, control characters escaped, each line cut at [`MAX_LINE`] bytes, and
//! at most [`LINES_PER_MINUTE`] lines a minute after a burst of [`BURST`];
//! lines over the rate are dropped and counted, and the count is logged with
//! the next line let through. A compromised agent can neither drive the
//! operator's terminal nor drown the edge's own log.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use hardshell_ratelimit::{Quota, Tat};

/// Longest line logged; the rest of a longer one is dropped.
const MAX_LINE: usize = 4096;
/// The steady rate of lines logged...
const LINES_PER_MINUTE: u32 = 600;
/// ...after a burst of this many (a start, a stack of warnings).
const BURST: u32 = 200;

/// Whose output it is: the log target says so, so an operator can filter it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The built-in agent (`hardshell::agent`).
    Agent,
    /// The `[workload]` image (`hardshell::workload`).
    Workload,
}

impl Source {
    pub fn word(self) -> &'static str {
        match self {
            Source::Agent => "agent",
            Source::Workload => "workload",
        }
    }
}

/// Logs what the shell writes on `pipe` until every writer is gone.
pub(super) fn relay(pipe: impl Read, source: Source) {
    let mut reader = BufReader::new(pipe);
    let mut gate = Gate::new(Instant::now());
    let mut line = Vec::new();
    while let Ok(Some(cut)) = next_line(&mut reader, &mut line) {
        match gate.admit(Instant::now()) {
            Admitted::No => {}
            Admitted::Yes { dropped } => {
                if dropped > 0 {
                    tracing::warn!(
                        dropped,
                        "{} output over its rate was dropped",
                        source.word()
                    );
                }
                let text = String::from_utf8_lossy(&line);
                let text = crate::terminal::one_line(text.trim_end_matches(['\n', '\r']));
                // A log target is a constant, hence the two lines.
                match source {
                    Source::Agent => tracing::info!(target: "hardshell::agent", cut, "{text}"),
                    Source::Workload => {
                        tracing::info!(target: "hardshell::workload", cut, "{text}")
                    }
                }
            }
        }
    }
}

/// Reads one line into `line` (at most [`MAX_LINE`] bytes of it, the rest
/// read and dropped); `Some(true)` if it was cut, `None` at end of file.
fn next_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    line.clear();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    if reader.by_ref().take(limit).read_until(b'\n', line)? == 0 {
        return Ok(None);
    }
    if line.ends_with(b"\n") {
        return Ok(Some(false));
    }
    // Over the limit (or the last line, without a newline): drop the rest.
    let mut rest = Vec::new();
    loop {
        rest.clear();
        let n = reader.by_ref().take(limit).read_until(b'\n', &mut rest)?;
        if n == 0 || rest.ends_with(b"\n") {
            return Ok(Some(n > 0 || line.len() >= MAX_LINE));
        }
    }
}

/// The rate lines are let through at (GCRA, one key).
struct Gate {
    origin: Instant,
    quota: Quota,
    tat: Option<Tat>,
    dropped: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum Admitted {
    Yes { dropped: u64 },
    No,
}

impl Gate {
    fn new(origin: Instant) -> Self {
        Self {
            origin,
            // Constants known to be valid; a zero would be refused here.
            quota: Quota::new(LINES_PER_MINUTE, BURST)
                .unwrap_or_else(|_| unreachable!("a valid constant quota")),
            tat: None,
            dropped: 0,
        }
    }

    fn admit(&mut self, now: Instant) -> Admitted {
        let since: Duration = now.saturating_duration_since(self.origin);
        let (decision, tat) = hardshell_ratelimit::check(self.tat, &self.quota, since);
        self.tat = Some(tat);
        if decision.is_allowed() {
            Admitted::Yes {
                dropped: std::mem::take(&mut self.dropped),
            }
        } else {
            self.dropped += 1;
            Admitted::No
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_long_line_is_cut_and_the_next_one_is_whole() {
        let long = "x".repeat(MAX_LINE * 3);
        let text = format!("{long}\nnext\nlast without newline");
        let mut reader = BufReader::new(text.as_bytes());
        let mut line = Vec::new();
        assert_eq!(next_line(&mut reader, &mut line).unwrap(), Some(true));
        assert_eq!(line.len(), MAX_LINE);
        assert_eq!(next_line(&mut reader, &mut line).unwrap(), Some(false));
        assert_eq!(line, b"next\n");
        assert_eq!(next_line(&mut reader, &mut line).unwrap(), Some(false));
        assert_eq!(line, b"last without newline");
        assert_eq!(next_line(&mut reader, &mut line).unwrap(), None);
    }

    #[test]
    fn a_flood_gets_its_burst_then_the_rate_and_the_rest_is_counted() {
        let start = Instant::now();
        let mut gate = Gate::new(start);
        // Ten thousand lines at one instant: the burst, then nothing.
        let let_through = (0..10_000)
            .filter(|_| gate.admit(start) != Admitted::No)
            .count();
        assert!(
            let_through <= usize::try_from(BURST).unwrap() + 1,
            "{let_through}"
        );
        // A minute on, lines pass again, and say how many were lost.
        let later = start + Duration::from_secs(60);
        let Admitted::Yes { dropped } = gate.admit(later) else {
            panic!("still refused a minute later");
        };
        assert_eq!(dropped, 10_000 - u64::try_from(let_through).unwrap());
    }
}
