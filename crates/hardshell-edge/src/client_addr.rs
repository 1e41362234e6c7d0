//! Who is on the other end: the socket's address, unless the socket belongs to a
//! trusted proxy, in which case the proxy's `X-Forwarded-For` is believed — read
//! from the right, skipping further trusted proxies. A forwarded header from an
//! untrusted peer is ignored: this is how exposed gateways were fooled into
//! treating internet traffic as local.
//!
//! A header from a trusted proxy with an entry that is not an address is
//! refused (the pipeline answers 400). Falling back to the socket's address
//! would make the client the proxy itself: one garbled request then spent the
//! proxy's budgets, and locked out every client behind it (and its health check).

use std::net::IpAddr;

use hardshell_config::Cidr;
use http::HeaderMap;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// A trusted proxy sent an `X-Forwarded-For` entry that is not an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("x-forwarded-for from a trusted proxy holds an entry that is not an ip address")]
pub struct UnreadableForwardedFor;

pub(crate) fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[Cidr],
) -> Result<IpAddr, UnreadableForwardedFor> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    if !is_trusted(peer) {
        return Ok(peer);
    }
    // Each proxy appends the address it saw; the rightmost entries are the most
    // trustworthy. Walk leftwards until an address that is not one of our proxies.
    let hops: Vec<IpAddr> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .map(|value| value.to_str().map_err(|_| UnreadableForwardedFor))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flat_map(|text| text.split(','))
        .map(str::trim)
        .map(|hop| hop.parse::<IpAddr>().map_err(|_| UnreadableForwardedFor))
        .collect::<Result<_, _>>()?;
    for hop in hops.iter().rev() {
        if !is_trusted(*hop) {
            return Ok(*hop);
        }
    }
    Ok(hops.first().copied().unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_from_untrusted_peers_are_ignored() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        assert_eq!(
            client_address(ip("203.0.113.9"), &xff("127.0.0.1"), &trusted),
            Ok(ip("203.0.113.9"))
        );
        assert_eq!(
            client_address(ip("203.0.113.9"), &xff("127.0.0.1"), &[]),
            Ok(ip("203.0.113.9"))
        );
        // Garbage from an untrusted peer is not even read.
        assert_eq!(
            client_address(ip("203.0.113.9"), &xff("nonsense"), &trusted),
            Ok(ip("203.0.113.9"))
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_from_the_right() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        // The client forged "127.0.0.1"; our proxy appended the real address.
        let headers = xff("127.0.0.1, 198.51.100.7, 10.0.0.2");
        assert_eq!(
            client_address(ip("10.0.0.1"), &headers, &trusted),
            Ok(ip("198.51.100.7"))
        );
    }

    /// The red team's finding: a garbled header made the client the proxy.
    #[test]
    fn a_garbled_header_from_a_trusted_proxy_is_refused_not_taken_as_the_proxy() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        for garbled in ["198.51.100.7, nonsense", "nonsense", "", "198.51.100.7:443"] {
            assert_eq!(
                client_address(ip("10.0.0.1"), &xff(garbled), &trusted),
                Err(UnreadableForwardedFor),
                "{garbled:?}"
            );
        }
        // No header at all: the request is the proxy's own (a health check).
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            Ok(ip("10.0.0.1"))
        );
    }
}
