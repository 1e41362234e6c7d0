//! [`ClientKey`]: the key a client address is limited under.
//!
//! One IPv6 subscriber is routinely given a whole /64 and can pick any of its
//! 2^64 addresses per request, so keying by the full address would never limit
//! it (and a flood of its addresses would fill the limiter). An IPv6 address is
//! therefore keyed by its /64 network. An IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4 client) is
//! the IPv4 client it stands for, so both spellings share one budget.

use std::net::{IpAddr, Ipv4Addr};

/// A client address as the limiters key it: an IPv4 address, or the /64
/// network of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Network(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4),
                None => ClientKey::V6Network((v6.to_bits() >> 64) as u64),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ClientKey {
        ClientKey::from(text.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn ipv6_addresses_in_one_slash_64_share_a_key() {
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(
            key("2001:db8:1:2::1"),
            ClientKey::V6Network(0x2001_0db8_0001_0002)
        );
    }

    #[test]
    fn neighbouring_slash_64s_do_not() {
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn an_ipv4_mapped_address_is_its_ipv4_client() {
        assert_eq!(key("::ffff:198.51.100.7"), key("198.51.100.7"));
        assert_ne!(key("198.51.100.7"), key("198.51.100.8"));
        // Not mapped: an ordinary IPv6 address whose low bits look like IPv4.
        assert_ne!(key("::198.51.100.7"), key("198.51.100.7"));
    }
}
