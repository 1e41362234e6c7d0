use std::net::SocketAddr;

use hardshell_config::LoadedConfig;

use crate::EdgeError;

/// An address the edge is allowed to listen on.
///
/// Loopback is always allowed. Any other address needs a [`Protection`]: proof
/// that a login method is on and that credentials travel under TLS (here, or at a
/// trusted proxy in front). Without one, a public listener cannot be expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddr(SocketAddr);

/// Evidence that an exposed listener is protected. Only [`Protection::check`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct Protection(());

impl Protection {
    /// `Some` when the config has a login method and TLS or a TLS-terminating proxy.
    pub fn check(config: &LoadedConfig) -> Option<Self> {
        let edge = &config.config.edge;
        let has_login = config.config.access.has_login_method();
        let encrypted = edge.tls.is_some() || !edge.trusted_proxies.is_empty();
        (has_login && encrypted).then_some(Self(()))
    }
}

impl ListenAddr {
    /// `addr` if it is a loopback address (127.0.0.0/8 or ::1).
    pub fn loopback(addr: SocketAddr) -> Result<Self, EdgeError> {
        if addr.ip().is_loopback() {
            Ok(Self(addr))
        } else {
            Err(EdgeError::NotLoopback { addr })
        }
    }

    /// Any address, given proof that access control and TLS are in place.
    pub fn protected(addr: SocketAddr, _proof: Protection) -> Self {
        Self(addr)
    }

    pub fn addr(self) -> SocketAddr {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_accepted_without_protection() {
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
            assert!(matches!(err, EdgeError::NotLoopback { .. }), "{bad}");
        }
    }

    #[test]
    fn protection_needs_a_login_method_and_tls() {
        let path = std::path::Path::new("/x/hardshell.toml");
        let tls = "[edge.tls]\ncert = \"c\"\nkey = \"k\"\n";
        let protected = LoadedConfig::parse(tls, path).unwrap();
        assert!(Protection::check(&protected).is_some());
        let plain = LoadedConfig::parse("", path).unwrap();
        assert!(Protection::check(&plain).is_none());
        let no_login =
            LoadedConfig::parse(&format!("{tls}[access.passkey]\nenabled = false\n"), path)
                .unwrap();
        assert!(Protection::check(&no_login).is_none());
    }
}
