//! `/admin/egress`: the hosts shells reached or were refused, from this edge's
//! audit log; `/admin/shells`: the shells running now with what they use.
//!
//! A host name here is what a shell asked for: untrusted text, shown as such.

use std::collections::BTreeMap;

use axum::body::Body;
use chrono::{DateTime, Utc};
use hardshell_audit::{AuditEvent, Query};
use hardshell_auth::{Admin, Permit};
use http::{Method, Request, StatusCode};

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

/// Egress records read for one answer: the newest, from at most
/// `MAX_SEGMENTS` segments.
const EGRESS_RECORDS: usize = 5_000;
const MAX_SEGMENTS: usize = 16;

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes
        .route(Method::GET, "/admin/egress", egress)
        .route(Method::GET, "/admin/shells", shells)
}

/// One shell kind's decisions about one host and port.
struct Seen {
    count: u64,
    last_at: DateTime<Utc>,
    reason: Option<String>,
}

async fn egress(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let trail = &cx.state.audit;
    let query = Query {
        types: ["egress_decided".to_owned()].into(),
        principal: None,
        since: None,
        until: None,
        before_seq: None,
        limit: EGRESS_RECORDS,
        max_segments: MAX_SEGMENTS,
    };
    let page = match hardshell_audit::search(trail.scope(), trail.log_id(), &query).await {
        Ok(page) => page,
        Err(e) => {
            tracing::error!(error = %e, "reading egress decisions failed");
            return response::internal_error();
        }
    };
    let mut seen: BTreeMap<(String, String, u16, String), Seen> = BTreeMap::new();
    for record in &page.records {
        let AuditEvent::EgressDecided(decided) = record.event() else {
            continue;
        };
        let key = (
            decided.shell.to_string(),
            decided.host.clone(),
            decided.port,
            decided.decision.to_string(),
        );
        // Newest first: the first record of a key is its latest.
        let entry = seen.entry(key).or_insert_with(|| Seen {
            count: 0,
            last_at: record.time(),
            reason: decided.reason.clone(),
        });
        entry.count += 1;
    }
    let mut decisions: Vec<_> = seen.into_iter().collect();
    decisions.sort_by_key(|(_, seen)| std::cmp::Reverse(seen.last_at));
    let decisions: Vec<serde_json::Value> = decisions
        .into_iter()
        .map(|((shell, host, port, decision), seen)| {
            serde_json::json!({
                "shell": shell,
                "host": host,
                "port": port,
                "decision": decision,
                "count": seen.count,
                "last_at": seen.last_at,
                "reason": seen.reason,
            })
        })
        .collect();
    response::json(
        StatusCode::OK,
        &serde_json::json!({
            "decisions": decisions,
            "records": page.records.len(),
            // Older decisions were not read: the counts cover these records.
            "complete": page.next_before.is_none(),
            "since": page.records.last().map(|record| record.time()),
        }),
    )
}

async fn shells(_: Permit<Admin>, _: Context, _: Request<Body>) -> HttpResponse {
    // A few small files per shell; off the async workers all the same.
    let Ok(running) = tokio::task::spawn_blocking(hardshell_sandbox::running_shells).await else {
        return response::internal_error();
    };
    let shells: Vec<serde_json::Value> = running
        .iter()
        .map(|shell| {
            serde_json::json!({
                "cgroup": shell.cgroup,
                "processes": shell.processes,
                "memory_bytes": shell.memory_bytes,
                "cpu_usec": shell.cpu_usec,
                // Prepared ahead, waiting for a command: init and reaper, idle.
                "ready": shell.ready,
            })
        })
        .collect();
    response::json(StatusCode::OK, &serde_json::json!({ "shells": shells }))
}
