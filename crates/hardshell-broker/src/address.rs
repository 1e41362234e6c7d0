//! The address guard: which addresses the broker refuses to dial, whatever
//! name led to them. Applied to the addresses the broker resolved itself, and
//! the connection is made to the address checked, so a name that resolves
//! differently a second later (DNS rebinding) gains nothing.
//!
//! Refused: loopback, private, link-local (with the cloud metadata address
//! 169.254.169.254), carrier-grade NAT, multicast, broadcast, unspecified,
//! reserved and documentation ranges; in IPv6 the same classes plus unique
//! local and site-local, and every form that carries an IPv4 address
//! (IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64, 6to4), judged by
//! the IPv4 address it carries; and whole the prefixes whose destination a
//! relay decides from bits the guard cannot judge: local-use NAT64
//! (64:ff9b:1::/48, a translator of this network's own) and Teredo
//! (2001::/32). An exception must be named (from `[dangerous]`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Unspecified,
    Loopback,
    Private,
    LinkLocal,
    /// 169.254.169.254, where clouds serve instance credentials.
    Metadata,
    SharedNat,
    Multicast,
    Broadcast,
    Reserved,
    Documentation,
    UniqueLocal,
    SiteLocal,
    /// An address of this machine's own interfaces, where the edge and
    /// whatever else runs here listen (refused where the guard is told them).
    ThisMachine,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Unspecified => "unspecified",
            Class::Loopback => "loopback",
            Class::Private => "private",
            Class::LinkLocal => "link-local",
            Class::Metadata => "cloud metadata",
            Class::SharedNat => "carrier-grade NAT",
            Class::Multicast => "multicast",
            Class::Broadcast => "broadcast",
            Class::Reserved => "reserved",
            Class::Documentation => "documentation",
            Class::UniqueLocal => "unique local",
            Class::SiteLocal => "site-local",
            Class::ThisMachine => "this machine's own",
        }
    }
}

/// The class that makes `ip` refused, if any.
pub fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => Class::Metadata,
        _ if ip.is_broadcast() => Class::Broadcast,
        (0, ..) => Class::Unspecified,
        (127, ..) => Class::Loopback,
        (10, ..) => Class::Private,
        (172, 16..=31, _) => Class::Private,
        (192, 168, _) => Class::Private,
        (169, 254, _) => Class::LinkLocal,
        (100, 64..=127, _) => Class::SharedNat,
        (192, 0, 0) => Class::Reserved,
        (198, 18..=19, _) => Class::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Class::Documentation,
        (224..=239, ..) => Class::Multicast,
        (240..=255, ..) => Class::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    let segments = ip.segments();
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() {
        return Some(Class::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Class::Loopback);
    }
    // Forms that carry an IPv4 address are judged by it (and an address the
    // IPv4 rules allow is still refused in a form no public host uses).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(classify_v4(v4).unwrap_or(Class::Reserved));
    }
    match segments {
        // IPv4-compatible (deprecated): ::a.b.c.d
        [0, 0, 0, 0, 0, 0, high, low] => {
            return Some(classify_v4(embedded(high, low)).unwrap_or(Class::Reserved));
        }
        // IPv4-translated (SIIT): ::ffff:0:a.b.c.d
        [0, 0, 0, 0, 0xffff, 0, high, low] => {
            return Some(classify_v4(embedded(high, low)).unwrap_or(Class::Reserved));
        }
        // NAT64: 64:ff9b::a.b.c.d
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => {
            return classify_v4(embedded(high, low));
        }
        // Local-use NAT64 (RFC 8215): this network's own translator, where
        // the IPv4 address may sit at any of several offsets.
        [0x64, 0xff9b, 0x0001, ..] => return Some(Class::Reserved),
        // Teredo: a relay reaches an IPv4 address carried obfuscated.
        [0x2001, 0x0000, ..] => return Some(Class::Reserved),
        // 6to4: 2002:aabb:ccdd::
        [0x2002, high, low, ..] => return classify_v4(embedded(high, low)),
        _ => {}
    }
    let first = segments[0];
    Some(match first {
        _ if first & 0xfe00 == 0xfc00 => Class::UniqueLocal,
        _ if first & 0xffc0 == 0xfe80 => Class::LinkLocal,
        _ if first & 0xffc0 == 0xfec0 => Class::SiteLocal,
        _ if first & 0xff00 == 0xff00 => Class::Multicast,
        0x2001 if segments[1] == 0x0db8 => Class::Documentation,
        // 100::/64, the discard prefix.
        0x0100 if segments[1..4] == [0, 0, 0] => Class::Reserved,
        _ => return None,
    })
}

/// A refused address, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address} is a {} address", class.as_str())]
pub struct Refused {
    pub address: IpAddr,
    pub class: Class,
}

/// The guard, with the exceptions `[dangerous]` names.
#[derive(Debug, Clone, Default)]
pub struct AddressGuard {
    exceptions: Vec<IpNet>,
    /// This machine's own addresses, refused whatever the exceptions say.
    own: Vec<IpAddr>,
}

impl AddressGuard {
    pub fn new(exceptions: Vec<IpNet>) -> Self {
        Self {
            exceptions,
            own: Vec::new(),
        }
    }

    /// Refuses `own` too (this machine's interface addresses, public ones
    /// included), before any exception: a shell that may reach public
    /// hosts must still not reach the edge on the machine's public address.
    pub fn refusing_own(mut self, own: Vec<IpAddr>) -> Self {
        self.own = own.into_iter().map(|ip| ip.to_canonical()).collect();
        self
    }

    /// Whether the broker may dial `address`.
    pub fn check(&self, address: IpAddr) -> Result<(), Refused> {
        if self.own.contains(&address.to_canonical()) {
            return Err(Refused {
                address,
                class: Class::ThisMachine,
            });
        }
        match classify(address) {
            None => Ok(()),
            Some(_) if self.exceptions.iter().any(|net| net.contains(&address)) => Ok(()),
            Some(class) => Err(Refused { address, class }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn this_machines_own_addresses_are_refused_whatever_the_exceptions() {
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let private: IpAddr = "10.1.2.3".parse().unwrap();
        let guard = AddressGuard::new(vec!["10.0.0.0/8".parse().unwrap()])
            .refusing_own(vec![public, private]);
        for own in [public, private, "::ffff:93.184.216.34".parse().unwrap()] {
            assert_eq!(
                guard.check(own).unwrap_err().class,
                Class::ThisMachine,
                "{own}"
            );
        }
        // Other addresses as before: public allowed, the exception's allowed.
        assert!(guard.check("93.184.216.35".parse().unwrap()).is_ok());
        assert!(guard.check("10.1.2.4".parse().unwrap()).is_ok());
        // Without being told, the guard knows no machine of its own.
        assert!(AddressGuard::new(Vec::new()).check(public).is_ok());
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn every_internal_form_is_refused() {
        for (address, class) in [
            ("127.0.0.1", Class::Loopback),
            ("127.1.2.3", Class::Loopback),
            ("0.0.0.0", Class::Unspecified),
            ("10.1.2.3", Class::Private),
            ("172.16.0.1", Class::Private),
            ("172.31.255.255", Class::Private),
            ("192.168.1.1", Class::Private),
            ("169.254.169.254", Class::Metadata),
            ("169.254.1.1", Class::LinkLocal),
            ("100.64.0.1", Class::SharedNat),
            ("100.127.255.255", Class::SharedNat),
            ("224.0.0.1", Class::Multicast),
            ("255.255.255.255", Class::Broadcast),
            ("240.0.0.1", Class::Reserved),
            ("192.0.2.10", Class::Documentation),
            ("::", Class::Unspecified),
            ("::1", Class::Loopback),
            ("::ffff:127.0.0.1", Class::Loopback),
            ("::ffff:169.254.169.254", Class::Metadata),
            ("::ffff:10.0.0.1", Class::Private),
            ("::127.0.0.1", Class::Loopback),
            ("64:ff9b::169.254.169.254", Class::Metadata),
            ("64:ff9b::10.0.0.1", Class::Private),
            ("64:ff9b::127.0.0.1", Class::Loopback),
            ("64:ff9b:1::a00:1", Class::Reserved),
            ("64:ff9b:1:ffff::808:808", Class::Reserved),
            ("::ffff:0:127.0.0.1", Class::Loopback),
            ("::ffff:0:169.254.169.254", Class::Metadata),
            ("::ffff:0:8.8.8.8", Class::Reserved),
            ("2001::1", Class::Reserved),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Class::Reserved),
            ("2002:7f00:1::", Class::Loopback),
            ("2002:a9fe:a9fe::1", Class::Metadata),
            ("fc00::1", Class::UniqueLocal),
            ("fd00:ec2::254", Class::UniqueLocal),
            ("fe80::1", Class::LinkLocal),
            ("fec0::1", Class::SiteLocal),
            ("ff02::1", Class::Multicast),
            ("2001:db8::1", Class::Documentation),
            ("100::1", Class::Reserved),
        ] {
            assert_eq!(classify(ip(address)), Some(class), "{address}");
        }
    }

    #[test]
    fn public_addresses_pass_and_exceptions_must_be_named() {
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert_eq!(classify(ip(public)), None, "{public}");
        }
        // A public IPv4 address dressed as IPv4-mapped is still refused: no
        // public host is reached that way from here.
        assert!(classify(ip("::ffff:1.1.1.1")).is_some());
        let guard = AddressGuard::default();
        let refused = guard.check(ip("10.0.0.5")).unwrap_err();
        assert_eq!(refused.to_string(), "10.0.0.5 is a private address");
        let guard = AddressGuard::new(vec!["10.0.0.0/24".parse().unwrap()]);
        assert!(guard.check(ip("10.0.0.5")).is_ok());
        assert!(guard.check(ip("10.0.1.5")).is_err());
        assert!(guard.check(ip("169.254.169.254")).is_err());
    }
}
