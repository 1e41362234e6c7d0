//! Module tools in a real turn: a scripted model (the adversary: it calls
//! what it is told) calls a locked module's tool through the agent, the
//! edge runs it in the module's shell, and the model reads the answer
//! framed as untrusted module output. A module that read a page makes the
//! conversation's commands wait for the owner, as browsing does.

use hardshell_testkit::browser::script;
use hardshell_testkit::instance::Instance;
use hardshell_testkit::modules::{Publisher, digest, guest, manifest};
use hardshell_testkit::netns::NetnsSite;
use serde_json::json;

use crate::running::{Running, audit_records, first_turn, instance};
use crate::scripted::{Step, scripted_provider};

const ECHO_BODY: &str = r#"[[tools]]
name = "add"
description = "Adds a and b."
parameters = { type = "object", properties = { a = { type = "number" }, b = { type = "number" } } }

[capabilities]
memory_mb = 32
timeout_ms = 5000"#;

/// The hostile guest's `fetch`, granted GET on the site's `/inject` page.
const FETCHER_BODY: &str = r#"[[tools]]
name = "fetch"
description = "Reads a page."
parameters = { type = "object", properties = { url = { type = "string" } } }

[capabilities]
hosts = [{ host = "@SITE@", port = 80, scheme = "http", methods = ["GET"], path_prefix = "/inject" }]
memory_mb = 32
timeout_ms = 10000"#;

/// Signs `body` as module `name` with the guest `guest_name`'s component
/// and adds it, accepted by its digest.
fn add_module(hs: &Instance, publisher: &Publisher, name: &str, guest_name: &str, body: &str) {
    let wasm = guest(guest_name);
    let files: &[(&str, &[u8])] = &[("module.wasm", &wasm)];
    add_package(
        hs,
        publisher,
        name,
        &manifest(name, "1.0.0", body, files),
        &wasm,
    );
}

/// Signs `module_toml` (which lists `wasm` as its `module.wasm`) and adds
/// it as `name`, accepted by its digest; what `module add` printed.
pub(crate) fn add_package(
    hs: &Instance,
    publisher: &Publisher,
    name: &str,
    module_toml: &str,
    wasm: &[u8],
) -> String {
    let files: &[(&str, &[u8])] = &[("module.wasm", wasm)];
    let package = publisher.package(module_toml, files);
    let path = hs.path(&format!("{name}.tar"));
    std::fs::write(&path, &package).unwrap();
    hs.run(&[
        "module",
        "add",
        path.to_str().unwrap(),
        "--accept",
        &digest(&package),
    ])
    .ok()
    .stdout
}

/// `(module, tool, outcome)` of every `module_called` record of `hs`.
pub(crate) fn module_calls(hs: &Instance) -> Vec<(String, String, String)> {
    audit_records(hs)
        .iter()
        .map(|record| &record["event"])
        .filter(|event| event["type"] == "module_called")
        .map(|event| {
            let field = |name: &str| event[name].as_str().unwrap_or_default().to_owned();
            (field("module"), field("tool"), field("outcome"))
        })
        .collect()
}

/// An instance whose scripted model is at `model_url`, whose exec asks for
/// commands, trusting `publisher`, the test site's network reachable.
fn scripted_instance(model_url: &str, publisher: &Publisher, site: &NetnsSite) -> Instance {
    let key = publisher.public_key();
    let hs = instance(&format!(
        "[agent]\nmax_tokens = 64\nturn_timeout_secs = 300\n[llm]\nchain = [\"stub/scripted\"]\n\
         [llm.providers.stub]\nkind = \"openai\"\nbase_url = \"{model_url}\"\napi_key = \"env:HARDSHELL_TEST_LLM_KEY\"\n\
         [exec]\napproval = \"ask\"\nallow = [\"echo\"]\napproval_timeout_secs = 3\n\
         [shell]\nworkspace_mb = 16\nworkspace_inodes = 1024\n\
         [modules]\ntrusted_keys = [{{ name = \"example\", key = \"{key}\", official = true }}]\n"
    ));
    let cidr = site.cidr();
    hs.edit_config(|text| {
        text.replacen(
            "egress_internal = []",
            &format!("egress_internal = [\"{cidr}\"]"),
            1,
        )
    });
    hs
}

#[test]
fn the_model_calls_a_module_tool_reads_it_as_untrusted_and_a_read_page_holds_its_commands() {
    let site = NetnsSite::serve(&script("test-site.py"));
    let (model_url, model_seen) = scripted_provider(vec![
        Step::call("echo__add", json!({ "a": 20, "b": 22 })),
        Step::call("fetcher__fetch", json!({ "url": site.url("/inject") })),
        Step::call("exec", json!({ "command": "echo pwned > pwned.txt" })),
        Step::say("Done."),
    ]);
    let publisher = Publisher::new();
    let hs = scripted_instance(&model_url, &publisher, &site);
    add_module(&hs, &publisher, "echo", "echo", ECHO_BODY);
    let fetcher = FETCHER_BODY.replace("@SITE@", &site.address.to_string());
    add_module(&hs, &publisher, "fetcher", "hostile", &fetcher);

    let running = Running::start(&hs);
    let (session, events) = first_turn(&hs, &running, "Add 20 and 22, then read the notes.");
    let named = |name: &'static str| events.iter().filter(move |(n, _)| n == name);
    let tools: Vec<&str> = named("tool")
        .filter_map(|(_, data)| data["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"echo__add") && tools.contains(&"fetcher__fetch"),
        "{events:?}"
    );

    // The model read each answer framed as the module's, not the user's.
    let requests = model_seen.lock().unwrap().clone();
    let after_add = &requests[1].1;
    assert!(
        after_add.contains("Module output (untrusted"),
        "{after_add}"
    );
    assert!(after_add.contains("42"), "{after_add}");
    let after_fetch = &requests[2].1;
    assert!(
        after_fetch.contains("ignore previous instructions"),
        "{after_fetch}"
    );
    // Both tools were offered with the publisher's words.
    assert!(requests[0].1.contains("echo__add") && requests[0].1.contains("Adds a and b."));

    // The page the module read holds the conversation's commands: the
    // listed one was asked about, and not run.
    assert_command_held(&hs, &session, &events);
    running.stop();
    assert_eq!(
        module_calls(&hs),
        [
            ("echo".to_owned(), "add".to_owned(), "answered".to_owned()),
            (
                "fetcher".to_owned(),
                "fetch".to_owned(),
                "answered".to_owned()
            )
        ]
    );
    assert_asked_for_untrusted_content(&hs);
}

/// The first-party `fetch` module: granted the public web rather than a
/// host, its page still reaches the model as untrusted module output and
/// still makes the conversation's commands wait for the owner.
#[test]
fn a_page_the_fetch_module_read_is_untrusted_and_holds_the_conversations_commands() {
    let site = NetnsSite::serve(&script("test-site.py"));
    let (model_url, model_seen) = scripted_provider(vec![
        Step::call("fetch__fetch", json!({ "url": site.url("/inject") })),
        Step::call("exec", json!({ "command": "echo pwned > pwned.txt" })),
        Step::say("Done."),
    ]);
    let publisher = Publisher::new();
    let hs = scripted_instance(&model_url, &publisher, &site);
    let (module_toml, wasm) = hardshell_testkit::modules::first_party("fetch");
    let shown = add_package(&hs, &publisher, "fetch", &module_toml, &wasm);
    // The owner was shown the widest grant there is, as such.
    assert!(shown.contains("read ANY public web page"), "{shown}");

    let running = Running::start(&hs);
    let (session, events) = first_turn(&hs, &running, "Read the notes.");
    let requests = model_seen.lock().unwrap().clone();
    let after_fetch = &requests[1].1;
    assert!(
        after_fetch.contains("Module output (untrusted")
            && after_fetch.contains("ignore previous instructions"),
        "{after_fetch}"
    );
    assert_command_held(&hs, &session, &events);
    running.stop();
    assert_eq!(
        module_calls(&hs),
        [(
            "fetch".to_owned(),
            "fetch".to_owned(),
            "answered".to_owned()
        )]
    );
    assert_asked_for_untrusted_content(&hs);
}

/// The page's command waited for the owner: an approval was asked, no
/// command ran, and nothing was written in the conversation's workspace.
fn assert_command_held(hs: &Instance, session: &str, events: &[(String, serde_json::Value)]) {
    let named = |name: &'static str| events.iter().filter(move |(n, _)| n == name);
    assert!(named("approval").next().is_some(), "{events:?}");
    assert_eq!(named("command").count(), 0, "a command ran: {events:?}");
    assert!(
        !hs.path(&format!("data/workspaces/{session}/pwned.txt"))
            .exists()
    );
}

/// The audit log's exec decision: asked, because the turn had read
/// untrusted content.
fn assert_asked_for_untrusted_content(hs: &Instance) {
    let records = audit_records(hs);
    let decided = records
        .iter()
        .map(|r| &r["event"])
        .find(|event| event["type"] == "exec_decided");
    assert_eq!(
        decided.map(|e| (e["decision"].clone(), e["reason"].clone())),
        Some((json!("asked"), json!("untrusted_content"))),
        "{decided:?}"
    );
}
