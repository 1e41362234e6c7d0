//! The owner's view of sessions: `GET /admin/sessions` and
//! `DELETE /admin/sessions/{id}`.

use hardshell_auth::TokenScope;

use crate::support::{TestEdge, bearer, get, owner, request};

const LIMITS: &str = "[ratelimit]\nrequests_per_minute = 100000\nburst = 1000\n";

#[tokio::test]
async fn the_owner_lists_sessions_without_their_cookies_and_ends_one() {
    let edge = TestEdge::start(LIMITS).await;
    let admin = bearer(&edge.token(TokenScope::Admin).await);
    let mut stolen = owner();
    stolen.subject = "stolen-laptop".into();
    let mine = edge.session(owner()).await;
    let theirs = edge.session(stolen).await;

    let listed = get(edge.addr, "/admin/sessions", &[&admin]).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert!(!listed.body.contains(&mine) && !listed.body.contains(&theirs));
    let body: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{body}");
    let id = sessions
        .iter()
        .find(|s| s["subject"] == "stolen-laptop")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let ended = request(
        edge.addr,
        "DELETE",
        &format!("/admin/sessions/{id}"),
        &[&admin],
        "",
    )
    .await;
    assert_eq!(ended.status, 204, "{ended:?}");
    let cookie = |value: &str| format!("Cookie: hs_session={value}");
    assert_eq!(
        get(edge.addr, "/auth/whoami", &[&cookie(&theirs)])
            .await
            .status,
        401
    );
    assert_eq!(
        get(edge.addr, "/auth/whoami", &[&cookie(&mine)])
            .await
            .status,
        200
    );
    let again = request(
        edge.addr,
        "DELETE",
        &format!("/admin/sessions/{id}"),
        &[&admin],
        "",
    )
    .await;
    assert_eq!(again.status, 404);

    let mut edge = edge;
    edge.stop_serving().await;
    let records = edge.audit_records().await;
    assert!(
        records
            .iter()
            .any(|r| r["event"]["type"] == "session_revoked"
                && r["event"]["subject"] == "stolen-laptop"
                && r["event"]["actor"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("token:"))),
        "{records:?}"
    );
}

#[tokio::test]
async fn only_an_admin_may_list_or_end_sessions() {
    let edge = TestEdge::start(LIMITS).await;
    let chat = bearer(&edge.token(TokenScope::Chat).await);
    let session = edge.session(owner()).await;
    assert_eq!(get(edge.addr, "/admin/sessions", &[]).await.status, 401);
    assert_eq!(
        get(edge.addr, "/admin/sessions", &[&chat]).await.status,
        403
    );
    let admin = bearer(&edge.token(TokenScope::Admin).await);
    let listed = get(edge.addr, "/admin/sessions", &[&admin]).await;
    let body: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
    let id = body["sessions"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/admin/sessions/{id}");
    assert_eq!(
        request(edge.addr, "DELETE", &path, &[&chat], "")
            .await
            .status,
        403
    );
    assert_eq!(
        get(
            edge.addr,
            "/auth/whoami",
            &[&format!("Cookie: hs_session={session}")]
        )
        .await
        .status,
        200
    );
    // Anything not shaped like a handle is not looked up.
    for bad in ["nothing", "0123456789ABCDEF", &session] {
        let path = format!("/admin/sessions/{bad}");
        assert_eq!(
            request(edge.addr, "DELETE", &path, &[&admin], "")
                .await
                .status,
            404
        );
    }
    edge.stop().await;
}
