//! `exec` with `[egress.secrets]` driven by a real model turn: the agent's
//! model traffic quotes placeholders (the exec tool's description, a
//! command's output, the broker's echo conversion) and its model route
//! passes them as text, so the documented workflow completes through the
//! agent and the session keeps working after it.

use crate::running::{Running, env, instance, new_session, reply_text, token, turn};
use crate::scripted::{Step, scripted_provider};

#[test]
fn exec_with_secrets_completes_through_a_model_turn_and_the_session_goes_on() {
    const TOKEN: &str = "test-token-5f4e3d2c1b0a99887766";
    let (api_port, api_root, api_seen) = crate::shell::outside_tls_server();
    // The API echoes the authorization it got, which the broker turns back
    // into the placeholder: the command's output quotes it to the model.
    let command = format!(
        "curl -sS -H 'Authorization: Bearer hs-secret:TEST_TOKEN' http://localhost:{api_port}/user"
    );
    let (model_url, model_seen) = scripted_provider(vec![
        Step::call("exec", serde_json::json!({ "command": command })),
        Step::say("The API answered."),
    ]);
    let hs = instance(&format!(
        "[agent]\nmax_tokens = 64\n[llm]\nchain = [\"stub/scripted\"]\n\
         [llm.providers.stub]\nkind = \"openai\"\nbase_url = \"{model_url}\"\napi_key = \"env:HARDSHELL_TEST_LLM_KEY\"\n\
         [exec]\napproval = \"allowlist\"\nallow = [\"curl\"]\ntimeout_secs = 20\n\
         [[egress.routes]]\nhosts = [\"localhost\"]\nports = [{api_port}]\ntls = true\n\
         [egress.secrets.TEST_TOKEN]\nhosts = [\"localhost\"]\nheader = \"authorization\"\n"
    ));
    let roots = hs.path("outside-root.pem");
    std::fs::write(&roots, api_root).unwrap();
    hs.edit_config(|text| {
        text.replace(
            "egress_internal = []",
            "egress_internal = [\"127.0.0.0/8\"]",
        )
    });
    hs.run_with_stdin(&["secret", "put", "TEST_TOKEN"], TOKEN.as_bytes())
        .ok();
    let running = Running::start_with(&hs, &[("SSL_CERT_FILE", roots.to_str().unwrap())]);
    let token = token(&hs);
    let session = new_session(&running, &token);

    let events = turn(&running, &token, &session, "Call the API.");
    assert_eq!(
        events.last().map(|(n, _)| n.as_str()),
        Some("done"),
        "{events:?}"
    );
    assert_eq!(reply_text(&events), "The API answered.", "{events:?}");
    // The command reached the API with the secret swapped in.
    let heads = api_seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].contains(&format!("authorization: Bearer {TOKEN}")),
        "{heads:?}"
    );
    {
        let requests = model_seen.lock().unwrap();
        assert_eq!(requests.len(), 2, "{requests:?}");
        // The key placeholder became the provider's key, in its header.
        let key = env("HARDSHELL_TEST_LLM_KEY");
        assert!(
            requests
                .iter()
                .all(|(auth, _)| *auth == format!("Bearer {key}"))
        );
        // The tool's description and the command's output reached the model
        // as the placeholders they are, never as a value.
        assert!(
            requests[0].1.contains("hs-secret:NAME"),
            "{}",
            requests[0].1
        );
        assert!(
            requests[1]
                .1
                .contains("you sent Bearer hs-secret:TEST_TOKEN"),
            "{}",
            requests[1].1
        );
        assert!(requests.iter().all(|(_, body)| !body.contains(TOKEN)));
    }

    // A conversation that quotes placeholders goes on.
    let events = turn(&running, &token, &session, "Thanks.");
    assert_eq!(
        events.last().map(|(n, _)| n.as_str()),
        Some("done"),
        "{events:?}"
    );
    assert_eq!(model_seen.lock().unwrap().len(), 3);
    running.stop();
}
