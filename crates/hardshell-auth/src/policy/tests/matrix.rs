//! Every requirement against every kind of principal, as one table: the
//! `browser` scope's row and column, and the rows and columns that were
//! there before it, unchanged.

use super::*;

/// A denial's kind, so a table cell is one word.
fn outcome<R: Requirement>(policy: &Policy, subject: &Subject<'_>) -> &'static str {
    match authorize::<R>(policy, subject) {
        Ok(_) => "ok",
        Err(Denied::Unauthenticated) => "unauthenticated",
        Err(Denied::NoMatchingRule { .. }) => "no rule",
        Err(Denied::InsufficientRole { .. }) => "role",
        Err(Denied::DeviceRequired) => "device",
        Err(Denied::LoginNotFresh { .. }) => "not fresh",
        Err(Denied::NotInteractive) => "not interactive",
    }
}

/// `[public, chat, browser, admin, fresh_admin]` for `subject`.
fn row(policy: &Policy, subject: &Subject<'_>) -> [&'static str; 5] {
    [
        outcome::<Public>(policy, subject),
        outcome::<Chat>(policy, subject),
        outcome::<Browser>(policy, subject),
        outcome::<Admin>(policy, subject),
        outcome::<FreshAdmin>(policy, subject),
    ]
}

/// One rule per role: `admin@` is an admin, `kid@` may chat.
fn rules(require_device: bool) -> Policy {
    let rule = |role, email: &str| Rule {
        role,
        emails: vec![email.into()],
        groups: vec![],
        require_device,
    };
    Policy {
        rules: vec![
            rule(Role::Admin, "admin@example.com"),
            rule(Role::Chat, "kid@example.com"),
        ],
        ..Policy::default()
    }
}

/// Every kind of principal, named.
fn principals() -> Vec<(&'static str, Principal)> {
    let stale = |p: Principal| Principal {
        authenticated_at: now() - chrono::Duration::minutes(11),
        ..p
    };
    vec![
        ("owner passkey", principal(Method::Passkey, None, &[])),
        (
            "owner passkey, stale",
            stale(principal(Method::Passkey, None, &[])),
        ),
        ("admin token", token(TokenScope::Admin)),
        ("chat token", token(TokenScope::Chat)),
        ("browser token", token(TokenScope::Browser)),
        ("unscoped token", principal(Method::ApiToken, None, &[])),
        (
            "oidc admin",
            principal(Method::Oidc, Some("admin@example.com"), &[]),
        ),
        (
            "cloudflare admin, stale",
            stale(principal(
                Method::CloudflareAccess,
                Some("admin@example.com"),
                &[],
            )),
        ),
        (
            "oidc chat",
            principal(Method::Oidc, Some("kid@example.com"), &[]),
        ),
        (
            "cloudflare chat",
            principal(Method::CloudflareAccess, Some("kid@example.com"), &[]),
        ),
        (
            "oidc nobody",
            principal(Method::Oidc, Some("stranger@example.com"), &["staff"]),
        ),
    ]
}

/// The expected row of each principal with no device rule in play.
const EXPECTED: &[(&str, [&str; 5])] = &[
    ("owner passkey", ["ok", "ok", "ok", "ok", "ok"]),
    (
        "owner passkey, stale",
        ["ok", "ok", "ok", "ok", "not fresh"],
    ),
    ("admin token", ["ok", "ok", "ok", "ok", "not interactive"]),
    ("chat token", ["ok", "ok", "role", "role", "role"]),
    ("browser token", ["ok", "role", "ok", "role", "role"]),
    (
        "unscoped token",
        ["ok", "no rule", "no rule", "no rule", "no rule"],
    ),
    ("oidc admin", ["ok", "ok", "ok", "ok", "ok"]),
    (
        "cloudflare admin, stale",
        ["ok", "ok", "ok", "ok", "not fresh"],
    ),
    ("oidc chat", ["ok", "ok", "role", "role", "role"]),
    ("cloudflare chat", ["ok", "ok", "role", "role", "role"]),
    (
        "oidc nobody",
        ["ok", "no rule", "no rule", "no rule", "no rule"],
    ),
];

fn expected(name: &str) -> [&'static str; 5] {
    EXPECTED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, row)| *row)
        .unwrap_or_else(|| panic!("no expected row for {name}"))
}

#[test]
fn every_requirement_against_every_principal() {
    let policy = rules(false);
    let principals = principals();
    assert_eq!(principals.len(), EXPECTED.len());
    for (name, who) in &principals {
        let got = row(&policy, &subject(Some(who), None));
        assert_eq!(got, expected(name), "{name}");
        // A device where none is required changes nothing.
        let laptop = device();
        assert_eq!(
            row(&policy, &subject(Some(who), Some(&laptop))),
            got,
            "{name}"
        );
    }
    assert_eq!(
        row(&policy, &subject(None, None)),
        [
            "ok",
            "unauthenticated",
            "unauthenticated",
            "unauthenticated",
            "unauthenticated"
        ]
    );
}

#[test]
fn a_required_device_is_required_for_the_browser_too() {
    let laptop = device();
    let mut policy = rules(false);
    policy.require_device = true;
    for (name, who) in principals() {
        assert_eq!(
            row(&policy, &subject(Some(&who), None)),
            ["ok", "device", "device", "device", "device"],
            "{name}"
        );
        assert_eq!(
            row(&policy, &subject(Some(&who), Some(&laptop))),
            expected(name),
            "{name}"
        );
    }
}

#[test]
fn a_rule_that_requires_a_device_grants_the_browser_only_with_one() {
    let laptop = device();
    let policy = rules(true);
    let admin = principal(Method::Oidc, Some("admin@example.com"), &[]);
    let kid = principal(Method::Oidc, Some("kid@example.com"), &[]);
    for who in [&admin, &kid] {
        assert_eq!(
            row(&policy, &subject(Some(who), None)),
            ["ok", "device", "device", "device", "device"]
        );
    }
    assert_eq!(
        row(&policy, &subject(Some(&admin), Some(&laptop))),
        ["ok", "ok", "ok", "ok", "ok"]
    );
    assert_eq!(
        row(&policy, &subject(Some(&kid), Some(&laptop))),
        ["ok", "ok", "role", "role", "role"]
    );
    // Tokens and the passkey are not judged by rules.
    let browser = token(TokenScope::Browser);
    assert_eq!(
        row(&policy, &subject(Some(&browser), None)),
        ["ok", "role", "ok", "role", "role"]
    );
}

#[test]
fn a_chat_principal_is_told_the_browser_needs_more() {
    let policy = rules(false);
    let chat = token(TokenScope::Chat);
    let denied = authorize::<Browser>(&policy, &subject(Some(&chat), None)).unwrap_err();
    assert_eq!(
        denied,
        Denied::InsufficientRole {
            subject: "api_token sub-1".into(),
            has: Role::Chat,
            needs: Role::Browser,
        }
    );
    assert_eq!(
        denied.to_string(),
        "api_token sub-1 has role chat, this needs browser"
    );
    let kid = principal(Method::Oidc, Some("kid@example.com"), &[]);
    let denied = authorize::<Browser>(&policy, &subject(Some(&kid), None)).unwrap_err();
    assert!(
        denied.to_string().ends_with("this needs browser"),
        "{denied}"
    );
    let browser = token(TokenScope::Browser);
    let denied = authorize::<Chat>(&policy, &subject(Some(&browser), None)).unwrap_err();
    assert_eq!(
        denied.to_string(),
        "api_token sub-1 has role browser, this needs chat"
    );
}

#[test]
fn a_browser_permit_names_who_was_let_in() {
    let browser = token(TokenScope::Browser);
    let permit = authorize::<Browser>(&Policy::default(), &subject(Some(&browser), None)).unwrap();
    assert_eq!(permit.identity(), &browser);
    assert_eq!(<Browser as Requirement>::NAME, "browser");
}

#[test]
fn roles_grant_themselves_and_admin_grants_all() {
    let all = [Role::Chat, Role::Browser, Role::Admin];
    for has in all {
        for needs in all {
            assert_eq!(
                has.grants(needs),
                has == needs || has == Role::Admin,
                "{has} → {needs}"
            );
        }
    }
    assert!(!Role::Chat.grants(Role::Browser));
    assert!(!Role::Browser.grants(Role::Chat));
}
