//! The web chat page: served to anyone (it holds no data; its API calls are
//! checked) under the strict policy, only when the edge runs the built-in agent.
//! The page in a real browser is `crates/hardshell/tests/browser`.

use hardshell_auth::TokenScope;

use crate::support::{TestEdge, bearer, get, upstream};

const CHAT_JS: &str = include_str!("../../assets/chat.js");
const CHAT_HTML: &str = include_str!("../../assets/chat.html");
const MARKDOWN_JS: &str = include_str!("../../assets/markdown.js");

#[tokio::test]
async fn the_chat_page_is_served_under_a_strict_policy() {
    let edge = TestEdge::start("").await;
    let page = get(edge.addr, "/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    // Trusted Types, so the browser refuses string sinks in the page's scripts.
    assert!(
        csp.ends_with("require-trusted-types-for 'script'; trusted-types 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(
        page.body.contains("/chat.js")
            && page.body.contains("/chat.css")
            && page.body.contains("/markdown.js")
    );
    // A script is not a page: it gets the edge's policy, not the pages' own.
    let markdown = get(edge.addr, "/markdown.js", &[]).await;
    assert_eq!(markdown.status, 200);
    assert_eq!(markdown.body, MARKDOWN_JS);
    assert!(
        !markdown
            .header("content-security-policy")
            .unwrap()
            .contains("trusted-types")
    );
    let script = get(edge.addr, "/chat.js", &[]).await;
    assert_eq!(script.status, 200);
    assert!(
        script
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    let style = get(edge.addr, "/chat.css", &[]).await;
    assert_eq!(style.status, 200);
    assert!(
        style
            .header("content-type")
            .unwrap()
            .starts_with("text/css")
    );
    edge.stop().await;
}

#[tokio::test]
async fn the_chat_api_the_page_calls_refuses_a_visitor_without_a_session() {
    let edge = TestEdge::start("").await;
    for path in ["/auth/whoami", "/api/sessions"] {
        assert_eq!(get(edge.addr, path, &[]).await.status, 401, "{path}");
    }
    edge.stop().await;
}

#[tokio::test]
async fn with_an_upstream_the_root_belongs_to_the_upstream() {
    let (url, log) = upstream::tcp().await;
    let edge = TestEdge::start(&format!("[upstream]\nurl = \"{url}\"\n")).await;
    // Not the page: the upstream's routes need a login, and answer themselves.
    assert_eq!(get(edge.addr, "/chat.js", &[]).await.status, 401);
    let chat = edge.token(TokenScope::Chat).await;
    let root = get(edge.addr, "/", &[&bearer(&chat)]).await;
    assert_eq!(root.body, "hello from upstream");
    assert_eq!(log.lock().unwrap()[0].path, "/");
    edge.stop().await;
}

/// Message text is untrusted: the page's script puts nothing on the page as
/// HTML and evaluates no strings, and the page has no inline script, style or
/// handler for the policy to refuse.
#[test]
fn the_chat_page_never_turns_text_into_markup() {
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "setAttribute(\"on",
    ] {
        assert!(!CHAT_JS.contains(banned), "chat.js uses {banned}");
        assert!(!MARKDOWN_JS.contains(banned), "markdown.js uses {banned}");
    }
    for banned in ["<script>", "style=", " onclick=", " onload=", "<style"] {
        assert!(!CHAT_HTML.contains(banned), "chat.html has {banned}");
    }
}
