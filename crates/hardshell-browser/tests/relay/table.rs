use std::collections::{BTreeMap, BTreeSet};

use hardshell_browser::MethodPolicy;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::Chromium;

/// The browser's own description of its protocol (`/json/protocol`):
/// domain → commands.
async fn protocol(chromium: &Chromium) -> BTreeMap<String, BTreeSet<String>> {
    let address = chromium
        .url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap();
    let mut tcp = TcpStream::connect(address).await.unwrap();
    let request =
        format!("GET /json/protocol HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    // Chromium keeps the connection open: read the head, then the body by
    // its length.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap();
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body).await.unwrap();
    let body = String::from_utf8(body).unwrap();
    let protocol: Value = serde_json::from_str(&body).unwrap();
    protocol["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|domain| {
            let commands = domain["commands"]
                .as_array()
                .map_or_else(BTreeSet::new, |commands| {
                    commands
                        .iter()
                        .map(|c| c["name"].as_str().unwrap().to_owned())
                        .collect()
                });
            (domain["domain"].as_str().unwrap().to_owned(), commands)
        })
        .collect()
}

/// A typo in the table would allow nothing or deny nothing, silently: every
/// entry must name a domain or a command of the Chromium that hardshell runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_entry_names_something_chromium_has() {
    let chromium = Chromium::launch(&[]).await;
    let protocol = protocol(&chromium).await;
    assert!(
        protocol.contains_key("Page"),
        "a protocol description: {:?}",
        protocol.keys()
    );
    let policy = MethodPolicy::standard().unwrap();
    let unknown: Vec<String> = policy
        .patterns()
        .into_iter()
        .filter(|pattern| {
            let (domain, method) = pattern.split_once('.').unwrap();
            match protocol.get(domain) {
                None => true,
                Some(commands) => method != "*" && !commands.contains(method),
            }
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "not in Chromium's protocol: {unknown:?}"
    );
}
