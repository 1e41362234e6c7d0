use std::os::unix::fs::PermissionsExt;

use hardshell_testkit::instance::Instance;

#[test]
fn device_issue_writes_a_private_key_and_list_and_revoke_work() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let out = hs.path("certs");
    let run = hs
        .run(&[
            "device",
            "issue",
            "laptop",
            "--days",
            "30",
            "--out",
            out.to_str().unwrap(),
        ])
        .ok();
    assert!(
        run.stdout.contains("issued device laptop"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("[access.devices] is not enabled"),
        "{}",
        run.stderr
    );
    let key = out.join("laptop.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("PRIVATE KEY")
    );
    assert!(
        std::fs::read_to_string(out.join("laptop.crt"))
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(!run.stdout.contains("PRIVATE KEY"), "the key was printed");
    assert!(hs.run(&["device", "list"]).ok().stdout.contains("active"));

    let again = hs
        .run(&["device", "issue", "laptop", "--out", out.to_str().unwrap()])
        .failed_with_one_line();
    assert!(again.contains("already has a certificate"), "{again}");
    hs.run(&["device", "revoke", "laptop"]).ok();
    assert!(hs.run(&["device", "list"]).ok().stdout.contains("revoked"));
    let line = hs
        .run(&["device", "revoke", "laptop"])
        .failed_with_one_line();
    assert!(line.contains("no device named laptop"), "{line}");
    let line = hs
        .run(&["device", "issue", "Not_Valid"])
        .failed_with_one_line();
    assert!(line.contains("not valid"), "{line}");
}
