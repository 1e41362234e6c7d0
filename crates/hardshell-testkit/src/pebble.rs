//! Let's Encrypt's test ACME server, Debian's `pebble`, on loopback, with
//! `pebble-challtestsrv` as its DNS: every name resolves to 127.0.0.1 unless
//! a test says otherwise ([`Pebble::resolve`]). Its validation connects to
//! the port the test names, where the edge under test listens. Both are
//! stopped by their pids when it is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

const HOW: &str = "run the suite with scripts/test, which installs Debian's pebble";

pub struct Pebble {
    pebble: Child,
    dns: Child,
    dir: tempfile::TempDir,
    port: u16,
    management: u16,
    dns_management: u16,
}

impl Pebble {
    /// Pebble validating TLS-ALPN-01 on `tls_port` of whatever a name
    /// resolves to, issuing certificates valid for `validity`.
    pub fn start(tls_port: u16, validity: Duration) -> Self {
        Self::start_with(tls_port, free_port(), validity)
    }

    /// Like [`Pebble::start`], validating HTTP-01 on `http_port`.
    pub fn start_with(tls_port: u16, http_port: u16, validity: Duration) -> Self {
        for program in ["/usr/bin/pebble", "/usr/bin/pebble-challtestsrv"] {
            assert!(Path::new(program).exists(), "{program} is missing: {HOW}");
        }
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::test_pki("hardshell pebble test CA");
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &pki.cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &pki.key_pem).unwrap();
        let (port, management, dns_port, dns_management) =
            (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": dir.path().join("cert.pem"),
                "privateKey": dir.path().join("key.pem"),
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "certificateValidityPeriod": validity.as_secs(),
            }
        });
        std::fs::write(dir.path().join("pebble.json"), config.to_string()).unwrap();
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let dns = Command::new("/usr/bin/pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .stdout(log("dns.log"))
            .stderr(log("dns.err"))
            .spawn()
            .unwrap();
        let pebble = Command::new("/usr/bin/pebble")
            .arg("-config")
            .arg(dir.path().join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            // No random sleep before validating, no nonce refused at random,
            // and every order proven afresh (a renewal too).
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .unwrap();
        let pebble = Self {
            pebble,
            dns,
            dir,
            port,
            management,
            dns_management,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pebble.curl(&pebble.directory(), &[]).status.success() {
            assert!(
                Instant::now() < deadline,
                "pebble did not answer within 30 s: {}",
                pebble.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        pebble
    }

    /// The directory URL an ACME client starts from.
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// The CA of pebble's own HTTPS (not of what it issues).
    pub fn https_ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The root of the certificates pebble issues (new at each start).
    pub fn issuing_root_pem(&self) -> String {
        let url = format!("https://127.0.0.1:{}/roots/0", self.management);
        let output = self.curl(&url, &[]);
        assert!(output.status.success(), "{url}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// Makes `host` resolve to `address` (pebble's validation then connects there).
    pub fn resolve(&self, host: &str, address: &str) {
        let body = serde_json::json!({ "host": host, "addresses": [address] }).to_string();
        let output = Command::new("curl")
            .args(["--silent", "--fail", "--max-time", "10", "--data", &body])
            .arg(format!("http://127.0.0.1:{}/add-a", self.dns_management))
            .output()
            .unwrap();
        assert!(output.status.success(), "add-a {host}: {output:?}");
    }

    /// What pebble and its DNS wrote.
    pub fn log(&self) -> String {
        ["pebble.log", "pebble.err", "dns.log", "dns.err"]
            .iter()
            .map(|name| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn curl(&self, url: &str, extra: &[&str]) -> Output {
        Command::new("curl")
            .args(["--silent", "--fail", "--max-time", "10", "--cacert"])
            .arg(self.https_ca())
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Stops pebble (by its pid), keeping its DNS.
    pub fn stop(&mut self) {
        let _ = self.pebble.kill();
        let _ = self.pebble.wait();
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in [&mut self.pebble, &mut self.dns] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
