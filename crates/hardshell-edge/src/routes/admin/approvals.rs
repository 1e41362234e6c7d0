//! `/admin/approvals`: the `exec` questions waiting in every session, and
//! their answers. The command is the edge's copy of what the agent asked, the
//! only text a question is shown with; the page treats it as untrusted text.

use axum::body::Body;
use chrono::Utc;
use hardshell_auth::{Admin, Permit};
use http::{Method, Request, StatusCode};
use serde::Deserialize;

use crate::response::{self, HttpResponse};
use crate::routes::{Context, RoutesBuilder, read_json};

pub(super) fn register(routes: RoutesBuilder) -> RoutesBuilder {
    routes.route(Method::GET, "/admin/approvals", list).route(
        Method::POST,
        "/admin/approvals/{session}/{approval}",
        answer,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    approve: bool,
}

async fn list(_: Permit<Admin>, cx: Context, _: Request<Body>) -> HttpResponse {
    let Some(exec) = &cx.state.exec else {
        return response::not_found();
    };
    let now = Utc::now();
    let approvals: Vec<serde_json::Value> = exec
        .waiting_everywhere()
        .into_iter()
        .map(|waiting| {
            let expires_at = chrono::Duration::from_std(waiting.expires_in)
                .ok()
                .and_then(|left| now.checked_add_signed(left));
            serde_json::json!({
                "session": waiting.session,
                "approval": waiting.approval,
                "command": waiting.command,
                "reason": waiting.reason,
                "expires_at": expires_at,
            })
        })
        .collect();
    response::json(
        StatusCode::OK,
        &serde_json::json!({ "approvals": approvals }),
    )
}

/// An admin answers for any session, as its owner could on the chat page;
/// the answer is recorded with the admin as its actor.
async fn answer(permit: Permit<Admin>, cx: Context, request: Request<Body>) -> HttpResponse {
    let Some(exec) = &cx.state.exec else {
        return response::not_found();
    };
    let session = cx.param("session").unwrap_or_default().to_owned();
    let approval = cx.param("approval").unwrap_or_default().to_owned();
    let Some(body) = read_json::<Answer>(request).await else {
        return response::bad_request("expected {\"approve\": true or false}\n");
    };
    match exec.answer(
        &session,
        &approval,
        body.approve,
        &permit.identity().subject,
    ) {
        Ok(()) => response::text(StatusCode::NO_CONTENT, ""),
        Err(hardshell_exec::AnswerError::Unknown) => response::not_found(),
        Err(hardshell_exec::AnswerError::Answered) => {
            response::text(StatusCode::CONFLICT, "already answered\n")
        }
    }
}
