use std::path::Path;

use serde_json::json;

use crate::support::{DOWNLOADED, Session, Site};

const PAGE: &str = "<html><head><title>t</title></head><body>hi</body></html>";
const FORM: &str = "<html><body><input type=file id=f></body></html>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_methods_answer_an_error_and_the_session_goes_on() {
    let mut session = Session::start().await;
    for method in [
        "Target.exposeDevToolsProtocol",
        "Target.attachToBrowserTarget",
        "Target.sendMessageToTarget",
        "SystemInfo.getInfo",
        "Browser.getBrowserCommandLine",
        "Browser.close",
        "Browser.crash",
        "Security.setIgnoreCertificateErrors",
        "Network.getAllCookies",
        "Tracing.start",
        "Memory.getDOMCounters",
    ] {
        let error = session.refused(None, method, json!({})).await;
        assert_eq!(error["code"], -32601, "{method}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("hardshell refused {method}: ")),
            "{message}"
        );
        session.call(None, "Browser.getVersion", json!({})).await;
    }
    let error = session.refused(None, "Storage.getCookies", json!({})).await;
    assert_eq!(error["code"], -32000);
    session.call(None, "Browser.getVersion", json!({})).await;
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn navigation_outside_the_web_is_refused_in_the_page_session() {
    let site = Site::serve(PAGE).await;
    let mut session = Session::start().await;
    let (_, page) = session.new_page("about:blank").await;
    for url in [
        "file:///etc/passwd",
        "chrome://version",
        "javascript:alert(1)",
    ] {
        let error = session
            .refused(Some(&page), "Page.navigate", json!({"url": url}))
            .await;
        assert_eq!(error["code"], -32000, "{url}");
    }
    let refused = session
        .refused(
            None,
            "Target.createTarget",
            json!({"url": "file:///etc/passwd"}),
        )
        .await;
    assert_eq!(refused["code"], -32000);
    session.navigate(&page, &site.url("/")).await;
    assert_eq!(session.evaluate(&page, "location.protocol").await, "http:");
    session.close().await;
}

/// Chromium is told to send everything (loopback too) through a counting
/// proxy; a context made with `proxyServer: "direct://"` would go around it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_asking_for_a_direct_connection_still_goes_through_the_proxy() {
    let site = Site::serve(PAGE).await;
    let proxy = Site::serve(PAGE).await;
    let proxy_flag = format!("--proxy-server=http://{}", proxy.address);
    let limits = hardshell_browser::RelayLimits::default();
    let mut session =
        Session::with(limits, &[&proxy_flag, "--proxy-bypass-list=<-loopback>"]).await;

    let context = session
        .call(
            None,
            "Target.createBrowserContext",
            json!({"proxyServer": "direct://", "proxyBypassList": "*"}),
        )
        .await;
    let context = context["browserContextId"].as_str().unwrap().to_owned();
    session
        .call(
            None,
            "Target.setAutoAttach",
            json!({"autoAttach": true, "waitForDebuggerOnStart": false, "flatten": true}),
        )
        .await;
    let target = session
        .call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank", "browserContextId": context}),
        )
        .await;
    let target = target["targetId"].as_str().unwrap().to_owned();
    let attached = session
        .event("Target.attachedToTarget", |event| {
            event["params"]["targetInfo"]["targetId"] == target.as_str()
        })
        .await;
    let page = attached["params"]["sessionId"].as_str().unwrap().to_owned();
    session
        .navigate(&page, &site.url("/through-the-proxy"))
        .await;

    let url = site.url("/through-the-proxy");
    assert!(proxy.saw(&url), "the navigation went through the proxy");
    assert_eq!(site.hits(), 0, "nothing reached the site directly");
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_land_in_the_session_directory_whatever_path_is_asked() {
    let site = Site::serve(PAGE).await;
    let mut session = Session::start().await;
    let elsewhere = tempfile::tempdir().unwrap();
    let asked = elsewhere.path().to_str().unwrap();
    session
        .call(
            None,
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": asked, "eventsEnabled": true}),
        )
        .await;
    let (_, page) = session.new_page("about:blank").await;
    session.call(Some(&page), "Page.enable", json!({})).await;
    // An attachment: the navigation ends in a download, not a page.
    session
        .send(
            Some(&page),
            "Page.navigate",
            json!({"url": site.url("/download")}),
        )
        .await;
    session
        .event("Browser.downloadProgress", |event| {
            event["params"]["state"] == "completed"
        })
        .await;

    let landed = std::fs::read_to_string(session.dirs.downloads.join("hello.txt")).unwrap();
    assert_eq!(landed, DOWNLOADED);
    assert!(
        !Path::new(asked).join("hello.txt").exists(),
        "nothing where the client asked"
    );
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_uploaded_from_the_upload_directory_only() {
    let site = Site::serve(FORM).await;
    let mut session = Session::start().await;
    std::fs::write(session.dirs.uploads.join("ok.txt"), "upload").unwrap();
    let inside = session
        .dirs
        .uploads
        .join("ok.txt")
        .to_str()
        .unwrap()
        .to_owned();
    let escape = format!("{}/../downloads/x", session.dirs.uploads.display());
    let (_, page) = session.new_page("about:blank").await;
    session.navigate(&page, &site.url("/form")).await;
    let document = session
        .call(Some(&page), "DOM.getDocument", json!({}))
        .await;
    let root = document["root"]["nodeId"].clone();
    let input = session
        .call(
            Some(&page),
            "DOM.querySelector",
            json!({"nodeId": root, "selector": "#f"}),
        )
        .await;
    let node = input["nodeId"].clone();

    for path in ["/etc/passwd", escape.as_str()] {
        let error = session
            .refused(
                Some(&page),
                "DOM.setFileInputFiles",
                json!({"files": [path], "nodeId": node}),
            )
            .await;
        assert_eq!(error["code"], -32000, "{path}");
    }
    assert_eq!(
        session
            .evaluate(&page, "document.querySelector('#f').files.length")
            .await,
        0
    );
    session
        .call(
            Some(&page),
            "DOM.setFileInputFiles",
            json!({"files": [inside], "nodeId": node}),
        )
        .await;
    assert_eq!(
        session
            .evaluate(&page, "document.querySelector('#f').files[0].name")
            .await,
        "ok.txt"
    );
    session.close().await;
}
