use serde_json::json;

use crate::support::{Session, Site};

const SECRET: &str = "hunter2-correct-horse";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_name_methods_and_hosts_never_parameters() {
    let site = Site::serve("<html><body><input id=i></body></html>").await;
    let mut session = Session::start().await;
    let (_, page) = session.new_page("about:blank").await;
    session
        .navigate(&page, &format!("{}?password={SECRET}", site.url("/login")))
        .await;
    session
        .evaluate(&page, "document.querySelector('#i').focus()")
        .await;
    session
        .call(Some(&page), "Input.insertText", json!({"text": SECRET}))
        .await;
    assert_eq!(
        session.evaluate(&page, &format!("'{SECRET}'.length")).await,
        SECRET.len()
    );
    session
        .refused(
            Some(&page),
            "Network.getAllCookies",
            json!({"secret": SECRET}),
        )
        .await;
    session
        .refused(
            Some(&page),
            "Page.navigate",
            json!({"url": format!("file:///{SECRET}")}),
        )
        .await;
    session
        .refused(None, &format!("Evil.{SECRET} x"), json!({}))
        .await;
    session.close().await;

    let records = session.records().await;
    let text = serde_json::to_string(&records).unwrap();
    assert!(
        !text.contains(SECRET),
        "a parameter reached the audit log: {text}"
    );
    assert!(!text.contains("/login"), "a path reached the audit log");
    let navigated: Vec<_> = records
        .iter()
        .filter(|r| r["type"] == "browser_navigated")
        .collect();
    assert_eq!(navigated.len(), 1, "{text}");
    assert_eq!(navigated[0]["host"], "127.0.0.1");
    let refused: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["type"] == "cdp_refused")
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("Network.getAllCookies", "denied"),
        ("Page.navigate", "url_scheme"),
        ("(invalid)", "not_listed"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, r)| ((*m).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(refused, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_their_bound_refusals_and_navigations_are_counted_not_recorded() {
    let site = Site::serve("<html><body>hi</body></html>").await;
    let limits = hardshell_browser::RelayLimits {
        max_refusal_records: 2,
        max_navigation_records: 1,
        ..hardshell_browser::RelayLimits::default()
    };
    let mut session = Session::with(limits, &[]).await;
    for _ in 0..5 {
        session.refused(None, "SystemInfo.getInfo", json!({})).await;
    }
    let (_, page) = session.new_page("about:blank").await;
    for path in ["/a", "/b", "/c"] {
        session
            .call(Some(&page), "Page.navigate", json!({"url": site.url(path)}))
            .await;
    }
    let end = session.close().await;
    assert_eq!((end.refused, end.navigated), (5, 3));

    let records = session.records().await;
    let count = |kind: &str| records.iter().filter(|r| r["type"] == kind).count();
    assert_eq!(count("cdp_refused"), 2);
    assert_eq!(count("browser_navigated"), 1);
    let ended = records
        .iter()
        .find(|r| r["type"] == "browser_session_ended")
        .unwrap();
    assert_eq!(
        (ended["refused"].as_u64(), ended["navigated"].as_u64()),
        (Some(5), Some(3))
    );
}
