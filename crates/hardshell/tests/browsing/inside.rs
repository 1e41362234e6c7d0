//! The browser's shell seen from inside: the same policy a session's
//! Chromium gets, running a probe instead. No way out but the forwarder to
//! its broker, nothing of the host's data, nothing it can write but its own
//! `/tmp`.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use hardshell_sandbox::{Io, Launcher, Stdio};
use hardshell_shells::policy::{BrowserShell, browser};
use hardshell_testkit::browser::script;
use hardshell_testkit::netns::NetnsSite;

#[tokio::test]
async fn the_browsers_shell_reaches_nothing_but_its_forwarder_and_sees_no_host_data() {
    let site = NetnsSite::serve(&script("test-site.py"));
    // The host can reach the site: the shell must not.
    assert!(
        std::net::TcpStream::connect((site.address, 80)).is_ok(),
        "the host cannot reach the test site"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("secrets")).unwrap();
    std::fs::write(data.join("secrets/master.key"), "not for the browser").unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o555)).unwrap();
    let broker_dir = dir.path().join("broker");
    std::fs::create_dir(&broker_dir).unwrap();
    let policy_dir = dir.path().join("chromium-etc");
    std::fs::create_dir_all(policy_dir.join("policies/managed")).unwrap();
    std::fs::write(policy_dir.join("policies/managed/hardshell.json"), "{}").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut policy = browser(BrowserShell {
        workspace: empty,
        broker_dir,
        policy_dir,
        memory_bytes: 256 << 20,
        cpu_percent: 100,
        tmp_bytes: 16 << 20,
    });
    policy.limits.wall_clock = Some(std::time::Duration::from_secs(60));
    let probe = format!(
        r#"
        echo "links: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')"
        (exec 3<>/dev/tcp/{site}/80) 2>/dev/null && echo "site: reached" || echo "site: unreachable"
        (exec 3<>/dev/tcp/{host}/80) 2>/dev/null && echo "host: reached" || echo "host: unreachable"
        test -e {data} && echo "data: visible" || echo "data: absent"
        test -e /root && echo "root: visible" || echo "root: absent"
        touch /workspace/x 2>/dev/null && echo "workspace: written" || echo "workspace: refused"
        touch /run/hardshell/x 2>/dev/null && echo "sockets: written" || echo "sockets: refused"
        touch /etc/chromium/x 2>/dev/null && echo "policies: written" || echo "policies: refused"
        touch /tmp/x && echo "tmp: written"
        "#,
        site = site.address,
        host = site.host_address,
        data = data.display(),
    );
    let launcher = Launcher {
        program: PathBuf::from(env!("CARGO_BIN_EXE_hardshell")),
        args: vec!["shell-init".into()],
    };
    let inbound = std::os::unix::net::UnixListener::bind(dir.path().join("devtools.sock")).unwrap();
    let (mut out, out_writer) = std::io::pipe().unwrap();
    let io = Io {
        stdin: Stdio::Null,
        stdout: Stdio::Fd(out_writer.into()),
        stderr: Stdio::Null,
    };
    let argv = ["/bin/bash".to_owned(), "-c".to_owned(), probe];
    let running = hardshell_sandbox::spawn_inbound(&launcher, &policy, &argv, io, &inbound)
        .await
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        text
    });
    running.wait().await.unwrap();
    let seen = reader.join().unwrap();
    for expected in [
        "links: lo \n",
        "site: unreachable",
        "host: unreachable",
        "data: absent",
        "root: absent",
        "workspace: refused",
        "sockets: refused",
        "policies: refused",
        "tmp: written",
    ] {
        assert!(seen.contains(expected), "{expected:?} not in:\n{seen}");
    }
}
