//! The pool and the browser's shell, driven over CDP directly (no proxy):
//! what the shell, the broker and the managed policies hold on their own.

use std::net::TcpListener;

use hardshell_browser::{BrowserExit, PoolError};
use serde_json::json;

use crate::Browsing;
use crate::cdp::Cdp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_loads_allowed_pages_and_reaches_nothing_else() {
    let browsing = Browsing::new(1).await;
    let mut session = browsing.pool.open().await.unwrap();
    let mut cdp = Cdp::new(session.take_browser().unwrap());
    let version = cdp.ok(None, "Browser.getVersion", json!({})).await;
    assert!(
        version["product"].as_str().unwrap().contains("Chrome/"),
        "{version}"
    );

    let page = cdp.page(None).await;
    cdp.navigate(&page, &browsing.site.url("/")).await.unwrap();
    assert_eq!(
        cdp.eval(&page, "document.title").await,
        "Test site",
        "{}",
        cdp.eval(&page, "document.body.innerText").await
    );
    // A redirect chain is followed hop by hop through the broker.
    cdp.navigate(&page, &browsing.site.url("/redirect/3"))
        .await
        .unwrap();
    assert_eq!(cdp.eval(&page, "document.title").await, "Landed");

    // The host's loopback: the broker's address guard refuses it, and the
    // shell's own loopback is not the host's.
    let host_loopback = TcpListener::bind("127.0.0.1:0").unwrap();
    host_loopback.set_nonblocking(true).unwrap();
    let port = host_loopback.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/");
    let loaded = cdp.navigate(&page, &url).await;
    assert_eq!(loaded, Ok(()), "the broker answers the refusal itself");
    let shown = cdp.eval(&page, "document.body.innerText").await;
    assert!(
        shown
            .as_str()
            .unwrap_or_default()
            .contains("hardshell broker: refused"),
        "{shown}"
    );
    // This machine's own address (here the host's end of the site's link,
    // inside the block the test lets through): refused before any exception.
    let own = format!("http://{}/", browsing.site.host_address);
    let loaded = cdp.navigate(&page, &own).await;
    assert_eq!(loaded, Ok(()), "the broker answers the refusal itself");
    let shown = cdp.eval(&page, "document.body.innerText").await;
    assert!(
        shown
            .as_str()
            .unwrap_or_default()
            .contains("hardshell broker: refused"),
        "{shown}"
    );
    // A page's own fetch of it too.
    cdp.navigate(&page, &browsing.site.url("/loopback"))
        .await
        .unwrap();
    let result = cdp
        .eval(
            &page,
            "new Promise(r => setTimeout(() => r(document.getElementById('result').textContent), 1500))",
        )
        .await;
    assert_eq!(result, "refused");

    // A context told to connect directly ("direct://") has no way out at
    // all: the shell's namespace has nothing but the forwarder.
    let context = cdp
        .ok(
            None,
            "Target.createBrowserContext",
            json!({"proxyServer": "direct://"}),
        )
        .await;
    let direct = cdp.page(context["browserContextId"].as_str()).await;
    assert!(
        cdp.navigate(&direct, &url).await.is_err()
            || cdp.eval(&direct, "document.body.innerText").await == ""
    );
    assert!(
        cdp.navigate(&direct, &browsing.site.url("/"))
            .await
            .is_err()
    );
    assert!(
        host_loopback.accept().is_err(),
        "something in the browser's shell reached the host's loopback"
    );
    // The broker's refusal is recorded, as the browser's; the site's loads
    // as allowed.
    let decided: Vec<(String, String)> = browsing
        .records()
        .await
        .into_iter()
        .filter(|record| record["type"] == "egress_decided" && record["shell"] == "browser")
        .map(|record| {
            (
                record["host"].as_str().unwrap_or_default().to_owned(),
                record["decision"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let site = browsing.site.address.to_string();
    assert!(
        decided.contains(&("127.0.0.1".into(), "refused".into())),
        "{decided:?}"
    );
    assert!(decided.contains(&(site, "allowed".into())), "{decided:?}");
    let own = browsing.site.host_address.to_string();
    assert!(decided.contains(&(own, "refused".into())), "{decided:?}");

    // The managed policy refuses local files even to CDP's own navigation.
    let refused = cdp.navigate(&page, "file:///etc/passwd").await;
    assert_eq!(refused, Err("net::ERR_BLOCKED_BY_ADMINISTRATOR".into()));
    // (A blocked `chrome://` navigation from CDP ends Debian's Chromium 156
    // outright: the proxy refuses every URL that is not http(s) before the
    // browser sees it.)

    // The whole shell goes with the session, and its files on the host.
    assert_eq!(session.close().await, BrowserExit::Stopped);
    assert_eq!(
        std::fs::read_dir(&browsing.run_dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('s')
            })
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_at_once_are_two_browsers_that_see_nothing_of_each_other() {
    let browsing = Browsing::new(2).await;
    let mut first = browsing.pool.open().await.unwrap();
    let mut second = browsing.pool.open().await.unwrap();
    let mut a = Cdp::new(first.take_browser().unwrap());
    let mut b = Cdp::new(second.take_browser().unwrap());
    let page = a.page(None).await;
    a.navigate(&page, &browsing.site.url("/form"))
        .await
        .unwrap();
    let targets = |list: &serde_json::Value| -> Vec<String> {
        list["targetInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|target| target["url"].as_str().map(str::to_owned))
            .collect()
    };
    let seen_by_a = targets(&a.ok(None, "Target.getTargets", json!({})).await);
    let seen_by_b = targets(&b.ok(None, "Target.getTargets", json!({})).await);
    assert!(
        seen_by_a.iter().any(|url| url.ends_with("/form")),
        "{seen_by_a:?}"
    );
    assert!(
        !seen_by_b.iter().any(|url| url.ends_with("/form")),
        "{seen_by_b:?}"
    );
    drop((a, b));
    first.close().await;
    second.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cookie_survives_a_session_and_the_pool_holds_its_limit() {
    let browsing = Browsing::new(1).await;
    let mut first = browsing.pool.open().await.unwrap();
    // The second browser at once is refused, not queued.
    assert!(matches!(
        browsing.pool.open().await,
        Err(PoolError::Busy(1))
    ));
    let mut cdp = Cdp::new(first.take_browser().unwrap());
    let page = cdp.page(None).await;
    cdp.navigate(&page, &browsing.site.url("/set-cookie"))
        .await
        .unwrap();
    cdp.navigate(&page, &browsing.site.url("/cookies"))
        .await
        .unwrap();
    let sent = cdp
        .eval(&page, "document.getElementById('cookies').textContent")
        .await;
    assert_eq!(
        sent, "session=tracked",
        "the cookie works within its session"
    );
    drop(cdp);
    first.close().await;

    let mut second = browsing.pool.open().await.unwrap();
    let mut cdp = Cdp::new(second.take_browser().unwrap());
    let page = cdp.page(None).await;
    cdp.navigate(&page, &browsing.site.url("/cookies"))
        .await
        .unwrap();
    let sent = cdp
        .eval(&page, "document.getElementById('cookies').textContent")
        .await;
    assert_eq!(sent, "none", "a fresh session starts with no cookie");
    second.close().await;
}
