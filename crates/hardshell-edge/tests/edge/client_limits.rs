//! Failed-authentication and request budgets as clients behind a trusted
//! proxy see them: who is charged, and who can be locked out by whom.

use hardshell_auth::TokenScope;

use crate::support::{TestEdge, bearer, get};

/// An edge that believes `X-Forwarded-For` from loopback (the test client),
/// with a failed-auth budget of five.
async fn behind_a_proxy(ratelimit: &str) -> TestEdge {
    TestEdge::start_with(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        &format!("[ratelimit]\n{ratelimit}"),
    )
    .await
}

fn from(address: &str) -> String {
    format!("X-Forwarded-For: {address}")
}

/// `hs_tok_<id>_<secret>` with the secret replaced by another well-formed one.
fn with_wrong_secret(token: &str) -> String {
    let (id_part, _) = token.rsplit_once('_').unwrap();
    format!("{id_part}_{}", "A".repeat(43))
}

/// The red team's finding: token ids are not secret, and six wrong secrets with
/// a real id locked its holder out everywhere.
#[tokio::test]
async fn wrong_secrets_for_a_token_id_do_not_lock_out_its_holder_elsewhere() {
    let edge = behind_a_proxy("requests_per_minute = 100000\nburst = 1000\n").await;
    let token = edge.token(TokenScope::Chat).await;
    let forged = with_wrong_secret(&token);
    let attacker = from("198.51.100.66");
    for _ in 0..8 {
        let reply = get(edge.addr, "/auth/whoami", &[&bearer(&forged), &attacker]).await;
        assert!(matches!(reply.status, 401 | 429), "{reply:?}");
    }
    // The attacker is locked out ...
    let locked = get(edge.addr, "/auth/whoami", &[&bearer(&token), &attacker]).await;
    assert_eq!(locked.status, 429, "{locked:?}");
    // ... the holder, elsewhere, is not.
    let holder = get(
        edge.addr,
        "/auth/whoami",
        &[&bearer(&token), &from("203.0.113.5")],
    )
    .await;
    assert_eq!(holder.status, 200, "{holder:?}");
    edge.stop().await;
}

/// The red team's finding: every address of one IPv6 /64 had its own budget.
#[tokio::test]
async fn ipv6_clients_of_one_slash_64_share_a_failed_auth_budget() {
    let edge = behind_a_proxy("requests_per_minute = 100000\nburst = 1000\n").await;
    let forged = with_wrong_secret(&edge.token(TokenScope::Chat).await);
    for host in 1..=5 {
        let address = from(&format!("2001:db8:1:2::{host:x}"));
        let reply = get(edge.addr, "/auth/whoami", &[&bearer(&forged), &address]).await;
        assert_eq!(reply.status, 401, "{reply:?}");
    }
    let same_network = get(
        edge.addr,
        "/auth/whoami",
        &[&bearer(&forged), &from("2001:db8:1:2:ffff::9")],
    )
    .await;
    assert_eq!(same_network.status, 429, "{same_network:?}");
    let next_network = get(
        edge.addr,
        "/auth/whoami",
        &[&bearer(&forged), &from("2001:db8:1:3::1")],
    )
    .await;
    assert_eq!(next_network.status, 401, "{next_network:?}");
    edge.stop().await;
}

#[tokio::test]
async fn ipv6_clients_of_one_slash_64_share_a_request_budget() {
    let edge = behind_a_proxy("requests_per_minute = 1\nburst = 2\n").await;
    for host in 1..=2 {
        let reply = get(
            edge.addr,
            "/healthz",
            &[&from(&format!("2001:db8::{host}"))],
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let third = get(edge.addr, "/healthz", &[&from("2001:db8::3")]).await;
    assert_eq!(third.status, 429, "{third:?}");
    // The IPv4-mapped spelling of an IPv4 client is that client.
    let v4 = get(edge.addr, "/healthz", &[&from("198.51.100.7")]).await;
    assert_eq!(v4.status, 200);
    let v4_again = get(edge.addr, "/healthz", &[&from("198.51.100.7")]).await;
    assert_eq!(v4_again.status, 200);
    let mapped = get(edge.addr, "/healthz", &[&from("::ffff:198.51.100.7")]).await;
    assert_eq!(mapped.status, 429, "{mapped:?}");
    edge.stop().await;
}

/// The red team's finding: one unreadable entry made the client the proxy
/// itself, so its budget was spent and its own health check got 429.
#[tokio::test]
async fn an_unreadable_forwarded_for_is_refused_and_charges_nobody() {
    let edge = behind_a_proxy("requests_per_minute = 1\nburst = 2\n").await;
    for _ in 0..3 {
        let garbled = get(edge.addr, "/healthz", &[&from("198.51.100.7, nonsense")]).await;
        assert_eq!(garbled.status, 400, "{garbled:?}");
    }
    // The proxy's own health check (no forwarded header) still passes.
    assert_eq!(get(edge.addr, "/healthz", &[]).await.status, 200);
    assert_eq!(get(edge.addr, "/healthz", &[]).await.status, 200);
    edge.stop().await;
}
