//! The shell's two forwarders, threads of the reaper (pid 1), never of the
//! workload:
//!
//! - outbound ([`outbound`]): the shell's `127.0.0.1:<port>`, bound before the
//!   workload exists, relayed to the broker's unix socket (a path inside the
//!   shell);
//! - inbound ([`inbound`]): a unix listener the supervisor passed in (bound
//!   outside, in a directory only the edge can reach), relayed to the
//!   workload's own `127.0.0.1:<port>` inside the shell's network namespace.
//!   Nothing listens on the host's network; the workload never holds the
//!   listener (it closes every inherited descriptor before exec).
//!
//! Both copy bytes and decide nothing: the broker and the edge, outside, do.
//! Both are bounded the same way: at most [`MAX_FORWARDED`] connections at
//! once, more are closed as they come; a connection that cannot get its
//! threads (the shell is at its process limit, which counts threads) is
//! closed, and the next is tried afresh.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Connections relayed at once, each way; more are closed as they come.
pub(crate) const MAX_FORWARDED: usize = 64;

/// Relays each connection to the shell's loopback port to the broker's unix
/// socket at `to`. It lives as long as the shell, whatever the workload does.
pub(crate) fn outbound(listener: &TcpListener, to: &Path) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok(tcp) = accept_tcp(listener) else {
            continue;
        };
        let Some(slot) = Slot::take(&active) else {
            continue;
        };
        let Ok(unix) = UnixStream::connect(to) else {
            continue;
        };
        start(slot, tcp, unix);
    }
}

/// Relays each connection to the passed unix listener to the workload's
/// `127.0.0.1:port`. A connection made while nothing listens there (the
/// workload is starting, or has died) is closed at once: its client reads
/// end of file before any byte, and may try again.
pub(crate) fn inbound(listener: &UnixListener, port: u16) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((unix, _)) = listener.accept() else {
            continue;
        };
        let Some(slot) = Slot::take(&active) else {
            continue;
        };
        let Ok(tcp) = connect_tcp(port) else {
            continue;
        };
        start(slot, tcp, unix);
    }
}

/// On failure the closure, and with it both sockets and the slot, is
/// dropped: the connection ends, the forwarder goes on.
fn start(slot: Slot, tcp: TcpStream, unix: UnixStream) {
    let _ = spawn_relay(move || {
        let _slot = slot;
        relay(tcp, unix);
    });
}

/// The next connection, ready to relay. The relay copies what arrives as it
/// arrives, so a reply comes in many small writes; with Nagle's algorithm each
/// small write after the first waits for the peer's delayed ACK (~40 ms on
/// Linux), which is what every model call paid before this was set.
pub(crate) fn accept_tcp(listener: &TcpListener) -> io::Result<TcpStream> {
    let (tcp, _) = listener.accept()?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// The workload's port, with `TCP_NODELAY` for the same reason.
fn connect_tcp(port: u16) -> io::Result<TcpStream> {
    let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// One relayed connection, counted while it lives.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Option<Self> {
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_FORWARDED {
            active.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(active.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A relay thread; an error where the shell has no thread to give.
pub(crate) fn spawn_relay(
    run: impl FnOnce() + Send + 'static,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("forward".into())
        .spawn(run)
}

/// Copies both ways until either side is done; the second direction gets a
/// thread of its own, and without one the connection is closed.
fn relay(tcp: TcpStream, unix: UnixStream) {
    let (Ok(mut tcp_in), Ok(mut unix_in)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let (mut tcp_out, mut unix_out) = (tcp, unix);
    let Ok(upstream) = spawn_relay(move || {
        let _ = io::copy(&mut tcp_in, &mut unix_out);
        let _ = unix_out.shutdown(std::net::Shutdown::Write);
    }) else {
        return;
    };
    let _ = io::copy(&mut unix_in, &mut tcp_out);
    let _ = tcp_out.shutdown(std::net::Shutdown::Write);
    let _ = upstream.join();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn a_forwarded_connection_sends_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let accepted = accept_tcp(&listener).unwrap();
        // The relay writes a reply as it arrives, in pieces: with Nagle's
        // algorithm on, each piece after the first waits for a delayed ACK.
        assert!(accepted.nodelay().unwrap());
        drop(client);
    }

    #[test]
    fn inbound_relays_a_unix_connection_to_the_port_both_ways() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.sock");
        let unix = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || inbound(&unix, port));
        let echo = std::thread::spawn(move || {
            let (mut tcp, _) = server.accept().unwrap();
            // The forwarder's side of the connection has no Nagle delay.
            let mut request = [0u8; 4];
            tcp.read_exact(&mut request).unwrap();
            tcp.write_all(b"pong").unwrap();
            request
        });
        let mut client = UnixStream::connect(&path).unwrap();
        client.write_all(b"ping").unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"pong");
        assert_eq!(&echo.join().unwrap(), b"ping");
    }

    #[test]
    fn inbound_closes_a_connection_when_nothing_listens_on_the_port() {
        // A port that was free a moment ago: nothing listens on it.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.sock");
        let unix = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || inbound(&unix, port));
        let mut client = UnixStream::connect(&path).unwrap();
        let mut reply = Vec::new();
        // End of file, with nothing: not a hang.
        assert_eq!(client.read_to_end(&mut reply).unwrap(), 0);
    }

    #[test]
    fn inbound_relays_at_most_64_at_once_and_goes_on_when_one_ends() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        // Greets each connection, then holds it until the forwarder closes
        // its side.
        std::thread::spawn(move || {
            for tcp in server.incoming() {
                let mut tcp = tcp.unwrap();
                std::thread::spawn(move || {
                    let _ = tcp.write_all(b"ok");
                    let _ = tcp.read_to_end(&mut Vec::new());
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.sock");
        let unix = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || inbound(&unix, port));
        let greeted = |client: &mut UnixStream| {
            let mut greeting = [0u8; 2];
            client.read_exact(&mut greeting).is_ok() && greeting == *b"ok"
        };
        let mut held: Vec<UnixStream> = (0..MAX_FORWARDED)
            .map(|_| {
                let mut client = UnixStream::connect(&path).unwrap();
                assert!(greeted(&mut client));
                client
            })
            .collect();
        // One more is closed at once, with nothing.
        let mut over = UnixStream::connect(&path).unwrap();
        // (Relayed, it would be greeted and then held: fail, not hang.)
        over.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut reply = Vec::new();
        assert_eq!(over.read_to_end(&mut reply).unwrap(), 0);
        // One ends; its slot comes back (once both its threads are done).
        drop(held.pop());
        loop {
            let mut client = UnixStream::connect(&path).unwrap();
            if greeted(&mut client) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
