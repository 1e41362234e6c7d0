//! Telegram's webhook check: Telegram sends the secret given to `setWebhook`
//! back in a header on every delivery (Bot API, "setWebhook": `secret_token`).
//! There is no signature and no timestamp; replays are refused by update_id
//! ([`super::SeenIds`]).

use hardshell_secrets::SecretValue;
use hardshell_vocabulary::Platform;

use super::{Verified, VerifyError, check_body_size, tokens_match};

/// The header carrying the secret token.
pub const SECRET_TOKEN_HEADER: &str = "x-telegram-bot-api-secret-token";

/// True if Telegram accepts `secret` as a webhook secret: 1-256 characters of
/// `A-Z a-z 0-9 _ -`. The config check refuses any other.
pub fn webhook_secret_is_valid(secret: &str) -> bool {
    token_grammar(secret.as_bytes())
}

fn token_grammar(token: &[u8]) -> bool {
    (1..=256).contains(&token.len())
        && token
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// Checks the secret-token header (`secret_token`, absent if the request had
/// none) against the configured `secret`, before `body` is parsed.
pub fn verify<'b>(
    secret_token: Option<&[u8]>,
    body: &'b [u8],
    secret: &SecretValue,
) -> Result<Verified<'b>, VerifyError> {
    check_body_size(body)?;
    if !token_grammar(secret.expose()) {
        return Err(VerifyError::UnusableSecret);
    }
    let presented = secret_token.ok_or(VerifyError::MissingSecretToken)?;
    if !tokens_match(presented, secret.expose()) {
        return Err(VerifyError::WrongSecretToken);
    }
    Ok(Verified::new(Platform::Telegram, body))
}
