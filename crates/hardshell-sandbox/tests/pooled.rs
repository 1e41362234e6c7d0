//! Shells prepared ahead (`hardshell_sandbox::prepare`): the run handed over
//! later gets its own workspace, binds, streams and limits, and every layer a
//! cold shell has; a run that does not fit is refused; an unused shell leaves
//! nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Shell, cgroups_named, gone, launcher, policy, run_pooled, try_run_in};
use hardshell_sandbox::{Bind, Ended, Layer, Status, prepare};

#[tokio::test]
async fn a_pooled_shell_runs_in_the_workspace_handed_over_not_the_one_it_was_prepared_with() {
    let (prepared_with, handed) = (Shell::new(), Shell::new());
    std::fs::write(handed.workspace.join("in.txt"), "the run's own\n").unwrap();
    std::fs::write(prepared_with.workspace.join("in.txt"), "not this one\n").unwrap();
    let mut run = policy(&handed);
    run.env.push(("GREETING".into(), "hello".into()));
    let out = run_pooled(
        &policy(&prepared_with),
        &run,
        &[
            "/bin/sh",
            "-c",
            "pwd; cat in.txt; echo $GREETING; echo written > out.txt; echo to-stderr >&2; exit 3",
        ],
    )
    .await;
    assert_eq!(out.report.status, Status::Exited(3), "{out:?}");
    assert_eq!(out.report.ended, Ended::Exited);
    assert_eq!(out.stdout, "/workspace\nthe run's own\nhello\n");
    assert_eq!(out.stderr, "to-stderr\n");
    assert_eq!(
        std::fs::read_to_string(handed.workspace.join("out.txt")).unwrap(),
        "written\n"
    );
    assert!(!prepared_with.workspace.join("out.txt").exists());
}

#[tokio::test]
async fn a_pooled_shell_has_every_layer_a_cold_one_has() {
    let shell = Shell::new();
    let out = run_pooled(
        &policy(&shell),
        &policy(&shell),
        &[
            "/bin/sh",
            "-c",
            "id -u; id -G; hostname; echo pid $$; cat /proc/self/status; \
             touch /new 2>/dev/null || echo root-read-only; \
             touch /etc/new 2>/dev/null || echo etc-read-only; \
             grep ' /workspace ' /proc/self/mountinfo; \
             ls /proc/self/fd | tr '\\n' ' '; echo; \
             ls /proc | grep -c '^[0-9]'",
        ],
    )
    .await;
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&lines[..3], ["1000", "1000", "hardshell"], "{}", out.stdout);
    assert!(lines.contains(&"pid 2"), "{}", out.stdout);
    common::assert_unprivileged(&out.stdout);
    assert!(lines.contains(&"root-read-only"), "{}", out.stdout);
    assert!(lines.contains(&"etc-read-only"), "{}", out.stdout);
    let workspace = lines
        .iter()
        .find(|l| l.contains(" /workspace "))
        .unwrap_or_else(|| panic!("no /workspace mount: {}", out.stdout));
    assert!(
        workspace.contains("nosuid") && workspace.contains("nodev"),
        "{workspace}"
    );
    // No descriptor of the handover (nor any other) reached the workload:
    // its standard streams, and the one `ls` opened to list them.
    assert!(lines.contains(&"0 1 2 3 "), "{}", out.stdout);
    // Only the shell's own processes: the reaper, sh, ls and grep.
    assert!(
        lines.last().unwrap().parse::<u32>().unwrap() <= 4,
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn protected_paths_and_binds_are_handed_over_with_their_access() {
    let shell = Shell::new();
    std::fs::create_dir(shell.workspace.join(".git")).unwrap();
    std::fs::write(shell.workspace.join(".git/HEAD"), "ref: main\n").unwrap();
    let (read_only, writable) = (shell.dir.path().join("ro"), shell.dir.path().join("rw"));
    std::fs::create_dir(&read_only).unwrap();
    std::fs::create_dir(&writable).unwrap();
    std::fs::write(read_only.join("data"), "given\n").unwrap();
    let file = shell.dir.path().join("one-file");
    std::fs::write(&file, "a file\n").unwrap();
    let mut run = policy(&shell);
    run.protected = vec![".git".into()];
    run.binds = vec![
        Bind {
            host: read_only.clone(),
            inside: "/opt/data".into(),
            writable: false,
        },
        Bind {
            host: writable.clone(),
            inside: "/opt/out".into(),
            writable: true,
        },
        Bind {
            host: file,
            inside: "/opt/given-file".into(),
            writable: false,
        },
    ];
    let out = run_pooled(
        &policy(&shell),
        &run,
        &[
            "/bin/sh",
            "-c",
            "cat .git/HEAD; echo x > .git/HEAD 2>/dev/null || echo git-read-only; \
             cat /opt/data/data; echo x > /opt/data/new 2>/dev/null || echo data-read-only; \
             echo out > /opt/out/new && echo out-written; cat /opt/given-file; \
             echo ok > /workspace/ok && echo workspace-written",
        ],
    )
    .await;
    assert_eq!(
        out.stdout,
        "ref: main\ngit-read-only\ngiven\ndata-read-only\nout-written\na file\nworkspace-written\n",
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(shell.workspace.join(".git/HEAD")).unwrap(),
        "ref: main\n"
    );
    assert!(!read_only.join("new").exists());
    assert_eq!(
        std::fs::read_to_string(writable.join("new")).unwrap(),
        "out\n"
    );
}

#[tokio::test]
async fn the_runs_limits_replace_the_prepared_ones() {
    let shell = Shell::new();
    let mut template = policy(&shell);
    template.name = "pool-limits".into();
    // Once handed its run, a shell no longer waits.
    let prepared = prepare(&launcher(), &template).await.unwrap();
    let (running, _out) = {
        let (out_read, out_write) = std::io::pipe().unwrap();
        let io = hardshell_sandbox::Io {
            stdin: hardshell_sandbox::Stdio::Null,
            stdout: hardshell_sandbox::Stdio::Fd(out_write.into()),
            stderr: hardshell_sandbox::Stdio::Null,
        };
        let argv = vec!["sleep".to_owned(), "30".to_owned()];
        (prepared.run(&template, &argv, io).await.unwrap(), out_read)
    };
    let listed: Vec<_> = hardshell_sandbox::running_shells()
        .into_iter()
        .filter(|shell| shell.cgroup.starts_with("pool-limits-"))
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(!listed[0].ready, "{listed:?}");
    running.terminate();
    running.wait().await.unwrap();
    // Fewer processes than prepared with: the run's forks are refused at its
    // own limit, not the template's 64.
    let mut fewer = template.clone();
    fewer.limits.max_pids = 5;
    fewer.limits.memory_bytes = 128 << 20;
    let out = run_pooled(
        &template,
        &fewer,
        &[
            "/bin/sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait",
        ],
    )
    .await;
    assert!(out.report.pids_limit_hit, "{out:?}");
    // More memory than prepared with (cgroup v1 takes the memory-and-swap
    // limit first then): 300 MiB written fits the run's 512 MiB, and the
    // same under the prepared 256 MiB is killed for memory.
    let fill = ["python3", "-c", "b = b'x' * (300 << 20); print('fits')"];
    let mut more = template.clone();
    more.limits.memory_bytes = 512 << 20;
    let out = run_pooled(&template, &more, &fill).await;
    assert_eq!(out.stdout, "fits\n", "{out:?}");
    let out = run_pooled(&template, &template, &fill).await;
    assert_eq!(out.report.ended, Ended::OutOfMemory, "{out:?}");
    // Its wall clock is its own, counted from the run.
    let mut short = template.clone();
    short.limits.wall_clock = Some(Duration::from_millis(500));
    let out = run_pooled(&template, &short, &["sleep", "30"]).await;
    assert_eq!(out.report.ended, Ended::WallClock, "{out:?}");
}

#[tokio::test]
async fn a_run_that_does_not_fit_is_refused_and_its_shell_ended() {
    let shell = Shell::new();
    let mut template = policy(&shell);
    template.name = "pool-refused".into();
    for change in [
        |p: &mut hardshell_sandbox::ShellPolicy| p.name = "pool-other".into(),
        |p: &mut hardshell_sandbox::ShellPolicy| p.limits.tmp_bytes *= 2,
        |p: &mut hardshell_sandbox::ShellPolicy| p.limits.cpu_percent = 50,
        |p: &mut hardshell_sandbox::ShellPolicy| {
            p.root = hardshell_sandbox::Root::Host(vec!["/usr".into()]);
        },
    ] {
        let prepared = prepare(&launcher(), &template).await.unwrap();
        let pid = prepared.pid();
        let mut run = template.clone();
        change(&mut run);
        assert!(!prepared.fits(&run));
        let error = try_run_in(prepared, &run, &["true"]).await.unwrap_err();
        assert_eq!(error.layer, Layer::Policy, "{error}");
        assert!(gone(pid), "the refused shell's init is still there");
        assert!(cgroups_named("pool-refused").is_empty());
    }
    // A bad path in the run's policy is refused the same way, before anything
    // of it is opened.
    let prepared = prepare(&launcher(), &template).await.unwrap();
    let mut run = template.clone();
    run.binds.push(Bind {
        host: "/etc/../root".into(),
        inside: "/opt/x".into(),
        writable: false,
    });
    let error = try_run_in(prepared, &run, &["true"]).await.unwrap_err();
    assert_eq!(error.layer, Layer::Policy, "{error}");
    // An image root or an inbound port cannot be prepared at all.
    let mut inbound = template.clone();
    inbound.inbound = Some(hardshell_sandbox::Inbound { port: 8080 });
    let error = prepare(&launcher(), &inbound).await.unwrap_err();
    assert_eq!(error.layer, Layer::Policy, "{error}");
    assert!(cgroups_named("pool-refused").is_empty());
}

#[tokio::test]
async fn a_missing_workspace_or_bind_fails_the_run_and_ends_the_shell() {
    let shell = Shell::new();
    let mut template = policy(&shell);
    template.name = "pool-missing".into();
    let prepared = prepare(&launcher(), &template).await.unwrap();
    let pid = prepared.pid();
    let mut run = template.clone();
    run.binds.push(Bind {
        host: shell.dir.path().join("not-there"),
        inside: "/opt/x".into(),
        writable: false,
    });
    let error = try_run_in(prepared, &run, &["true"]).await.unwrap_err();
    assert_eq!(error.layer, Layer::Mounts, "{error}");
    assert!(error.detail().contains("not-there"), "{error}");
    assert!(gone(pid));
    assert!(cgroups_named("pool-missing").is_empty());
}

#[tokio::test]
async fn an_unused_shell_discarded_or_dropped_leaves_nothing() {
    let shell = Shell::new();
    let mut template = policy(&shell);
    template.name = "pool-unused".into();
    let prepared = prepare(&launcher(), &template).await.unwrap();
    let pid = prepared.pid();
    assert!(!gone(pid));
    assert_eq!(cgroups_named("pool-unused").len(), 3);
    // Listed among the running shells as one that waits.
    let listed: Vec<_> = hardshell_sandbox::running_shells()
        .into_iter()
        .filter(|shell| shell.cgroup.starts_with("pool-unused-"))
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].ready, "{listed:?}");
    assert_eq!(listed[0].processes, 2, "init and reaper: {listed:?}");
    prepared.discard().await;
    assert!(gone(pid));
    assert!(cgroups_named("pool-unused").is_empty());

    let prepared = prepare(&launcher(), &template).await.unwrap();
    let pid = prepared.pid();
    let reaper = common::descendants(pid);
    assert_eq!(reaper.len(), 1, "init's one child, the reaper");
    drop(prepared);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(gone(pid) && gone(reaper[0]) && cgroups_named("pool-unused").is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped shell stayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn shells_prepared_together_each_see_only_their_own_run() {
    let (one, two) = (Shell::new(), Shell::new());
    std::fs::write(one.workspace.join("one"), "").unwrap();
    std::fs::write(two.workspace.join("two"), "").unwrap();
    let template = policy(&one);
    let (first, second) = (
        prepare(&launcher(), &template).await.unwrap(),
        prepare(&launcher(), &template).await.unwrap(),
    );
    let (in_one, in_two) = (policy(&one), policy(&two));
    let (a, b) = tokio::join!(
        try_run_in(first, &in_one, &["ls", "/workspace"]),
        try_run_in(second, &in_two, &["ls", "/workspace"]),
    );
    assert_eq!(a.unwrap().stdout, "one\n");
    assert_eq!(b.unwrap().stdout, "two\n");
}
