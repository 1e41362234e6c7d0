use std::net::SocketAddr;

use crate::GatewayError;

/// An address the edge is allowed to listen on.
///
/// Today the only constructor is [`ListenAddr::loopback`]. The access-control work
/// adds a constructor that takes proof an access method is configured; until then
/// a non-loopback listener cannot be expressed, not merely discouraged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(SocketAddr);

impl ListenAddr {
    /// `addr` if it is a loopback address (127.0.0.0/8 or ::1).
    pub fn loopback(addr: SocketAddr) -> Result<Self, GatewayError> {
        if addr.ip().is_loopback() {
            Ok(Self(addr))
        } else {
            Err(GatewayError::NotLoopback { addr })
        }
    }

    pub fn addr(self) -> SocketAddr {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_accepted() {
        for ok in ["127.0.0.1:8787", "127.1.2.3:1", "[::1]:8787"] {
            assert!(ListenAddr::loopback(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "0.0.0.0:8787",
            "[::]:8787",
            "10.0.0.1:80",
            "[::ffff:127.0.0.1]:80",
        ] {
            let err = ListenAddr::loopback(bad.parse().unwrap()).unwrap_err();
            assert!(matches!(err, GatewayError::NotLoopback { .. }), "{bad}");
        }
    }
}
