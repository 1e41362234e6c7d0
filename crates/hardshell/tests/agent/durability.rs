//! What survives a crash: an accepted message survives kill -9 of the edge, the
//! agent does not outlive the edge, and a killed agent is restarted.

use std::io::{BufRead, BufReader, Lines};

use crate::running::{
    Running, agent_pid, alive, eventually, history, http, instance, local_model, message_text,
    new_session, token, turn,
};

/// Sends `text` and reads the event stream until the agent says the message is
/// stored; the rest of the stream is returned unread.
fn until_accepted(
    running: &Running,
    token: &str,
    session: &str,
    text: &str,
) -> Lines<BufReader<reqwest::blocking::Response>> {
    let response = http()
        .post(running.url(&format!("/api/sessions/{session}/messages")))
        .bearer_auth(token)
        .json(&serde_json::json!({ "text": text }))
        .send()
        .unwrap();
    let mut lines = BufReader::new(response).lines();
    loop {
        let line = lines
            .next()
            .expect("the stream ended before accepted")
            .unwrap();
        if line == "event: accepted" {
            return lines;
        }
    }
}

#[test]
fn an_accepted_message_survives_kill_9_of_the_edge_and_the_agent_dies_with_it() {
    let hs = instance(&local_model(""));
    let token = token(&hs);
    let mut running = Running::start(&hs);
    let agent = agent_pid(&running);
    let session = new_session(&running, &token);

    // Start a turn and read until the agent says the message is stored.
    let _stream = until_accepted(&running, &token, &session, "Remember this line.");
    running.kill9();

    // PR_SET_PDEATHSIG: the agent goes with the edge, holding nothing open.
    eventually(10, "the agent to exit after its edge", || !alive(agent));

    // A new edge on the same state: the message is there.
    let running = Running::start(&hs);
    assert_ne!(agent_pid(&running), agent);
    let messages = history(&running, &token, &session);
    assert_eq!(
        messages.first().map(message_text),
        Some(("user".to_owned(), "Remember this line.".to_owned())),
        "{messages:?}"
    );
    // And the session goes on.
    let events = turn(&running, &token, &session, "Still there?");
    assert_eq!(
        events.last().map(|(n, _)| n.as_str()),
        Some("done"),
        "{events:?}"
    );
    running.stop();
}

#[test]
fn an_accepted_message_survives_kill_9_of_the_agent_which_is_restarted() {
    let hs = instance(&local_model(""));
    let token = token(&hs);
    let running = Running::start(&hs);
    let first = agent_pid(&running);
    let session = new_session(&running, &token);

    let lines = until_accepted(&running, &token, &session, "Do not forget me.");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(first).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The client's stream ends (with an error event or just an end), not hangs.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        !rest.iter().any(|l| l == "event: done"),
        "a turn whose agent died cannot be done: {rest:?}"
    );

    eventually(30, "a new agent", || {
        running
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("agent listening"))
            .count()
            >= 2
    });
    assert!(
        running
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("agent's shell ended; restarting")),
        "the supervisor did not log the crash"
    );
    let second = agent_pid(&running);
    assert_ne!(first, second);
    assert!(alive(second));

    let messages = history(&running, &token, &session);
    assert_eq!(
        messages.first().map(message_text),
        Some(("user".to_owned(), "Do not forget me.".to_owned())),
        "{messages:?}"
    );
    let events = turn(&running, &token, &session, "Hello again.");
    assert_eq!(
        events.last().map(|(n, _)| n.as_str()),
        Some("done"),
        "{events:?}"
    );
    running.stop();
    eventually(10, "the agent to stop with the edge", || !alive(second));
}
