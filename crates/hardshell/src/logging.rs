//! Structured log lines on standard error, written by a background thread.
//!
//! The audit log is the record of what happened; these lines are diagnostics.
//! So a request never waits for standard error: lines go through a bounded
//! queue, and when the reader falls behind (a paused pager, a stalled journal)
//! new lines are dropped and counted instead of blocking the edge.

use std::io::IsTerminal;

use hardshell_config::{LogFormat, LogLevel};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Lines queued for the writer thread before new ones are dropped.
const QUEUED_LINES: usize = 16_384;

/// Keeps the writer thread alive; dropping it writes out what is queued.
#[must_use = "log lines are lost when the guard is dropped"]
pub struct LogGuard {
    dropped: ErrorCounter,
    _worker: WorkerGuard,
}

impl LogGuard {
    /// Lines dropped so far because standard error did not keep up.
    pub fn dropped(&self) -> usize {
        self.dropped.dropped_lines()
    }
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// Modules whose events carry what a shell wrote, off whatever `level` or
/// `RUST_LOG` asks for: the bash parser that vets `exec` commands logs
/// every token of them (under targets of its own: `tokenize`, `parse`,
/// `expansion`), and a command may hold a secret. Matched by module path,
/// which an explicit target does not change.
const NEVER_LOGGED: &[&str] = &["brush_parser"];

/// Whether an event or span from `metadata` may be logged at all.
fn may_log(metadata: &tracing::Metadata<'_>) -> bool {
    !metadata
        .module_path()
        .is_some_and(|module| NEVER_LOGGED.iter().any(|never| module.starts_with(never)))
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level`.
pub fn init(format: LogFormat, level: LogLevel) -> LogGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str()));
    let (writer, worker) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("hardshell-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let layer = match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().flatten_event(true).boxed(),
    };
    // A second init (only possible in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layer.with_filter(filter_fn(may_log)))
        .try_init();
    LogGuard {
        dropped,
        _worker: worker,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};

    use super::*;

    /// Every field of every event that passes, as text.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<String>>);

    impl Visit for Seen {
        fn record_debug(&mut self, _: &Field, value: &dyn std::fmt::Debug) {
            let mut seen = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            seen.push_str(&format!("{value:?}\n"));
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Seen {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            event.record(&mut self.clone());
        }
    }

    /// What the real bash parser logs at `trace` while parsing `command`,
    /// with or without the filter `init` puts on the log.
    fn logged_while_parsing(command: &str, filtered: bool) -> String {
        let seen = Seen::default();
        let layer = if filtered {
            seen.clone().with_filter(filter_fn(may_log)).boxed()
        } else {
            seen.clone().boxed()
        };
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("trace"))
            .with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let mut reader = std::io::BufReader::new(command.as_bytes());
            let options = brush_parser::ParserOptions::default();
            let _ = brush_parser::Parser::new(&mut reader, &options).parse_program();
            tracing::trace!("an edge line");
        });
        let seen = seen
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.clone()
    }

    #[test]
    fn the_bash_parsers_traces_of_agent_commands_are_off_even_at_trace() {
        let command = "curl -H 'x-key: planted-secret-value' https://x.test";
        // The parser does log the command's text at trace...
        assert!(
            logged_while_parsing(command, false).contains("planted-secret-value"),
            "the parser logs no tokens: this test would prove nothing"
        );
        // ...and through the log's filter none of it passes, while the
        // edge's own lines do.
        let filtered = logged_while_parsing(command, true);
        assert!(!filtered.contains("planted-secret-value"), "{filtered}");
        assert!(filtered.contains("an edge line"), "{filtered}");
    }
}
