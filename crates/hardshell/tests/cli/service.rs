//! `hardshell service install|uninstall`, checked by systemd's own
//! `systemd-analyze` (systemd does not run here: the unit is verified offline),
//! and `hardshell up --check`, the unit's ExecStartPre.

use std::process::Command;

use hardshell_testkit::instance::Instance;

fn unit_dir(hs: &Instance) -> std::path::PathBuf {
    let dir = hs.path("units");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_unit_is_written_verified_by_systemd_and_removed() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let units = unit_dir(&hs);
    let dir = units.to_str().unwrap();
    let run = hs.run(&["service", "install", "--unit-dir", dir]).ok();
    assert!(
        run.stdout.contains("systemctl enable --now hardshell"),
        "{}",
        run.stdout
    );
    let path = units.join("hardshell.service");
    let unit = std::fs::read_to_string(&path).unwrap();
    let config = hs.path("hardshell.toml");
    for line in [
        "Type=notify".to_owned(),
        format!(
            "ExecStartPre=\"{}\" --config \"{}\" up --check",
            crate::HARDSHELL,
            config.display()
        ),
        format!(
            "ExecStart=\"{}\" --config \"{}\" up",
            crate::HARDSHELL,
            config.display()
        ),
        "ExecReload=/bin/kill -HUP $MAINPID".to_owned(),
        "NoNewPrivileges=yes".to_owned(),
        "ProtectSystem=strict".to_owned(),
        format!(
            "ReadWritePaths=\"{}\" \"{}\"",
            hs.path("data").display(),
            hs.dir.path().display()
        ),
    ] {
        assert!(unit.lines().any(|l| l == line), "no {line:?} in:\n{unit}");
    }
    // systemd's own reading of it: no unknown directive, a bad value or a
    // missing binary.
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze is installed with systemd");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !said.contains(path.to_str().unwrap()),
        "systemd-analyze verify: {said}"
    );
    // And its exposure: the hardening it takes is seen.
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    for taken in ["NoNewPrivileges=", "ProtectSystem=", "RestrictSUIDSGID="] {
        assert!(
            report.lines().any(|l| l.contains('✓') && l.contains(taken)),
            "{taken} is not counted:\n{report}"
        );
    }

    // Not twice; and uninstall takes only its own file.
    let twice = hs
        .run(&["service", "install", "--unit-dir", dir])
        .failed_with_one_line();
    assert!(twice.contains("exists"), "{twice}");
    let foreign = units.join("other.service");
    std::fs::write(&foreign, "[Service]\nExecStart=/bin/true\n").unwrap();
    let refused = hs
        .run(&["service", "uninstall", "--unit-dir", dir, "--name", "other"])
        .failed_with_one_line();
    assert!(refused.contains("not written by hardshell"), "{refused}");
    assert!(foreign.exists());
    let bad_name = hs
        .run(&[
            "service",
            "install",
            "--unit-dir",
            dir,
            "--name",
            "../etc/x",
        ])
        .failed_with_one_line();
    assert!(bad_name.contains("not a unit name"), "{bad_name}");
    hs.run(&["service", "uninstall", "--unit-dir", dir]).ok();
    assert!(!path.exists());
}

#[test]
fn up_check_passes_a_good_deployment_and_names_what_would_stop_up() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let ok = hs.run(&["up", "--check"]).ok();
    assert!(
        ok.stdout.contains("hardshell up would start"),
        "{}",
        ok.stdout
    );

    // A provider's key that is not stored.
    hs.run(&["config", "model", "openai/gpt-4o"]).ok();
    let line = hs.run(&["up", "--check"]).failed_with_one_line();
    assert!(line.contains("OPENAI_API_KEY"), "{line}");
    hs.run_with_stdin(&["secret", "put", "OPENAI_API_KEY"], b"sk-test-0123456789")
        .ok();
    hs.run(&["up", "--check"]).ok();

    // Certificate files that do not make a listener.
    std::fs::write(hs.path("cert.pem"), "not a certificate\n").unwrap();
    std::fs::write(hs.path("key.pem"), "not a key\n").unwrap();
    hs.edit_config(|text| text + "\n[edge.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n");
    hs.edit_config(|text| {
        text.replace(
            "listen = \"127.0.0.1:8787\"",
            "listen = \"127.0.0.1:8787\"\npublic_url = \"https://localhost:8787\"",
        )
    });
    let line = hs.run(&["up", "--check"]).failed_with_one_line();
    assert!(line.contains("cert.pem"), "{line}");
}
