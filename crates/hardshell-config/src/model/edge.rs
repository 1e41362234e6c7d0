//! `[edge]`: the listener, TLS, proxies in front of it, and request limits.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `[edge]`: the only part of hardshell that listens on the network.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Edge {
    /// Address and port to listen on. A non-loopback address needs an access method
    /// and TLS (here, or at a trusted proxy in front).
    pub listen: SocketAddr,
    /// The URL people and clients use to reach this edge, e.g.
    /// `https://agent.example.com`. Passkeys are bound to its host, OIDC redirects
    /// come back to it, and cookies are `Secure` when it is https. Default:
    /// `https://localhost:<port>` with TLS, `http://localhost:<port>` without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Proxies (CIDRs such as `10.0.0.0/8` or single addresses) whose
    /// `X-Forwarded-For` is believed. A forwarded header from anyone else is
    /// ignored: the client address is the socket's.
    pub trusted_proxies: Vec<Cidr>,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Seconds a client may take to send a request head.
    pub header_timeout_secs: u64,
    /// Seconds a whole request may take, body included (not proxied streams).
    pub request_timeout_secs: u64,
    /// Connections open at once. Near this cap, idle connections are closed,
    /// oldest first, to make room; at it, new clients wait in the backlog.
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv6 /64 counts as
    /// one address); more are closed at once. Trusted proxies are not limited.
    pub max_connections_per_address: usize,
    /// TLS for the listener; required to listen off loopback unless a trusted
    /// proxy terminates TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

/// `[edge.tls]`: the server certificate, from files (`cert` and `key`) or
/// from an ACME server (`acme`), one or the other.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain, leaf first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1). Keep it mode 0600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// A certificate from an ACME server, proven with TLS-ALPN-01 on the
    /// listener itself (so it must be reachable on 443 for the names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acme: Option<Acme>,
}

impl Tls {
    /// The certificate and key files, when the certificate comes from files.
    pub fn files(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.cert.as_ref().zip(self.key.as_ref())
    }
}

/// `[edge.tls] acme = { email = "...", domains = ["agent.example.com"] }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Acme {
    /// The account's contact, told of problems with the certificate.
    pub email: String,
    /// The names the certificate is for; the public URL's host must be one.
    pub domains: Vec<String>,
    /// The ACME server's directory; Let's Encrypt's by default.
    #[serde(default = "lets_encrypt")]
    pub directory: String,
    /// A PEM root to check the directory's own HTTPS against instead of the
    /// system's, for a private ACME server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_ca: Option<PathBuf>,
    /// How a name is proven: on the edge's own listener (`tls-alpn-01`, the
    /// default) or on the plain-HTTP listener (`http-01`, needs `http_listen`).
    #[serde(default)]
    pub challenge: AcmeChallenge,
    /// A plain-HTTP listener (usually `0.0.0.0:80`) that answers HTTP-01 and
    /// redirects every other request to the public URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_listen: Option<SocketAddr>,
}

/// `[edge.tls.acme] challenge`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum AcmeChallenge {
    /// RFC 8737, on the edge's own listener.
    #[default]
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// RFC 8555 section 8.3, on `http_listen`.
    #[serde(rename = "http-01")]
    Http01,
}

fn lets_encrypt() -> String {
    "https://acme-v02.api.letsencrypt.org/directory".to_owned()
}

impl Default for Edge {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            public_url: None,
            trusted_proxies: Vec::new(),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 10 * 1024 * 1024,
            header_timeout_secs: 10,
            request_timeout_secs: 60,
            max_connections: 4096,
            max_connections_per_address: 64,
            tls: None,
        }
    }
}

/// An address range such as `10.0.0.0/8`; a bare address means just that address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(pub ipnet::IpNet);

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n`, or a bare address.
    pub fn parse(text: &str) -> Option<Self> {
        if let Ok(net) = text.parse::<ipnet::IpNet>() {
            return Some(Self(net.trunc()));
        }
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| Self(ipnet::IpNet::from(ip)))
    }

    /// Whether `ip` lies in the range. IPv4-mapped IPv6 addresses match their IPv4 range.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Cidr::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not an address or a range like 10.0.0.0/8"
            ))
        })
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}
