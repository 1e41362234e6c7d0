//! The adversarial suite: what a compromised agent or tool would try, each in a
//! real shell, each failing the way it must. The system-call attacks are in
//! `adversarial/probe.py` (raw calls through ctypes); the file-system and
//! network ones are shell commands. Resource attacks (fork bomb, memory
//! balloon, a process ignoring SIGTERM) are in `shell.rs`, with the reports
//! the supervisor gives for them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use common::{Output, Shell, policy};
use hardshell_sandbox::{Bind, ShellPolicy};

/// Each attack is tried twice: in a shell started for it, and in one
/// prepared ahead and handed the run (`hardshell_sandbox::prepare`).
#[derive(Clone, Copy)]
enum Mode {
    Cold,
    Pooled,
}

async fn run(mode: Mode, policy: &ShellPolicy, argv: &[&str]) -> Output {
    match mode {
        Mode::Cold => common::run(policy, argv).await,
        Mode::Pooled => common::run_pooled(policy, policy, argv).await,
    }
}

/// `#[tokio::test]`s named `cold` and `pooled` in a module named after each
/// attack, each calling it in its mode.
macro_rules! in_both_modes {
    ($($attack:ident),* $(,)?) => {$(
        mod $attack {
            #[tokio::test]
            async fn cold() {
                super::$attack(super::Mode::Cold).await;
            }
            #[tokio::test]
            async fn pooled() {
                super::$attack(super::Mode::Pooled).await;
            }
        }
    )*};
}

in_both_modes!(
    seccomp_refuses_the_kernel_surface_a_shell_never_needs,
    the_host_file_system_is_out_of_reach,
    read_only_paths_and_the_agents_own_files_cannot_be_changed,
    nothing_leaves_by_the_network_and_a_host_canary_hears_nothing,
    filling_the_disk_stops_at_the_limits,
);

fn with_probe(shell: &Shell) -> ShellPolicy {
    let mut policy = policy(shell);
    policy.binds.push(Bind {
        host: package_dir().join("tests/adversarial"),
        inside: PathBuf::from("/probe"),
        writable: false,
    });
    policy
}

/// This package's directory, as `cargo test` says when it runs the test:
/// not the path baked in at compile time, which a build cache shared
/// between checkouts (CI's clean clones) can carry from another one.
fn package_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

/// Runs probe cases; `case -> outcome` (`denied EPERM`, `ALLOWED`, ...).
async fn probe(mode: Mode, cases: &[&str]) -> BTreeMap<String, String> {
    let shell = Shell::new();
    let mut argv = vec!["python3", "/probe/probe.py"];
    argv.extend(cases);
    let out = run(mode, &with_probe(&shell), &argv).await;
    assert_eq!(
        out.report.status,
        hardshell_sandbox::Status::Exited(0),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    out.stdout
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(case, outcome)| (case.to_owned(), outcome.to_owned()))
        .collect()
}

async fn seccomp_refuses_the_kernel_surface_a_shell_never_needs(mode: Mode) {
    let outcomes = probe(mode, &["all"]).await;
    let expect = |case: &str, outcome: &str| {
        assert_eq!(
            outcomes.get(case).map(String::as_str),
            Some(outcome),
            "{case}: {outcomes:#?}"
        );
    };
    for case in [
        "mount",
        "umount",
        "pivot_root",
        "fsopen",
        "open_tree",
        "unshare_user",
        "unshare_mount",
        "clone_newuser",
        "clone_newnet",
        "setns",
        "ptrace",
        "process_vm_readv",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring",
        "keyctl",
        "add_key",
        "memfd_create",
        "execveat",
        "tiocsti",
        "vsock",
        "packet",
        "packet_dgram",
        "netlink_audit",
        "raw_icmp",
        "kexec",
        "reboot",
        "init_module",
        "open_by_handle_at",
    ] {
        expect(case, "denied EPERM");
    }
    // clone3's flags are out of seccomp's reach: ENOSYS sends libc to clone.
    expect("clone3", "denied ENOSYS");
    // Calls newer than the list (this kernel has open_tree_attr) answer
    // ENOSYS, as does the x32 ABI's copy of every call.
    expect("open_tree_attr", "denied ENOSYS");
    expect("x32", "denied ENOSYS");
    // The filter is precise: the route netlink socket (used by ordinary
    // programs to list interfaces) still opens.
    expect("netlink_route", "ALLOWED");
    // Landlock: binding a port on the shell's own loopback, and signalling
    // the reaper (same uid, so only the signal scope stops it).
    expect("tcp_bind_loopback", "denied EACCES");
    expect("signal_outside", "denied EPERM");
    // RLIMIT_NOFILE stops an fd flood at the policy's number.
    assert!(
        outcomes["fd_flood"].starts_with("denied EMFILE after 25"),
        "{outcomes:#?}"
    );
    // No resolver is reachable: the name does not resolve (how the C
    // library reports it varies; that it fails does not).
    assert!(outcomes["dns"].starts_with("denied"), "{outcomes:#?}");
}

async fn the_host_file_system_is_out_of_reach(mode: Mode) {
    let shell = Shell::new();
    std::fs::write(shell.dir.path().join("secret.txt"), "host secret\n").unwrap();
    let host_dir = shell.dir.path().display().to_string();
    let script = format!(
        "for p in /root /home /var /srv /opt /run {host_dir} {host_dir}/secret.txt; do \
           test -e $p && echo \"$p: visible\" || echo \"$p: absent\"; done; \
         ls /; \
         ln -s ../../../../.. /workspace/up && ls /workspace/up/ | tr '\\n' ' '; echo; \
         cd /workspace/../../..; pwd; \
         ln -s {host_dir}/secret.txt /workspace/link; cat /workspace/link 2>&1; \
         cat /etc/shadow 2>&1 | head -c 200; echo"
    );
    let out = run(mode, &policy(&shell), &["/bin/bash", "-c", &script]).await;
    let text = &out.stdout;
    for absent in ["/root", "/home", "/var", "/srv", "/opt", "/run", &host_dir] {
        assert!(
            text.contains(&format!("{absent}: absent")),
            "{absent}: {text}"
        );
    }
    assert!(!text.contains("visible"), "{text}");
    assert!(!text.contains("host secret"), "{text}");
    // `..` and symlinks resolve inside the shell's own root.
    assert!(text.contains("bin dev etc lib"), "{text}");
    assert!(text.contains("\n/\n"), "{text}");
    assert!(text.contains("No such file or directory"), "{text}");
    // /etc is the host's, read-only; its private files stay private.
    assert!(
        text.contains("cat: /etc/shadow: Permission denied"),
        "{text}"
    );
}

async fn read_only_paths_and_the_agents_own_files_cannot_be_changed(mode: Mode) {
    let shell = Shell::new();
    std::fs::write(shell.workspace.join("AGENTS.md"), "be kind\n").unwrap();
    std::fs::create_dir_all(shell.workspace.join(".git/hooks")).unwrap();
    std::fs::write(shell.workspace.join(".git/config"), "[core]\n").unwrap();
    let mut policy = policy(&shell);
    policy.protected = vec![PathBuf::from("AGENTS.md"), PathBuf::from(".git")];
    let attempts = [
        "echo x > /usr/bin/evil",
        "echo x >> /etc/passwd",
        "mkdir /new",
        "touch /proc/evil",
        "echo x > /dev/evil",
        "echo x >> /workspace/AGENTS.md",
        "rm -f /workspace/AGENTS.md",
        "mv /workspace/AGENTS.md /workspace/moved.md",
        "touch /workspace/.git/hooks/pre-commit",
        "echo x >> /workspace/.git/config",
        "rm -rf /workspace/.git",
        "chmod 777 /workspace/AGENTS.md",
    ];
    let script: String = attempts
        .iter()
        .map(|a| format!("if {a} 2>/dev/null; then echo 'CHANGED: {a}'; else echo 'refused'; fi\n"))
        .collect();
    let out = run(mode, &policy, &["/bin/bash", "-c", &script]).await;
    assert_eq!(
        out.stdout.lines().filter(|l| *l == "refused").count(),
        attempts.len(),
        "{}",
        out.stdout
    );
    assert_eq!(
        std::fs::read_to_string(shell.workspace.join("AGENTS.md")).unwrap(),
        "be kind\n"
    );
    assert!(!shell.workspace.join(".git/hooks/pre-commit").exists());
    assert_eq!(
        std::fs::read_to_string(shell.workspace.join(".git/config")).unwrap(),
        "[core]\n"
    );
}

async fn nothing_leaves_by_the_network_and_a_host_canary_hears_nothing(mode: Mode) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let (tcp_port, udp_port) = (
        tcp.local_addr().unwrap().port(),
        udp.local_addr().unwrap().port(),
    );
    let shell = Shell::new();
    let script = format!(
        "echo hi > /dev/tcp/127.0.0.1/{tcp_port} && echo TCP-SENT; \
         echo hi > /dev/udp/127.0.0.1/{udp_port} && echo udp-sent-to-own-loopback; \
         echo hi > /dev/tcp/10.0.0.1/80 && echo TCP-OUT; \
         tail -n +3 /proc/net/dev | cut -d: -f1"
    );
    let out = run(mode, &policy(&shell), &["/bin/bash", "-c", &script]).await;
    assert!(
        !out.stdout.contains("TCP-"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains("connect: Permission denied"),
        "{}",
        out.stderr
    );
    // UDP is not Landlock's; it reaches only the shell's own loopback.
    assert!(
        out.stdout.contains("udp-sent-to-own-loopback"),
        "{}",
        out.stdout
    );
    let interfaces: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.contains("sent"))
        .map(str::trim)
        .collect();
    assert_eq!(interfaces, ["lo"], "{}", out.stdout);
    // The canaries on the host's loopback heard nothing.
    assert!(tcp.accept().is_err(), "a TCP connection reached the host");
    let mut buffer = [0u8; 16];
    assert!(
        udp.recv(&mut buffer).is_err(),
        "a datagram reached the host"
    );
}

async fn filling_the_disk_stops_at_the_limits(mode: Mode) {
    let shell = Shell::new();
    let mut policy = policy(&shell);
    policy.limits.tmp_bytes = 8 << 20;
    policy.limits.file_size_bytes = 4 << 20;
    let out = run(
        mode,
        &policy,
        &[
            "/bin/bash",
            "-c",
            "dd if=/dev/zero of=/dev/shm/fill bs=1M count=32 2>&1 | tail -1; \
             rm -f /dev/shm/fill; \
             for i in 1 2 3; do dd if=/dev/zero of=/tmp/f$i bs=1M count=3 2>/dev/null; done; \
             dd if=/dev/zero of=/tmp/f4 bs=1M count=3 2>&1 | grep -o 'No space left on device'; \
             (dd if=/dev/zero of=/workspace/big bs=1M count=32 2>/dev/null); echo status $?",
        ],
    )
    .await;
    // /tmp (and /dev/shm) are tmpfs of the policy's size: ENOSPC.
    assert!(
        out.stdout.contains("No space left on device"),
        "{}",
        out.stdout
    );
    // A single file in the workspace stops at RLIMIT_FSIZE (SIGXFSZ, 128+25).
    assert!(out.stdout.contains("status 153"), "{}", out.stdout);
    let big = std::fs::metadata(shell.workspace.join("big")).unwrap();
    assert!(big.len() <= 4 << 20, "{}", big.len());
}
