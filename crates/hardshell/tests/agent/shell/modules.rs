//! The locked modules under `hardshell up`: each module's tools offered to
//! the agent in its settings, a call through the control socket (as the
//! agent makes it) run in the module's shell and recorded without its
//! arguments; what the agent names is checked against the lock; a module
//! whose stored package changed is left out at the next start and recorded
//! as refused.

use hardshell_testkit::modules::{Publisher, digest, guest, manifest};

use super::*;

const MODULES: &str = "[agent]\nturn_timeout_secs = 300\n[llm]\nchain = []\n";

/// The echo guest's tools and a compute-only grant.
const ECHO_BODY: &str = r#"[[tools]]
name = "add"
description = "Adds a and b."
parameters = { type = "object", properties = { a = { type = "number" }, b = { type = "number" } } }

[[tools]]
name = "refuse"
description = "Always refuses."
parameters = { type = "object" }

[capabilities]
memory_mb = 32
timeout_ms = 5000"#;

/// An instance trusting `publisher`, with the echo guest added and locked.
fn with_echo_module(publisher: &Publisher) -> (Instance, String) {
    let key = publisher.public_key();
    let hs = instance(&format!(
        "{MODULES}[modules]\ntrusted_keys = [{{ name = \"example\", key = \"{key}\", official = true }}]\n"
    ));
    let wasm = guest("echo");
    let files: &[(&str, &[u8])] = &[("module.wasm", &wasm)];
    let package = publisher.package(&manifest("echo", "1.0.0", ECHO_BODY, files), files);
    let path = hs.path("echo.tar");
    std::fs::write(&path, &package).unwrap();
    let digest = digest(&package);
    hs.run(&["module", "add", path.to_str().unwrap(), "--accept", &digest])
        .ok();
    (hs, digest)
}

fn call(hs: &Instance, body: &serde_json::Value) -> serde_json::Value {
    let (status, answer) = control(&socket(hs), "/modules/v1/call", body);
    assert_eq!(status, 200, "{answer}");
    answer
}

/// `GET /agent/v1/settings`, as the agent reads it.
fn settings(hs: &Instance) -> serde_json::Value {
    let mut stream = UnixStream::connect(socket(hs)).unwrap();
    stream
        .write_all(
            b"GET /agent/v1/settings HTTP/1.1\r\nHost: hardshell-edge\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

#[test]
fn a_locked_modules_tools_are_offered_run_in_its_shell_and_recorded_without_arguments() {
    let publisher = Publisher::new();
    let (hs, package) = with_echo_module(&publisher);
    let token = token(&hs);
    let running = Running::start(&hs);
    let session = new_session(&running, &token);

    let offered = settings(&hs)["modules"].clone();
    let names: Vec<&str> = offered
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo__add", "echo__refuse"], "{offered}");
    assert_eq!(offered[0]["description"], "Adds a and b.");

    let answer = call(
        &hs,
        &serde_json::json!({"session": session, "module": "echo", "tool": "add", "arguments": {"a": 20, "b": 22}}),
    );
    assert_eq!(
        answer,
        serde_json::json!({"status": "answered", "text": "42"})
    );
    let answer = call(
        &hs,
        &serde_json::json!({"session": session, "module": "echo", "tool": "refuse", "arguments": {}}),
    );
    assert_eq!(answer["failure"], "tool", "{answer}");

    // What the agent names is checked against the lock before anything
    // runs or is recorded.
    for (module, tool, session) in [
        ("echo", "count", session.as_str()),
        ("other", "add", session.as_str()),
        ("../echo", "add", session.as_str()),
        ("echo", "add", "not a session/.."),
    ] {
        let answer = call(
            &hs,
            &serde_json::json!({"session": session, "module": module, "tool": tool, "arguments": {"a": 1, "b": 2}}),
        );
        assert_eq!(answer["failure"], "refused", "{module} {tool}: {answer}");
    }
    let answer = call(
        &hs,
        &serde_json::json!({"session": session, "module": "echo", "tool": "add", "arguments": [1, 2]}),
    );
    assert_eq!(answer["failure"], "refused", "{answer}");

    // The module's host runs in a shell of its own: under the edge, every
    // layer on, in namespaces of its own, no id of the host's root.
    // It is the module host program the binary carries, not the binary.
    let host = argument_pid(&running, 0, "/opt/hardshell/module-host")
        .expect("a module host process under the edge");
    let program = std::fs::read_link(format!("/proc/{host}/exe")).unwrap();
    assert_eq!(program, Path::new("/opt/hardshell/module-host"));
    assert_eq!(
        std::fs::read(format!("/proc/{host}/exe")).unwrap(),
        std::fs::read(env!("HARDSHELL_MODULE_HOST_IMAGE")).unwrap()
    );
    assert_eq!(status_field(host, "NoNewPrivs"), "1");
    assert_eq!(status_field(host, "Seccomp"), "2");
    assert_eq!(status_field(host, "CapEff"), "0000000000000000");
    let uid = status_field(host, "Uid");
    assert!(uid.split_whitespace().all(|id| id != "0"), "{uid}");
    for kind in ["user", "mnt", "pid", "net"] {
        assert_ne!(namespace(host, kind), namespace("self", kind), "{kind}");
    }
    let root = PathBuf::from(format!("/proc/{host}/root"));
    assert!(root.join("module/module.wasm").is_file());
    assert!(
        !root
            .join(hs.path("data").strip_prefix("/").unwrap())
            .exists()
    );

    running.stop();
    let records = audit_records(&hs);
    let calls: Vec<&serde_json::Value> = records
        .iter()
        .map(|r| &r["event"])
        .filter(|event| event["type"] == "module_called")
        .collect();
    assert_eq!(calls.len(), 2, "{records:?}");
    assert_eq!(calls[0]["module"], "echo");
    assert_eq!(calls[0]["tool"], "add");
    assert_eq!(calls[0]["package"], package.as_str());
    assert_eq!(calls[0]["session"], session.as_str());
    assert_eq!(calls[0]["outcome"], "answered");
    assert_eq!(calls[1]["outcome"], "tool");
    let all = serde_json::to_string(&records).unwrap();
    // Neither the arguments nor the answer.
    assert!(
        !all.contains("\"a\":20") && !all.contains("arguments") && !all.contains("\"text\""),
        "{all}"
    );
}

#[test]
fn a_module_whose_stored_package_changed_is_left_out_and_recorded() {
    let publisher = Publisher::new();
    let (hs, package) = with_echo_module(&publisher);
    // Another validly signed package, written in the locked one's place
    // in the state store.
    let wasm = guest("echo");
    let files: &[(&str, &[u8])] = &[("module.wasm", &wasm)];
    let other = publisher.package(&manifest("echo", "1.0.1", ECHO_BODY, files), files);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = hs.local_store().await;
        let hex = package.trim_start_matches("sha256:").to_owned();
        let key =
            hardshell_storage::ObjectKey::parse(&format!("modules/packages/{hex}.tar")).unwrap();
        store.root().put(&key, &other).await.unwrap();
    });
    let token = token(&hs);
    let running = Running::start(&hs);
    let session = new_session(&running, &token);
    assert!(settings(&hs).get("modules").is_none(), "{}", settings(&hs));
    let answer = call(
        &hs,
        &serde_json::json!({"session": session, "module": "echo", "tool": "add", "arguments": {"a": 1, "b": 2}}),
    );
    assert_eq!(answer["failure"], "refused", "{answer}");
    running.stop();
    let refused: Vec<serde_json::Value> = audit_records(&hs)
        .into_iter()
        .map(|r| r["event"].clone())
        .filter(|event| event["type"] == "module_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["module"], "echo");
    assert_eq!(refused[0]["reason"], "package_changed");
}
