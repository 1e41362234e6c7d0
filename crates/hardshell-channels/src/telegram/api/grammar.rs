//! The grammars the client checks before it sends anything: the API root,
//! the token (which goes into a URL path unescaped), a webhook's secret, a
//! document's name (which goes into a multipart header) and a file path the
//! platform gave (which goes into a URL beside the token).

use hardshell_secrets::SecretValue;
use url::{Host, Url};

use super::TelegramError;

pub(super) fn check_root(root: &Url) -> Result<(), TelegramError> {
    if root.cannot_be_a_base()
        || root.query().is_some()
        || root.fragment().is_some()
        || !root.username().is_empty()
        || root.password().is_some()
    {
        return Err(TelegramError::Root(
            "must be a plain URL without credentials, query or fragment",
        ));
    }
    let loopback = match root.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match root.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(TelegramError::Root(
            "must be https (plain http only on a loopback host)",
        )),
    }
}

/// `<bot id>:<secret>`, as @BotFather issues them; also what makes the token
/// safe to place in a URL path unescaped.
pub(super) fn check_token(token: &SecretValue) -> Result<(), TelegramError> {
    let well_formed = token.expose_str().is_some_and(|text| {
        text.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && text.len() <= 256
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    });
    if well_formed {
        Ok(())
    } else {
        Err(TelegramError::Token)
    }
}

/// The Bot API's grammar of a webhook's secret token.
pub(super) fn is_secret_token(text: &str) -> bool {
    (1..=256).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) fn is_filename(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '"' | '\\' | '/'))
}

/// Plain relative segments of letters, digits, `.`, `_` and `-`, as the Bot
/// API's file paths are (`documents/file_3.pdf`): nothing that could climb
/// out of `/file/bot<token>/` or add a query.
pub(super) fn is_file_path(path: &str) -> bool {
    let plain = |segment: &str| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    path.len() <= 256 && path.split('/').all(plain)
}
