//! One browser per conversation, kept between calls: closed on request, to
//! make room, or when the edge ends it; reopened when the model opens a page.

use hardshell_agent::builtin::browser::BrowserLimits;
use serde_json::json;

use crate::support::{Chromium, DevTools, Site, call, tool};

#[tokio::test]
async fn a_conversation_keeps_its_page_between_calls_and_others_have_their_own() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    call(
        &browser,
        "web-b",
        json!({"action": "open", "url": site.url("/landed")}),
    )
    .await
    .unwrap();
    let a = call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap();
    let b = call(&browser, "web-b", json!({"action": "read"}))
        .await
        .unwrap();
    assert!(a.contains("Title: Test site"), "{a}");
    assert!(b.contains("Title: Landed"), "{b}");
    assert_eq!(devtools.connections(), 2);
    let fresh = call(&browser, "web-c", json!({"action": "read"}))
        .await
        .unwrap_err();
    assert!(fresh.to_string().contains("open one first"), "{fresh}");
}

#[tokio::test]
async fn close_ends_the_conversation_s_browser() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    let none = call(&browser, "web-a", json!({"action": "close"}))
        .await
        .unwrap();
    assert_eq!(none, "No browser was open.");
    call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    let closed = call(&browser, "web-a", json!({"action": "close"}))
        .await
        .unwrap();
    assert_eq!(closed, "The browser is closed.");
    let after = call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap_err();
    assert!(after.to_string().contains("open one first"), "{after}");
}

#[tokio::test]
async fn the_least_recently_used_browser_makes_room() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let limits = BrowserLimits {
        max_sessions: 2,
        ..BrowserLimits::default()
    };
    let browser = tool(&devtools, limits);
    for session in ["web-a", "web-b"] {
        call(
            &browser,
            session,
            json!({"action": "open", "url": site.url("/")}),
        )
        .await
        .unwrap();
    }
    // a is used again, so b is now the least recently used.
    call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap();
    call(
        &browser,
        "web-c",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    let b = call(&browser, "web-b", json!({"action": "read"}))
        .await
        .unwrap_err();
    assert!(b.to_string().contains("open one first"), "{b}");
    // Asking about b (which has no page) closed nothing: a and c stay open.
    for session in ["web-a", "web-c"] {
        let text = call(&browser, session, json!({"action": "read"}))
            .await
            .unwrap();
        assert!(text.contains("Title: Test site"), "{session}: {text}");
    }
}

#[tokio::test]
async fn a_browser_that_ended_is_reported_lost_and_open_starts_another() {
    let site = Site::start();
    let first = Chromium::start();
    let devtools = DevTools::new(&first);
    let browser = tool(&devtools, BrowserLimits::default());
    call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    drop(first);
    let lost = call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap_err();
    assert_eq!(
        lost.to_string(),
        "the browser ended: the page was lost, open it again"
    );
    let second = Chromium::start();
    *devtools.url.lock().unwrap() = second.url.clone();
    let text = call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/landed")}),
    )
    .await
    .unwrap();
    assert!(text.contains("Title: Landed"), "{text}");
    assert_eq!(devtools.connections(), 2);
}

#[tokio::test]
async fn open_reconnects_on_its_own_when_the_browser_ended_unseen() {
    let site = Site::start();
    let first = Chromium::start();
    let devtools = DevTools::new(&first);
    let browser = tool(&devtools, BrowserLimits::default());
    call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    drop(first);
    let second = Chromium::start();
    *devtools.url.lock().unwrap() = second.url.clone();
    let text = call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/landed")}),
    )
    .await
    .unwrap();
    assert!(text.contains("Title: Landed"), "{text}");
    assert_eq!(devtools.connections(), 2);
}

#[tokio::test]
async fn a_browser_left_idle_is_closed() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    // Idle from the moment it is left: the next call of another
    // conversation closes it.
    let limits = BrowserLimits {
        idle: std::time::Duration::ZERO,
        ..BrowserLimits::default()
    };
    let browser = tool(&devtools, limits);
    call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    let kept = call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap();
    assert!(kept.contains("Title: Test site"), "{kept}");
    call(
        &browser,
        "web-b",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    let a = call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap_err();
    assert!(a.to_string().contains("open one first"), "{a}");
}
