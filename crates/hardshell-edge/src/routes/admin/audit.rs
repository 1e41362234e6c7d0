//! `/admin/audit`: the newest records of one audit log that match a filter,
//! a page at a time; `/admin/audit/verify`: `hardshell audit verify` over
//! every log, one run at a time.
//!
//! Records are shown as stored: closed event structs whose strings were
//! checked when written (`hardshell-audit`), still untrusted text to the
//! page, which shows them through `textContent` with controls made visible.

use std::collections::BTreeSet;

use axum::body::Body;
use chrono::{DateTime, Utc};
use hardshell_audit::{LogId, Query, VerifyReport};
use hardshell_auth::{Admin, Permit};
use http::{Method, Request, StatusCode};

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder};

/// Records on one page unless the query asks for fewer.
const DEFAULT_LIMIT: usize = 100;
/// The most records one page may hold (the refusal says 500).
const MAX_LIMIT: usize = 500;
/// Segments read for one page: a filter that matches little answers with
/// where to go on instead of reading a long log whole.
const MAX_SEGMENTS: usize = 16;
/// Event types one filter may name (the refusal says 32).
const MAX_TYPES: usize = 32;
/// The longest principal a filter may name (the refusal says 256).
const MAX_PRINCIPAL: usize = 256;

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes.route(Method::GET, "/admin/audit", search).route(
        Method::GET,
        "/admin/audit/verify",
        verify,
    )
}

/// The filter, from the query string; a clear refusal for each bad part.
fn query_of(text: &str, own_log: &LogId) -> Result<(LogId, Query), &'static str> {
    let mut log = own_log.clone();
    let mut query = Query {
        types: BTreeSet::new(),
        principal: None,
        since: None,
        until: None,
        before_seq: None,
        limit: DEFAULT_LIMIT,
        max_segments: MAX_SEGMENTS,
    };
    let time = |value: &str| {
        DateTime::parse_from_rfc3339(value)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| "since and until are RFC 3339 times, e.g. 2026-12-01T00:00:00Z\n")
    };
    for (name, value) in url::form_urlencoded::parse(text.as_bytes()) {
        if value.is_empty() {
            continue;
        }
        match &*name {
            "log" => log = LogId::new(&value).map_err(|_| "no such log\n")?,
            "type" => {
                for kind in value.split(',').filter(|kind| !kind.is_empty()) {
                    let shaped = kind.len() <= 64
                        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                    if !shaped {
                        return Err("type names are snake_case event names\n");
                    }
                    query.types.insert(kind.to_owned());
                }
                if query.types.len() > MAX_TYPES {
                    return Err("at most 32 types\n");
                }
            }
            "principal" => {
                if value.chars().count() > MAX_PRINCIPAL {
                    return Err("a principal is at most 256 characters\n");
                }
                query.principal = Some(value.into_owned());
            }
            "since" => query.since = Some(time(&value)?),
            "until" => query.until = Some(time(&value)?),
            "before" => {
                query.before_seq = Some(value.parse().map_err(|_| "before must be a seq\n")?);
            }
            "limit" => {
                let limit: usize = value.parse().map_err(|_| "limit must be a number\n")?;
                if !(1..=MAX_LIMIT).contains(&limit) {
                    return Err("limit must be between 1 and 500\n");
                }
                query.limit = limit;
            }
            _ => {
                return Err(
                    "unknown filter: log, type, principal, since, until, before and limit are\n",
                );
            }
        }
    }
    Ok((log, query))
}

async fn search(_: Permit<Admin>, cx: Context, request: Request<Body>) -> HttpResponse {
    let trail = &cx.state.audit;
    let (log, query) = match query_of(request.uri().query().unwrap_or(""), trail.log_id()) {
        Ok(parsed) => parsed,
        Err(reason) => return response::bad_request(reason),
    };
    let logs = match hardshell_audit::log_ids(trail.scope()).await {
        Ok(logs) => logs,
        Err(e) => {
            tracing::error!(error = %e, "listing audit logs failed");
            return response::internal_error();
        }
    };
    if !logs.contains(&log) && &log != trail.log_id() {
        return response::text(StatusCode::NOT_FOUND, "no such log\n");
    }
    let page = match hardshell_audit::search(trail.scope(), &log, &query).await {
        Ok(page) => page,
        Err(e) => {
            tracing::error!(error = %e, log = %log, "reading an audit log failed");
            return response::internal_error();
        }
    };
    let records: Vec<serde_json::Value> = page
        .records
        .iter()
        .map(|record| {
            let mut event = serde_json::to_value(record.event()).unwrap_or_default();
            if let Some(fields) = event.as_object_mut() {
                fields.remove("type");
            }
            serde_json::json!({
                "seq": record.seq(),
                "time": record.time(),
                "type": record.event().type_name(),
                "event": event,
            })
        })
        .collect();
    let names: Vec<&str> = logs.iter().map(LogId::as_str).collect();
    response::json(
        StatusCode::OK,
        &serde_json::json!({
            "logs": names,
            "log": log.as_str(),
            "records": records,
            "next_before": page.next_before,
            "damaged": page.damaged,
        }),
    )
}

async fn verify(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Ok(_running) = cx.state.admin.verifying.try_lock() else {
        return response::text(
            StatusCode::CONFLICT,
            "a verification is running; ask again when it ends\n",
        );
    };
    let scope = cx.state.audit.scope();
    let logs = match hardshell_audit::log_ids(scope).await {
        Ok(logs) => logs,
        Err(e) => {
            tracing::error!(error = %e, "listing audit logs failed");
            return response::internal_error();
        }
    };
    let mut reports = Vec::with_capacity(logs.len());
    for log in &logs {
        match hardshell_audit::verify(scope, log).await {
            Ok(report) => reports.push(report_json(&report)),
            Err(e) => {
                tracing::error!(error = %e, log = %log, "verifying an audit log failed");
                return response::internal_error();
            }
        }
    }
    response::json(StatusCode::OK, &serde_json::json!({ "logs": reports }))
}

fn report_json(report: &VerifyReport) -> serde_json::Value {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|finding| {
            serde_json::json!({
                "kind": finding.kind.to_string(),
                "object": finding.object,
                "seq": finding.seq,
                "line": finding.line,
                "detail": finding.detail,
            })
        })
        .collect();
    serde_json::json!({
        "log": report.log_id.as_str(),
        "intact": report.is_intact(),
        "records": report.records,
        "segments": report.segments,
        "last_seq": report.last_seq,
        "unanchored": report.unanchored,
        "findings": findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> LogId {
        LogId::new("edge-test").unwrap()
    }

    #[test]
    fn a_filter_is_read_from_the_query() {
        let (log, query) = query_of(
            "log=cli-host&type=token_created,token_revoked&principal=owner%40example.com\
             &since=2026-12-01T00:00:00Z&until=2026-12-02T00:00:00%2B01:00&before=42&limit=7",
            &own(),
        )
        .unwrap();
        assert_eq!(log.as_str(), "cli-host");
        assert_eq!(
            query.types.iter().map(String::as_str).collect::<Vec<_>>(),
            ["token_created", "token_revoked"]
        );
        assert_eq!(query.principal.as_deref(), Some("owner@example.com"));
        assert_eq!(
            query.since.unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(
            query.until.unwrap().to_rfc3339(),
            "2026-12-01T23:00:00+00:00"
        );
        assert_eq!(query.before_seq, Some(42));
        assert_eq!(query.limit, 7);
        let (log, query) = query_of("", &own()).unwrap();
        assert_eq!(log, own());
        assert_eq!(query.limit, DEFAULT_LIMIT);
        assert!(query.types.is_empty() && query.principal.is_none());
    }

    #[test]
    fn a_bad_filter_is_refused_with_its_reason() {
        for (text, reason) in [
            ("log=../tokens", "no such log"),
            ("type=Token-Created", "snake_case"),
            ("since=yesterday", "RFC 3339"),
            ("before=x", "seq"),
            ("until=2026-13-01T00:00:00Z", "RFC 3339"),
            ("before=-1", "seq"),
            ("limit=0", "between 1 and 500"),
            ("limit=many", "a number"),
            ("limit=501", "between 1 and 500"),
            ("color=red", "unknown filter"),
        ] {
            let refused = query_of(text, &own()).unwrap_err();
            assert!(refused.contains(reason), "{text}: {refused}");
        }
        let many: Vec<String> = (0..=MAX_TYPES)
            .map(|i| format!("t_{}", "a".repeat(i)))
            .collect();
        assert!(query_of(&format!("type={}", many.join(",")), &own()).is_err());
        let long = format!("principal={}", "p".repeat(MAX_PRINCIPAL + 1));
        assert!(query_of(&long, &own()).is_err());
    }
}
