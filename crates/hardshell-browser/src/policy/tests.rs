use std::path::Path;

use serde_json::{Value, json};

use super::*;

fn policy() -> MethodPolicy {
    MethodPolicy::standard().unwrap()
}

fn rules() -> SessionRules {
    SessionRules::new(
        Path::new("/session/downloads"),
        Path::new("/session/uploads"),
    )
    .unwrap()
}

fn command(method: &str, params: Value) -> Command {
    let text = json!({"id": 1, "method": method, "params": params}).to_string();
    Command::parse(&text).unwrap()
}

fn check(method: &str, params: Value) -> Result<Permitted, Refused> {
    policy().check(command(method, params), &rules())
}

fn sent_params(permitted: &Permitted) -> Value {
    let sent: Value = serde_json::from_str(&permitted.command().to_browser(1)).unwrap();
    sent["params"].clone()
}

fn refusal(method: &str, params: Value) -> CdpRefusal {
    check(method, params).unwrap_err().reason
}

#[test]
fn the_built_in_table_reads() {
    policy();
}

#[test]
fn what_playwright_sends_at_connect_is_allowed() {
    for method in [
        "Browser.getVersion",
        "Target.setAutoAttach",
        "Target.getTargetInfo",
        "Page.enable",
        "Page.getFrameTree",
        "Page.createIsolatedWorld",
        "Page.addScriptToEvaluateOnNewDocument",
        "Page.setLifecycleEventsEnabled",
        "Runtime.enable",
        "Runtime.evaluate",
        "Runtime.callFunctionOn",
        "Network.enable",
        "Log.enable",
        "Emulation.setDeviceMetricsOverride",
        "DOM.getContentQuads",
        "Input.dispatchMouseEvent",
        "Input.insertText",
        "Page.captureScreenshot",
        "Page.printToPDF",
        "IO.read",
    ] {
        assert_eq!(policy().verdict(method).0, Verdict::Allow, "{method}");
        assert!(check(method, json!({})).is_ok(), "{method}");
    }
}

#[test]
fn named_denials_are_refused_with_their_reason() {
    for method in [
        "Target.exposeDevToolsProtocol",
        "Target.attachToBrowserTarget",
        "Target.sendMessageToTarget",
        "Target.openDevTools",
        "Target.setRemoteLocations",
        "SystemInfo.getInfo",
        "SystemInfo.getProcessInfo",
        "Browser.getBrowserCommandLine",
        "Browser.close",
        "Browser.crash",
        "Browser.crashGpuProcess",
        "Browser.executeBrowserCommand",
        "Security.setIgnoreCertificateErrors",
        "Security.setOverrideCertificateErrors",
        "Network.getAllCookies",
        "Network.loadNetworkResource",
        "Extensions.loadUnpacked",
        "Tracing.start",
        "HeapProfiler.takeHeapSnapshot",
        "Tethering.bind",
        "PWA.install",
        "Cast.startTabMirroring",
        "Page.crash",
    ] {
        let refused = check(method, json!({})).unwrap_err();
        assert_eq!(refused.reason, CdpRefusal::Denied, "{method}");
        assert_eq!(refused.code(), -32601);
        assert!(
            refused
                .message(method)
                .starts_with(&format!("hardshell refused {method}: "))
        );
    }
}

#[test]
fn a_method_the_table_does_not_name_is_refused() {
    for method in [
        "Memory.getAllTimeSamplingProfile",
        "Browser.newThing",
        "NoDot",
        "",
    ] {
        assert_eq!(
            refusal(method, json!({})),
            CdpRefusal::NotListed,
            "{method:?}"
        );
    }
}

#[test]
fn a_method_name_matches_exactly_or_not_at_all() {
    for method in [
        "Page.navigate ",
        " Page.navigate",
        "Page.navigate\u{0}",
        "Page.navigate.x",
        "Page..navigate",
        "Page.",
        "Page.*",
    ] {
        assert_eq!(
            refusal(method, json!({"url": "file:///etc/passwd"})),
            CdpRefusal::NotListed,
            "{method:?}"
        );
    }
}

#[test]
fn a_refusal_names_no_invalid_method_text() {
    let refused = check("Evil\nmethod", json!({})).unwrap_err();
    assert_eq!(
        refused.message("Evil\nmethod"),
        format!("hardshell refused (invalid): {}", refused.detail)
    );
}

#[test]
fn download_paths_are_pinned_to_the_session() {
    for method in ["Browser.setDownloadBehavior", "Page.setDownloadBehavior"] {
        let permitted =
            check(method, json!({"behavior": "allow", "downloadPath": "/etc"})).unwrap();
        assert_eq!(
            sent_params(&permitted)["downloadPath"],
            "/session/downloads"
        );
        let without = check(method, json!({"behavior": "allow"})).unwrap();
        assert_eq!(sent_params(&without)["downloadPath"], "/session/downloads");
    }
}

#[test]
fn a_new_context_loses_its_own_proxy_settings_and_keeps_the_rest() {
    let params = json!({
        "proxyServer": "direct://",
        "proxyBypassList": "*",
        "originsWithUniversalNetworkAccess": ["http://a.example"],
        "disposeOnDetach": true,
    });
    let sent = sent_params(&check("Target.createBrowserContext", params).unwrap());
    assert_eq!(sent, json!({"disposeOnDetach": true}));
}

#[test]
fn navigation_is_to_web_urls_only() {
    for method in ["Page.navigate", "Target.createTarget"] {
        let permitted = check(method, json!({"url": "https://Example.COM/a?password=x"})).unwrap();
        assert_eq!(permitted.navigated().unwrap().as_str(), "example.com");
        let blank = check(method, json!({"url": "about:blank"})).unwrap();
        assert!(blank.navigated().is_none());
        let address = check(method, json!({"url": "http://[::1]:8080/"})).unwrap();
        assert_eq!(address.navigated().unwrap().as_str(), "::1");
        for url in [
            "file:///etc/passwd",
            "chrome://settings",
            "devtools://devtools/bundled/inspector.html",
            "javascript:alert(1)",
            "data:text/html,hi",
            "about:srcdoc",
            "view-source:http://example.com",
            "not a url",
        ] {
            assert_eq!(
                refusal(method, json!({"url": url})),
                CdpRefusal::UrlScheme,
                "{url}"
            );
        }
        assert_eq!(refusal(method, json!({})), CdpRefusal::MalformedParams);
        assert_eq!(
            refusal(method, json!({"url": 5})),
            CdpRefusal::MalformedParams
        );
    }
    assert!(
        check("Target.createTarget", json!({"url": "about:blank"}))
            .unwrap()
            .opens_page()
    );
    assert!(
        !check("Page.navigate", json!({"url": "about:blank"}))
            .unwrap()
            .opens_page()
    );
}

#[test]
fn a_rewritten_request_url_must_stay_a_web_url() {
    assert!(check("Fetch.continueRequest", json!({"requestId": "1"})).is_ok());
    assert!(
        check(
            "Fetch.continueRequest",
            json!({"requestId": "1", "url": "https://a.example/"})
        )
        .is_ok()
    );
    let refused = refusal(
        "Fetch.continueRequest",
        json!({"requestId": "1", "url": "file:///etc/passwd"}),
    );
    assert_eq!(refused, CdpRefusal::UrlScheme);
}

#[test]
fn uploads_come_from_the_upload_directory_only() {
    let inside = json!({"files": ["/session/uploads/report.pdf", "/session/uploads/a/./b.txt"]});
    assert!(check("DOM.setFileInputFiles", inside).is_ok());
    for path in [
        "/etc/passwd",
        "/session/uploads/../downloads/x",
        "/session/uploads",
        "/session/uploadsx/y",
        "session/uploads/x",
        "./session/uploads/x",
        "/session/uploads/x\u{0}y",
    ] {
        let params = json!({"files": ["/session/uploads/ok", path]});
        assert_eq!(
            refusal("DOM.setFileInputFiles", params),
            CdpRefusal::UploadPath,
            "{path:?}"
        );
        let drag = json!({"type": "drop", "x": 1, "y": 1, "data": {"items": [], "files": [path]}});
        assert_eq!(
            refusal("Input.dispatchDragEvent", drag),
            CdpRefusal::UploadPath,
            "{path:?}"
        );
    }
    assert_eq!(
        refusal("DOM.setFileInputFiles", json!({"files": "/etc/passwd"})),
        CdpRefusal::MalformedParams
    );
    let no_files = json!({"type": "dragEnter", "x": 1, "y": 1, "data": {"items": []}});
    assert!(check("Input.dispatchDragEvent", no_files).is_ok());
}

#[test]
fn cookie_methods_need_a_browser_context() {
    for method in [
        "Storage.getCookies",
        "Storage.setCookies",
        "Storage.clearCookies",
    ] {
        assert_eq!(
            refusal(method, json!({})),
            CdpRefusal::NoBrowserContext,
            "{method}"
        );
        assert_eq!(
            refusal(method, json!({"browserContextId": ""})),
            CdpRefusal::NoBrowserContext
        );
        assert!(
            check(method, json!({"browserContextId": "C1", "cookies": []})).is_ok(),
            "{method}"
        );
    }
}

#[test]
fn target_discovery_stays_on() {
    let sent = sent_params(
        &check(
            "Target.setDiscoverTargets",
            json!({"discover": false, "filter": [{"type": "page", "exclude": true}]}),
        )
        .unwrap(),
    );
    assert_eq!(sent, json!({"discover": true}));
}

#[test]
fn session_directories_must_be_plain_absolute_paths() {
    for bad in ["relative", "/a/../b", "./a", "/a/./b", "/a//b", "/a/"] {
        assert!(
            SessionRules::new(Path::new(bad), Path::new("/u")).is_err(),
            "{bad}"
        );
        assert!(
            SessionRules::new(Path::new("/d"), Path::new(bad)).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn a_bad_table_is_refused_by_line() {
    let cases: [(&'static str, PolicyError); 7] = [
        ("Page.enable", PolicyError::Syntax { line: 1 }),
        ("Page.enable allow", PolicyError::NoReason { line: 1 }),
        ("Page allow why", PolicyError::Pattern { line: 1 }),
        (
            "# c\nPage.enable maybe why",
            PolicyError::Verdict { line: 2 },
        ),
        (
            "Page.* rewrite:web-url why",
            PolicyError::Verdict { line: 1 },
        ),
        (
            "Page.navigate rewrite:nope why",
            PolicyError::Verdict { line: 1 },
        ),
        (
            "Page.enable allow a\nPage.enable deny b",
            PolicyError::Duplicate { line: 2 },
        ),
    ];
    for (text, error) in cases {
        assert_eq!(table::Table::parse(text).unwrap_err(), error, "{text}");
    }
}

#[test]
fn an_entry_its_wildcard_already_says_is_refused() {
    let redundant_allow = "Page.* allow a\nPage.enable allow b";
    assert_eq!(
        table::Table::parse(redundant_allow).unwrap_err(),
        PolicyError::Redundant { line: 2 }
    );
    let redundant_deny = "Tracing.* deny a\nTracing.start deny b";
    assert_eq!(
        table::Table::parse(redundant_deny).unwrap_err(),
        PolicyError::Redundant { line: 2 }
    );
    assert!(table::Table::parse("Page.* allow a\nPage.crash deny b").is_ok());
}

#[test]
fn every_rule_is_used_by_the_built_in_table() {
    let policy = policy();
    for rule in Rule::ALL {
        let used = policy
            .table
            .exact
            .values()
            .any(|entry| entry.verdict == Verdict::Rewrite(*rule));
        assert!(used, "{}", rule.word());
    }
}
