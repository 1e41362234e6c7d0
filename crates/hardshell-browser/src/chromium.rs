//! How a session's Chromium is started: its command line and its managed
//! policies, the paths it uses inside its shell.
//!
//! None of this is the boundary. A CDP client can undo a flag
//! (`Target.createBrowserContext { proxyServer: "direct://" }` connects
//! around `--proxy-server`, checked on Debian's Chromium 156), so what the
//! browser can reach is decided by its shell's network namespace, which holds
//! nothing but the forwarder to its broker. The flags keep an honest browser
//! from trying what the namespace would refuse anyway (quietly, and without
//! filling the audit log with Google's update checks), and the policies
//! refuse what a CDP call could otherwise ask of the browser itself: to open
//! `file://` or `chrome://` pages.

use serde_json::{Value, json};

/// The port Chromium's DevTools server listens on, on its shell's own
/// loopback (reached only through the shell's inbound forwarder).
pub const DEVTOOLS_PORT: u16 = 9222;

/// Where the browser's profile lives inside its shell: on the shell's
/// `/tmp`, a tmpfs of the session's own, gone when the shell ends.
pub const PROFILE_DIR: &str = "/tmp/profile";

/// The session's downloads directory inside its shell, the only one a
/// client may name (`Browser.setDownloadBehavior` is pinned to it).
pub const DOWNLOAD_DIR: &str = "/tmp/downloads";

/// The only directory a client may take files from for a file input
/// (`DOM.setFileInputFiles`); empty unless something of the session's own
/// put files there.
pub const UPLOAD_DIR: &str = "/tmp/uploads";

/// Where Debian's Chromium reads its managed policies: the shell binds a
/// directory of hardshell's over `/etc/chromium` holding
/// `policies/managed/hardshell.json`.
pub const POLICY_ROOT: &str = "/etc/chromium";
/// The managed policy file, relative to [`POLICY_ROOT`].
pub const POLICY_FILE: &str = "policies/managed/hardshell.json";

/// Chromium's command line: the program, then `flags(proxy_port)`, then the
/// first page.
pub fn argv(program: &str, proxy_port: u16) -> Vec<String> {
    let mut argv = vec![program.to_owned()];
    argv.extend(flags(proxy_port));
    argv.push("about:blank".to_owned());
    argv
}

/// The flags, each with why.
fn flags(proxy_port: u16) -> Vec<String> {
    let owned = |flags: &[&str]| flags.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>();
    let mut flags = owned(&[
        "--headless",
        // Chromium's own first layer (a user and pid namespace per
        // renderer) needs unprivileged user namespaces, which every shell
        // denies (seccomp: a new user namespace hands its process
        // capabilities over new mount and network namespaces, the kernel's
        // most exploited surface), or a setuid helper, which `no_new_privs`
        // disables. The shell is that layer instead: one browser per
        // session, in namespaces of its own, with nothing of the host but
        // its system directories read-only and no way out but its broker.
        // What a renderer exploit reaches is that session's browser.
        "--no-sandbox",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-domain-reliability",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-breakpad",
        "--no-pings",
        "--metrics-recording-only",
        "--password-store=basic",
        // UDP has no way out of the shell; QUIC would only fail and retry.
        "--disable-quic",
        // WebRTC only over the proxy (TCP): no UDP, no local addresses
        // offered to a page.
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        // Without this, Chromium sends loopback and link-local traffic
        // around the proxy.
        "--proxy-bypass-list=<-loopback>",
        // The browser resolves no name itself: the broker resolves, checks
        // the address and dials it.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--remote-debugging-address=127.0.0.1",
    ]);
    flags.push(format!("--remote-debugging-port={DEVTOOLS_PORT}"));
    flags.push(format!("--user-data-dir={PROFILE_DIR}"));
    flags.push(format!("--proxy-server=http://127.0.0.1:{proxy_port}"));
    flags
}

/// The managed policies (`/etc/chromium/policies/managed/hardshell.json`).
/// `URLBlocklist` also stops navigations a CDP client starts (`Page.navigate`
/// to `file:///etc/passwd` is `ERR_BLOCKED_BY_ADMINISTRATOR`), behind the
/// proxy's own refusal of such URLs.
pub fn managed_policy() -> Value {
    json!({
        "URLBlocklist": [
            "file://*",
            "chrome://*",
            "chrome-untrusted://*",
            "chrome-extension://*",
            "chrome-search://*",
            "devtools://*",
            "view-source:*",
            "filesystem:*",
        ],
        // Nothing a client could take a downloaded file out of the session
        // with exists (no CDP method reads files), so downloads are refused
        // outright; `setDownloadBehavior` is still pinned to the session's
        // own directory.
        "DownloadRestrictions": 3,
        "NetworkPredictionOptions": 2,
        "QuicAllowed": false,
        "WebRtcIPHandling": "disable_non_proxied_udp",
        "BuiltInDnsClientEnabled": false,
        "DnsOverHttpsMode": "off",
        "PasswordManagerEnabled": false,
        "AutofillAddressEnabled": false,
        "AutofillCreditCardEnabled": false,
        "BrowserSignin": 0,
        "SyncDisabled": true,
        "MetricsReportingEnabled": false,
        "SpellCheckServiceEnabled": false,
        "TranslateEnabled": false,
        "SearchSuggestEnabled": false,
        "BackgroundModeEnabled": false,
        "ComponentUpdatesEnabled": false,
        "ExtensionInstallBlocklist": ["*"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_is_the_shells_forwarder_and_nothing_bypasses_it() {
        let argv = argv("/usr/lib/chromium/chromium", 3128);
        assert_eq!(argv[0], "/usr/lib/chromium/chromium");
        assert_eq!(argv.last().map(String::as_str), Some("about:blank"));
        for expected in [
            "--proxy-server=http://127.0.0.1:3128",
            "--proxy-bypass-list=<-loopback>",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--disable-quic",
            "--remote-debugging-port=9222",
            "--remote-debugging-address=127.0.0.1",
            "--user-data-dir=/tmp/profile",
        ] {
            assert!(argv.iter().any(|flag| flag == expected), "{expected}");
        }
        // A flag that would let a web page drive the browser is never set.
        assert!(
            !argv
                .iter()
                .any(|flag| flag.starts_with("--remote-allow-origins"))
        );
    }

    #[test]
    fn the_policy_blocks_local_schemes_and_downloads() {
        let policy = managed_policy();
        let blocked: Vec<&str> = policy["URLBlocklist"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for scheme in ["file://*", "chrome://*", "devtools://*"] {
            assert!(blocked.contains(&scheme), "{scheme}");
        }
        assert_eq!(policy["DownloadRestrictions"], 3);
    }
}
