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

/// Targets whose events carry what a shell wrote, off whatever `level` or
/// `RUST_LOG` asks for: the bash parser traces every token of the commands
/// the agent sends to `exec`, and a command may hold a secret.
const NEVER_LOGGED: &[&str] = &["brush_parser"];

fn never_logged(filter: EnvFilter) -> EnvFilter {
    NEVER_LOGGED.iter().fold(filter, |filter, target| {
        match format!("{target}=off").parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        }
    })
}

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level`.
pub fn init(format: LogFormat, level: LogLevel) -> LogGuard {
    let filter = never_logged(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str())),
    );
    let (writer, worker) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("hardshell-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    // A second init (only possible in tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    LogGuard {
        dropped,
        _worker: worker,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Counts the events that pass the filter.
    struct Count(Arc<Mutex<usize>>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
        fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        }
    }

    #[test]
    fn the_bash_parsers_traces_of_agent_commands_are_off_even_at_trace() {
        let seen = Arc::new(Mutex::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(never_logged(EnvFilter::new("trace")))
            .with(Count(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "brush_parser::tokenizer", "Word(\"curl hs-secret\")");
            tracing::trace!(target: "hardshell", "an edge line");
        });
        // The edge's own line passes; the parser's does not.
        assert_eq!(
            *seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            1
        );
    }
}
