//! The issuer's decisions without a handshake: which names get a leaf, the
//! cache's reuse, bound and renewal. Real handshakes are in `tests/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::InstallId;

fn issuer(hosts: usize) -> LeafIssuer {
    let ca = EgressCa::generate(&InstallId::parse("unit").unwrap()).unwrap();
    LeafIssuer::with_capacity(Arc::new(ca), hosts)
}

#[test]
fn dns_names_get_a_leaf_host_lower_cased() {
    assert_eq!(
        leaf_host(Some("API.Example.test")).unwrap(),
        "api.example.test"
    );
}

#[test]
fn missing_ip_and_malformed_names_get_no_leaf() {
    assert_eq!(leaf_host(None), Err(LeafRefused::NoServerName));
    assert_eq!(leaf_host(Some("127.0.0.1")), Err(LeafRefused::IpAddress));
    assert_eq!(leaf_host(Some("::1")), Err(LeafRefused::IpAddress));
    for bad in [
        "*.example.test",
        "example.test.",
        "",
        "a b.test",
        "bad_.-host",
    ] {
        assert_eq!(
            leaf_host(Some(bad)),
            Err(LeafRefused::NotADnsName),
            "{bad:?}"
        );
    }
}

#[test]
fn the_same_host_gets_the_same_leaf() {
    let issuer = issuer(4);
    let first = issuer.leaf_for(Some("api.example.test")).unwrap();
    let again = issuer.leaf_for(Some("API.example.test")).unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    let other = issuer.leaf_for(Some("other.example.test")).unwrap();
    assert!(!Arc::ptr_eq(&first, &other));
    assert_eq!(issuer.cached_hosts(), 2);
}

#[test]
fn the_cache_is_bounded_and_drops_the_oldest() {
    let issuer = issuer(3);
    let first = issuer.leaf_for(Some("h0.test")).unwrap();
    for i in 1..10 {
        issuer.leaf_for(Some(&format!("h{i}.test"))).unwrap();
        assert!(issuer.cached_hosts() <= 3);
    }
    assert_eq!(issuer.cached_hosts(), 3);
    // h0 was evicted long ago: asking again issues a new leaf.
    let reissued = issuer.leaf_for(Some("h0.test")).unwrap();
    assert!(!Arc::ptr_eq(&first, &reissued));
    // The newest hosts are still cached.
    let h9 = issuer.leaf_for(Some("h9.test")).unwrap();
    assert!(Arc::ptr_eq(&h9, &issuer.leaf_for(Some("h9.test")).unwrap()));
}

#[test]
fn a_leaf_near_expiry_is_reissued() {
    let issuer = issuer(4);
    let now = SystemTime::now();
    let first = issuer.leaf_at(Some("api.example.test"), now).unwrap();
    let later = now + LEAF_VALIDITY - RENEW_BEFORE / 2;
    let same = issuer
        .leaf_at(Some("api.example.test"), now + RENEW_BEFORE)
        .unwrap();
    assert!(Arc::ptr_eq(&first, &same), "well before expiry: cached");
    let renewed = issuer.leaf_at(Some("api.example.test"), later).unwrap();
    assert!(
        !Arc::ptr_eq(&first, &renewed),
        "within the last hour: reissued"
    );
    assert_eq!(issuer.cached_hosts(), 1);
}

#[test]
fn replacing_the_ca_drops_every_cached_leaf() {
    let issuer = issuer(4);
    let first = issuer.leaf_for(Some("api.example.test")).unwrap();
    let new_ca = EgressCa::generate(&InstallId::parse("unit").unwrap()).unwrap();
    issuer.replace_ca(Arc::new(new_ca));
    assert_eq!(issuer.cached_hosts(), 0);
    let second = issuer.leaf_for(Some("api.example.test")).unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
}
