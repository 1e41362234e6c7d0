//! The edge's client for the agent's unix socket ([`AgentRoute`]s of
//! `hardshell_protocol`).

use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use hardshell_protocol::socket::AGENT_HOST;
use hardshell_protocol::{AgentRoute, SessionSummary, StoredMessage, TurnLine, TurnRequest};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use crate::connector::{Connector, Target};

#[derive(Debug, thiserror::Error)]
pub(crate) enum AgentError {
    #[error("the agent is not answering: {0}")]
    Unavailable(String),
    #[error("the agent answered {0}")]
    Status(StatusCode),
    #[error("the agent's answer is unreadable: {0}")]
    Malformed(String),
}

pub(crate) struct AgentClient {
    client: Client<Connector, Body>,
}

/// Longest the edge waits for the agent to start answering.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest non-streamed answer read from the agent.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

impl AgentClient {
    pub fn new(socket: PathBuf) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(Connector::new(Target::Unix(socket)));
        Self { client }
    }

    async fn send(
        &self,
        route: AgentRoute<'_>,
        body: Body,
    ) -> Result<http::Response<hyper::body::Incoming>, AgentError> {
        let request = Request::builder()
            .method(route.method())
            .uri(format!("http://{AGENT_HOST}{}", route.path_and_query()))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| AgentError::Malformed(e.to_string()))?;
        let response = tokio::time::timeout(RESPONSE_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| AgentError::Unavailable("timed out".into()))?
            .map_err(|e| AgentError::Unavailable(e.to_string()))?;
        if response.status() != StatusCode::OK {
            return Err(AgentError::Status(response.status()));
        }
        Ok(response)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        route: AgentRoute<'_>,
    ) -> Result<T, AgentError> {
        let response = self.send(route, Body::empty()).await?;
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| AgentError::Unavailable(e.to_string()))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| AgentError::Malformed(e.to_string()))
    }

    pub async fn sessions(&self) -> Result<Vec<SessionSummary>, AgentError> {
        self.get_json(AgentRoute::Sessions).await
    }

    pub async fn history(
        &self,
        session: &str,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, AgentError> {
        self.get_json(AgentRoute::History {
            session,
            limit: Some(limit),
        })
        .await
    }

    /// Starts a turn; its lines arrive on the returned channel as the agent sends
    /// them. The channel closes after the `Outcome` line, or early if the agent
    /// goes away (the caller reports that as a failure).
    pub async fn turn(
        &self,
        request: &TurnRequest,
    ) -> Result<mpsc::Receiver<TurnLine>, AgentError> {
        let body = serde_json::to_vec(request).map_err(|e| AgentError::Malformed(e.to_string()))?;
        let response = self.send(AgentRoute::Turn, Body::from(body)).await?;
        let (lines, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut body = response.into_body().into_data_stream();
            let mut pending: Vec<u8> = Vec::new();
            while let Some(chunk) = body.next().await {
                let Ok(chunk): Result<Bytes, _> = chunk else {
                    break;
                };
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    match serde_json::from_slice::<TurnLine>(&line) {
                        Ok(parsed) => {
                            if lines.send(parsed).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "unreadable line from the agent");
                            return;
                        }
                    }
                }
                if pending.len() > MAX_ANSWER {
                    tracing::warn!("the agent sent an overlong line");
                    return;
                }
            }
        });
        Ok(receiver)
    }
}
