//! The Bot API's refusals that crabline does not emulate, from the fake:
//! each mapped onto what the caller should do.

use hardshell_channels::telegram::api::{ConflictCause, TelegramApi, TelegramError};

use super::{fake, secret, text};

pub const TOKEN: &str = "123456:fake-token_canary";

pub fn fake_client(fake: &fake::FakeBotApi) -> TelegramApi {
    TelegramApi::new(fake.root(), secret(TOKEN)).unwrap()
}

#[tokio::test]
async fn rate_limit_gives_its_retry_after() {
    let fake = fake::serve(|_| {
        fake::json(
            429,
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 23","parameters":{"retry_after":23}}"#,
        )
    })
    .await;
    let refused = fake_client(&fake)
        .send_message(&text(1, "x", None))
        .await
        .unwrap_err();
    assert_eq!(refused, TelegramError::RetryAfter { secs: 23 });
    assert!(refused.is_retryable());
}

#[tokio::test]
async fn second_poller_is_a_conflict_naming_the_other_poller() {
    let fake = fake::serve(|_| {
        fake::json(
            409,
            r#"{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}"#,
        )
    })
    .await;
    let refused = fake_client(&fake).get_updates(None, 0).await.unwrap_err();
    let TelegramError::Conflict { cause, .. } = &refused else {
        panic!("{refused:?}");
    };
    assert_eq!(*cause, ConflictCause::OtherPoller);
    assert!(
        refused.to_string().contains("one poller per token"),
        "{refused}"
    );
}

#[tokio::test]
async fn revoked_token_is_unauthorized() {
    let fake = fake::serve(|_| {
        fake::json(
            401,
            r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
        )
    })
    .await;
    let refused = fake_client(&fake).get_me().await.unwrap_err();
    assert_eq!(refused, TelegramError::Unauthorized);
    assert!(!refused.is_retryable());
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let fake = fake::serve(|path| {
        if path.ends_with("/getMe") {
            fake::redirect("http://127.0.0.1:9/elsewhere")
        } else {
            fake::json(200, r#"{"ok":true,"result":{"id":1,"is_bot":true}}"#)
        }
    })
    .await;
    let refused = fake_client(&fake).get_me().await.unwrap_err();
    assert_eq!(refused, TelegramError::Server { status: 302 });
    assert_eq!(fake.paths().len(), 1, "{:?}", fake.paths());
}
