//! What the tool refuses, each beside the allowed action it is not: URLs
//! off the web, actions with no page, elements that do not exist, options a
//! list does not have, and text past its bound.

use hardshell_agent::builtin::browser::{BrowserLimits, UNTRUSTED_CLOSING, UNTRUSTED_OPENING};
use serde_json::json;

use crate::support::{Chromium, DevTools, Site, call, number_of, tool};

#[tokio::test]
async fn a_select_refuses_an_option_it_does_not_have_and_a_button_is_no_select() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    let form = call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/form")}),
    )
    .await
    .unwrap();
    let colour = number_of(&form, "combobox \"Colour\"");
    let send = number_of(&form, "button \"Send\"");
    let none = call(
        &browser,
        "web-a",
        json!({"action": "select", "element": colour, "value": "purple"}),
    )
    .await
    .unwrap_err();
    assert!(none.to_string().contains("has no such option"), "{none}");
    let button = call(
        &browser,
        "web-a",
        json!({"action": "select", "element": send, "value": "red"}),
    )
    .await
    .unwrap_err();
    assert!(button.to_string().contains("is not a list"), "{button}");
    // Neither lost the page.
    let text = call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap();
    assert!(text.contains("combobox \"Colour\" = \"red\""), "{text}");
}

#[tokio::test]
async fn pages_that_are_not_on_the_web_are_refused_before_any_browser() {
    let chromium = Chromium::start();
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    for url in [
        "file:///etc/passwd",
        "javascript:alert(document.cookie)",
        "data:text/html,<h1>hi</h1>",
        "chrome://settings",
        "about:blank",
        "http://",
        "not a url",
    ] {
        let refused = call(&browser, "web-a", json!({"action": "open", "url": url}))
            .await
            .unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("only http:// and https://") || message.contains("not a URL"),
            "{url}: {message}"
        );
    }
    assert_eq!(devtools.connections(), 0);
}

#[tokio::test]
async fn actions_before_open_say_to_open_first_without_a_browser() {
    let chromium = Chromium::start();
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    for action in [
        json!({"action": "read"}),
        json!({"action": "click", "element": 1}),
        json!({"action": "screenshot"}),
        json!({"action": "back"}),
    ] {
        let refused = call(&browser, "web-a", action).await.unwrap_err();
        assert!(refused.to_string().contains("open one first"), "{refused}");
    }
    let unknown = call(&browser, "web-a", json!({"action": "fly"}))
        .await
        .unwrap_err();
    assert!(
        unknown.to_string().starts_with("invalid arguments"),
        "{unknown}"
    );
    assert_eq!(devtools.connections(), 0);
}

#[tokio::test]
async fn an_element_number_the_page_does_not_have_is_a_clear_error() {
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
    for element in [0, 99] {
        let refused = call(
            &browser,
            "web-a",
            json!({"action": "click", "element": element}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!(
                "there is no element [{element}] on the page: read the page for the current numbers"
            )
        );
    }
    // The page is still there.
    let text = call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap();
    assert!(text.contains("Title: Test site"), "{text}");
}

#[tokio::test]
async fn page_text_is_bounded_and_says_it_was_cut() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let limits = BrowserLimits {
        max_text_chars: 120,
        ..BrowserLimits::default()
    };
    let browser = tool(&devtools, limits);
    let text = call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    let body = text
        .strip_prefix(UNTRUSTED_OPENING)
        .and_then(|t| t.strip_suffix(UNTRUSTED_CLOSING))
        .unwrap();
    assert!(
        body.contains("(cut here: the page has more than 120 characters"),
        "{text}"
    );
    assert!(!body.contains("Say hello"), "{text}");
    assert!(body.chars().count() < 120 + 80, "{text}");
}

#[tokio::test]
async fn bad_arguments_are_refused_and_the_page_is_kept() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/form")}),
    )
    .await
    .unwrap();
    for bad in [
        json!({"action": "scroll", "direction": "sideways"}),
        json!({"action": "click"}),
        json!({"action": "click", "element": -1}),
        json!({"action": "open"}),
        json!({"action": "type", "element": 1, "text": "x".repeat(10_001)}),
    ] {
        let refused = call(&browser, "web-a", bad.clone()).await.unwrap_err();
        assert!(
            refused.to_string().starts_with("invalid arguments"),
            "{bad}: {refused}"
        );
        // What was typed is never repeated back.
        assert!(!refused.to_string().contains("xxxx"), "{refused}");
    }
    let text = call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap();
    assert!(text.contains("Title: A form"), "{text}");
    assert_eq!(devtools.connections(), 1);
}
