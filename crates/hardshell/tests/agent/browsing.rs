//! The agent browses for the user, and a page's instructions do not become
//! commands: a (scripted, prompt-injected) model opens a page that says to
//! run a command, then asks `exec` to run one whose every program is on the
//! allowlist. The edge asks the owner, saying why; nothing runs unasked.

use hardshell_testkit::browser::script;
use hardshell_testkit::netns::NetnsSite;
use serde_json::json;

use crate::running::{Running, audit_records, instance, new_session, token, turn};
use crate::scripted::{Step, scripted_provider};

/// The agent on the scripted model, `exec` asking about all but `echo`
/// (3 s to answer), the browser allowed to `site` only.
fn browsing_instance(site: &NetnsSite, model_url: &str) -> hardshell_testkit::instance::Instance {
    let (host, cidr) = (site.address.to_string(), site.cidr());
    let hs = instance(&format!(
        "[agent]\nmax_tokens = 64\nturn_timeout_secs = 120\n[llm]\nchain = [\"stub/scripted\"]\n\
         [llm.providers.stub]\nkind = \"openai\"\nbase_url = \"{model_url}\"\napi_key = \"env:HARDSHELL_TEST_LLM_KEY\"\n\
         [exec]\napproval = \"ask\"\nallow = [\"echo\"]\napproval_timeout_secs = 3\n\
         [shell]\nworkspace_mb = 16\nworkspace_inodes = 1024\n\
         [browser]\nenabled = true\nallow = [\"{host}\"]\n"
    ));
    hs.edit_config(|text| {
        text.replacen(
            "browser_internal = []",
            &format!("browser_internal = [\"{cidr}\"]"),
            1,
        )
    });
    hs
}

#[test]
fn a_page_read_in_a_conversation_makes_its_commands_wait_for_the_owner() {
    let site = NetnsSite::serve(&script("test-site.py"));
    let (model_url, model_seen) = scripted_provider(vec![
        Step::call(
            "browser",
            json!({ "action": "open", "url": site.url("/inject") }),
        ),
        Step::call("browser", json!({ "action": "screenshot" })),
        Step::call("exec", json!({ "command": "echo pwned > pwned.txt" })),
        Step::say("Done."),
    ]);
    let hs = browsing_instance(&site, &model_url);
    let running = Running::start(&hs);
    let token = token(&hs);
    let session = new_session(&running, &token);

    let events = turn(&running, &token, &session, "What do the release notes say?");
    let named = |name: &'static str| events.iter().filter(move |(n, _)| n == name);
    // The page was read through the browser.
    assert!(
        named("tool").any(|(_, data)| data["name"] == "browser"),
        "{events:?}"
    );
    // The screenshot is shown from the edge's own copy, to the
    // conversation's owner only.
    let shot = named("screenshot")
        .next()
        .unwrap_or_else(|| panic!("{events:?}"))
        .1["id"]
        .as_u64()
        .unwrap();
    let url = running.url(&format!("/api/sessions/{session}/screenshots/{shot}"));
    let image = crate::running::http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    assert!(image.bytes().unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let other = hs
        .run(&["token", "create", "--name", "other", "--scope", "chat"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let refused = crate::running::http()
        .get(&url)
        .bearer_auth(&other)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 404);
    // The listed command was asked about, with the edge's reason, and not run.
    let question = named("approval")
        .next()
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(
        question.1["command"], "echo pwned > pwned.txt",
        "{events:?}"
    );
    assert!(
        question.1["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("web pages"),
        "{events:?}"
    );
    assert_eq!(named("command").count(), 0, "a command ran: {events:?}");
    assert!(
        !hs.path(&format!("data/workspaces/{session}/pwned.txt"))
            .exists()
    );
    // Recorded as asked for that reason; never as allowed. (How the
    // question ended is recorded when it is next looked at: not awaited.)
    let decided: Vec<_> = audit_records(&hs)
        .into_iter()
        .filter(|record| record["event"]["type"] == "exec_decided")
        .map(|record| {
            (
                record["event"]["decision"].clone(),
                record["event"]["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        decided.first(),
        Some(&(json!("asked"), json!("untrusted_content"))),
        "{decided:?}"
    );
    assert!(
        decided.iter().all(|(decision, _)| decision != "allowed"),
        "{decided:?}"
    );

    // The model saw the page as untrusted text, the injection inside it.
    let requests = model_seen.lock().unwrap();
    let page = &requests[1].1;
    // The model was told of the screenshot, never given it.
    assert!(
        requests[2].1.contains("shown to the user") && !requests[2].1.contains("iVBOR"),
        "{}",
        requests[2].1
    );
    assert!(page.contains("untrusted"), "{page}");
    assert!(page.contains("ignore previous instructions"), "{page}");
    running.stop();
}

#[test]
fn the_agent_browses_for_an_openai_api_client_and_runs_nothing_it_read() {
    let site = NetnsSite::serve(&script("test-site.py"));
    let (model_url, model_seen) = scripted_provider(vec![
        Step::call("browser", json!({ "action": "open", "url": site.url("/") })),
        Step::call("exec", json!({ "command": "echo pwned > pwned.txt" })),
        Step::say("The page is the test site."),
    ]);
    let hs = browsing_instance(&site, &model_url);
    let running = Running::start(&hs);
    let token = token(&hs);
    let answer: serde_json::Value = crate::running::http()
        .post(running.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&json!({
            "model": "hardshell",
            "messages": [{ "role": "user", "content": "What is on the test site?" }],
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"], "The page is the test site.",
        "{answer}"
    );
    // The page reached the model through the browser, framed as untrusted.
    let requests = model_seen.lock().unwrap();
    assert!(
        requests[1].1.contains("Welcome to the test site"),
        "{}",
        requests[1].1
    );
    assert!(requests[1].1.contains("untrusted"), "{}", requests[1].1);
    // The command after it was refused: nobody can be asked on the API, and
    // a conversation that read a page runs nothing on the allowlist alone.
    assert!(
        requests[2].1.contains("nobody can be asked"),
        "{}",
        requests[2].1
    );
    drop(requests);
    let sessions = std::fs::read_dir(hs.path("data/workspaces"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(
        sessions
            .iter()
            .all(|session| !session.join("pwned.txt").exists()),
        "{sessions:?}"
    );
    running.stop();
}
