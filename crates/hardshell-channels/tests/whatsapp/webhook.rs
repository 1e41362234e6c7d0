//! The webhook route: the handshake, signed deliveries in crabline's (the
//! Business webhook's) exact shape, and the dispatch's answer as crabline
//! recorded it.

use chrono::Utc;
use hardshell_channels::verify::VerifyError;
use hardshell_channels::webhook::{WebhookEndpoint, WebhookOutcome, WebhookRequest};
use http::{HeaderMap, HeaderValue, Method};

use hardshell_channels::whatsapp::WhatsappChannelError;
use hardshell_channels::whatsapp::api::WhatsappError;

use super::*;

fn post(webhook: &WhatsappWebhook, body: &[u8], signature: Option<&str>) -> WebhookOutcome {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(signature) = signature {
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_str(signature).unwrap(),
        );
    }
    webhook.receive(WebhookRequest {
        method: &Method::POST,
        headers: &headers,
        query: None,
        body,
        now: Utc::now(),
    })
}

fn get(webhook: &WhatsappWebhook, query: &str) -> WebhookOutcome {
    webhook.receive(WebhookRequest {
        method: &Method::GET,
        headers: &HeaderMap::new(),
        query: Some(query),
        body: b"",
        now: Utc::now(),
    })
}

/// Delivers `payload` signed with the app secret.
fn deliver(channel: &Channel, payload: &Value) -> WebhookOutcome {
    let body = serde_json::to_vec(payload).unwrap();
    post(&channel.webhook, &body, Some(&sign(&body, APP_SECRET)))
}

fn message_id(payload: &Value) -> String {
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

const ACCEPTED: WebhookOutcome = WebhookOutcome::Accepted { body: Vec::new() };

#[tokio::test]
async fn the_route_is_the_whatsapp_hook_for_get_and_post() {
    let channel = Channel::start(false).await;
    assert_eq!(channel.webhook.path(), "/hooks/whatsapp");
    assert_eq!(channel.webhook.methods(), [Method::GET, Method::POST]);
    assert_eq!(channel.webhook.platform(), Platform::Whatsapp);
}

#[tokio::test]
async fn the_handshake_echoes_the_challenge_only_for_the_verify_token() {
    let channel = Channel::start(false).await;
    let right =
        format!("hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444");
    assert_eq!(
        get(&channel.webhook, &right),
        WebhookOutcome::Accepted {
            body: b"1158201444".to_vec()
        }
    );
    let wrong = "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444";
    assert_eq!(
        get(&channel.webhook, wrong),
        WebhookOutcome::Rejected(VerifyError::WrongVerifyToken)
    );
}

#[tokio::test]
async fn a_signed_message_from_a_paired_user_is_answered_as_a_reply() {
    let channel = Channel::start(true).await;
    let payload = user_writes(&channel.crabline, "what time is it");
    assert_eq!(deliver(&channel, &payload), ACCEPTED);
    let sent = wait_texts(&channel.crabline, 1).await;
    assert_eq!(sent[0]["to"], USER);
    assert_eq!(sent[0]["text"]["body"], "echo: what time is it");
    assert_eq!(
        sent[0]["context"]["message_id"],
        message_id(&payload).as_str()
    );
    assert_eq!(channel.turns(), 1);
}

#[tokio::test]
async fn a_stranger_gets_a_pairing_code_and_no_turn() {
    let channel = Channel::start(false).await;
    let payload = user_writes(&channel.crabline, "hi");
    assert_eq!(deliver(&channel, &payload), ACCEPTED);
    let sent = wait_texts(&channel.crabline, 1).await;
    assert!(
        sent[0]["text"]["body"]
            .as_str()
            .unwrap()
            .contains("pairing code"),
        "{sent:?}"
    );
    assert_eq!(channel.turns(), 0);
    let pending = channel.pairings.list(Utc::now()).await.unwrap();
    assert_eq!(pending.1.len(), 1, "{pending:?}");
}

#[tokio::test]
async fn unsigned_and_forged_deliveries_are_rejected_and_never_handled() {
    let channel = Channel::start(true).await;
    let payload = user_writes(&channel.crabline, "forged");
    let body = serde_json::to_vec(&payload).unwrap();
    assert_eq!(
        post(&channel.webhook, &body, None),
        WebhookOutcome::Rejected(VerifyError::MissingSignature)
    );
    let other_key = sign(&body, "not-the-app-secret");
    assert_eq!(
        post(&channel.webhook, &body, Some(&other_key)),
        WebhookOutcome::Rejected(VerifyError::BadSignature)
    );
    // Signed, then changed: the signature is over the bytes as they came.
    let signature = sign(&body, APP_SECRET);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("forged", "FORGED");
    assert_eq!(
        post(&channel.webhook, tampered.as_bytes(), Some(&signature)),
        WebhookOutcome::Rejected(VerifyError::BadSignature)
    );
    // The rejected deliveries were not remembered: the real one is taken,
    // and is the only one the worker handled (it handles in order).
    assert_eq!(deliver(&channel, &payload), ACCEPTED);
    let sent = wait_texts(&channel.crabline, 1).await;
    assert_eq!(sent[0]["text"]["body"], "echo: forged");
    assert_eq!(channel.turns(), 1);
}

#[tokio::test]
async fn a_replayed_message_id_is_a_duplicate_handled_once() {
    let channel = Channel::start(true).await;
    let first = user_writes(&channel.crabline, "once");
    assert_eq!(deliver(&channel, &first), ACCEPTED);
    assert_eq!(deliver(&channel, &first), WebhookOutcome::Duplicate);
    // The same message id in a delivery of other bytes is still a replay.
    let mut reshaped = first.clone();
    reshaped["entry"][0]["id"] = json!("OTHER_WABA");
    assert_eq!(deliver(&channel, &reshaped), WebhookOutcome::Duplicate);
    // Handled in order: once the next message is answered, a second
    // handling of the first would have been too.
    let next = user_writes(&channel.crabline, "twice?");
    assert_eq!(deliver(&channel, &next), ACCEPTED);
    let sent = wait_texts(&channel.crabline, 2).await;
    let bodies: Vec<_> = sent.iter().map(|s| s["text"]["body"].clone()).collect();
    assert_eq!(bodies, [json!("echo: once"), json!("echo: twice?")]);
    assert_eq!(channel.turns(), 2);
}

#[tokio::test]
async fn another_numbers_delivery_is_malformed_and_not_handled() {
    let channel = Channel::start(true).await;
    let mut payload = user_writes(&channel.crabline, "not for you");
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = json!("999999");
    assert_eq!(deliver(&channel, &payload), WebhookOutcome::Malformed);
    let broken = b"{\"object\":";
    assert_eq!(
        post(&channel.webhook, broken, Some(&sign(broken, APP_SECRET))),
        WebhookOutcome::Malformed
    );
    let next = user_writes(&channel.crabline, "for you");
    assert_eq!(deliver(&channel, &next), ACCEPTED);
    let sent = wait_texts(&channel.crabline, 1).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["text"]["body"], "echo: for you");
    assert_eq!(channel.turns(), 1);
}

#[tokio::test]
async fn a_statuses_only_delivery_is_taken_and_nothing_is_said() {
    let channel = Channel::start(true).await;
    let mut payload = user_writes(&channel.crabline, "ignored");
    let value = &mut payload["entry"][0]["changes"][0]["value"];
    value.as_object_mut().unwrap().remove("messages");
    value.as_object_mut().unwrap().remove("contacts");
    value["statuses"] = json!([{"id": "wamid.X", "status": "read", "timestamp": "1700000000", "recipient_id": USER}]);
    assert_eq!(deliver(&channel, &payload), ACCEPTED);
    let next = user_writes(&channel.crabline, "after");
    assert_eq!(deliver(&channel, &next), ACCEPTED);
    let sent = wait_texts(&channel.crabline, 1).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(channel.turns(), 1);
}

#[tokio::test]
async fn no_secret_reaches_an_error_or_debug_output() {
    let channel = Channel::start(true).await;
    let token = access_token(&channel.crabline).to_owned();
    let debug = format!("{:?}", channel.webhook);
    let api = client_with(&channel.crabline, &token);
    let api_debug = format!("{api:?}");
    let refused = client_with(&channel.crabline, "EAAsomeOtherToken")
        .send_text(USER, "hi", None)
        .await
        .unwrap_err();
    let bad_request = api
        .send_text(USER, &"x".repeat(5000), None)
        .await
        .unwrap_err();
    let body = b"{}";
    let rejected = post(&channel.webhook, body, Some(&sign(body, "guess")));
    let texts = [
        debug,
        api_debug,
        format!("{refused} {refused:?}"),
        format!("{bad_request} {bad_request:?}"),
        format!("{rejected:?}"),
    ];
    for text in texts {
        for secret in [
            token.as_str(),
            "EAAsomeOtherToken",
            APP_SECRET,
            VERIFY_TOKEN,
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[tokio::test]
async fn the_channel_needs_its_number_its_dispatch_and_a_bearer_token() {
    let store = TestStore::new().await;
    let pairings = Pairings::new(store.scope("channels/pairing"));
    let agent = Arc::new(EchoAgent::default());
    let secrets = || WhatsappSecrets {
        access_token: secret("EAAtoken"),
        app_secret: secret(APP_SECRET),
        verify_token: secret(VERIFY_TOKEN),
    };
    let config = hardshell_config::Whatsapp {
        enabled: true,
        phone_number_id: Some(PhoneNumberId::parse("100").unwrap()),
        ..Default::default()
    };
    let telegram = dispatcher(&store, Platform::Telegram, agent.clone(), &pairings).await;
    let error = whatsapp::channel(
        &config,
        secrets(),
        telegram,
        store.scope("channels/whatsapp"),
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            WhatsappChannelError::OtherPlatform(Platform::Telegram)
        ),
        "{error}"
    );

    let no_number = hardshell_config::Whatsapp {
        phone_number_id: None,
        ..config.clone()
    };
    let own = dispatcher(&store, Platform::Whatsapp, agent.clone(), &pairings).await;
    let error = whatsapp::channel(&no_number, secrets(), own, store.scope("channels/whatsapp"))
        .unwrap_err();
    assert!(
        matches!(error, WhatsappChannelError::NoPhoneNumberId),
        "{error}"
    );

    let own = dispatcher(&store, Platform::Whatsapp, agent.clone(), &pairings).await;
    let spaced = WhatsappSecrets {
        access_token: secret("EAA token"),
        ..secrets()
    };
    let error =
        whatsapp::channel(&config, spaced, own, store.scope("channels/whatsapp")).unwrap_err();
    assert!(
        matches!(error, WhatsappChannelError::Api(WhatsappError::Token)),
        "{error}"
    );
    assert!(!format!("{error} {error:?}").contains("EAA token"));

    let own = dispatcher(&store, Platform::Whatsapp, agent, &pairings).await;
    assert!(whatsapp::channel(&config, secrets(), own, store.scope("channels/whatsapp")).is_ok());
}
