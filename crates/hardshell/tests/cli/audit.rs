use hardshell_testkit::instance::Instance;

fn create_token(hs: &Instance) -> String {
    let run = hs
        .run(&["token", "create", "--name", "ci", "--scope", "chat"])
        .ok();
    run.stdout.trim().to_owned()
}

#[test]
fn admin_actions_from_the_cli_are_audited_and_the_chain_verifies() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let token = create_token(&hs);
    hs.run_with_stdin(&["secret", "put", "SOME_KEY"], b"value-canary-99")
        .ok();
    let verify = hs.run(&["audit", "verify"]).ok();
    assert!(
        verify.stdout.contains("intact, 2 records"),
        "{}",
        verify.stdout
    );
    let log = verify.stdout.split(':').next().unwrap().to_owned();
    let tail = hs.run(&["audit", "tail", "--log", &log]).ok();
    // JSON lines: one record per line, nothing in between.
    let lines: Vec<&str> = tail.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", tail.stdout);
    for line in lines {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    assert!(
        tail.stdout.contains("\"type\":\"token_created\""),
        "{}",
        tail.stdout
    );
    assert!(
        tail.stdout.contains("\"type\":\"secret_stored\""),
        "{}",
        tail.stdout
    );
    assert!(
        !tail.stdout.contains(&token[7..]),
        "the token is in the audit log"
    );
    assert!(
        !tail.stdout.contains("value-canary-99"),
        "the secret is in the audit log"
    );
}

#[test]
fn a_deleted_segment_is_reported_and_fails_verification() {
    let hs = Instance::initialised(crate::HARDSHELL);
    create_token(&hs);
    create_token(&hs);
    // Remove the log's only segment from disk: the head still names two records.
    let segments: Vec<_> = walk(&hs.path("data/objects/audit"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/segments/"))
        .collect();
    assert_eq!(segments.len(), 1, "{segments:?}");
    std::fs::remove_file(&segments[0]).unwrap();
    let run = hs.run(&["audit", "verify"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stdout.contains("NOT intact"), "{}", run.stdout);
    assert!(run.stderr.contains("failed verification"), "{}", run.stderr);
}

pub(crate) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn revoking_a_token_is_audited_and_an_unknown_id_fails() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let token = create_token(&hs);
    let id = &token["hs_tok_".len().."hs_tok_".len() + 16];
    hs.run(&["token", "revoke", id]).ok();
    assert!(hs.run(&["token", "list"]).ok().stdout.contains("revoked"));
    let line = hs
        .run(&["token", "revoke", "0123456789abcdef"])
        .failed_with_one_line();
    assert!(line.contains("no token with id"), "{line}");
    let verify = hs.run(&["audit", "verify"]).ok();
    assert!(
        verify.stdout.contains("intact, 2 records"),
        "{}",
        verify.stdout
    );
}

#[test]
fn a_token_is_printed_once_and_listed_without_its_secret() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let token = create_token(&hs);
    assert!(token.starts_with("hs_tok_"));
    let list = hs.run(&["token", "list"]).ok();
    assert!(list.stdout.contains("active") && list.stdout.contains("ci"));
    assert!(!list.stdout.contains(&token[24..]), "{}", list.stdout);
    let line = hs
        .run(&[
            "token",
            "create",
            "--name",
            "x",
            "--scope",
            "chat",
            "--expires-in",
            "400d",
        ])
        .failed_with_one_line();
    assert!(line.contains("lifetime"), "{line}");
}

/// Someone who can write the store cuts the audit log back, head and
/// segments together, to before a record they want gone: the head is in the
/// version register, so verification refuses the log instead of calling it
/// intact.
#[test]
fn an_audit_log_cut_back_with_its_head_is_refused() {
    fn files(dir: &std::path::Path, found: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, found);
            } else {
                found.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let hs = Instance::initialised(crate::HARDSHELL);
    create_token(&hs);
    let mut before = Vec::new();
    files(&hs.path("data/objects/audit"), &mut before);
    hs.run_with_stdin(&["secret", "put", "TO_HIDE"], b"value")
        .ok();
    for (path, bytes) in &before {
        std::fs::write(path, bytes).unwrap();
    }
    let run = hs.run(&["audit", "verify"]);
    assert!(!run.status.success(), "{}", run.stdout);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains("head was rolled back"), "{said}");
}
