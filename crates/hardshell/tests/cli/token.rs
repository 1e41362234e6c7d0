//! `hardshell token create --scope`: every scope the policy knows can be
//! issued from the CLI, and is shown and audited by its name.

use hardshell_testkit::instance::Instance;

#[test]
fn a_browser_token_is_created_listed_and_audited_with_its_scope() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let run = hs
        .run(&[
            "token",
            "create",
            "--name",
            "playwright",
            "--scope",
            "browser",
        ])
        .ok();
    let token = run.stdout.trim().to_owned();
    assert!(token.starts_with("hs_tok_"), "{token}");
    assert!(run.stderr.contains("(browser, expires"), "{}", run.stderr);
    let list = hs.run(&["token", "list"]).ok();
    let line = list
        .stdout
        .lines()
        .find(|line| line.ends_with("  playwright"))
        .unwrap_or_else(|| panic!("{}", list.stdout));
    assert!(line.contains("  active   browser  expires "), "{line}");
    assert!(line.contains("  used never"), "{line}");
    let verify = hs.run(&["audit", "verify"]).ok();
    let log = verify.stdout.split(':').next().unwrap().to_owned();
    let tail = hs.run(&["audit", "tail", "--log", &log]).ok();
    assert!(
        tail.stdout.contains("\"type\":\"token_created\"")
            && tail.stdout.contains("\"scope\":\"browser\""),
        "{}",
        tail.stdout
    );
    assert!(!tail.stdout.contains(&token[7..]), "the token is audited");
}

#[test]
fn an_unknown_scope_is_refused_with_the_known_ones_and_makes_no_token() {
    let hs = Instance::initialised(crate::HARDSHELL);
    for bad in ["cdp", "Browser", ""] {
        let run = hs.run(&["token", "create", "--name", "x", "--scope", bad]);
        assert_eq!(run.status.code(), Some(2), "{bad}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{bad}: {}", run.stdout);
        assert!(
            run.stderr.contains("chat") && run.stderr.contains("browser"),
            "{bad}: {}",
            run.stderr
        );
    }
    let list = hs.run(&["token", "list"]).ok();
    assert_eq!(list.stdout.trim(), "no tokens");
}
