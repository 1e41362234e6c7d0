//! A web site in a network namespace of the test's own: the browser tests'
//! destination, reached from the host over a veth pair with a private
//! address (so the broker's address guard needs `[dangerous]
//! browser_internal` to let it through), and never on the host's loopback.
//! Made with `ip` (iproute2); needs root, and fails saying so.

use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The port the site listens on inside its namespace: HTTP's own, the one
/// the browser's broker allows besides 443.
pub const SITE_PORT: u16 = 80;

/// The test site (`scripts/test-site.py`) served in a namespace of its own;
/// the server is stopped by its pid and the namespace and its link deleted
/// when dropped.
#[derive(Debug)]
pub struct NetnsSite {
    namespace: String,
    host_link: String,
    /// The site's address, inside the namespace.
    pub address: Ipv4Addr,
    /// The host's end of the link, the /30's other address.
    pub host_address: Ipv4Addr,
    server: Child,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip is missing ({e}): install iproute2"));
    assert!(
        out.status.success(),
        "ip {}: {} (the browser tests make a network namespace: run them as root)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

impl NetnsSite {
    /// Serves `script` (the test site) in a fresh namespace; returns once it
    /// accepts connections.
    pub fn serve(script: &Path) -> Self {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let made = MADE.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // A /30 per site, from the pid and a counter: parallel tests and
        // processes get their own.
        let slot = ((pid % 4096) * 16 + made % 16) * 4;
        let octets = [10, 128 + (slot >> 16) as u8, (slot >> 8) as u8, slot as u8];
        let host_address = Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3] + 1);
        let address = Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3] + 2);
        let namespace = format!("hs-site-{pid}-{made}");
        // Interface names are at most 15 bytes.
        let host_link = format!("hsh{}x{made}", pid % 100_000);
        let inner_link = format!("hsn{}x{made}", pid % 100_000);
        ip(&["netns", "add", &namespace]);
        let mut site = Self {
            namespace,
            host_link,
            address,
            host_address,
            server: Command::new("true")
                .spawn()
                .unwrap_or_else(|e| panic!("true: {e}")),
        };
        let ns = site.namespace.clone();
        ip(&[
            "link",
            "add",
            &site.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &inner_link,
        ]);
        ip(&["link", "set", &inner_link, "netns", &ns]);
        ip(&[
            "addr",
            "add",
            &format!("{host_address}/30"),
            "dev",
            &site.host_link,
        ]);
        ip(&["link", "set", &site.host_link, "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{address}/30"),
            "dev",
            &inner_link,
        ]);
        ip(&["-n", &ns, "link", "set", &inner_link, "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        let _ = site.server.wait();
        site.server = Command::new("ip")
            .args(["netns", "exec", &ns, "python3"])
            .arg(script)
            .args([address.to_string(), SITE_PORT.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 {}: {e}", script.display()));
        let started = Instant::now();
        let at = SocketAddrV4::new(address, SITE_PORT);
        while TcpStream::connect_timeout(&at.into(), Duration::from_millis(200)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the test site never listened on {at}"
            );
            if let Ok(Some(status)) = site.server.try_wait() {
                panic!("the test site ended: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        site
    }

    /// `http://<address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The /30 the site is in, for `[dangerous] browser_internal`.
    pub fn cidr(&self) -> String {
        let [a, b, c, d] = self.address.octets();
        format!("{a}.{b}.{c}.{}/30", d & !3)
    }
}

impl Drop for NetnsSite {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.namespace])
            .status();
    }
}
