use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

mod matrix;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn principal(method: Method, email: Option<&str>, groups: &[&str]) -> Principal {
    Principal {
        subject: "sub-1".into(),
        email: email.map(str::to_owned),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        method,
        authenticated_at: now() - chrono::Duration::minutes(1),
        token_scope: None,
    }
}

fn token(scope: TokenScope) -> Principal {
    Principal {
        token_scope: Some(scope),
        ..principal(Method::ApiToken, None, &[])
    }
}

fn device() -> Device {
    Device {
        name: "laptop".into(),
        serial: "01".into(),
    }
}

fn owner_only(email: &str) -> Policy {
    Policy {
        rules: vec![Rule {
            role: Role::Admin,
            emails: vec![email.into()],
            groups: vec![],
            require_device: false,
        }],
        ..Policy::default()
    }
}

fn subject<'a>(principal: Option<&'a Principal>, device: Option<&'a Device>) -> Subject<'a> {
    Subject {
        principal,
        device,
        now: now(),
    }
}

#[test]
fn public_routes_allow_anyone() {
    let permit = authorize::<Public>(&Policy::default(), &subject(None, None)).unwrap();
    assert!(permit.identity().is_none());
}

#[test]
fn nobody_is_allowed_by_default() {
    let policy = Policy::default();
    assert_eq!(
        authorize::<Chat>(&policy, &subject(None, None)).unwrap_err(),
        Denied::Unauthenticated
    );
    let oidc = principal(Method::Oidc, Some("me@example.com"), &["staff"]);
    assert!(matches!(
        authorize::<Chat>(&policy, &subject(Some(&oidc), None)),
        Err(Denied::NoMatchingRule { .. })
    ));
}

#[test]
fn owner_only_allows_the_owner_and_denies_everyone_else() {
    let policy = owner_only("me@example.com");
    let me = principal(Method::CloudflareAccess, Some("Me@Example.com"), &[]);
    let other = principal(
        Method::CloudflareAccess,
        Some("me@example.com.evil.net"),
        &[],
    );
    let no_email = principal(Method::Oidc, None, &[]);
    assert!(authorize::<Admin>(&policy, &subject(Some(&me), None)).is_ok());
    for denied in [&other, &no_email] {
        assert!(matches!(
            authorize::<Chat>(&policy, &subject(Some(denied), None)),
            Err(Denied::NoMatchingRule { .. })
        ));
    }
}

#[test]
fn groups_grant_roles_and_the_highest_wins() {
    let policy = Policy {
        rules: vec![
            Rule {
                role: Role::Chat,
                emails: vec![],
                groups: vec!["family".into()],
                require_device: false,
            },
            Rule {
                role: Role::Admin,
                emails: vec![],
                groups: vec!["admins".into()],
                require_device: false,
            },
        ],
        ..Policy::default()
    };
    let family = principal(Method::Oidc, Some("kid@example.com"), &["family"]);
    let admin = principal(Method::Oidc, Some("me@example.com"), &["family", "admins"]);
    assert!(authorize::<Chat>(&policy, &subject(Some(&family), None)).is_ok());
    assert!(matches!(
        authorize::<Admin>(&policy, &subject(Some(&family), None)),
        Err(Denied::InsufficientRole {
            has: Role::Chat,
            needs: Role::Admin,
            ..
        })
    ));
    assert!(authorize::<Admin>(&policy, &subject(Some(&admin), None)).is_ok());
    // Group names are exact: no case folding, no prefixes.
    let lookalike = principal(
        Method::Oidc,
        Some("x@example.com"),
        &["Admins", "admins-old"],
    );
    assert!(authorize::<Chat>(&policy, &subject(Some(&lookalike), None)).is_err());
}

#[test]
fn the_owner_passkey_is_admin() {
    let owner = principal(Method::Passkey, None, &[]);
    assert!(authorize::<Admin>(&Policy::default(), &subject(Some(&owner), None)).is_ok());
}

#[test]
fn token_scopes_bound_what_tokens_do() {
    let policy = Policy::default();
    let chat = token(TokenScope::Chat);
    let admin = token(TokenScope::Admin);
    assert!(authorize::<Chat>(&policy, &subject(Some(&chat), None)).is_ok());
    assert!(matches!(
        authorize::<Admin>(&policy, &subject(Some(&chat), None)),
        Err(Denied::InsufficientRole { .. })
    ));
    assert!(authorize::<Admin>(&policy, &subject(Some(&admin), None)).is_ok());
    let unscoped = principal(Method::ApiToken, None, &[]);
    assert!(authorize::<Chat>(&policy, &subject(Some(&unscoped), None)).is_err());
}

#[test]
fn weakening_actions_need_a_fresh_interactive_login() {
    let policy = Policy::default();
    let fresh = principal(Method::Passkey, None, &[]);
    let stale = Principal {
        authenticated_at: now() - chrono::Duration::minutes(11),
        ..fresh.clone()
    };
    let future = Principal {
        authenticated_at: now() + chrono::Duration::minutes(5),
        ..fresh.clone()
    };
    let admin_token = token(TokenScope::Admin);
    assert!(authorize::<FreshAdmin>(&policy, &subject(Some(&fresh), None)).is_ok());
    assert!(matches!(
        authorize::<FreshAdmin>(&policy, &subject(Some(&stale), None)),
        Err(Denied::LoginNotFresh { .. })
    ));
    assert!(matches!(
        authorize::<FreshAdmin>(&policy, &subject(Some(&future), None)),
        Err(Denied::LoginNotFresh { .. })
    ));
    assert_eq!(
        authorize::<FreshAdmin>(&policy, &subject(Some(&admin_token), None)).unwrap_err(),
        Denied::NotInteractive
    );
    // A stale admin is still an admin for ordinary admin routes.
    assert!(authorize::<Admin>(&policy, &subject(Some(&stale), None)).is_ok());
}

#[test]
fn required_device_is_enforced_for_every_method() {
    let policy = Policy {
        require_device: true,
        ..owner_only("me@example.com")
    };
    let laptop = device();
    for who in [
        principal(Method::Passkey, None, &[]),
        token(TokenScope::Admin),
        principal(Method::CloudflareAccess, Some("me@example.com"), &[]),
    ] {
        assert_eq!(
            authorize::<Chat>(&policy, &subject(Some(&who), None)).unwrap_err(),
            Denied::DeviceRequired
        );
        assert!(authorize::<Chat>(&policy, &subject(Some(&who), Some(&laptop))).is_ok());
    }
    // A device alone is not an identity.
    assert_eq!(
        authorize::<Chat>(&policy, &subject(None, Some(&laptop))).unwrap_err(),
        Denied::Unauthenticated
    );
}

#[test]
fn a_rule_can_require_a_device_for_its_role() {
    let policy = Policy {
        rules: vec![
            Rule {
                role: Role::Chat,
                emails: vec!["me@example.com".into()],
                groups: vec![],
                require_device: false,
            },
            Rule {
                role: Role::Admin,
                emails: vec!["me@example.com".into()],
                groups: vec![],
                require_device: true,
            },
        ],
        ..Policy::default()
    };
    let me = principal(Method::Oidc, Some("me@example.com"), &[]);
    let laptop = device();
    assert!(authorize::<Chat>(&policy, &subject(Some(&me), None)).is_ok());
    assert!(authorize::<Admin>(&policy, &subject(Some(&me), None)).is_err());
    assert!(authorize::<Admin>(&policy, &subject(Some(&me), Some(&laptop))).is_ok());
}

fn arb_method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Passkey),
        Just(Method::CloudflareAccess),
        Just(Method::Oidc),
        Just(Method::ApiToken)
    ]
}

proptest! {
    /// Whatever the principal, a policy with no rules grants federated identities
    /// nothing, every grant of Admin is also a grant of Chat and of Browser, and
    /// Browser is granted only to admins and browser tokens.
    #[test]
    fn admin_implies_chat_and_empty_policies_grant_no_federated_identity(
        method in arb_method(),
        email in proptest::option::of("[a-z]{1,8}@[a-z]{1,8}\\.com"),
        groups in proptest::collection::vec("[a-z]{1,6}", 0..3),
        minutes_ago in -30i64..30,
        has_device in any::<bool>(),
        scope in proptest::option::of(prop_oneof![
            Just(TokenScope::Chat),
            Just(TokenScope::Admin),
            Just(TokenScope::Browser),
        ]),
    ) {
        let who = Principal {
            subject: "s".into(),
            email,
            groups,
            method,
            authenticated_at: now() - chrono::Duration::minutes(minutes_ago),
            token_scope: scope,
        };
        let laptop = device();
        let s = subject(Some(&who), has_device.then_some(&laptop));
        let policy = Policy { fresh_login: Duration::from_secs(600), ..Policy::default() };
        if authorize::<Admin>(&policy, &s).is_ok() {
            prop_assert!(authorize::<Chat>(&policy, &s).is_ok());
            prop_assert!(authorize::<Browser>(&policy, &s).is_ok());
        }
        // Only an admin or a browser token drives the browser, and a
        // browser token does nothing else.
        let browser_token = method == Method::ApiToken && scope == Some(TokenScope::Browser);
        if authorize::<Browser>(&policy, &s).is_ok() {
            prop_assert!(browser_token || authorize::<Admin>(&policy, &s).is_ok());
        }
        if browser_token {
            prop_assert!(authorize::<Chat>(&policy, &s).is_err());
            prop_assert!(authorize::<Admin>(&policy, &s).is_err());
        }
        if authorize::<FreshAdmin>(&policy, &s).is_ok() {
            prop_assert!(authorize::<Admin>(&policy, &s).is_ok());
            prop_assert!(method.is_interactive());
        }
        if matches!(method, Method::CloudflareAccess | Method::Oidc) {
            prop_assert!(authorize::<Chat>(&policy, &s).is_err());
        }
    }
}
