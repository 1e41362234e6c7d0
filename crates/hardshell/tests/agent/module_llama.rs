//! The first-party `web-search` module end to end: built from source
//! (`modules/web-search`), signed, added and locked in a real instance, and
//! called through the agent, its request leaving through its own broker over
//! TLS to a loopback server that answers as Brave's Web Search API does.
//! The name `api.search.brave.com` is that server's address in an
//! `/etc/hosts` of `up`'s own mount namespace, so the module, its grant and
//! its broker are exactly what an owner runs, and only the name's address
//! differs. The key is a secret of the store: the module sends its
//! placeholder, the broker swaps the key in for Brave's host, and no process
//! below `up` (the agent's shell, the module's) ever holds it.
//!
//! The real local model (SmolLM2 under llama.cpp) drives the first test,
//! through a relay that names the tool (see `model_relay`); the deny tests
//! use the scripted model, the adversary that calls what it is told.

mod brave_api;
mod model_relay;

use std::path::Path;
use std::process::{Command, Stdio};

use brave_api::{BraveApi, HOST, RESULTS};
use hardshell_testkit::instance::Instance;
use hardshell_testkit::modules::{Publisher, first_party};
use model_relay::ModelRelay;
use serde_json::json;

use crate::module_turns::{add_package, module_calls};
use crate::running::{Running, agent_pid, env, first_turn, instance};
use crate::scripted::{Step, scripted_provider};

/// The owner's Brave key, as the secret store holds it.
const KEY: &str = "BSA-test-3f9c1e7a5b2d4c6e8f0a1b3c5d7e9f21";
/// The tool as the agent offers it.
const TOOL: &str = "web-search__search";

/// An instance whose model is at `model_url`, trusting `publisher`, with
/// loopback reachable (the Brave stand-in lives there) and `web-search`
/// locked from `manifest` (its own, or one edited by a test).
fn with_web_search(
    model_url: &str,
    publisher: &Publisher,
    manifest: &str,
    wasm: &[u8],
) -> Instance {
    let key = publisher.public_key();
    let hs = instance(&format!(
        "[agent]\nmax_tokens = 256\nturn_timeout_secs = 300\n[llm]\nchain = [\"local/smollm2\"]\n\
         [llm.providers.local]\nkind = \"openai\"\nbase_url = \"{model_url}\"\napi_key = \"env:HARDSHELL_TEST_LLM_KEY\"\n\
         [modules]\ntrusted_keys = [{{ name = \"hardshell\", key = \"{key}\", official = true }}]\n"
    ));
    hs.edit_config(|text| {
        text.replacen(
            "egress_internal = []",
            "egress_internal = [\"127.0.0.0/8\"]",
            1,
        )
    });
    add_package(&hs, publisher, "web-search", manifest, wasm);
    hs
}

/// `hardshell up` in a mount namespace of its own whose `/etc/hosts` names
/// `brave`'s address `api.search.brave.com`, trusting its certificate.
fn start_beside(hs: &Instance, brave: &BraveApi) -> Running {
    let hosts = hs.path("hosts");
    std::fs::write(
        &hosts,
        format!(
            "127.0.0.1 localhost\n::1 localhost\n{} {HOST}\n",
            brave.address
        ),
    )
    .unwrap();
    let roots = hs.path("brave-root.pem");
    std::fs::write(&roots, &brave.root).unwrap();
    let up = Running::up_command(hs, &[("SSL_CERT_FILE", roots.to_str().unwrap())]);
    Running::start_command(in_own_mount_namespace(&up, &hosts))
}

/// `command` run by `unshare` in a new mount namespace (private, so the
/// host's mounts are untouched) with `hosts` bound over `/etc/hosts`; the
/// shell then execs it, so its process is the one the test started.
fn in_own_mount_namespace(command: &Command, hosts: &Path) -> Command {
    let mut wrapped = Command::new("unshare");
    wrapped
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/hosts && exec \"$@\"")
        .arg(hosts)
        .arg(command.get_program())
        .args(command.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(directory) = command.get_current_dir() {
        wrapped.current_dir(directory);
    }
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    wrapped
}

/// The arguments of the tool call in a streamed answer: the fragments of
/// each chunk's `tool_calls[0].function.arguments`, joined and parsed.
fn called_arguments(stream: &str) -> serde_json::Value {
    let joined: String = stream
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    serde_json::from_str(&joined).unwrap_or_else(|e| panic!("{joined:?}: {e}"))
}

/// Every process below `up`: the agent's shell and the module's.
fn processes_below(up: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| crate::shell::descends_from(*pid, up))
        .collect()
}

/// The processes below `up` that hold `needle` in their environment,
/// their arguments or their memory. Each of `living` must be among them
/// and be read whole, so that none found means they were searched: a
/// process that left, or a tree searched from the wrong root, fails.
fn held_below(up: u32, needle: &str, living: &[u32]) -> Vec<u32> {
    let below = processes_below(up);
    for pid in living {
        assert!(below.contains(pid), "{pid} is not below {up}: {below:?}");
    }
    below
        .into_iter()
        .filter(|pid| {
            let in_file = |what: &str| {
                std::fs::read(format!("/proc/{pid}/{what}"))
                    .is_ok_and(|text| text.windows(needle.len()).any(|w| w == needle.as_bytes()))
            };
            let in_memory = match crate::shell::in_memory_unless_gone(*pid, needle.as_bytes()) {
                None if living.contains(pid) => panic!("{pid} left before it was searched"),
                found => found == Some(true),
            };
            in_file("environ") || in_file("cmdline") || in_memory
        })
        .collect()
}

#[test]
fn the_local_model_searches_the_web_through_the_module_and_reads_the_results() {
    let brave = BraveApi::serve(KEY);
    let relay = ModelRelay::serve(&env("HARDSHELL_TEST_LLM_URL"), TOOL);
    let publisher = Publisher::new();
    let (manifest, wasm) = first_party("web-search");
    let hs = with_web_search(&relay.url, &publisher, &manifest, &wasm);
    hs.run_with_stdin(&["secret", "put", "BRAVE_SEARCH_API_KEY"], KEY.as_bytes())
        .ok();
    let running = start_beside(&hs, &brave);

    let (_, events) = first_turn(
        &hs,
        &running,
        "Search the web for the hardshell sandbox guide.",
    );
    assert_eq!(
        events.last().map(|(name, _)| name.as_str()),
        Some("done"),
        "{events:?}\nthe model's exchanges: {:?}",
        relay.seen()
    );

    // The agent offered the tool (the relay names only a tool offered),
    // with the publisher's words, and the model called it, with arguments
    // it wrote itself.
    let exchanges = relay.seen();
    assert!(exchanges.len() >= 2, "{exchanges:?}");
    assert!(exchanges[0].forced && !exchanges[1].forced, "{exchanges:?}");
    assert!(
        exchanges[0]
            .request
            .contains("Search the web with Brave Search."),
        "{exchanges:?}"
    );
    assert!(exchanges[0].response.contains(TOOL), "{exchanges:?}");

    // Brave's API got one search, with the owner's key the module never had.
    let seen = brave.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let search = &seen[0];
    assert_eq!(
        (search.method.as_str(), search.path.as_str()),
        ("GET", "/res/v1/web/search")
    );
    assert_eq!(search.token.as_deref(), Some(KEY));
    assert_eq!(search.accept.as_deref(), Some("application/json"));
    let query = search.query.clone().unwrap_or_default();
    assert!(!query.trim().is_empty(), "{search:?}");
    let count: u8 = search.count.as_deref().unwrap().parse().unwrap();
    assert!((1..=20).contains(&count), "{search:?}");
    // The query is the model's: the one its tool call wrote, as one line
    // (and within Brave's limits).
    let arguments = called_arguments(&exchanges[0].response);
    let written = arguments["query"].as_str().unwrap_or_default();
    let one_line = written.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(one_line.starts_with(&query), "{query:?} is not {written:?}");

    // The answer reached the conversation: the model's next request holds
    // the results, framed as the module's untrusted output.
    let after = &exchanges[1].request;
    assert!(after.contains("Module output (untrusted"), "{after}");
    assert!(
        after.contains("1. The hardshell sandbox guide")
            && after.contains(RESULTS[0].1)
            && after.contains("namespaces, seccomp & cgroups."),
        "{after}"
    );
    assert!(!after.contains("<strong>"), "{after}");

    // The key is nowhere but the broker: not in any model request, not in
    // any process of the agent's shell or the module's, both searched.
    assert!(exchanges.iter().all(|e| !e.request.contains(KEY)));
    let up = running.child.id();
    let module_host = crate::shell::argument_pid(&running, 0, "/opt/hardshell/module-host")
        .expect("the module host's process under the edge");
    let holding = held_below(up, KEY, &[agent_pid(&running), module_host]);
    assert!(holding.is_empty(), "the key is held by {holding:?}");
    // The search finds it where it is: `up`, whose broker swapped it in.
    assert_eq!(
        crate::shell::in_memory_unless_gone(up, KEY.as_bytes()),
        Some(true)
    );
    running.stop();

    assert_eq!(
        module_calls(&hs),
        [(
            "web-search".to_owned(),
            "search".to_owned(),
            "answered".to_owned()
        )]
    );
}

/// A turn in which the scripted model calls the tool once, then says
/// "Done.", with `web-search` locked from `manifest` (its own `module.toml`,
/// or one a test edited) and `stored_key` in the secret store; gives the
/// instance and what the model was sent after the call.
fn scripted_search(
    brave: &BraveApi,
    manifest: &str,
    stored_key: Option<&str>,
) -> (Instance, String) {
    let (model_url, model_seen) = scripted_provider(vec![
        Step::call(TOOL, json!({ "query": "hardshell sandbox", "count": 2 })),
        Step::say("Done."),
    ]);
    let publisher = Publisher::new();
    let (_, wasm) = first_party("web-search");
    let hs = with_web_search(&model_url, &publisher, manifest, &wasm);
    if let Some(stored) = stored_key {
        hs.run_with_stdin(
            &["secret", "put", "BRAVE_SEARCH_API_KEY"],
            stored.as_bytes(),
        )
        .ok();
    }
    let running = start_beside(&hs, brave);
    let (_, events) = first_turn(&hs, &running, "Search for the sandbox.");
    assert_eq!(
        events.last().map(|(name, _)| name.as_str()),
        Some("done"),
        "{events:?}"
    );
    let requests = model_seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    running.stop();
    (hs, requests[1].1.clone())
}

#[test]
fn a_search_toward_a_host_the_module_was_not_granted_is_refused() {
    let brave = BraveApi::serve(KEY);
    let (manifest, _) = first_party("web-search");
    // The same module, granted (and its key bound to) another host only.
    let elsewhere = manifest.replace(
        "host = \"api.search.brave.com\"",
        "host = \"api.search.example\"",
    );
    assert_eq!(elsewhere.matches("api.search.example").count(), 2);
    let (hs, after) = scripted_search(&brave, &elsewhere, Some(KEY));

    // The module host refused it: nothing reached Brave's address, though
    // the name leads there, and the model was told it was denied.
    assert!(brave.seen().is_empty(), "{:?}", brave.seen());
    assert!(
        after.contains("https://api.search.brave.com:443 is not among the module's granted hosts"),
        "{after}"
    );
    assert!(!after.contains(KEY));
    assert_eq!(
        module_calls(&hs),
        [(
            "web-search".to_owned(),
            "search".to_owned(),
            "denied".to_owned()
        )]
    );
}

#[test]
fn a_wrong_key_is_refused_by_brave_and_the_model_gets_a_clean_tool_error() {
    let brave = BraveApi::serve(KEY);
    let (manifest, _) = first_party("web-search");
    let wrong = "BSA-not-the-owners-key-0000000000000000";
    let (hs, after) = scripted_search(&brave, &manifest, Some(wrong));

    // The wrong key reached Brave (swapped in by the broker), which
    // refused it as its API does.
    let seen = brave.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].token.as_deref(), Some(wrong));
    assert!(
        after.contains(
            "Brave Search refused the API key (HTTP 422, SUBSCRIPTION_TOKEN_INVALID): \
             the owner sets it with `hardshell secret put BRAVE_SEARCH_API_KEY` (tool)"
        ),
        "{after}"
    );
    // Brave's own words are not passed on, nor the key.
    assert!(
        !after.contains("The provided subscription token"),
        "{after}"
    );
    assert!(!after.contains(wrong), "{after}");
    assert_eq!(
        module_calls(&hs),
        [(
            "web-search".to_owned(),
            "search".to_owned(),
            "tool".to_owned()
        )]
    );
}

#[test]
fn an_absent_key_never_reaches_brave_and_the_model_gets_a_clean_tool_error() {
    let brave = BraveApi::serve(KEY);
    let (manifest, _) = first_party("web-search");
    let (hs, after) = scripted_search(&brave, &manifest, None);

    // The broker had no key to swap in: the placeholder was refused there
    // and nothing reached Brave.
    assert!(brave.seen().is_empty(), "{:?}", brave.seen());
    assert!(
        after.contains("the search was refused before it reached Brave Search (HTTP 403"),
        "{after}"
    );
    assert!(
        after.contains("hardshell secret put BRAVE_SEARCH_API_KEY"),
        "{after}"
    );
    assert_eq!(
        module_calls(&hs),
        [(
            "web-search".to_owned(),
            "search".to_owned(),
            "tool".to_owned()
        )]
    );
}
