//! `hardshell doctor` on real instances: a fresh one has nothing high to
//! fix; a readable master key, a dangerous setting, a wide egress route, a
//! long-lived admin token and a broken audit log are each found, with the
//! fix, and fail the run; so are the store's faults, the clock's skew and
//! the ends of the certificates hardshell issued.

use std::os::unix::fs::PermissionsExt as _;

use hardshell_testkit::instance::Instance;
use serde_json::Value;

/// The report as JSON, and whether the run succeeded.
fn doctor_json(hs: &Instance) -> (Value, bool, String) {
    let run = hs.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (report, run.status.success(), run.stderr)
}

/// [`doctor_json`] of the same binary with its clock moved `ahead`
/// (`+2h`, `+30d`) by libfaketime (Debian's faketime).
fn doctor_json_ahead(hs: &Instance, ahead: &str) -> (Value, bool) {
    let run = std::process::Command::new("faketime")
        .args(["-f", ahead, crate::HARDSHELL, "doctor", "--json"])
        .current_dir(hs.path("."))
        .env_remove("HARDSHELL_MASTER_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("faketime (scripts/install.sh installs it)");
    let report = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&run.stderr)));
    (report, run.status.success())
}

/// The first finding of `check`, if any.
fn finding(report: &Value, check: &str) -> Option<Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .cloned()
}

/// `(check, severity)` of each finding, as listed.
fn findings_of(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_fresh_install_has_nothing_high_and_says_what_it_checked() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let (report, ok, stderr) = doctor_json(&hs);
    assert!(ok, "{report:#}\n{stderr}");
    let found = findings_of(&report);
    assert!(
        found.iter().all(|(_, severity)| severity != "high"),
        "{found:?}"
    );
    let checks: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for check in [
        "edge.exposure",
        "dangerous",
        "files.master-key",
        "kernel.landlock",
        "tokens.lifetime",
        "audit.verify",
        "storage.versions",
    ] {
        assert!(checks.contains(&check), "{check}: {checks:?}");
    }
    // The text report ends with its totals.
    let text = hs.run(&["doctor"]).ok();
    let totals = text.stdout.lines().last().unwrap_or_default();
    assert!(totals.contains(" checks: 0 high, "), "{}", text.stdout);
}

#[test]
fn a_readable_key_a_dangerous_setting_and_a_wildcard_route_are_found_and_fail_the_run() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.edit_config(|text| {
        format!(
            "{}\n[[egress.routes]]\nhosts = [\"*.s3.example.com\"]\nports = [443]\n",
            text.replace(
                "egress_internal = []",
                "egress_internal = [\"10.9.0.0/16\"]"
            )
        )
    });
    let key = hs.path("data/master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let (report, ok, stderr) = doctor_json(&hs);
    assert!(!ok, "{report:#}");
    assert!(stderr.contains("high findings"), "{stderr}");
    let found = findings_of(&report);
    for expected in [
        ("files.master-key", "high"),
        ("dangerous", "high"),
        ("egress.wildcards", "medium"),
        // The key is refused as it is, so the store is not opened.
        ("storage.open", "high"),
    ] {
        assert!(
            found.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?}: {found:?}"
        );
    }
    let key_finding = finding(&report, "files.master-key").unwrap();
    assert_eq!(
        key_finding["fix"],
        format!("chmod 600 {}", key.display()).as_str()
    );

    // Fixed as it says, the key is no finding and the store opens.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (report, _, _) = doctor_json(&hs);
    let found = findings_of(&report);
    assert!(
        !found
            .iter()
            .any(|(check, _)| check == "files.master-key" || check == "storage.open"),
        "{found:?}"
    );
}

#[test]
fn a_long_lived_admin_token_and_a_broken_audit_log_are_found() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let created = hs
        .run(&[
            "token",
            "create",
            "--name",
            "ci",
            "--scope",
            "admin",
            "--expires-in",
            "300d",
        ])
        .ok();
    assert!(!created.stdout.trim().is_empty());
    hs.run(&["token", "create", "--name", "short", "--scope", "chat"])
        .ok();
    let (report, ok, _) = doctor_json(&hs);
    assert!(ok, "{report:#}");
    let found = findings_of(&report);
    assert_eq!(
        found
            .iter()
            .filter(|(check, _)| check == "tokens.lifetime")
            .collect::<Vec<_>>(),
        [&("tokens.lifetime".to_owned(), "medium".to_owned())],
        "{report:#}"
    );

    // The audit log's one segment removed: the head names records that are gone.
    let segments: Vec<_> = crate::audit::walk(&hs.path("data/objects/audit"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/segments/"))
        .collect();
    assert_eq!(segments.len(), 1, "{segments:?}");
    std::fs::remove_file(&segments[0]).unwrap();
    let (report, ok, _) = doctor_json(&hs);
    assert!(!ok);
    let broken = finding(&report, "audit.verify").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(broken["severity"], "high");
    assert!(
        broken["what"].as_str().unwrap().contains("is NOT intact"),
        "{broken}"
    );
}

/// nginx on loopback in front of `upstream`, dropping the conditional
/// headers of every request it passes on: a proxy misconfigured as some
/// are. Stopped by its PID when dropped.
struct DroppingProxy {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl DroppingProxy {
    fn start(upstream: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let upstream = upstream.trim_start_matches("http://");
        let prefix = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\n\
             error_log {prefix}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n\
             client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n\
             server {{\n    listen 127.0.0.1:{port};\n    client_max_body_size 0;\n\
             location / {{\n      proxy_pass http://{upstream};\n\
             proxy_set_header Host $http_host;\n      proxy_set_header If-Match \"\";\n\
             proxy_set_header If-None-Match \"\";\n    }}\n  }}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = std::process::Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx (scripts/install.sh installs it)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nginx did not listen");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for DroppingProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_store_that_honours_conditional_writes_passes_and_one_behind_a_proxy_dropping_them_is_high() {
    use crate::s3::{env, s3_instance_at};
    // SeaweedFS, as it is.
    let hs = s3_instance_at(
        &env("HARDSHELL_TEST_SEAWEEDFS"),
        &env("HARDSHELL_TEST_SEAWEEDFS_KEY_ID"),
        &env("HARDSHELL_TEST_SEAWEEDFS_SECRET"),
        "hardshell-test",
    );
    let (report, ok, stderr) = doctor_json(&hs);
    assert!(ok, "{report:#}\n{stderr}");
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .contains(&"storage.conditional-writes".into()),
        "{report:#}"
    );
    assert!(
        !findings_of(&report)
            .iter()
            .any(|(check, _)| check.starts_with("storage.")),
        "{report:#}"
    );

    // moto honours them too, reached directly...
    let moto = env("HARDSHELL_TEST_MOTO");
    let (report, ok, _) = doctor_json(&s3_instance_at(
        &moto,
        "any",
        "any-secret",
        "hardshell-test",
    ));
    assert!(ok, "{report:#}");
    // ...but behind a proxy that drops If-Match and If-None-Match (moto
    // checks no signature, so it does not notice), each write lands
    // whatever it was conditioned on.
    let proxy = DroppingProxy::start(&moto);
    let hs = s3_instance_at(&proxy.url, "any", "any-secret", "hardshell-test");
    let (report, ok, _) = doctor_json(&hs);
    assert!(!ok, "{report:#}");
    let finding =
        finding(&report, "storage.conditional-writes").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(finding["severity"], "high");
    let what = finding["what"].as_str().unwrap();
    assert!(
        what.contains("(If-None-Match: *)") && what.contains("(If-Match)"),
        "{what}"
    );
}

#[test]
fn with_models_each_model_is_asked_with_its_key_and_those_that_do_not_answer_are_found() {
    use crate::s3::env;
    let hs = Instance::initialised(crate::HARDSHELL);
    // A fresh install has no model: said, though not asked for.
    let (report, ok, _) = doctor_json(&hs);
    assert!(ok);
    assert!(
        findings_of(&report).contains(&("llm.chain".to_owned(), "medium".to_owned())),
        "{report:#}"
    );

    let key = env("HARDSHELL_TEST_LLM_KEY");
    hs.run_with_stdin(&["secret", "put", "LOCAL_KEY"], key.as_bytes())
        .ok();
    hs.run_with_stdin(&["secret", "put", "WRONG_KEY"], b"hs-test-not-the-key")
        .ok();
    let url = env("HARDSHELL_TEST_LLM_URL");
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let providers = format!(
        "\n[llm.providers.local]\nkind = \"openai\"\nbase_url = \"{url}\"\napi_key = \"secret:LOCAL_KEY\"\n\
         [llm.providers.wrong]\nkind = \"openai\"\nbase_url = \"{url}\"\napi_key = \"secret:WRONG_KEY\"\n\
         [llm.providers.down]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{down}/v1\"\n"
    );
    let with_chain = |chain: &str| {
        let providers = providers.clone();
        let chain = chain.to_owned();
        move |text: String| {
            let start = text.find("chain = [").unwrap();
            let end = start + text[start..].find(']').unwrap() + 1;
            format!(
                "{}chain = {chain}{}{providers}",
                &text[..start],
                &text[end..]
            )
        }
    };
    hs.edit_config(with_chain(
        "[\"local/smollm2\", \"wrong/smollm2\", \"down/smollm2\"]",
    ));
    let run = hs.run(&["doctor", "--json", "--models"]);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(run.status.success(), "{report:#}\n{}", run.stderr);
    let answers: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "llm.answers")
        .map(|f| (f["severity"].as_str().unwrap(), f["what"].as_str().unwrap()))
        .collect();
    assert_eq!(answers.len(), 2, "{report:#}");
    assert!(
        answers[0].0 == "medium"
            && answers[0]
                .1
                .starts_with("the model wrong/smollm2 did not answer"),
        "{answers:?}"
    );
    assert!(
        answers[1].0 == "medium"
            && answers[1]
                .1
                .starts_with("the model down/smollm2 did not answer"),
        "{answers:?}"
    );
    // Neither key is shown, whatever the provider said back.
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains(&key) && !output.contains("hs-test-not-the-key"));
    }

    // With no model that answers, the agent cannot: high.
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.run_with_stdin(&["secret", "put", "LOCAL_KEY"], key.as_bytes())
        .ok();
    hs.run_with_stdin(&["secret", "put", "WRONG_KEY"], b"hs-test-not-the-key")
        .ok();
    hs.edit_config(with_chain("[\"wrong/smollm2\", \"down/smollm2\"]"));
    let run = hs.run(&["doctor", "--json", "--models"]);
    assert!(!run.status.success());
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["findings"][0]["check"], "llm.answers");
    assert_eq!(report["findings"][0]["severity"], "high");
    // Without --models, nothing is sent and nothing is said of answers.
    let (report, ok, _) = doctor_json(&hs);
    assert!(ok, "{report:#}");
    assert!(
        !findings_of(&report)
            .iter()
            .any(|(check, _)| check == "llm.answers"),
        "{report:#}"
    );
}

#[test]
fn a_locked_skill_changed_in_the_store_is_high() {
    use crate::skills::{locked_weather, swap_stored_tree};
    let hs = Instance::initialised(crate::HARDSHELL);
    let (dir, digest) = locked_weather(&hs);
    let (report, ok, _) = doctor_json(&hs);
    assert!(ok, "{report:#}");
    assert_eq!(finding(&report, "locked.verify"), None, "{report:#}");

    swap_stored_tree(&hs, &dir, &digest);
    let records_before = hs.audit_events().len();
    let (report, ok, _) = doctor_json(&hs);
    assert!(!ok);
    let finding = finding(&report, "locked.verify").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(finding["severity"], "high");
    assert!(
        finding["what"]
            .as_str()
            .unwrap()
            .starts_with("the OpenClaw skill weather fails verification: the stored skill"),
        "{finding}"
    );
    // doctor writes nothing: `module verify` is what records it.
    assert_eq!(hs.audit_events().len(), records_before);
}

#[test]
fn the_master_key_backup_is_said_until_the_owner_confirms_it_for_that_key() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let backup = |report: &Value| finding(report, "master-key.backup");
    // Without a terminal nothing is asked, and the finding stays.
    let (report, ok, _) = doctor_json(&hs);
    assert!(ok);
    let finding = backup(&report).unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(finding["severity"], "medium");
    let key_id = finding["what"]
        .as_str()
        .unwrap()
        .split("key id ")
        .nth(1)
        .unwrap()
        .trim_end_matches(") is on record")
        .to_owned();
    assert!(
        finding["what"]
            .as_str()
            .unwrap()
            .starts_with("no backup of the master key")
    );

    hs.run(&["doctor", "--json", "--master-key-backed-up"]).ok();
    let (report, _, _) = doctor_json(&hs);
    assert_eq!(backup(&report), None, "{report:#}");

    // A record of another key is no record of this one.
    let other =
        serde_json::json!({"key_id": "0000000000000000", "confirmed_at": "2026-01-01T00:00:00Z"});
    hs.put_stored("doctor/master-key-backup", other.to_string().as_bytes());
    let (report, _, _) = doctor_json(&hs);
    let finding = backup(&report).unwrap_or_else(|| panic!("{report:#}"));
    assert!(
        finding["what"].as_str().unwrap().contains(&key_id),
        "{finding}"
    );
}

#[test]
fn a_clock_two_hours_ahead_of_the_stores_is_high() {
    use crate::s3::{env, s3_instance_at};
    // moto checks no signature's time, so the store still answers, with
    // its own clock in the probe object's Last-Modified.
    let hs = s3_instance_at(
        &env("HARDSHELL_TEST_MOTO"),
        "any",
        "any-secret",
        "hardshell-test",
    );
    let (report, ok, _) = doctor_json(&hs);
    assert!(ok, "{report:#}");
    assert!(
        !findings_of(&report)
            .iter()
            .any(|(check, _)| check == "clock.skew"),
        "{report:#}"
    );
    let (report, ok) = doctor_json_ahead(&hs, "+2h");
    assert!(!ok, "{report:#}");
    let skew = finding(&report, "clock.skew").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(skew["severity"], "high");
    let what = skew["what"].as_str().unwrap();
    let seconds: i64 = what
        .strip_prefix("this machine's clock is ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{what}"));
    assert!((7100..=7300).contains(&seconds), "{what}");
    assert!(what.contains(" s ahead of the store's"), "{what}");
}

#[test]
fn a_device_certificate_ending_soon_and_an_egress_ca_near_its_end_are_found() {
    let hs = Instance::initialised(crate::HARDSHELL);
    // Neither is made before something needs it, and doctor makes neither.
    let (report, ok, _) = doctor_json(&hs);
    assert!(ok, "{report:#}");
    for check in ["egress.ca", "devices.certificate"] {
        assert!(finding(&report, check).is_none(), "{report:#}");
    }
    assert!(!hs.path("data/objects/auth/devices").exists());

    let out = hs.path("certs");
    for (name, days) in [("laptop", "300"), ("phone", "3")] {
        hs.run(&[
            "device",
            "issue",
            name,
            "--days",
            days,
            "--out",
            out.to_str().unwrap(),
        ])
        .ok();
    }
    // Where the device CA is kept: the check above looked in the right place.
    assert!(hs.path("data/objects/auth/devices").is_dir());
    hs.run(&["egress", "ca"]).ok();
    let (report, ok, _) = doctor_json(&hs);
    assert!(ok, "{report:#}");
    let devices: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "devices.certificate")
        .collect();
    assert_eq!(devices.len(), 1, "{report:#}");
    assert_eq!(devices[0]["severity"], "medium");
    let what = devices[0]["what"].as_str().unwrap();
    assert!(
        what.starts_with("device phone's certificate ends on "),
        "{what}"
    );
    assert!(finding(&report, "egress.ca").is_none(), "{report:#}");

    // Revoked, it is the owner's decision made: nothing to find.
    hs.run(&["device", "revoke", "phone"]).ok();
    let (report, _, _) = doctor_json(&hs);
    assert!(
        finding(&report, "devices.certificate").is_none(),
        "{report:#}"
    );

    // The egress CA lasts five years: 25 days before its end.
    let (report, _) = doctor_json_ahead(&hs, "+1800d");
    let ca = finding(&report, "egress.ca").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(ca["severity"], "medium", "{ca}");
    assert!(
        ca["what"]
            .as_str()
            .unwrap()
            .starts_with("the egress CA ends on "),
        "{ca}"
    );
    // The laptop's 300 days have passed by then.
    let laptop = finding(&report, "devices.certificate").unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(laptop["severity"], "low", "{laptop}");
}

#[test]
fn a_secret_nothing_uses_is_found_and_a_bound_one_is_not() {
    let hs = Instance::initialised(crate::HARDSHELL);
    for name in ["GITHUB_TOKEN", "OLD_DEPLOY_KEY"] {
        hs.run_with_stdin(&["secret", "put", name], b"a-value-canary")
            .ok();
    }
    hs.edit_config(|text| {
        format!(
            "{text}\n[[egress.routes]]\nhosts = [\"api.github.com\"]\nports = [443]\n\
             [egress.secrets.GITHUB_TOKEN]\nhosts = [\"api.github.com\"]\n"
        )
    });
    let (report, _, stderr) = doctor_json(&hs);
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .contains(&Value::from("secrets.unused")),
        "{report:#}\n{stderr}"
    );
    let unused: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "secrets.unused")
        .map(|f| f["what"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(unused.len(), 1, "{unused:?}");
    assert!(unused[0].contains("OLD_DEPLOY_KEY"), "{unused:?}");
    assert!(!report.to_string().contains("a-value-canary"));
}

/// A revoked token put back in the store and a device's revocation deleted
/// there: each is named as its own high finding, and the run fails.
#[test]
fn objects_rolled_back_or_deleted_in_the_store_are_named() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let (_, id, _) = crate::revoked_token_put_back(&hs);
    // A secret deleted in the secret store behind hardshell's back.
    hs.run_with_stdin(&["secret", "put", "GONE"], b"value").ok();
    std::fs::remove_file(hs.path("data/secrets/secrets/GONE")).unwrap();

    let (report, ok, _) = doctor_json(&hs);
    assert!(!ok, "{report:#}");
    let found: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "storage.versions")
        .map(|f| {
            assert_eq!(f["severity"], "high");
            f["what"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(found.len(), 2, "{report:#}");
    assert!(
        found
            .iter()
            .any(|what| what.contains(&format!("object tokens/{id} was rolled back"))),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|what| what.contains("object secrets/GONE is missing")),
        "{found:?}"
    );
}
