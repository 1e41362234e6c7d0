//! What an exec run leaves in the log: one `exec_run` span with the
//! session and the command's digest, and never the command's text.

use std::sync::{Arc, Mutex};

use hardshell_config::Approval;
use hardshell_protocol::ExecAnswer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{Layer, Registry};

use crate::testing::{Harness, SESSION};

/// Every span (its name and fields) and every event's fields, as text;
/// events only from hardshell's crates: `brush-parser` traces the tokens it
/// reads at `trace` (kept out of the log by the level, not by this crate).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<(String, String)>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Captured {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields(String::new());
        attrs.record(&mut fields);
        let name = attrs.metadata().name().to_owned();
        self.0.lock().unwrap().push((name, fields.0));
    }

    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        self.0.lock().unwrap().push(("record".into(), fields.0));
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !event.metadata().target().starts_with("hardshell") {
            return;
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push(("event".into(), fields.0));
    }
}

#[tokio::test]
async fn an_exec_run_is_one_span_with_the_session_and_digest_never_the_command() {
    let captured = Captured::default();
    let _default = tracing::subscriber::set_default(Registry::default().with(captured.clone()));
    let harness = Harness::new(Approval::Allowlist).await;
    let command = "ls planted-by-a-prompt";
    let answer = harness.request(SESSION, command).await;
    assert!(matches!(answer, ExecAnswer::Ran { .. }), "{answer:?}");

    let captured = captured.0.lock().unwrap().clone();
    let runs: Vec<_> = captured
        .iter()
        .filter(|(name, _)| name == "exec_run")
        .collect();
    assert_eq!(runs.len(), 1, "{captured:?}");
    let fields = &runs[0].1;
    assert!(fields.contains(&format!("session={SESSION}")), "{fields}");
    assert!(
        fields.contains(&format!("command_sha256={}", super::super::sha256(command))),
        "{fields}"
    );
    for (name, fields) in &captured {
        assert!(!fields.contains("planted-by-a-prompt"), "{name}: {fields}");
    }
}
