//! The model chain as configured: fallback when a provider refuses, and the
//! monthly spend cap enforced by the edge.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::running::{
    Running, audit_records, env, eventually, history, instance, new_session, reply_text, token,
    turn,
};

/// A provider that is always over its rate limit: every request gets OpenAI's
/// documented 429 body. Counts the requests that reach it.
fn rate_limited_provider() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            seen.fetch_add(1, Ordering::SeqCst);
            let answer = r#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, count)
}

fn provider(name: &str, url: &str) -> String {
    format!(
        "[llm.providers.{name}]\nkind = \"openai\"\nbase_url = \"{url}\"\napi_key = \"env:HARDSHELL_TEST_LLM_KEY\"\n"
    )
}

fn switches(hs: &hardshell_testkit::instance::Instance) -> Vec<serde_json::Value> {
    audit_records(hs)
        .into_iter()
        .filter(|r| r["event"]["type"] == "provider_switched")
        .map(|r| r["event"].clone())
        .collect()
}

#[test]
fn a_rate_limited_provider_falls_back_to_the_next_and_cools_down() {
    let (flaky, requests) = rate_limited_provider();
    let llama = env("HARDSHELL_TEST_LLM_URL");
    let hs = instance(&format!(
        "[agent]\nmax_tokens = 32\n[llm]\nchain = [\"flaky/gpt-4o\", \"local/smollm2\"]\n{}{}",
        provider("flaky", &flaky),
        provider("local", &llama)
    ));
    let token = token(&hs);
    let running = Running::start(&hs);
    let session = new_session(&running, &token);

    let events = turn(&running, &token, &session, "Say hi.");
    assert_eq!(
        events.last().map(|(n, _)| n.as_str()),
        Some("done"),
        "{events:?}"
    );
    assert!(!reply_text(&events).trim().is_empty(), "{events:?}");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "the flaky provider was tried first"
    );

    // The edge audited the switch, with the provider's reason.
    eventually(15, "a provider_switched record", || {
        !switches(&hs).is_empty()
    });
    let switch = &switches(&hs)[0];
    assert_eq!(switch["from"], "flaky/gpt-4o", "{switch}");
    assert_eq!(switch["to"], "local/smollm2", "{switch}");
    assert_eq!(switch["reason"], "rate_limited", "{switch}");

    // Cooling down for the 10 minutes its Retry-After asked: the next turn goes
    // straight to the local model.
    let events = turn(&running, &token, &session, "And again.");
    assert_eq!(
        events.last().map(|(n, _)| n.as_str()),
        Some("done"),
        "{events:?}"
    );
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "a cooling provider was asked again"
    );
    running.stop();
}

#[test]
fn the_spend_cap_stops_paid_models_and_free_ones_keep_answering() {
    let llama = env("HARDSHELL_TEST_LLM_URL");
    // Both providers are the same local server; "paid" has a price, "local" a
    // price of zero (under a cap, a keyed provider's model needs one). A call
    // of "paid" reserves its most, 32 tokens at $1000 per million ($0.032),
    // which fits the $0.0325 cap once, and not beside a first reply of any
    // length: one token costs $0.001. (A cap that left room beside a short
    // reply made the test depend on how much the model chose to say.)
    let hs = instance(&format!(
        "[agent]\nmax_tokens = 32\n[llm]\nchain = [\"paid/smollm2\", \"local/smollm2\"]\n\
         monthly_cap_usd = 0.0325\n\
         [[llm.prices]]\nmodel = \"paid/smollm2\"\ninput_per_mtok = 0.0\noutput_per_mtok = 1000.0\n\
         [[llm.prices]]\nmodel = \"local/smollm2\"\ninput_per_mtok = 0.0\noutput_per_mtok = 0.0\n{}{}",
        provider("paid", &llama),
        provider("local", &llama)
    ));
    let token = token(&hs);
    let running = Running::start(&hs);
    let session = new_session(&running, &token);

    let first = turn(&running, &token, &session, "Count from one to fifty.");
    assert_eq!(
        first.last().map(|(n, _)| n.as_str()),
        Some("done"),
        "{first:?}"
    );
    assert!(
        switches(&hs).is_empty(),
        "the paid model answered while under the cap"
    );

    // The ledger holds the paid reply (its usage as llama.cpp reported it,
    // or the edge's estimate).
    eventually(60, "the paid reply in the ledger", || {
        hs.run(&["usage"]).ok().stdout.contains("paid/smollm2")
    });

    // With no room left for another paid reply the edge refuses the paid
    // model and the free one answers.
    let second = turn(&running, &token, &session, "Say hi again.");
    assert_eq!(
        second.last().map(|(n, _)| n.as_str()),
        Some("done"),
        "{second:?}"
    );
    assert!(!reply_text(&second).trim().is_empty());
    eventually(60, "a budget switch audited", || {
        switches(&hs)
            .iter()
            .any(|s| s["from"] == "paid/smollm2" && s["to"] == "local/smollm2")
    });
    assert_eq!(history(&running, &token, &session).len(), 4);
    running.stop();
    // The free reply's charge is stored by the time `up` has stopped.
    let usage = hs.run(&["usage"]).ok().stdout;
    assert!(usage.contains("local/smollm2"), "{usage}");
}

#[test]
fn the_agent_can_have_only_switches_along_its_chain_recorded_and_not_a_flood() {
    let (unused, _) = rate_limited_provider();
    let hs = instance(&format!(
        "[agent]\n[llm]\nchain = [\"one/m1\", \"two/m2\"]\n{}{}",
        provider("one", &unused),
        provider("two", &unused)
    ));
    let running = Running::start(&hs);
    let socket = hs.path("data/run/agent/edge.sock");
    eventually(30, "the control socket", || socket.exists());
    let report =
        |body: serde_json::Value| crate::shell::control(&socket, "/agent/v1/switch", &body).0;
    // What the agent cannot check in: models outside the chain, a move
    // back up it, text of its own as the reason, fields of its own.
    for forged in [
        serde_json::json!({"from": "one/m1", "to": "evil/x", "reason": "overloaded"}),
        serde_json::json!({"from": "two/m2", "to": "one/m1", "reason": "overloaded"}),
        serde_json::json!({"from": "one/m1", "to": "one/m1", "reason": "overloaded"}),
        serde_json::json!({"from": "one/m1", "to": "two/m2", "reason": "it said \u{202e}txt.exe"}),
        serde_json::json!({"from": "one/m1\u{1b}[31m", "to": "two/m2", "reason": "overloaded"}),
        serde_json::json!({"from": "one/m1", "to": "two/m2", "reason": "overloaded", "note": "x"}),
    ] {
        assert_eq!(report(forged.clone()), 400, "{forged}");
    }
    // A flood of true-looking ones: a burst is recorded, the rest refused.
    let real = serde_json::json!({"from": "one/m1", "to": "two/m2", "reason": "overloaded"});
    let answers: Vec<u16> = (0..60).map(|_| report(real.clone())).collect();
    let recorded = answers.iter().filter(|s| **s == 204).count();
    assert!(answers.contains(&429), "{answers:?}");
    assert!((1..=15).contains(&recorded), "{answers:?}");
    eventually(15, "the recorded switches", || {
        switches(&hs).len() == recorded
    });
    for switch in switches(&hs) {
        assert_eq!(switch["from"], "one/m1", "{switch}");
        assert_eq!(switch["to"], "two/m2", "{switch}");
        assert_eq!(switch["reason"], "overloaded", "{switch}");
    }
    running.stop();
}
