//! `hardshell` on an S3 backend (a real SeaweedFS started by scripts/test), with
//! the bucket's credentials held as hardshell secrets.

use hardshell_testkit::instance::{Instance, contains};

pub(crate) fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with scripts/test, which starts SeaweedFS")
    })
}

fn prefix() -> String {
    format!("cli-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into()
}

fn s3_instance(bucket: &str) -> Instance {
    s3_instance_at(
        &env("HARDSHELL_TEST_SEAWEEDFS"),
        &env("HARDSHELL_TEST_SEAWEEDFS_KEY_ID"),
        &env("HARDSHELL_TEST_SEAWEEDFS_SECRET"),
        bucket,
    )
}

/// An instance whose store is `bucket` at the S3 `endpoint`, its
/// credentials held as hardshell secrets.
pub(crate) fn s3_instance_at(endpoint: &str, key_id: &str, secret: &str, bucket: &str) -> Instance {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.run_with_stdin(&["secret", "put", "S3_ACCESS_KEY_ID"], key_id.as_bytes())
        .ok();
    hs.run_with_stdin(
        &["secret", "put", "S3_SECRET_ACCESS_KEY"],
        secret.as_bytes(),
    )
    .ok();
    let prefix = prefix();
    hs.edit_config(|text| {
        text.replace("backend = \"file\"", "backend = \"s3\"").replace(
            "# [storage.s3]\n",
            &format!(
                "[storage.s3]\nendpoint = \"{endpoint}\"\nbucket = \"{bucket}\"\npath_style = true\n\
                 prefix = \"{prefix}\"\naccess_key_id = \"secret:S3_ACCESS_KEY_ID\"\n\
                 secret_access_key = \"secret:S3_SECRET_ACCESS_KEY\"\nmax_retries = 1\nretry_timeout_secs = 2\n"
            ),
        )
    });
    hs
}

#[test]
fn s3_backend_with_credentials_from_secrets_checks_ok() {
    let hs = s3_instance("hardshell-test");
    let run = hs.run(&["config", "check"]).ok();
    assert!(
        run.stdout.contains("hardshell-test (encrypted)"),
        "{}",
        run.stdout
    );
    // The bucket credentials are secrets: not in the config, not in any output.
    let secret = env("HARDSHELL_TEST_SEAWEEDFS_SECRET");
    assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));
    for (path, bytes) in hs.all_file_bytes() {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "{} holds the S3 secret",
            path.display()
        );
    }
}

#[test]
fn bad_s3_credentials_are_one_clear_line() {
    let hs = s3_instance("hardshell-test");
    hs.run_with_stdin(
        &["secret", "put", "S3_SECRET_ACCESS_KEY"],
        b"definitely-wrong-secret",
    )
    .ok();
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(
        line.contains("refused access") && line.contains("SignatureDoesNotMatch"),
        "{line}"
    );
    assert!(!line.contains("definitely-wrong-secret"), "{line}");
}

#[test]
fn a_missing_bucket_is_one_clear_line() {
    let hs = s3_instance("hardshell-not-created");
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(
        line.contains("bucket \"hardshell-not-created\" does not exist"),
        "{line}"
    );
}

#[test]
fn a_missing_credential_secret_names_the_key_and_the_fix() {
    let hs = s3_instance("hardshell-test");
    hs.run(&["secret", "rm", "S3_ACCESS_KEY_ID"]).ok();
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(
        line.contains("`storage.s3.access_key_id`")
            && line.contains("hardshell secret put S3_ACCESS_KEY_ID"),
        "{line}"
    );
}

#[test]
fn an_unreachable_endpoint_is_one_clear_line() {
    let hs = s3_instance("hardshell-test");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = env("HARDSHELL_TEST_SEAWEEDFS");
    hs.edit_config(|text| text.replace(&endpoint, &format!("http://127.0.0.1:{port}")));
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(line.contains("unreachable"), "{line}");
}

#[test]
fn credentials_can_come_from_the_environment() {
    let hs = s3_instance("hardshell-test");
    hs.edit_config(|text| text.replace("secret:S3_ACCESS_KEY_ID", "env:TEST_S3_KEY_ID"));
    let output = hs
        .command(&["config", "check"])
        .env("TEST_S3_KEY_ID", env("HARDSHELL_TEST_SEAWEEDFS_KEY_ID"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = hs.run(&["config", "check"]).failed_with_one_line();
    assert!(line.contains("TEST_S3_KEY_ID is not set"), "{line}");
}
