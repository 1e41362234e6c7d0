//! Start of `true` in a full shell, cold and prepared ahead (pooled: the
//! shell was made before the command was known, as the exec tool's pool
//! keeps them, and the time is from handing the run over to its end),
//! against bubblewrap doing the same with its own sandbox and against a
//! plain fork+exec, interleaved in one run so all four see the same machine.
//! Prints p50/p99 and the ratios.
//!
//!   shell_start <path to shell-init> [runs]      (bench/shell.sh builds and runs it)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hardshell_sandbox::{Io, Launcher, Limits, Root, ShellPolicy, prepare, spawn};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let init = PathBuf::from(args.next().expect("the path of shell-init"));
    let runs: usize = args
        .next()
        .map_or(300, |n| n.parse().expect("a number of runs"));
    let workspace = tempfile::tempdir().unwrap();
    let launcher = Launcher {
        program: init,
        args: Vec::new(),
    };
    let policy = ShellPolicy {
        name: "bench".into(),
        workspace: workspace.path().to_owned(),
        protected: Vec::new(),
        root: Root::host_system(),
        binds: Vec::new(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        forward: Vec::new(),
        inbound: None,
        cwd: PathBuf::from("/workspace"),
        limits: Limits {
            memory_bytes: 256 << 20,
            max_pids: 64,
            cpu_percent: 100,
            wall_clock: Some(Duration::from_secs(10)),
            tmp_bytes: 16 << 20,
            file_size_bytes: 64 << 20,
            open_files: 256,
        },
    };
    let bwrap = [
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "true",
    ];
    let (mut shell, mut pooled, mut bubblewrap, mut fork_exec) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let argv = vec!["true".to_owned()];
    for run in 0..runs + 10 {
        let started = Instant::now();
        let running = spawn(&launcher, &policy, &argv, Io::null()).await.unwrap();
        let report = running.wait().await.unwrap();
        assert_eq!(report.status, hardshell_sandbox::Status::Exited(0));
        let shell_time = started.elapsed();

        // Prepared outside the time, as the pool prepares while nothing waits.
        let prepared = prepare(&launcher, &policy).await.unwrap();
        let started = Instant::now();
        let running = prepared.run(&policy, &argv, Io::null()).await.unwrap();
        let report = running.wait().await.unwrap();
        assert_eq!(report.status, hardshell_sandbox::Status::Exited(0));
        let pooled_time = started.elapsed();

        let started = Instant::now();
        let status = Command::new("bwrap")
            .args(bwrap)
            .status()
            .expect("bwrap (Debian package bubblewrap)");
        assert!(status.success());
        let bwrap_time = started.elapsed();

        let started = Instant::now();
        assert!(Command::new("/usr/bin/true").status().unwrap().success());
        let plain_time = started.elapsed();
        // The first runs warm the page cache and are not counted.
        if run >= 10 {
            shell.push(shell_time);
            pooled.push(pooled_time);
            bubblewrap.push(bwrap_time);
            fork_exec.push(plain_time);
        }
    }
    for list in [&mut shell, &mut pooled, &mut bubblewrap, &mut fork_exec] {
        list.sort_unstable();
    }
    println!("start of `true`, {runs} runs each, interleaved");
    println!("{:<28} {:>9} {:>9}", "", "p50 ms", "p99 ms");
    for (name, list) in [
        ("hardshell shell, cold", &shell),
        ("hardshell shell, pooled", &pooled),
        ("bwrap --unshare-all", &bubblewrap),
        ("fork+exec", &fork_exec),
    ] {
        println!(
            "{name:<28} {:>9.2} {:>9.2}",
            ms(percentile(list, 0.5)),
            ms(percentile(list, 0.99))
        );
    }
    let p50 = |list: &[Duration]| ms(percentile(list, 0.5));
    println!(
        "ratio p50: cold/bwrap {:.2}, pooled/bwrap {:.2}, cold/fork+exec {:.1}, pooled/fork+exec {:.1}",
        p50(&shell) / p50(&bubblewrap),
        p50(&pooled) / p50(&bubblewrap),
        p50(&shell) / p50(&fork_exec),
        p50(&pooled) / p50(&fork_exec)
    );
}
