//! What a route lets through: hosts, ports, methods and paths, the
//! address guard after resolution, and CONNECT tunnels.

use std::time::Duration;

use hardshell_broker::proxy::Event;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::support::*;

#[tokio::test]
async fn an_allowed_request_goes_through_and_is_recorded() {
    let h = harness(true).await;
    let response = h.get("api.github.test", h.port, "").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("GET /repos HTTP/1.1"),
        "origin-form upstream: {response}"
    );
    assert_eq!(
        h.events(),
        [Event::Allowed {
            host: "api.github.test".into(),
            port: h.port,
            tunnel: false,
            inspected: false
        }]
    );
    // The destination sees the host the policy checked, whatever the shell
    // put in Host: no reaching another site behind the same address.
    let fronted = h
        .send(&format!(
            "GET http://api.github.test:{0}/x HTTP/1.1\r\nHost: evil.internal\r\nConnection: close\r\n\r\n",
            h.port
        ))
        .await;
    assert!(fronted.starts_with("HTTP/1.1 200"), "{fronted}");
    assert!(
        !fronted.to_ascii_lowercase().contains("evil.internal"),
        "{fronted}"
    );
    assert!(
        fronted.contains(&format!("host: api.github.test:{}", h.port)),
        "{fronted}"
    );
}

#[tokio::test]
async fn unlisted_hosts_wrong_ports_methods_and_paths_are_refused() {
    let h = harness(true).await;
    // Every way a request falls outside the routes (policy.rs tests each rule alone).
    let close = "Connection: close\r\n\r\n";
    for (request, reason) in [
        (
            format!(
                "GET http://evil.test:{}/ HTTP/1.1\r\nHost: evil.test\r\n{close}",
                h.port
            ),
            "evil.test is not an allowed host",
        ),
        (
            format!(
                "GET http://api.github.test.evil.net:{}/ HTTP/1.1\r\nHost: x\r\n{close}",
                h.port
            ),
            "not an allowed host",
        ),
        (
            format!("GET http://api.github.test:22/ HTTP/1.1\r\nHost: x\r\n{close}"),
            "port 22 is not allowed",
        ),
        // other.test is also a GET-only route under /public/ (the first
        // route for it allows anything, so a name only it matches is used).
        (
            format!(
                "DELETE http://only-public.test:{}/public/x HTTP/1.1\r\nHost: x\r\n{close}",
                h.port
            ),
            "DELETE is not allowed for only-public.test",
        ),
        (
            format!(
                "GET http://only-public.test:{}/private/x HTTP/1.1\r\nHost: x\r\n{close}",
                h.port
            ),
            "the path is not allowed for only-public.test",
        ),
        (
            format!(
                "GET https://api.github.test:{}/ HTTP/1.1\r\nHost: x\r\n{close}",
                h.port
            ),
            "absolute http:// URL",
        ),
        (
            format!("GET /relative HTTP/1.1\r\nHost: api.github.test\r\n{close}"),
            "absolute http:// URL",
        ),
    ] {
        let response = h.send(&request).await;
        assert!(
            response.starts_with("HTTP/1.1 403") || response.starts_with("HTTP/1.1 400"),
            "{request}: {response}"
        );
        assert!(response.contains(reason), "{request}: {response}");
    }
    assert!(
        h.seen.lock().unwrap().is_empty(),
        "a refused request reached the server"
    );
    assert!(
        h.events()
            .iter()
            .all(|e| matches!(e, Event::Denied { .. } | Event::Allowed { .. }))
    );
}

#[tokio::test]
async fn names_resolving_to_internal_addresses_are_refused_even_when_allowed() {
    let h = harness(true).await;
    let response = h.get("rebind.github.test", h.port, "").await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.contains("cloud metadata"), "{response}");
    let response = h.get("mixed.github.test", h.port, "").await;
    assert!(
        response.contains("10.0.0.1 is a private address"),
        "{response}"
    );
    // Without the test's exception, loopback itself is refused.
    let strict = harness(false).await;
    let response = strict.get("api.github.test", strict.port, "").await;
    assert!(
        response.contains("127.0.0.1 is a loopback address"),
        "{response}"
    );
    assert!(strict.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn connect_tunnels_to_an_allowed_host_and_only_there() {
    let h = harness(true).await;
    let mut stream = UnixStream::connect(&h.socket).await.unwrap();
    let authority = format!("api.github.test:{}", h.port);
    stream
        .write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = vec![0u8; 1024];
    let n = stream.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Inside the tunnel: a request the echo server answers.
    stream
        .write_all(b"GET /inside HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(String::from_utf8_lossy(&rest).contains("GET /inside"));

    let response = h
        .send(&format!(
            "CONNECT evil.test:{0} HTTP/1.1\r\nHost: evil.test:{0}\r\nConnection: close\r\n\r\n",
            h.port
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
}

#[tokio::test]
async fn ipv6_and_ipv4_mapped_loopback_stay_refused_even_with_an_ipv4_exception() {
    let h = harness(true).await;
    for host in ["v6.github.test", "mapped.github.test"] {
        let response = h.get(host, h.port, "").await;
        assert!(response.starts_with("HTTP/1.1 403"), "{host}: {response}");
        assert!(response.contains("loopback address"), "{host}: {response}");
    }
    assert!(h.seen.lock().unwrap().is_empty());
}
