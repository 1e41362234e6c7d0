//! Telegram's secret-token header and its grammar.

use hardshell_vocabulary::Platform;

use super::*;

pub(super) const TG_SECRET: &str = "Tg_secret-0123456789";

#[test]
fn telegram_accepts_exactly_the_configured_secret_token() {
    let body = br#"{"update_id":1}"#;
    let ok = crate::verify::telegram::verify(Some(TG_SECRET.as_bytes()), body, &secret(TG_SECRET))
        .unwrap();
    assert_eq!((ok.platform(), ok.body()), (Platform::Telegram, &body[..]));
    let empty =
        crate::verify::telegram::verify(Some(TG_SECRET.as_bytes()), b"", &secret(TG_SECRET));
    assert!(
        empty.is_ok(),
        "an empty body is authentic; parsing it is the caller's refusal"
    );
}

#[test]
fn telegram_refuses_a_wrong_or_missing_secret_token() {
    let run = |token: Option<&str>| {
        crate::verify::telegram::verify(token.map(str::as_bytes), b"{}", &secret(TG_SECRET))
            .map(|_| ())
    };
    assert_eq!(run(None), Err(VerifyError::MissingSecretToken));
    assert_eq!(run(Some("")), Err(VerifyError::WrongSecretToken));
    assert_eq!(
        run(Some("Tg_secret-0123456788")),
        Err(VerifyError::WrongSecretToken)
    );
    assert_eq!(
        run(Some("tg_secret-0123456789")),
        Err(VerifyError::WrongSecretToken)
    );
    assert_eq!(
        run(Some(&TG_SECRET[..19])),
        Err(VerifyError::WrongSecretToken)
    );
    assert_eq!(
        run(Some(&format!("{TG_SECRET}0"))),
        Err(VerifyError::WrongSecretToken)
    );
}

#[test]
fn telegram_secret_grammar_is_telegrams() {
    assert!(webhook_secret_ok("a"));
    assert!(webhook_secret_ok(&"Az09_-".repeat(40)[..240]));
    assert!(webhook_secret_ok(&"x".repeat(256)));
    assert!(!webhook_secret_ok(&"x".repeat(257)));
    for bad in ["", "with space", "dot.ted", "slash/", "ünï", "tab\t"] {
        assert!(!webhook_secret_ok(bad), "{bad:?}");
    }
    // A configured secret Telegram would refuse matches nothing, not even itself.
    let unusable = crate::verify::telegram::verify(Some(b"has space"), b"{}", &secret("has space"));
    assert_eq!(unusable.map(|_| ()), Err(VerifyError::UnusableSecret));
}

pub(super) fn webhook_secret_ok(s: &str) -> bool {
    crate::verify::telegram::webhook_secret_is_valid(s)
}
