//! TLS routes: plain HTTP from the shell, checked TLS to the destination.

use hardshell_broker::policy::Route;

use crate::support::*;

#[tokio::test]
async fn a_tls_route_reads_plain_http_and_speaks_checked_tls_to_the_destination() {
    let (port, seen, cert) = tls_echo_server("api.tls.test").await;
    let tls_route = |host: &str| Route {
        tls: true,
        ..route(host, vec![port])
    };
    let mut broker = loopback_broker(
        vec![tls_route("api.tls.test"), tls_route("wrong-name.test")],
        tls_trusting(&[cert]),
    );
    bind_token(&mut broker, "API_KEY", "api.tls.test", Some("x-api-key"));
    let (socket, _dir) = serve(broker);

    // The shell speaks plain HTTP; the destination got TLS, the Host the
    // route checked, and the value in place of the placeholder.
    let response = send_to(
        &socket,
        &format!(
            "GET http://api.tls.test:{port}/v1/x HTTP/1.1\r\nHost: api.tls.test\r\nx-api-key: hs-secret:API_KEY\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let received = seen.lock().unwrap().last().cloned().unwrap();
    assert!(received.starts_with("GET /v1/x HTTP/1.1"), "{received}");
    assert!(
        received.contains(&format!("x-api-key: {TOKEN}")),
        "{received}"
    );
    assert!(
        received.contains(&format!("host: api.tls.test:{port}")),
        "{received}"
    );
    // A request carrying a secret asks for no compression, and what comes
    // back has the value as its placeholder again.
    assert!(
        !received.to_ascii_lowercase().contains("accept-encoding"),
        "{received}"
    );
    assert!(!response.contains(TOKEN), "{response}");
    assert!(
        response.contains("x-api-key: hs-secret:API_KEY"),
        "{response}"
    );

    // A certificate for another name is refused, and nothing was sent.
    let before = seen.lock().unwrap().len();
    let response = send_to(
        &socket,
        &format!(
            "GET http://wrong-name.test:{port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert!(
        response.contains("TLS with the destination failed"),
        "{response}"
    );
    assert_eq!(seen.lock().unwrap().len(), before);

    // A tunnel would hide what the route is there to read.
    let response = send_to(
        &socket,
        &format!("CONNECT api.tls.test:{port} HTTP/1.1\r\nHost: api.tls.test:{port}\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("a tunnel to api.tls.test is not allowed"),
        "{response}"
    );
}
