//! The edge's audit trail: one call per decision, typed records, no credentials.

use std::net::IpAddr;

use hardshell_auth::Principal;

use crate::pipeline::authn::AuthFailure;

/// Records the edge's decisions.
pub(crate) struct Trail {}

impl Trail {
    pub fn new() -> Self {
        Self {}
    }

    pub fn request_allowed(
        &self,
        request_id: &str,
        client: IpAddr,
        principal: Option<&Principal>,
        route: &str,
        requirement: &str,
    ) {
        tracing::info!(request_id, %client, subject = principal.map(|p| p.subject.as_str()), route, requirement, "request allowed");
    }

    pub fn request_denied(
        &self,
        request_id: &str,
        client: IpAddr,
        principal: Option<&Principal>,
        route: &str,
        reason: &str,
    ) {
        tracing::info!(request_id, %client, subject = principal.map(|p| p.subject.as_str()), route, reason, "request denied");
    }

    pub fn auth_failed(
        &self,
        request_id: &str,
        client: IpAddr,
        failure: &AuthFailure,
        route: &str,
    ) {
        tracing::info!(request_id, %client, method = failure.method, reason = failure.reason, route, "authentication failed");
    }

    pub fn rate_limited(&self, request_id: &str, client: IpAddr, limit: &str, route: &str) {
        tracing::info!(request_id, %client, limit, route, "rate limited");
    }

    pub fn session_ended(&self, request_id: &str, client: IpAddr, principal: &Principal) {
        tracing::info!(request_id, %client, subject = principal.subject, "session ended");
    }

    pub async fn token_created(
        &self,
        request_id: &str,
        client: IpAddr,
        by: &Principal,
        record: &hardshell_auth::TokenRecord,
    ) -> Result<(), String> {
        tracing::info!(request_id, %client, by = by.subject, token = record.id, "token created");
        Ok(())
    }

    pub async fn token_revoked(
        &self,
        request_id: &str,
        client: IpAddr,
        by: &Principal,
        record: &hardshell_auth::TokenRecord,
    ) -> Result<(), String> {
        tracing::info!(request_id, %client, by = by.subject, token = record.id, "token revoked");
        Ok(())
    }

    pub async fn shutdown(&self) {}

    pub fn backlog(&self) -> usize {
        0
    }
}
