//! Prometheus metrics: requests by route and status, authentication failures by
//! method, rate-limit refusals, request and upstream latency, audit backlog.
//! Route labels are registered path patterns, never raw paths, so a client
//! cannot grow the label set.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::response::{self, HttpResponse};

pub(crate) mod timeline;

pub(crate) use timeline::{Outcome, Timeline, this_minute};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    limit: String,
}

pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histogram,
    auth_failures: Family<MethodLabel, Counter>,
    rate_limited: Family<LimitLabel, Counter>,
    upstream_seconds: Histogram,
    audit_backlog: Gauge<i64, std::sync::atomic::AtomicI64>,
    upstream_errors: Counter<u64, AtomicU64>,
    /// The last day by minute and outcome, for the admin page's chart.
    timeline: Timeline,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hardshell");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 20));
        let auth_failures = Family::<MethodLabel, Counter>::default();
        let rate_limited = Family::<LimitLabel, Counter>::default();
        let upstream_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 20));
        let audit_backlog = Gauge::default();
        let upstream_errors = Counter::default();
        registry.register(
            "requests",
            "Requests answered, by route pattern and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request to response head",
            request_seconds.clone(),
        );
        registry.register(
            "auth_failures",
            "Credentials that failed to verify, by method",
            auth_failures.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit, by limit",
            rate_limited.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Upstream response-head latency",
            upstream_seconds.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream connections or requests that failed",
            upstream_errors.clone(),
        );
        registry.register(
            "audit_backlog",
            "Audit records buffered and not yet in storage",
            audit_backlog.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            auth_failures,
            rate_limited,
            upstream_seconds,
            audit_backlog,
            upstream_errors,
            timeline: Timeline::new(),
        }
    }

    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    pub fn record_request(&self, route: &str, status: http::StatusCode, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status: status.as_u16(),
            })
            .inc();
        self.request_seconds.observe(elapsed.as_secs_f64());
        self.timeline.record(Outcome::of(status), this_minute());
    }

    pub fn record_auth_failure(&self, method: &str) {
        self.auth_failures
            .get_or_create(&MethodLabel {
                method: method.to_owned(),
            })
            .inc();
    }

    pub fn record_rate_limited(&self, limit: &str) {
        self.rate_limited
            .get_or_create(&LimitLabel {
                limit: limit.to_owned(),
            })
            .inc();
    }

    pub fn record_upstream(&self, elapsed: Duration) {
        self.upstream_seconds.observe(elapsed.as_secs_f64());
    }

    pub fn record_upstream_error(&self) {
        self.upstream_errors.inc();
    }

    /// The text exposition format, with the audit backlog sampled now.
    pub fn encode(&self, audit_backlog: usize) -> String {
        self.audit_backlog
            .set(i64::try_from(audit_backlog).unwrap_or(i64::MAX));
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// The `/metrics` answer, on the main listener or the metrics listener.
pub(crate) fn exposition(metrics: &Metrics, audit_backlog: u64) -> HttpResponse {
    let mut response = response::text(http::StatusCode::OK, "");
    *response.body_mut() = axum::body::Body::from(
        metrics.encode(usize::try_from(audit_backlog).unwrap_or(usize::MAX)),
    );
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    response
}
