use zeroize::Zeroizing;

use super::*;

fn secret(text: &str) -> SecretValue {
    SecretValue::new(Zeroizing::new(text.as_bytes().to_vec())).unwrap()
}

fn api(root: &str) -> Result<TelegramApi, TelegramError> {
    TelegramApi::new(Url::parse(root).unwrap(), secret("123:ABC-def_9"))
}

#[test]
fn https_root_is_accepted_and_plain_http_only_on_loopback() {
    assert!(api("https://api.telegram.org").is_ok());
    assert!(api("http://127.0.0.1:8081").is_ok());
    assert!(api("http://[::1]:8081/").is_ok());
    assert!(api("http://localhost:8081").is_ok());
    assert!(matches!(
        api("http://api.telegram.org"),
        Err(TelegramError::Root(_))
    ));
    assert!(matches!(
        api("http://10.0.0.1"),
        Err(TelegramError::Root(_))
    ));
    assert!(matches!(
        api("ftp://127.0.0.1"),
        Err(TelegramError::Root(_))
    ));
    assert!(matches!(
        api("https://u:p@api.telegram.org"),
        Err(TelegramError::Root(_))
    ));
    assert!(matches!(
        api("https://api.telegram.org/?x=1"),
        Err(TelegramError::Root(_))
    ));
}

#[test]
fn malformed_token_is_refused_without_showing_it() {
    for token in [
        "nocolon", ":abc", "12:", "12:a/b", "12:a b", "x1:abc", "12:a%2Fb",
    ] {
        let refused = TelegramApi::new(
            Url::parse("https://api.telegram.org").unwrap(),
            secret(token),
        );
        let error = refused.unwrap_err();
        assert_eq!(error, TelegramError::Token);
        assert!(!format!("{error} {error:?}").contains(token));
    }
}

#[test]
fn method_url_keeps_the_root_path_and_debug_hides_the_token() {
    let api = api("http://127.0.0.1:1/tg/").unwrap();
    assert_eq!(api.method_url("getMe").path(), "/tg/bot123:ABC-def_9/getMe");
    assert!(!format!("{api:?}").contains("ABC-def_9"));
}

#[test]
fn file_url_takes_only_plain_relative_paths() {
    let api = api("http://127.0.0.1:1").unwrap();
    let url = api.file_url("documents/file_3.pdf").unwrap();
    assert_eq!(url.path(), "/file/bot123:ABC-def_9/documents/file_3.pdf");
    for bad in [
        "../x",
        "/etc/passwd",
        "a//b",
        "a/./b",
        "a?b",
        "a%2e",
        "a\\b",
        "",
    ] {
        assert!(
            matches!(api.file_url(bad), Err(TelegramError::Malformed(_))),
            "{bad}"
        );
    }
}

#[test]
fn secret_token_and_filename_grammars() {
    assert!(is_secret_token("abc_DEF-123"));
    assert!(!is_secret_token(""));
    assert!(!is_secret_token("a b"));
    assert!(!is_secret_token(&"a".repeat(257)));
    assert!(is_filename("report 1.pdf"));
    assert!(!is_filename("a\"b"));
    assert!(!is_filename("a\r\nb"));
    assert!(!is_filename("../x"));
    assert!(!is_filename(""));
}

#[test]
fn unreadable_update_keeps_its_id_and_one_without_an_id_is_dropped() {
    let odd_chat = serde_json::json!({
        "update_id": 41,
        "message": {"message_id": 1, "chat": {"id": 1, "type": "galaxy"}},
    });
    let kept = answer::update(odd_chat).unwrap();
    assert_eq!(kept.update_id, 41);
    assert!(kept.message.is_none());
    assert!(answer::update(serde_json::json!({"message": {}})).is_none());
    let other_kind = serde_json::json!({"update_id": 42, "my_chat_member": {}});
    assert_eq!(answer::update(other_kind).unwrap().update_id, 42);
}
