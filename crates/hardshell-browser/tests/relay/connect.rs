use serde_json::{Value, json};

use crate::support::{Session, Site};

const PAGE: &str =
    "<html><head><title>hardshell test</title></head><body><p>hello</p></body></html>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playwright_like_session_works_through_the_relay() {
    let site = Site::serve(PAGE).await;
    let mut session = Session::start().await;

    let version = session.call(None, "Browser.getVersion", json!({})).await;
    assert!(
        version["product"].as_str().unwrap().contains("Chrome"),
        "{version}"
    );
    let (_, page) = session.new_page("about:blank").await;
    session.navigate(&page, &site.url("/")).await;
    assert_eq!(
        session.evaluate(&page, "document.title").await,
        "hardshell test"
    );

    let shot = session
        .call(
            Some(&page),
            "Page.captureScreenshot",
            json!({"format": "png"}),
        )
        .await;
    assert!(
        shot["data"].as_str().unwrap().starts_with("iVBORw0KGgo"),
        "a PNG"
    );

    let pdf = session
        .call(
            Some(&page),
            "Page.printToPDF",
            json!({"transferMode": "ReturnAsStream"}),
        )
        .await;
    let stream = pdf["stream"].as_str().unwrap().to_owned();
    let mut first = String::new();
    loop {
        let chunk = session
            .call(
                Some(&page),
                "IO.read",
                json!({"handle": stream, "size": 65536}),
            )
            .await;
        if first.is_empty() {
            assert_eq!(chunk["base64Encoded"], true);
            first = chunk["data"].as_str().unwrap().to_owned();
        }
        if chunk["eof"] == true {
            break;
        }
    }
    assert!(first.starts_with("JVBERi0"), "the stream is a PDF (%PDF-)");
    session
        .call(Some(&page), "IO.close", json!({"handle": stream}))
        .await;

    let end = session.close().await;
    assert_eq!(end.cause, hardshell_browser::EndCause::ClientClosed);
    assert!(
        end.pages >= 2,
        "the first blank page and the new one: {}",
        end.pages
    );
    let records = session.records().await;
    let ended: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "browser_session_ended")
        .collect();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["ended"], "client_closed");
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "browser_session_started" && r["client"] == "edge")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_pass_through_and_client_ids_are_kept() {
    let mut session = Session::start().await;
    // A large id of the client's own, and a parameter Chromium ignores.
    session
        .send_text(r#"{"id":9007199254740991,"method":"Browser.getVersion","params":{"future":1}}"#)
        .await;
    let answer = session.answer(9_007_199_254_740_991).await;
    assert!(answer["result"]["protocolVersion"].is_string(), "{answer}");

    // A field Chromium does not take at the top level (sorted before `id`
    // here) is passed on, and Chromium's own error reaches the client.
    session
        .send_text(r#"{"id":8,"method":"Browser.getVersion","params":{},"a_future_field":1}"#)
        .await;
    let answer = session.answer(8).await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    session.call(None, "Browser.getVersion", json!({})).await;
    assert_eq!(
        session.close().await.cause,
        hardshell_browser::EndCause::ClientClosed
    );
}
