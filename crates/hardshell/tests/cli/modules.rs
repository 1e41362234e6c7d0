//! `hardshell module`: the owner adds, lists, verifies, updates and
//! removes signed modules from the command line, and every red line this
//! step covers is refused with one clear line and a `module_refused`
//! record, leaving the lock as it was.

use hardshell_testkit::instance::Instance;
use hardshell_testkit::modules::{Entry, PLAIN_BODY, Publisher, WASM, digest, manifest, tar_of};
use hardshell_testkit::registry::{Registry, free_port};

/// An initialised instance that trusts `publisher` (official or not) and
/// allows the module names `allow` lists (TOML; `[]`: any).
fn trusting(publisher: &Publisher, official: bool, allow: &str) -> Instance {
    let hs = Instance::initialised(crate::HARDSHELL);
    let key = publisher.public_key();
    hs.edit_config(|text| {
        let modules_allow = "allow = []                        # module names";
        assert!(text.contains(modules_allow));
        text.replacen(
            "trusted_keys = []",
            &format!(
                "trusted_keys = [{{ name = \"example\", key = \"{key}\", official = {official} }}]"
            ),
            1,
        )
        .replacen(modules_allow, &format!("allow = {allow} # module names"), 1)
    });
    hs
}

/// Writes `bytes` as a package file in the instance's directory.
fn package_file(hs: &Instance, name: &str, bytes: &[u8]) -> String {
    let path = hs.path(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

fn plain(publisher: &Publisher, name: &str, version: &str, body: &str) -> Vec<u8> {
    let files: &[(&str, &[u8])] = &[("module.wasm", WASM)];
    publisher.package(&manifest(name, version, body, files), files)
}

fn refusal_reasons(hs: &Instance) -> Vec<String> {
    hs.audit_events()
        .iter()
        .filter(|r| r["type"] == "module_refused")
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect()
}

fn listed(hs: &Instance) -> String {
    hs.run(&["module", "ls"]).ok().stdout
}

#[test]
fn a_module_is_added_listed_verified_updated_and_removed() {
    let publisher = Publisher::new();
    let hs = trusting(&publisher, true, "[]");
    let first = plain(&publisher, "web-search", "1.0.0", PLAIN_BODY);
    let first_digest = digest(&first);
    let path = package_file(&hs, "web-search-1.0.0.tar", &first);

    // Without a terminal, nothing is locked until the digest is given.
    let asked = hs.run(&["module", "add", &path]);
    let line = asked.failed_with_one_line();
    assert!(line.contains(&format!("--accept {first_digest}")), "{line}");
    assert!(
        asked_shows_everything(&hs.run(&["module", "add", &path]).stdout),
        "the review is shown before the refusal"
    );
    // A "y" piped in is not a terminal's answer.
    hs.run_with_stdin(&["module", "add", &path], b"y\n")
        .failed_with_one_line();
    assert_eq!(listed(&hs).trim(), "no modules");

    let added = hs
        .run(&["module", "add", &path, "--accept", &first_digest])
        .ok();
    assert!(asked_shows_everything(&added.stdout), "{}", added.stdout);
    assert!(
        added
            .stdout
            .contains(&format!("added web-search 1.0.0 ({first_digest})")),
        "{}",
        added.stdout
    );
    let list = listed(&hs);
    assert!(list.starts_with("web-search"), "{list}");
    assert!(
        list.contains(&first_digest) && list.contains("official"),
        "{list}"
    );
    let verified = hs.run(&["module", "verify"]).ok();
    assert!(
        verified.stdout.contains("ok      web-search 1.0.0"),
        "{}",
        verified.stdout
    );

    // An update that widens: refused without acceptance, the lock unchanged.
    let wider_body = PLAIN_BODY.replace(
        "hosts = [{ host = \"api.search.example\", methods = [\"GET\"], path_prefix = \"/v1/\" }]",
        "hosts = [{ host = \"api.search.example\", methods = [\"GET\"], path_prefix = \"/v1/\" }, \
         { host = \"collector.example\" }]",
    );
    let second = plain(&publisher, "web-search", "1.1.0", &wider_body);
    let second_digest = digest(&second);
    let second_path = package_file(&hs, "web-search-1.1.0.tar", &second);
    let unaccepted = hs.run(&["module", "update", "web-search", &second_path]);
    assert!(
        unaccepted
            .stdout
            .contains("+ adds host https://collector.example:443 any path, any method")
            && unaccepted
                .stdout
                .contains("asks for more than you accepted"),
        "{}",
        unaccepted.stdout
    );
    unaccepted.failed_with_one_line();
    let wrong = hs.run(&[
        "module",
        "update",
        "web-search",
        &second_path,
        "--accept",
        &first_digest,
    ]);
    assert!(wrong.failed_with_one_line().contains("another package"));
    assert!(listed(&hs).contains(&first_digest));

    let updated = hs
        .run(&[
            "module",
            "update",
            "web-search",
            &second_path,
            "--accept",
            &second_digest,
        ])
        .ok();
    assert!(
        updated.stdout.contains("updated web-search 1.0.0 -> 1.1.0"),
        "{}",
        updated.stdout
    );
    assert!(listed(&hs).contains(&second_digest));
    hs.run(&["module", "verify", "web-search"]).ok();

    let removed = hs.run(&["module", "rm", "web-search"]).ok();
    assert!(
        removed.stdout.starts_with("removed web-search 1.1.0"),
        "{}",
        removed.stdout
    );
    assert_eq!(listed(&hs).trim(), "no modules");
    hs.run(&["module", "rm", "web-search"])
        .failed_with_one_line();
    // A name never added is pointed out, and refuses no module.
    let line = hs
        .run(&["module", "verify", "web-search"])
        .failed_with_one_line();
    assert!(
        line.contains("no module named web-search is added"),
        "{line}"
    );

    let records = hs.audit_events();
    let kinds: Vec<&str> = records
        .iter()
        .filter_map(|r| r["type"].as_str())
        .filter(|t| t.starts_with("module_"))
        .collect();
    assert_eq!(
        kinds,
        [
            "module_refused",
            "module_refused",
            "module_refused",
            "module_added",
            "module_refused",
            "module_refused",
            "module_updated",
            "module_removed"
        ]
    );
    let update = records
        .iter()
        .find(|r| r["type"] == "module_updated")
        .unwrap();
    assert_eq!(update["previous"], first_digest.as_str());
    assert_eq!(update["package"], second_digest.as_str());
    assert_eq!(update["widened"], true);
    // Never a file's content or a manifest's text.
    let all = serde_json::to_string(&records).unwrap();
    assert!(
        !all.contains("Search the web") && !all.contains("asm"),
        "{all}"
    );
}

/// The review names the signer, its key, the digest and every capability.
fn asked_shows_everything(stdout: &str) -> bool {
    [
        "module     web-search",
        "signed by  example (key ",
        "key        sha256:",
        "package    sha256:",
        "tool       search: Search the web.",
        "reach https://api.search.example:443 paths under /v1/, methods GET",
        "use secret SEARCH_API_KEY, only toward api.search.example",
        "not see the conversation's workspace",
        "use up to 64 MiB of memory and 5000 ms a call",
    ]
    .iter()
    .all(|line| stdout.contains(line))
}

#[test]
fn every_red_line_is_refused_with_one_line_and_a_record() {
    let publisher = Publisher::new();
    let hs = trusting(&publisher, true, "[\"web-search\"]");
    let files: &[(&str, &[u8])] = &[("module.wasm", WASM)];
    let text = manifest("web-search", "1.0.0", PLAIN_BODY, files);
    let signature = publisher.sign(text.as_bytes());
    let stranger = Publisher::new();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "tampered wasm",
            publisher.package(&text, &[("module.wasm", b"\0asm\x01\0\0\0 evil")]),
            "changed after signing",
            "file_digest",
        ),
        (
            "edited manifest",
            tar_of(&[
                Entry::file(
                    "module.toml",
                    text.replace("memory_mb = 64", "memory_mb = 256").as_bytes(),
                ),
                Entry::file("module.toml.minisig", &signature),
                Entry::file("module.wasm", WASM),
            ]),
            "does not match module.toml",
            "bad_signature",
        ),
        (
            "unsigned",
            tar_of(&[
                Entry::file("module.toml", text.as_bytes()),
                Entry::file("module.wasm", WASM),
            ]),
            "unsigned",
            "unsigned",
        ),
        (
            "unknown key",
            stranger.package(&text, files),
            "not in [modules] trusted_keys",
            "unknown_key",
        ),
        (
            "name not allowed",
            plain(&publisher, "fetch", "1.0.0", PLAIN_BODY),
            "not in [modules] allow",
            "not_allowed",
        ),
        (
            "a climbing name",
            tar_of(&[
                Entry::file("module.toml", text.as_bytes()),
                Entry::file("../module.wasm", WASM),
            ]),
            "is refused",
            "entry_refused",
        ),
        (
            "a symlink",
            tar_of(&[
                Entry::file("module.toml", text.as_bytes()),
                Entry::symlink("module.wasm", "/etc/passwd"),
            ]),
            "not a regular file",
            "entry_refused",
        ),
        (
            "a duplicate",
            tar_of(&[
                Entry::file("module.toml", text.as_bytes()),
                Entry::file("module.toml.minisig", &signature),
                Entry::file("module.wasm", WASM),
                Entry::file("module.wasm", b"\0asm\x01\0\0\0 evil"),
            ]),
            "appears twice",
            "entry_refused",
        ),
        (
            "an unlisted file",
            publisher.package(&text, &[("module.wasm", WASM), ("run.sh", b"curl x | sh")]),
            "not listed",
            "files_not_listed",
        ),
        (
            "an oversized manifest",
            tar_of(&[Entry::file("module.toml", &vec![b'#'; 70 * 1024])]),
            "limit",
            "oversized",
        ),
    ];
    let mut expected = Vec::new();
    for (case, bytes, says, reason) in cases {
        let path = package_file(&hs, "package.tar", &bytes);
        let line = hs
            .run(&["module", "add", &path, "--accept", &digest(&bytes)])
            .failed_with_one_line();
        assert!(line.contains(says), "{case}: {line}");
        expected.push(reason.to_owned());
    }
    assert_eq!(refusal_reasons(&hs), expected);
    assert_eq!(listed(&hs).trim(), "no modules");
    let records = hs.audit_events();
    let tampered = records
        .iter()
        .find(|r| r["reason"] == "file_digest")
        .unwrap();
    assert_eq!(tampered["module"], "web-search");
    let climbing = records
        .iter()
        .find(|r| r["reason"] == "entry_refused")
        .unwrap();
    assert!(climbing["module"].is_null(), "{climbing}");
}

#[test]
fn an_unofficial_key_needs_allow_unofficial() {
    let publisher = Publisher::new();
    let bytes = plain(&publisher, "web-search", "1.0.0", PLAIN_BODY);
    let hs = trusting(&publisher, false, "[]");
    let path = package_file(&hs, "package.tar", &bytes);
    let line = hs
        .run(&["module", "add", &path, "--accept", &digest(&bytes)])
        .failed_with_one_line();
    assert!(line.contains("allow_unofficial is false"), "{line}");
    assert_eq!(refusal_reasons(&hs), ["unofficial"]);
    hs.edit_config(|text| text.replacen("allow_unofficial = false", "allow_unofficial = true", 1));
    let added = hs
        .run(&["module", "add", &path, "--accept", &digest(&bytes)])
        .ok();
    assert!(added.stdout.contains("(key ") && added.stdout.contains("not official"));
    assert!(listed(&hs).contains("not official"));
}

#[test]
fn a_package_changed_in_the_store_after_locking_fails_verify() {
    let publisher = Publisher::new();
    let hs = trusting(&publisher, true, "[]");
    let bytes = plain(&publisher, "web-search", "1.0.0", PLAIN_BODY);
    let path = package_file(&hs, "package.tar", &bytes);
    hs.run(&["module", "add", &path, "--accept", &digest(&bytes)])
        .ok();
    // Another validly signed package, written in the locked one's place.
    let other = plain(&publisher, "web-search", "1.0.0", PLAIN_BODY);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = hs.local_store().await;
        let hex = digest(&bytes).trim_start_matches("sha256:").to_owned();
        let key =
            hardshell_storage::ObjectKey::parse(&format!("modules/packages/{hex}.tar")).unwrap();
        store.root().put(&key, &other).await.unwrap();
    });
    let run = hs.run(&["module", "verify"]);
    assert!(
        run.stdout
            .contains("FAILED  web-search: the stored package of web-search is sha256:"),
        "{}",
        run.stdout
    );
    assert!(
        run.failed_with_one_line()
            .contains("1 of 1 modules failed verification")
    );
    assert_eq!(refusal_reasons(&hs), ["package_changed"]);
}

#[test]
fn plain_http_and_docker_sources_are_refused_and_an_unreachable_host_named() {
    let hs = trusting(&Publisher::new(), true, "[]");
    for (source, said) in [
        ("http://modules.example/web-search.tar", "over HTTPS only"),
        (
            "docker://registry.example/web-search:1",
            "or a registry reference oci://REGISTRY/REPOSITORY:TAG",
        ),
    ] {
        let line = hs.run(&["module", "add", source]).failed_with_one_line();
        assert!(line.contains(said), "{line}");
    }
    assert_eq!(refusal_reasons(&hs), ["source", "source"]);
    // Nothing listens there: the fetch fails, naming where without the
    // query, and refuses no package (there was none to record).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("https://127.0.0.1:{port}/web-search.tar?token=s3cr3t");
    let line = hs.run(&["module", "add", &url]).failed_with_one_line();
    assert!(
        line.contains(&format!(
            "cannot fetch the package from https://127.0.0.1:{port}/web-search.tar:"
        )),
        "{line}"
    );
    assert!(!line.contains("s3cr3t"), "{line}");
    assert_eq!(refusal_reasons(&hs), ["source", "source"]);
}

/// `hardshell module add` on a terminal (a pseudo-terminal from util-linux
/// `script`), answering `answer`.
fn add_at_a_terminal(hs: &Instance, path: &str, answer: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} module add {path}", crate::HARDSHELL),
            "/dev/null",
        ])
        .current_dir(hs.dir.path())
        .env_remove("HARDSHELL_MASTER_KEY")
        .env_remove("HARDSHELL_MASTER_KEY_FILE")
        .env_remove("HARDSHELL_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script, for a pseudo-terminal");
    child.stdin.take().unwrap().write_all(answer).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn at_a_terminal_the_owner_answers_and_only_yes_locks() {
    let publisher = Publisher::new();
    let hs = trusting(&publisher, true, "[]");
    let bytes = plain(&publisher, "web-search", "1.0.0", PLAIN_BODY);
    let path = package_file(&hs, "package.tar", &bytes);
    let question = format!("lock it? accept web-search ({})? [y/N]", digest(&bytes));
    for answer in [&b"\n"[..], b"n\n", b"yes please\n"] {
        let output = add_at_a_terminal(&hs, &path, answer);
        let shown = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(1), "{shown}");
        assert!(shown.contains(&question), "{shown}");
        assert!(shown.contains("you answered no"), "{shown}");
    }
    assert_eq!(listed(&hs).trim(), "no modules");
    let output = add_at_a_terminal(&hs, &path, b"y\n");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("added web-search 1.0.0"), "{shown}");
    assert!(listed(&hs).contains(&digest(&bytes)));
    assert_eq!(
        refusal_reasons(&hs),
        ["not_accepted", "not_accepted", "not_accepted"]
    );
}

/// `hardshell ARGS` trusting the test registry's CA (and only it) as the
/// system's roots.
fn run_trusting(hs: &Instance, registry: &Registry, args: &[&str]) -> std::process::Output {
    hs.command(args)
        .env("SSL_CERT_FILE", &registry.ca_file)
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap()
}

/// Its one line of error, after exit code 1.
fn one_error_line(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0].to_owned()
}

#[test]
fn a_module_from_a_registry_is_added_pinned_and_refusals_leave_the_lock() {
    let publisher = Publisher::new();
    let hs = trusting(&publisher, true, "[]");
    let registry = Registry::start();
    let bytes = plain(&publisher, "web-search", "1.0.0", PLAIN_BODY);
    let package = digest(&bytes);
    let pushed = registry.push_module(&bytes, "modules/web-search", "1.0.0");
    let source = format!("oci://{}:1.0.0", registry.repo("modules/web-search"));
    // Another package whose layer is changed in the registry after pushing.
    let other = plain(&publisher, "fetch", "1.0.0", PLAIN_BODY);
    let changed = registry.push_module(&other, "modules/fetch", "1");
    let mut tampered = other.clone();
    tampered[0] ^= 1;
    std::fs::write(registry.blob_data(&changed.layer.digest), &tampered).unwrap();

    let refusals = [
        (
            format!("oci://{}:1", registry.repo("modules/fetch")),
            "does not match its digest",
        ),
        (
            format!("oci://{}:2.0.0", registry.repo("modules/web-search")),
            "manifest not found",
        ),
        (
            format!("oci://127.0.0.1:{}/modules/web-search:1.0.0", free_port()),
            "Connection refused",
        ),
    ];
    for (refused, said) in &refusals {
        let output = run_trusting(
            &hs,
            &registry,
            &["module", "add", refused, "--accept", &package],
        );
        let line = one_error_line(&output);
        assert!(line.contains(said), "{refused}: {line}");
        assert!(line.contains(refused.as_str()), "{refused}: {line}");
    }
    assert_eq!(listed(&hs).trim(), "no modules");
    // The changed layer is a refusal; a tag or a registry not found refuses
    // no package.
    assert_eq!(refusal_reasons(&hs), ["source"]);

    let added = run_trusting(
        &hs,
        &registry,
        &["module", "add", &source, "--accept", &package],
    );
    let stdout = String::from_utf8_lossy(&added.stdout);
    assert!(
        added.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(
        stdout.contains(&format!("pulled     {source}@{}", pushed.manifest.digest)),
        "{stdout}"
    );
    assert!(asked_shows_everything(&stdout), "{stdout}");
    assert!(
        stdout.contains(&format!("added web-search 1.0.0 ({package})")),
        "{stdout}"
    );
    assert!(listed(&hs).contains(&package));

    // The same artifact by digest is the same package: nothing to update.
    let pinned = format!(
        "oci://{}@{}",
        registry.repo("modules/web-search"),
        pushed.manifest.digest
    );
    let same = run_trusting(&hs, &registry, &["module", "update", "web-search", &pinned]);
    assert!(same.status.success());
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("is already this package"),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
}

#[test]
fn a_registry_credential_comes_from_a_secret() {
    let publisher = Publisher::new();
    let hs = trusting(&publisher, true, "[]");
    let registry = Registry::with_basic_auth("publisher", "s3cr3t-password");
    let bytes = plain(&publisher, "web-search", "1.0.0", PLAIN_BODY);
    let package = digest(&bytes);
    registry.push_module(&bytes, "modules/web-search", "1");
    let source = format!("oci://{}:1", registry.repo("modules/web-search"));

    let anonymous = run_trusting(
        &hs,
        &registry,
        &["module", "add", &source, "--accept", &package],
    );
    let line = one_error_line(&anonymous);
    assert!(line.contains("refused the credentials"), "{line}");
    assert!(line.contains("--credential secret:NAME"), "{line}");
    hs.run_with_stdin(&["secret", "put", "REGISTRY"], b"publisher:s3cr3t-password")
        .ok();
    let args = [
        "module",
        "add",
        &source,
        "--credential",
        "secret:REGISTRY",
        "--accept",
        &package,
    ];
    let path = package_file(&hs, "web-search.tar", &bytes);
    let line = hs
        .run(&["module", "add", &path, "--credential", "secret:REGISTRY"])
        .failed_with_one_line();
    assert!(line.contains("for oci:// sources only"), "{line}");
    let added = run_trusting(&hs, &registry, &args);
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&added.stdout),
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(added.status.success(), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(listed(&hs).contains(&package));
}

/// The admin page's parts: the running edge shows the lock as accepted (what
/// the module may do, its tools), read from the store when asked.
#[test]
fn the_admin_page_shows_the_accepted_module_and_what_it_may_do() {
    let publisher = Publisher::new();
    let hs = trusting(&publisher, true, "[]");
    let package = plain(&publisher, "web-search", "1.0.0", PLAIN_BODY);
    let path = package_file(&hs, "web-search-1.0.0.tar", &package);
    hs.run(&["module", "add", &path, "--accept", &digest(&package)])
        .ok();
    let admin = hs
        .run(&["token", "create", "--name", "page", "--scope", "admin"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    hs.edit_config(|text| text.replace("127.0.0.1:8787", "127.0.0.1:0"));
    let mut command = hs.command(&["up"]);
    command.stdout(std::process::Stdio::null());
    let mut up =
        hardshell_testkit::instance::Up::start(command, std::time::Duration::from_secs(60));
    let parts: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("http://{}/admin/parts", up.addr))
        .bearer_auth(&admin)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let _ = up.child.kill();
    let _ = up.child.wait();
    let modules = parts["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|part| part["name"] == "modules")
        .unwrap_or_else(|| panic!("{parts}"));
    let locked = &modules["status"]["modules"];
    assert_eq!(locked.as_array().unwrap().len(), 1, "{parts}");
    assert_eq!(locked[0]["name"], "web-search");
    assert_eq!(locked[0]["version"], "1.0.0");
    assert_eq!(locked[0]["package"], digest(&package));
    assert_eq!(
        locked[0]["capabilities"]["hosts"][0]["host"], "api.search.example",
        "{parts}"
    );
    assert!(
        !locked[0]["tools"].as_array().unwrap().is_empty(),
        "{parts}"
    );
    // No workload runs here: its part is not shown.
    assert!(
        parts["parts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|part| part["name"] != "workload")
    );
}
