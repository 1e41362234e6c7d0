//! The tool's actions on real pages: open, read, click, type, select, back,
//! screenshot, and a page's text kept inside its untrusted frame.

use hardshell_agent::builtin::browser::{BrowserLimits, UNTRUSTED_CLOSING, UNTRUSTED_OPENING};
use serde_json::json;

use crate::support::{Chromium, DevTools, Site, call, number_of, tool};

#[tokio::test]
async fn open_shows_the_title_the_link_and_the_button_numbered() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    let text = call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    assert!(text.starts_with(UNTRUSTED_OPENING), "{text}");
    assert!(text.ends_with(UNTRUSTED_CLOSING), "{text}");
    assert!(text.contains("Title: Test site"), "{text}");
    assert!(text.contains(&format!("URL: {}", site.url("/"))), "{text}");
    assert!(text.contains("# Welcome to the test site"), "{text}");
    assert!(text.contains("] link \"The form\""), "{text}");
    assert!(text.contains("] button \"Say hello\""), "{text}");
    assert_ne!(
        number_of(&text, "link \"The form\""),
        number_of(&text, "button \"Say hello\"")
    );
}

#[tokio::test]
async fn clicking_the_button_runs_the_page_and_read_shows_it() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    let text = call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    assert!(!text.contains("clicked"), "{text}");
    let button = number_of(&text, "button \"Say hello\"");
    call(
        &browser,
        "web-a",
        json!({"action": "click", "element": button}),
    )
    .await
    .unwrap();
    let text = call(&browser, "web-a", json!({"action": "read"}))
        .await
        .unwrap();
    assert!(text.contains("\nclicked\n"), "{text}");
}

#[tokio::test]
async fn the_form_is_filled_in_and_sent() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    let home = call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/")}),
    )
    .await
    .unwrap();
    // Reached by following the link, as the model would.
    let link = number_of(&home, "link \"The form\"");
    let form = call(
        &browser,
        "web-a",
        json!({"action": "click", "element": link}),
    )
    .await
    .unwrap();
    assert!(form.contains("Title: A form"), "{form}");
    let name = number_of(&form, "textbox \"Name\"");
    let colour = number_of(&form, "combobox \"Colour\"");
    let send = number_of(&form, "button \"Send\"");
    call(
        &browser,
        "web-a",
        json!({"action": "type", "element": name, "text": "Ada Lovelace"}),
    )
    .await
    .unwrap();
    let chosen = call(
        &browser,
        "web-a",
        json!({"action": "select", "element": colour, "value": "green"}),
    )
    .await
    .unwrap();
    assert!(
        chosen.contains("combobox \"Colour\" = \"green\""),
        "{chosen}"
    );
    let sent = call(
        &browser,
        "web-a",
        json!({"action": "click", "element": send}),
    )
    .await
    .unwrap();
    assert!(sent.contains("Title: Submitted"), "{sent}");
    assert!(sent.contains("colour=green, name=Ada Lovelace"), "{sent}");
    // And back to the form.
    let back = call(&browser, "web-a", json!({"action": "back"}))
        .await
        .unwrap();
    assert!(back.contains("Title: A form"), "{back}");
}

#[tokio::test]
async fn a_redirect_chain_ends_where_it_lands() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    let text = call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/redirect/3")}),
    )
    .await
    .unwrap();
    assert!(text.contains("Title: Landed"), "{text}");
    assert!(
        text.contains(&format!("URL: {}", site.url("/landed"))),
        "{text}"
    );
    assert!(text.contains("after redirects"), "{text}");
}

#[tokio::test]
async fn back_goes_to_the_previous_page_and_not_past_the_first() {
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
    let first = call(&browser, "web-a", json!({"action": "back"}))
        .await
        .unwrap_err();
    assert!(first.to_string().contains("no previous page"), "{first}");
    call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/landed")}),
    )
    .await
    .unwrap();
    let back = call(&browser, "web-a", json!({"action": "back"}))
        .await
        .unwrap();
    assert!(back.contains("Title: Test site"), "{back}");
}

#[tokio::test]
async fn a_screenshot_is_for_the_user_and_never_in_the_answer() {
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
    let said = call(&browser, "web-a", json!({"action": "screenshot"}))
        .await
        .unwrap();
    assert_eq!(
        said,
        "A screenshot of \"Test site\" was shown to the user. You cannot see it."
    );
}

#[tokio::test]
async fn instructions_on_a_page_stay_inside_the_untrusted_frame() {
    let (chromium, site) = (Chromium::start(), Site::start());
    let devtools = DevTools::new(&chromium);
    let browser = tool(&devtools, BrowserLimits::default());
    let text = call(
        &browser,
        "web-a",
        json!({"action": "open", "url": site.url("/inject")}),
    )
    .await
    .unwrap();
    let opening = text.find(UNTRUSTED_OPENING).unwrap();
    let injected = text.find("ignore previous instructions").unwrap();
    let closing = text.find(UNTRUSTED_CLOSING).unwrap();
    assert!(
        opening == 0 && opening < injected && injected < closing,
        "{text}"
    );
    assert_eq!(closing + UNTRUSTED_CLOSING.len(), text.len(), "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
}

#[tokio::test]
async fn typing_with_submit_sends_the_form() {
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
    let name = number_of(&form, "textbox \"Name\"");
    let sent = call(
        &browser,
        "web-a",
        json!({"action": "type", "element": name, "text": "Grace", "submit": true}),
    )
    .await
    .unwrap();
    assert!(sent.contains("colour=red, name=Grace"), "{sent}");
}

#[tokio::test]
async fn scrolling_answers_with_the_page() {
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
    for direction in ["down", "up"] {
        let text = call(
            &browser,
            "web-a",
            json!({"action": "scroll", "direction": direction}),
        )
        .await
        .unwrap();
        assert!(text.contains("Title: Test site"), "{text}");
    }
}
