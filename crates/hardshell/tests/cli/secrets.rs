use hardshell_testkit::instance::{Instance, contains};

const VALUE: &str = "sk-ant-canary-4f1d2c9b7e_do_not_print";

#[test]
fn put_list_rm_round_trip() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let run = hs
        .run_with_stdin(
            &["secret", "put", "ANTHROPIC_API_KEY"],
            format!("{VALUE}\n").as_bytes(),
        )
        .ok();
    assert!(run.stdout.contains("stored secret ANTHROPIC_API_KEY"));
    let run = hs
        .run_with_stdin(&["secret", "put", "ANTHROPIC_API_KEY"], VALUE.as_bytes())
        .ok();
    assert!(run.stdout.contains("replaced secret ANTHROPIC_API_KEY"));
    let run = hs.run(&["secret", "list"]).ok();
    assert!(run.stdout.contains("ANTHROPIC_API_KEY"), "{}", run.stdout);
    hs.run(&["secret", "rm", "ANTHROPIC_API_KEY"]).ok();
    let run = hs.run(&["secret", "list"]).ok();
    assert!(run.stdout.contains("no secrets"), "{}", run.stdout);
}

#[test]
fn the_value_reaches_no_output_no_log_and_no_file_in_plaintext() {
    let hs = Instance::initialised(crate::HARDSHELL);
    // RUST_LOG=trace is set for every run by the harness.
    let mut shown = String::new();
    for run in [
        hs.run_with_stdin(&["secret", "put", "CANARY"], VALUE.as_bytes())
            .ok(),
        hs.run(&["secret", "list"]).ok(),
        hs.run(&["config", "check"]).ok(),
    ] {
        shown.push_str(&run.stdout);
        shown.push_str(&run.stderr);
    }
    assert!(!shown.contains("canary-4f1d"), "{shown}");
    for (path, bytes) in hs.all_file_bytes() {
        assert!(
            !contains(&bytes, b"canary-4f1d"),
            "{} holds the value",
            path.display()
        );
    }
}

#[test]
fn bad_names_and_empty_values_are_refused_and_store_nothing() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let line = hs
        .run_with_stdin(&["secret", "put", "lower_case"], b"v")
        .failed_with_one_line();
    assert!(line.contains("not valid"), "{line}");
    let line = hs
        .run_with_stdin(&["secret", "put", "../ESCAPE"], b"v")
        .failed_with_one_line();
    assert!(line.contains("not valid"), "{line}");
    let line = hs
        .run_with_stdin(&["secret", "put", "EMPTY"], b"\n")
        .failed_with_one_line();
    assert!(line.contains("no value"), "{line}");
    let too_big = vec![b'x'; hardshell_secrets::MAX_SECRET_BYTES + 1];
    let line = hs
        .run_with_stdin(&["secret", "put", "HUGE"], &too_big)
        .failed_with_one_line();
    assert!(line.contains("limit"), "{line}");
    assert!(
        hs.run(&["secret", "list"])
            .ok()
            .stdout
            .contains("no secrets")
    );
}

#[test]
fn removing_a_missing_secret_fails() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let line = hs.run(&["secret", "rm", "NOPE"]).failed_with_one_line();
    assert!(line.contains("no secret named NOPE"), "{line}");
}
