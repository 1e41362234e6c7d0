//! The policy's promises, checked on generated commands: whatever a client
//! sends, parsing and deciding never panic, and what is let through keeps the
//! rules (web URLs only, uploads inside the session's directory, a bounded
//! host name for the record, no parameter in a refusal).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hardshell_browser::{Command, MethodPolicy, SessionRules};
use proptest::prelude::*;
use serde_json::json;

fn rules() -> SessionRules {
    SessionRules::new(Path::new("/s/downloads"), Path::new("/s/uploads")).unwrap()
}

/// Methods near the table's: real ones, their domains with other names, noise.
fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Page.navigate".to_owned()),
        Just("Target.createTarget".to_owned()),
        Just("DOM.setFileInputFiles".to_owned()),
        Just("Input.dispatchDragEvent".to_owned()),
        Just("Fetch.continueRequest".to_owned()),
        Just("Storage.getCookies".to_owned()),
        "(Page|Target|Browser|Storage|SystemInfo|Runtime)\\.[a-zA-Z]{0,12}",
        ".{0,80}",
    ]
}

/// URLs a hostile client would try: any scheme, slashes or not, odd hosts.
fn url() -> impl Strategy<Value = String> {
    let scheme = "(https?|HTTP|file|FILE|chrome|devtools|javascript|data|about|ws|ftp|blob|view-source|[a-z]{1,5})";
    let separator = prop_oneof![4 => Just("://".to_owned()), 1 => "[:/\\\\\\t ]{0,4}"];
    let host = "[a-zA-Z0-9.@\\[\\]%_:-]{0,20}";
    let rest = "(/.{0,10})?";
    (scheme, separator, host, rest)
        .prop_map(|(scheme, separator, host, rest)| format!("{scheme}{separator}{host}{rest}"))
}

/// URLs, paths near the upload directory, and noise.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => url(),
        2 => "/s/uploads(/(\\.\\.|\\.|[a-z]{1,3}|)){0,4}",
        1 => "[ \\t\\n]{0,2}(HTTP|hTTps|FILE):.{0,20}",
        1 => ".{0,40}",
    ]
}

/// Put around parameters to see whether a refusal quotes them.
const MARK: &str = "qzxjv";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_is_a_command_or_a_clean_error(text in ".{0,200}") {
        let _ = Command::parse(&text);
    }

    #[test]
    fn what_the_policy_lets_through_keeps_its_rules(
        method in method(),
        value in text(),
        files in prop::collection::vec(text(), 0..4),
        context in prop::option::of("[A-F0-9]{0,8}"),
    ) {
        let policy = MethodPolicy::standard().unwrap();
        let mut params = json!({"url": value, "files": files, "data": {"files": files}});
        if let Some(context) = &context {
            params["browserContextId"] = json!(context);
        }
        let command = json!({"id": 1, "method": method, "params": params, "sessionId": "S"});
        let command = Command::parse(&command.to_string()).unwrap();
        match policy.check(command, &rules()) {
            Ok(permitted) => {
                let url = value.as_str();
                if ["Page.navigate", "Target.createTarget", "Fetch.continueRequest"].contains(&method.as_str()) {
                    let parsed = url::Url::parse(url);
                    let web = parsed.as_ref().is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                    prop_assert!(url == "about:blank" || web, "{method} let {url:?} through");
                }
                if ["DOM.setFileInputFiles", "Input.dispatchDragEvent"].contains(&method.as_str()) {
                    for file in &files {
                        prop_assert!(file.starts_with("/s/uploads/") && !file.contains(".."), "{file:?}");
                    }
                }
                if let Some(host) = permitted.navigated() {
                    prop_assert!(!host.as_str().contains(['/', '?', '@', ':', '#']) || host.as_str().parse::<std::net::IpAddr>().is_ok());
                }
                prop_assert_eq!(permitted.command().session_id(), Some("S"));
                prop_assert_eq!(permitted.command().method(), method.as_str());
            }
            Err(refused) => {
                let message = refused.message(&method);
                prop_assert!(message.starts_with("hardshell refused "));
                prop_assert!(!message.chars().any(char::is_control), "{message:?}");
                // The refusal quotes no parameter. A random value can be
                // drawn equal to part of the fixed wording ("file" in "files
                // may be uploaded only..."), so the same command is refused
                // again with a marker before and after every value, which no
                // wording holds: a refusal quoting any part of a parameter
                // would carry a marker.
                let marks: [fn(&str) -> String; 2] = [|v| format!("{MARK}{v}"), |v| format!("{v}{MARK}")];
                for marked in marks {
                    let files: Vec<String> = files.iter().map(|f| marked(f)).collect();
                    let mut params = json!({"url": marked(&value), "files": files, "data": {"files": files}});
                    if let Some(context) = &context {
                        params["browserContextId"] = json!(context);
                    }
                    let command = json!({"id": 1, "method": method, "params": params, "sessionId": "S"});
                    let command = Command::parse(&command.to_string()).unwrap();
                    if let Err(refused) = policy.check(command, &rules()) {
                        let message = refused.message(&method);
                        prop_assert!(!message.contains(MARK), "the refusal quotes a parameter: {message:?}");
                    }
                }
            }
        }
    }
}
