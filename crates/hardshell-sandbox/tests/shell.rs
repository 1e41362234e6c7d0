//! Real shells, started by the real init program (this crate's `shell-init`):
//! the basics every workload relies on, and how a shell ends. The attacks are
//! in `adversarial.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Shell, launcher, policy, run, run_with};
use hardshell_sandbox::{Ended, Launcher, Layer, Status};

#[tokio::test]
async fn true_exits_zero_and_exit_codes_and_signals_come_through() {
    let shell = Shell::new();
    let out = run(&policy(&shell), &["true"]).await;
    assert_eq!(out.report.status, Status::Exited(0));
    assert_eq!(out.report.ended, Ended::Exited);
    let out = run(&policy(&shell), &["/bin/sh", "-c", "exit 7"]).await;
    assert_eq!(out.report.status, Status::Exited(7));
    let out = run(&policy(&shell), &["/bin/sh", "-c", "kill -SEGV $$"]).await;
    assert_eq!(out.report.status, Status::Signaled(libc::SIGSEGV));
}

#[tokio::test]
async fn output_and_only_the_policys_environment_reach_the_workload() {
    let shell = Shell::new();
    let mut policy = policy(&shell);
    policy.env.push(("GREETING".into(), "hello".into()));
    // SAFETY-free: set in this test process only, to prove it does not leak.
    let out = run(&policy, &["/usr/bin/env"]).await;
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["GREETING=hello", "PATH=/usr/bin:/bin"],
        "{}",
        out.stdout
    );
    let out = run(&policy, &["/bin/sh", "-c", "echo to-stderr >&2"]).await;
    assert_eq!(out.stderr, "to-stderr\n");
}

#[tokio::test]
async fn inside_it_runs_unprivileged_with_every_layer_on() {
    let shell = Shell::new();
    let out = run(
        &policy(&shell),
        &[
            "/bin/sh",
            "-c",
            "id -u; id -g; id -G; cat /proc/self/status; echo pid $$; hostname",
        ],
    )
    .await;
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&lines[..3], ["1000", "1000", "1000"], "{}", out.stdout);
    common::assert_unprivileged(&out.stdout);
    // pid 1 is the reaper; the workload is pid 2.
    assert!(lines.contains(&"pid 2"), "{}", out.stdout);
    assert_eq!(*lines.last().unwrap(), "hardshell");
}

#[tokio::test]
async fn from_the_host_it_is_an_unprivileged_id_in_namespaces_of_its_own() {
    let shell = Shell::new();
    let (running, _out) = common::start(&policy(&shell), &["sleep", "30"]).await;
    let init = running.pid();
    // The workload is the init process's grandchild.
    let workload = common::descendants(init)
        .into_iter()
        .find(|pid| common::comm(*pid) == "sleep")
        .expect("the workload");
    let status = std::fs::read_to_string(format!("/proc/{workload}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid.contains("2147000000"), "{uid}");
    assert!(!uid.split_whitespace().skip(1).any(|id| id == "0"), "{uid}");
    for ns in ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        let theirs = std::fs::read_link(format!("/proc/{workload}/ns/{ns}")).unwrap();
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(theirs, ours, "{ns}");
    }
    running.terminate();
    let report = running.wait().await.unwrap();
    assert_eq!(report.ended, Ended::Terminated);
}

#[tokio::test]
async fn the_workspace_is_writable_and_the_system_is_not() {
    let shell = Shell::new();
    std::fs::write(shell.workspace.join("AGENTS.md"), "be kind\n").unwrap();
    let mut policy = policy(&shell);
    policy.protected.push("AGENTS.md".into());
    let out = run(
        &policy,
        &[
            "/bin/sh",
            "-c",
            "echo made > /workspace/new.txt && echo ok1; \
             echo x > /tmp/t && echo ok2; \
             echo x > /usr/x 2>/dev/null || echo usr-refused; \
             echo x > /x 2>/dev/null || echo root-refused; \
             echo x >> /workspace/AGENTS.md 2>/dev/null || echo agents-refused; \
             cat /workspace/AGENTS.md",
        ],
    )
    .await;
    assert_eq!(
        out.stdout, "ok1\nok2\nusr-refused\nroot-refused\nagents-refused\nbe kind\n",
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(shell.workspace.join("new.txt")).unwrap(),
        "made\n"
    );
    assert_eq!(
        std::fs::read_to_string(shell.workspace.join("AGENTS.md")).unwrap(),
        "be kind\n"
    );
}

#[tokio::test]
async fn the_wall_clock_kills_the_whole_shell() {
    let shell = Shell::new();
    let mut policy = policy(&shell);
    policy.limits.wall_clock = Some(Duration::from_millis(500));
    let started = Instant::now();
    let out = run(&policy, &["/bin/sh", "-c", "sleep 100 & sleep 100"]).await;
    assert_eq!(out.report.ended, Ended::WallClock);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(out.report.status, Status::Signaled(_)));
}

#[tokio::test]
async fn a_memory_balloon_is_killed_for_the_limit() {
    let shell = Shell::new();
    let mut policy = policy(&shell);
    policy.limits.memory_bytes = 64 << 20;
    let out = run(
        &policy,
        &[
            "python3",
            "-c",
            "b = []\nwhile True: b.append(bytearray(16 << 20))",
        ],
    )
    .await;
    assert_eq!(out.report.ended, Ended::OutOfMemory, "{}", out.stderr);
    assert_eq!(out.report.status, Status::Signaled(libc::SIGKILL));
}

#[tokio::test]
async fn a_fork_bomb_hits_the_process_limit_and_the_host_forks_on() {
    let shell = Shell::new();
    let mut policy = policy(&shell);
    policy.limits.max_pids = 32;
    policy.limits.wall_clock = Some(Duration::from_secs(3));
    let out = run(&policy, &["/bin/bash", "-c", "b() { b | b & }; b; sleep 5"]).await;
    assert!(out.report.pids_limit_hit, "{:?}", out.report);
    // The host is unaffected: it still starts processes.
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test]
async fn terminate_ends_even_a_workload_that_ignores_sigterm() {
    let shell = Shell::new();
    let (running, _out) = common::start(
        &policy(&shell),
        &["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
    )
    .await;
    let started = Instant::now();
    running.terminate();
    let report = running.wait().await.unwrap();
    assert_eq!(report.ended, Ended::Terminated);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn its_cgroups_are_gone_after_it_ends() {
    let shell = Shell::new();
    let mut policy = policy(&shell);
    policy.name = format!("gone-{}", std::process::id());
    let (running, _out) = common::start(&policy, &["sleep", "30"]).await;
    let mine = || common::cgroups_named(&policy.name);
    assert!(!mine().is_empty(), "no cgroup while running");
    running.terminate();
    running.wait().await.unwrap();
    assert!(mine().is_empty(), "{:?}", mine());
}

#[tokio::test]
async fn a_running_shell_is_listed_with_what_it_uses_and_gone_once_ended() {
    let shell = Shell::new();
    let mut policy = policy(&shell);
    policy.name = format!("usage-{}", std::process::id());
    // Busy for a moment, then holding 8 MiB: CPU time and memory to see.
    let script = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; \
                  head -c 8388608 /dev/zero | tail -c 8388608 > /dev/null & \
                  exec sleep 30";
    let (running, _out) = common::start(&policy, &["sh", "-c", script]).await;
    let mine = || {
        hardshell_sandbox::running_shells()
            .into_iter()
            .find(|usage| usage.cgroup.starts_with(&format!("{}-", policy.name)))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let usage = loop {
        if let Some(usage) = mine()
            && usage.cpu_usec.is_some_and(|cpu| cpu > 0)
        {
            break usage;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not listed with CPU time: {:?}",
            mine()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(usage.processes >= 2, "{usage:?}");
    assert!(usage.memory_bytes > 0, "{usage:?}");
    running.terminate();
    running.wait().await.unwrap();
    assert_eq!(mine(), None);
}

/// A host process kept in a cgroup below a shell's, out of reach of the
/// shell's kill; killed and its cgroup removed when dropped, pass or fail.
struct Lingering {
    process: std::process::Child,
    cgroup: std::path::PathBuf,
}

impl Lingering {
    fn below(shell_cgroup: &std::path::Path) -> Self {
        let cgroup = shell_cgroup.join("lingering");
        std::fs::create_dir(&cgroup).unwrap();
        let process = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let lingering = Self { process, cgroup };
        std::fs::write(
            lingering.cgroup.join("cgroup.procs"),
            lingering.process.id().to_string(),
        )
        .unwrap();
        lingering
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir(&self.cgroup);
    }
}

/// A shell has ended only when its last process has. A process the kill
/// does not reach (here one the test keeps in a cgroup below the shell's, as
/// one blocked in the kernel would outlive SIGKILL) holds back `wait`, so a
/// supervisor never starts the next run of a workload beside it.
#[tokio::test]
async fn its_end_is_reported_only_once_no_process_of_it_is_left() {
    let shell = Shell::new();
    let mut policy = policy(&shell);
    policy.name = format!("linger-{}", std::process::id());
    let (running, _out) = common::start(&policy, &["sleep", "30"]).await;
    let dir = common::cgroups_named(&policy.name).remove(0);
    let lingering = Lingering::below(&dir);
    running.terminate();
    let waiting = tokio::spawn(running.wait());
    // The shell's own processes go: the kill reaches them.
    let procs = dir.join("cgroup.procs");
    let emptied = || {
        std::fs::read_to_string(&procs)
            .unwrap_or_default()
            .trim()
            .is_empty()
    };
    for _ in 0..600 {
        if emptied() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(emptied(), "the shell's own processes were not killed");
    // Longer than the kill's own retries: its end is still not reported.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !waiting.is_finished(),
        "the shell's end was reported while a process of it ran"
    );
    drop(lingering);
    let report = waiting.await.unwrap().unwrap();
    assert_eq!(report.ended, Ended::Terminated);
    assert!(common::cgroups_named(&policy.name).is_empty());
}

#[tokio::test]
async fn a_shell_that_cannot_be_built_fails_naming_the_layer() {
    let shell = Shell::new();
    let mut policy = policy(&shell);
    policy.workspace = shell.dir.path().join("not-there");
    let error = common::try_start(&policy, &["true"]).await.unwrap_err();
    assert_eq!(error.layer, Layer::Mounts, "{error}");
    assert!(error.to_string().contains("layer mounts failed"), "{error}");

    let mut policy = common::policy(&shell);
    policy.binds.push(hardshell_sandbox::Bind {
        host: shell.dir.path().join("no-such-socket-dir"),
        inside: "/run/x".into(),
        writable: false,
    });
    let error = common::try_start(&policy, &["true"]).await.unwrap_err();
    assert_eq!(error.layer, Layer::Mounts, "{error}");

    let policy = common::policy(&shell);
    let error = common::try_start(&policy, &["no-such-program"])
        .await
        .unwrap_err();
    assert_eq!(error.layer, Layer::Exec, "{error}");
}

#[tokio::test]
async fn the_forwarder_is_the_one_way_out_and_relays_to_the_broker_socket() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let shell = Shell::new();
    // The "broker": answers one request on a unix socket with what it got.
    let sockets = shell.dir.path().join("sockets");
    std::fs::create_dir(&sockets).unwrap();
    let path = sockets.join("broker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let broker = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = vec![0u8; 4096];
        let n = stream.read(&mut request).unwrap();
        let request = String::from_utf8_lossy(&request[..n]).into_owned();
        let body = format!("broker saw: {}", request.lines().next().unwrap_or(""));
        write!(
            stream,
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        request
    });
    let mut policy = policy(&shell);
    policy.binds.push(hardshell_sandbox::Bind {
        host: sockets.clone(),
        inside: "/run/broker".into(),
        writable: false,
    });
    policy.forward = vec![hardshell_sandbox::Forward {
        port: 3128,
        to: "/run/broker/broker.sock".into(),
    }];
    let out = run(
        &policy,
        &[
            "/bin/bash",
            "-c",
            "exec 3<>/dev/tcp/127.0.0.1/3128 && \
             printf 'GET http://example.test/ HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3; echo; \
             echo > /dev/tcp/127.0.0.1/3129 || echo other-port-refused",
        ],
    )
    .await;
    assert!(
        out.stdout
            .contains("broker saw: GET http://example.test/ HTTP/1.0"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("other-port-refused"), "{}", out.stdout);
    assert!(
        out.stderr.contains("connect: Permission denied"),
        "{}",
        out.stderr
    );
    assert!(
        broker
            .join()
            .unwrap()
            .starts_with("GET http://example.test/")
    );
}

#[tokio::test]
async fn cgroups_left_by_a_killed_supervisor_are_removed_and_live_or_new_ones_kept() {
    let root = std::path::Path::new("/sys/fs/cgroup/memory/hardshell");
    std::fs::create_dir_all(root).unwrap();
    let id = std::process::id();
    let (stale, fresh) = (
        root.join(format!("stale-{id}")),
        root.join(format!("fresh-{id}")),
    );
    for dir in [&stale, &fresh] {
        let _ = std::fs::create_dir(dir);
    }
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(600);
    std::fs::File::open(&stale)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    // A running shell's cgroups are in use and must survive the sweep.
    let shell = Shell::new();
    let mut live = policy(&shell);
    live.name = format!("live-{id}");
    let (running, _out) = common::start(&live, &["sleep", "30"]).await;
    // As old as the stale one: only being in use keeps it.
    for dir in common::cgroups_named(&live.name) {
        std::fs::File::open(&dir)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
    }
    hardshell_sandbox::remove_stale_cgroups();
    assert!(!stale.exists(), "a stale cgroup was kept");
    assert!(fresh.exists(), "a new cgroup was removed");
    assert!(
        !common::cgroups_named(&live.name).is_empty(),
        "a live shell's cgroup was removed"
    );
    std::fs::remove_dir(&fresh).unwrap();
    running.terminate();
    running.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_outlives_the_thread_that_started_it() {
    // A parent-death signal would fire when this thread ends; the shell must
    // not depend on which thread of the supervisor started it.
    let shell = Shell::new();
    let policy = policy(&shell);
    let handle = tokio::runtime::Handle::current();
    let (running, out) = std::thread::spawn(move || {
        handle.block_on(common::start(
            &policy,
            &["/bin/sh", "-c", "sleep 1; echo alive"],
        ))
    })
    .join()
    .unwrap();
    let report = running.wait().await.unwrap();
    assert_eq!(report.status, Status::Exited(0), "{report:?}");
    let (stdout, _) = tokio::task::spawn_blocking(|| out.collect()).await.unwrap();
    assert_eq!(stdout, "alive\n");
}

/// Docker's layout: files bound into `/etc` (`/etc/hosts`, `/etc/resolv.conf`).
/// In the shell's user namespace those mounts are locked to `/etc`, so a
/// shallow bind of `/etc` is refused; the shell must still start, show the
/// file, and keep it read-only like the rest of `/etc`.
#[tokio::test]
async fn a_system_directory_with_mounts_inside_it_is_bound_whole_and_read_only() {
    let shell = Shell::new();
    let planted = shell.dir.path().join("hosts");
    std::fs::write(&planted, "127.0.0.1 from-a-mount-inside-etc\n").unwrap();
    // The edge's launcher, run in a mount namespace of its own where a file
    // is bound over /etc/hosts, as a container runtime does.
    let inner = launcher();
    let wrapped = Launcher {
        program: PathBuf::from("/usr/bin/unshare"),
        args: vec![
            "--mount".into(),
            "--propagation".into(),
            "private".into(),
            "--".into(),
            "/bin/sh".into(),
            "-c".into(),
            "/usr/bin/mount --bind \"$1\" /etc/hosts && exec \"$2\"".into(),
            "sh".into(),
            planted.clone().into_os_string(),
            inner.program.into_os_string(),
        ],
    };
    let out = run_with(
        &wrapped,
        &policy(&shell),
        &[
            "/bin/sh",
            "-c",
            "cat /etc/hosts; \
             echo x >> /etc/hosts 2>/dev/null || echo write-refused; \
             grep ' /etc/hosts ' /proc/self/mountinfo",
        ],
    )
    .await;
    assert_eq!(out.report.ended, Ended::Exited, "{}", out.stderr);
    assert_eq!(out.report.status, Status::Exited(0), "{}", out.stderr);
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("127.0.0.1 from-a-mount-inside-etc"));
    assert_eq!(lines.next(), Some("write-refused"));
    // Read-only in the mount itself, not only by Landlock.
    let mount = lines.next().unwrap_or_default();
    let options = mount.split_whitespace().nth(5).unwrap_or_default();
    let options: Vec<&str> = options.split(',').collect();
    for wanted in ["ro", "nosuid", "nodev"] {
        assert!(options.contains(&wanted), "{mount}");
    }
    assert_eq!(
        std::fs::read_to_string(&planted).unwrap(),
        "127.0.0.1 from-a-mount-inside-etc\n"
    );
}

/// A "broker" on a unix socket in `dir`: answers every connection `ok`.
fn answering_broker(dir: &std::path::Path) {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("broker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut request = [0u8; 1024];
                if matches!(stream.read(&mut request), Ok(1..)) {
                    let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            });
        }
    });
}

#[tokio::test]
async fn the_forwarder_outlives_a_shell_at_its_process_limit() {
    let shell = Shell::new();
    let sockets = shell.dir.path().join("sockets");
    std::fs::create_dir(&sockets).unwrap();
    answering_broker(&sockets);
    let mut policy = policy(&shell);
    policy.binds.push(hardshell_sandbox::Bind {
        host: sockets.clone(),
        inside: "/run/broker".into(),
        writable: false,
    });
    policy.forward = vec![hardshell_sandbox::Forward {
        port: 3128,
        to: "/run/broker/broker.sock".into(),
    }];
    policy.limits.max_pids = 12;
    // Takes every process the shell may have, asks through the forwarder
    // (which then has no thread for the connection), gives them back, and
    // asks again.
    let script = r#"
import os, signal, socket
def ask():
    try:
        s = socket.create_connection(("127.0.0.1", 3128))
    except OSError as e:
        return "refused " + type(e).__name__
    answer = b""
    try:
        s.sendall(b"GET http://example.test/ HTTP/1.0\r\n\r\n")
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return "answered" if answer.endswith(b"ok") else "closed"
children = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        children.append(pid)
except OSError:
    pass
print("full:", len(children), ask(), flush=True)
for pid in children:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print("after:", ask(), flush=True)
"#;
    let out = run(&policy, &["/usr/bin/python3", "-c", script]).await;
    assert!(
        out.report.pids_limit_hit,
        "{:?}\n{}",
        out.report, out.stderr
    );
    assert!(
        out.stdout.contains("full:"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        !out.stdout.contains("full: 0 "),
        "nothing was forked: {}",
        out.stdout
    );
    // The connection that came with no thread to spare was closed...
    assert!(
        out.stdout.contains(" closed\n"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    // ...and the forwarder relays the next one.
    assert!(
        out.stdout.contains("after: answered"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[tokio::test]
async fn a_passed_listener_is_the_workloads_at_3_and_named_by_no_path_inside() {
    use std::io::Read;
    let shell = Shell::new();
    let path = shell.dir.path().join("served.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let policy = policy(&shell);
    let script = r#"
import os, socket
print("LISTEN_FDS=" + os.environ.get("LISTEN_FDS", "unset"), flush=True)
s = socket.socket(fileno=3)
print("family", s.family == socket.AF_UNIX, "listening", s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), flush=True)
conn, _ = s.accept()
conn.sendall(b"served from inside")
conn.close()
"#;
    let (running, captured) =
        common::start_serving(&policy, &["/usr/bin/python3", "-c", script], &listener).await;
    // The host connects by its path; the shell has no such path.
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "served from inside");
    let report = running.wait().await.unwrap();
    let (stdout, stderr) = tokio::task::spawn_blocking(|| captured.collect())
        .await
        .unwrap();
    assert_eq!(report.status, Status::Exited(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("LISTEN_FDS=1\n"), "{stdout}");
    assert!(stdout.contains("family True listening 1"), "{stdout}");
}

#[tokio::test]
async fn without_a_passed_listener_nothing_is_at_3() {
    let shell = Shell::new();
    let out = run(
        &policy(&shell),
        &[
            "/usr/bin/python3",
            "-c",
            "import os\nprint(os.environ.get('LISTEN_FDS', 'unset'))\ntry:\n    os.fstat(3)\n    print('open')\nexcept OSError:\n    print('closed')",
        ],
    )
    .await;
    assert_eq!(out.stdout, "unset\nclosed\n", "{}", out.stderr);
}
