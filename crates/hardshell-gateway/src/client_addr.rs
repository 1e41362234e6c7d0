//! Who is on the other end: the socket's address, unless the socket belongs to a
//! trusted proxy, in which case the proxy's `X-Forwarded-For` is believed — read
//! from the right, skipping further trusted proxies. A forwarded header from an
//! untrusted peer is ignored: this is how exposed gateways were fooled into
//! treating internet traffic as local.

use std::net::IpAddr;

use hardshell_config::Cidr;
use http::HeaderMap;

const FORWARDED_FOR: &str = "x-forwarded-for";

pub(crate) fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    // Each proxy appends the address it saw; the rightmost entries are the most
    // trustworthy. Walk leftwards until an address that is not one of our proxies.
    let hops: Vec<IpAddr> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|text| text.split(','))
        .map(str::trim)
        .map(|hop| hop.parse::<IpAddr>().ok())
        .collect::<Option<Vec<_>>>()
        // One unparseable hop makes the whole header untrustworthy.
        .unwrap_or_default();
    for hop in hops.iter().rev() {
        if !is_trusted(*hop) {
            return *hop;
        }
    }
    hops.first().copied().unwrap_or(peer)
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
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("203.0.113.9"), &xff("127.0.0.1"), &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_from_the_right() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        // The client forged "127.0.0.1"; our proxy appended the real address.
        let headers = xff("127.0.0.1, 198.51.100.7, 10.0.0.2");
        assert_eq!(
            client_address(ip("10.0.0.1"), &headers, &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_garbled_header_from_a_trusted_proxy_falls_back_to_the_socket() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        assert_eq!(
            client_address(ip("10.0.0.1"), &xff("198.51.100.7, nonsense"), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
    }
}
