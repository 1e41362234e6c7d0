//! The server's half of a WebSocket handshake (RFC 6455 §4.2), as every
//! CDP socket answers it: the edge's `/cdp`, the agent's and a workload's.
//! The key is only echoed back, hashed; it is never logged.

use hyper::header::{
    CONNECTION, HeaderMap, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};

/// The longest `Sec-WebSocket-Key` taken (16 bytes in base64 is 24).
const MAX_KEY_BYTES: usize = 64;

/// The `Sec-WebSocket-Accept` for a request that is a version-13 WebSocket
/// handshake (`Upgrade: websocket`, `Connection` naming `upgrade`, a key);
/// `None` for anything else.
pub fn accept(headers: &HeaderMap) -> Option<HeaderValue> {
    let upgrade = headers
        .get(UPGRADE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let connection = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let version_13 = headers
        .get(SEC_WEBSOCKET_VERSION)
        .is_some_and(|version| version == "13");
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .filter(|key| !key.is_empty() && key.len() <= MAX_KEY_BYTES)?;
    if !(upgrade && connection && version_13) {
        return None;
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key);
    HeaderValue::from_str(&accept).ok()
}

/// The headers of the 101 answer that completes the handshake.
pub fn switching(headers: &mut HeaderMap, accept: HeaderValue) {
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                hyper::header::HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or_else(|e| panic!("{e}")),
                HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
            );
        }
        headers
    }

    const GOOD: [(&str, &str); 4] = [
        ("upgrade", "websocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn a_handshake_is_answered_with_rfc_6455s_accept() {
        assert_eq!(
            accept(&handshake(&GOOD))
                .as_ref()
                .map(HeaderValue::as_bytes),
            Some(&b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="[..])
        );
    }

    #[test]
    fn anything_short_of_one_is_not() {
        for (missing, _) in GOOD {
            let pairs: Vec<(&str, &str)> = GOOD
                .iter()
                .copied()
                .filter(|(name, _)| *name != missing)
                .collect();
            assert_eq!(accept(&handshake(&pairs)), None, "without {missing}");
        }
        let long_key = "k".repeat(65);
        for (name, value) in [
            ("upgrade", "h2c"),
            ("connection", "keep-alive"),
            ("sec-websocket-version", "8"),
            ("sec-websocket-key", ""),
            ("sec-websocket-key", long_key.as_str()),
        ] {
            let mut pairs: Vec<(&str, &str)> =
                GOOD.iter().copied().filter(|(n, _)| *n != name).collect();
            pairs.push((name, value));
            assert_eq!(accept(&handshake(&pairs)), None, "{name}: {value}");
        }
    }
}
