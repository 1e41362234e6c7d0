//! The client address the edge rate-limits and audits by: the socket's, or
//! `X-Forwarded-For` when the socket is a trusted proxy. The header is the
//! client's to write; the trusted ranges come from the config (`Cidr::parse`).
//!
//! Input: the peer address (a line of text), the trusted ranges (one line,
//! comma-separated) and `X-Forwarded-For` header values (the remaining lines).
//!
//! Properties: never panics; an untrusted peer is believed over any header;
//! the answer is the peer or a hop the header names; every hop to the right of
//! the chosen one is a trusted proxy, and the chosen one is not, unless every
//! hop is; a range prints as text that parses back to itself.
#![no_main]

use std::net::IpAddr;

use hardshell_config::Cidr;
use hardshell_edge::fuzzing::client_address;
use http::HeaderMap;
use http::header::HeaderValue;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let Some(Ok(Ok(peer))) = lines
        .next()
        .map(|line| std::str::from_utf8(line).map(|text| text.trim().parse::<IpAddr>()))
    else {
        return;
    };
    let trusted: Vec<Cidr> = lines
        .next()
        .and_then(|line| std::str::from_utf8(line).ok())
        .map(|line| {
            line.split(',')
                .filter_map(|text| Cidr::parse(text.trim()))
                .collect()
        })
        .unwrap_or_default();
    for cidr in &trusted {
        let shown = cidr.0.to_string();
        assert_eq!(
            Cidr::parse(&shown),
            Some(*cidr),
            "{shown} does not parse back"
        );
    }
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", value);
        }
    }

    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    let client = client_address(peer, &headers, &trusted);
    if !is_trusted(peer) {
        assert_eq!(client, Ok(peer), "an untrusted peer's header was believed");
        return;
    }
    // A trusted proxy's header with an unreadable entry is refused, never
    // answered with the proxy's own address.
    let Ok(client) = client else {
        let all_parse = headers.get_all("x-forwarded-for").iter().all(|value| {
            value.to_str().is_ok_and(|text| {
                text.split(',')
                    .all(|hop| hop.trim().parse::<IpAddr>().is_ok())
            })
        });
        assert!(!all_parse, "a readable header was refused");
        return;
    };
    if client == peer {
        return;
    }
    // The hops as the header lists them (every one parsed, or the header
    // would have been refused above).
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|text| text.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    let Some(chosen) = hops.iter().rposition(|hop| *hop == client) else {
        panic!("{client} is neither the peer nor a hop of {hops:?}");
    };
    assert!(
        hops[chosen + 1..].iter().all(|hop| is_trusted(*hop)),
        "{client} chosen though an untrusted hop is to its right: {hops:?}"
    );
    if !hops.iter().all(|hop| is_trusted(*hop)) {
        assert!(
            !is_trusted(client),
            "a trusted proxy {client} was taken for the client"
        );
    }
});
