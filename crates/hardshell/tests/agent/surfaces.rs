//! Every way to talk to the agent, against the real local model: the web chat
//! API, the OpenAI-compatible API, and `hardshell chat`.

use crate::running::{
    Running, history, http, instance, local_model, message_text, new_session, reply_text, token,
    turn,
};

#[test]
fn web_chat_streams_a_reply_and_keeps_the_conversation() {
    let hs = instance(&local_model(""));
    let token = token(&hs);
    let running = Running::start(&hs);
    let session = new_session(&running, &token);

    let events = turn(
        &running,
        &token,
        &session,
        "Say hello in one short sentence.",
    );
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"accepted"), "{events:?}");
    assert_eq!(names.last(), Some(&"done"), "{events:?}");
    let reply = reply_text(&events);
    assert!(
        !reply.trim().is_empty(),
        "the model said nothing: {events:?}"
    );

    // The history holds both sides, in order.
    let messages = history(&running, &token, &session);
    let texts: Vec<(String, String)> = messages.iter().map(message_text).collect();
    assert_eq!(texts.len(), 2, "{messages:?}");
    assert_eq!(
        texts[0],
        (
            "user".to_owned(),
            "Say hello in one short sentence.".to_owned()
        )
    );
    assert_eq!(texts[1], ("assistant".to_owned(), reply.clone()));

    // A second turn sees the first: the session continues.
    let events = turn(&running, &token, &session, "Thanks.");
    assert_eq!(
        events.last().map(|(n, _)| n.as_str()),
        Some("done"),
        "{events:?}"
    );
    assert_eq!(history(&running, &token, &session).len(), 4);

    // The session is listed for its owner.
    let listed: serde_json::Value = http()
        .get(running.url("/api/sessions"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        listed["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == session.as_str()),
        "{listed}"
    );
    running.stop();
}

#[test]
fn sessions_belong_to_whoever_made_them() {
    let hs = instance(&local_model(""));
    let alice = token(&hs);
    let bob = token(&hs);
    let running = Running::start(&hs);
    let session = new_session(&running, &alice);
    let client = http();
    // Bob can neither read, continue nor list Alice's session.
    let read = client
        .get(running.url(&format!("/api/sessions/{session}")))
        .bearer_auth(&bob)
        .send()
        .unwrap();
    assert_eq!(read.status(), 404);
    let send = client
        .post(running.url(&format!("/api/sessions/{session}/messages")))
        .bearer_auth(&bob)
        .json(&serde_json::json!({ "text": "hi" }))
        .send()
        .unwrap();
    assert_eq!(send.status(), 404);
    let listed: serde_json::Value = client
        .get(running.url("/api/sessions"))
        .bearer_auth(&bob)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["sessions"], serde_json::json!([]));
    // Nobody without a token gets anywhere.
    for (method, path) in [
        ("GET", "/api/sessions".to_owned()),
        ("POST", "/api/sessions".to_owned()),
        ("GET", format!("/api/sessions/{session}")),
        ("POST", "/v1/chat/completions".to_owned()),
        ("GET", "/v1/models".to_owned()),
    ] {
        let response = client
            .request(method.parse().unwrap(), running.url(&path))
            .send()
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
    }
    // A chat token is not an admin token.
    let response = client
        .get(running.url("/admin/tokens"))
        .bearer_auth(&alice)
        .send()
        .unwrap();
    assert_eq!(response.status(), 403);
    running.stop();
}

#[test]
fn the_openai_api_answers_whole_and_streamed() {
    let hs = instance(&local_model(""));
    let token = token(&hs);
    let running = Running::start(&hs);
    let client = http();

    let models: serde_json::Value = client
        .get(running.url("/v1/models"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(models["data"][0]["id"], "hardshell", "{models}");

    let request = serde_json::json!({
        "model": "hardshell",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": "Name a colour." },
        ],
    });
    let whole: serde_json::Value = client
        .post(running.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&request)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(whole["object"], "chat.completion", "{whole}");
    assert_eq!(whole["choices"][0]["message"]["role"], "assistant");
    let content = whole["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!content.trim().is_empty(), "{whole}");
    assert_eq!(whole["choices"][0]["finish_reason"], "stop");

    let mut streamed = request.clone();
    streamed["stream"] = true.into();
    let response = client
        .post(running.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&streamed)
        .send()
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().unwrap();
    let data: Vec<&str> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{body}");
    let mut text = String::new();
    for chunk in &data[..data.len() - 1] {
        let chunk: serde_json::Value = serde_json::from_str(chunk).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str() {
            text.push_str(delta);
        }
    }
    assert!(!text.trim().is_empty(), "{body}");

    // A conversation that does not end with the user has nothing to answer.
    let response = client
        .post(running.url("/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "model": "hardshell",
            "messages": [{ "role": "assistant", "content": "Hi." }],
        }))
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    running.stop();
}

#[test]
fn hardshell_chat_sends_a_message_and_prints_the_reply() {
    let hs = instance(&local_model(""));
    let token = token(&hs);
    let running = Running::start(&hs);
    let token_file = hs.path("chat-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let url = running.url("");

    let run = hs
        .command(&[
            "chat",
            "--url",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
            "-m",
            "Say hi.",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.trim().is_empty(), "no reply printed: {stderr}");
    assert!(!stdout.contains(&token) && !stderr.contains(&token));

    // The same through HARDSHELL_TOKEN; and a wrong token is a clear error.
    let run = hs
        .command(&["chat", "--url", &url, "-m", "Say hi."])
        .env(
            "HARDSHELL_TOKEN",
            "hs_tok_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the token (401)"), "{stderr}");
    assert!(
        !stderr.contains("AAAAAAAAAAAAAAAA"),
        "the token was echoed: {stderr}"
    );

    // Sessions made by the CLI are web sessions: the same history API reads them.
    let listed: serde_json::Value = http()
        .get(running.url("/api/sessions"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1, "{listed}");
    running.stop();
}

#[test]
fn a_turn_without_any_model_fails_clearly_and_keeps_the_message() {
    let hs = instance("[agent]\n[llm]\nchain = []\n");
    let token = token(&hs);
    let running = Running::start(&hs);
    let session = new_session(&running, &token);
    let events = turn(&running, &token, &session, "Anyone there?");
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "error", "{events:?}");
    assert!(!data["message"].as_str().unwrap().is_empty());
    let messages = history(&running, &token, &session);
    assert_eq!(
        messages.first().map(message_text),
        Some(("user".to_owned(), "Anyone there?".to_owned()))
    );
    running.stop();
}
