use std::future::Future;

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Whether `conn` has been asked to close (without waiting; consumes the ask).
fn asked(conn: &Conn) -> bool {
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    std::pin::pin!(conn.asked_to_close())
        .as_mut()
        .poll(&mut cx)
        .is_ready()
}

#[test]
fn one_address_holds_at_most_its_share() {
    let connections = Connections::new(2, vec![]);
    let first = connections.admit(ip("192.0.2.1")).unwrap();
    let _second = connections.admit(ip("192.0.2.1")).unwrap();
    assert_eq!(
        connections.admit(ip("192.0.2.1")).err(),
        Some(Refused::AddressFull)
    );
    // The same address written as IPv4-mapped IPv6 is the same holder.
    assert_eq!(
        connections.admit(ip("::ffff:192.0.2.1")).err(),
        Some(Refused::AddressFull)
    );
    assert!(connections.admit(ip("192.0.2.2")).is_ok());
    drop(first);
    assert!(connections.admit(ip("192.0.2.1")).is_ok());
}

#[test]
fn an_ipv6_slash_64_is_one_address() {
    let connections = Connections::new(1, vec![]);
    let _held = connections.admit(ip("2001:db8:1:2::1")).unwrap();
    assert_eq!(
        connections.admit(ip("2001:db8:1:2:ffff::9")).err(),
        Some(Refused::AddressFull)
    );
    assert!(connections.admit(ip("2001:db8:1:3::1")).is_ok());
}

#[test]
fn trusted_proxies_are_not_limited_per_address() {
    let connections = Connections::new(1, vec![Cidr::parse("10.0.0.0/8").unwrap()]);
    let held: Vec<Conn> = (0..5)
        .map(|_| connections.admit(ip("10.1.2.3")).unwrap())
        .collect();
    assert_eq!(held.len(), 5);
}

#[test]
fn the_longest_idle_connections_are_asked_to_close_and_busy_ones_never() {
    let connections = Connections::new(10, vec![]);
    let oldest = connections.admit(ip("192.0.2.1")).unwrap();
    let busy = connections.admit(ip("192.0.2.2")).unwrap();
    let recent = connections.admit(ip("192.0.2.3")).unwrap();
    let _serving = busy.busy();
    // `oldest` was idle longest, though it served a request after `busy` opened.
    drop(oldest.busy());
    drop(recent.busy());
    assert_eq!(connections.shed_idle(1), 1);
    assert!(asked(&oldest));
    assert!(!asked(&recent) && !asked(&busy));
    // Already asked connections are not counted again; busy ones never are.
    assert_eq!(connections.shed_idle(5), 1);
    assert!(asked(&recent));
    assert!(!asked(&busy));
}

/// A connection taken over from HTTP (a WebSocket) keeps its slot and its
/// place in its address's count until the relay drops it, and is never shed
/// as idle: closing it would not free the slot it holds for HTTP.
#[test]
fn a_kept_connection_counts_until_dropped_and_is_never_shed() {
    let connections = Connections::new(1, vec![]);
    let slots = Arc::new(tokio::sync::Semaphore::new(4));
    let (_stop, stopping) = watch::channel(false);
    let conn = Arc::new(connections.admit(ip("192.0.2.1")).unwrap());
    let slot = Arc::new(slots.clone().try_acquire_owned().unwrap());
    let kept = Occupancy::new(conn, slot, stopping).keep();
    assert_eq!(connections.shed_idle(1), 0);
    assert_eq!(
        connections.admit(ip("192.0.2.1")).err(),
        Some(Refused::AddressFull)
    );
    assert_eq!(slots.available_permits(), 3);
    drop(kept);
    assert!(connections.admit(ip("192.0.2.1")).is_ok());
    assert_eq!(slots.available_permits(), 4);
}
