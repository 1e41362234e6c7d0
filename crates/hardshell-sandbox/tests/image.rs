//! The workload's shell: an image's root as `/`, read-only and never written,
//! every other layer as in any shell, and its one port: bound by the workload
//! inside, reached only through the inbound forwarder's unix socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use common::image::Image;
use common::{Shell, policy, run};
use hardshell_sandbox::{
    Bind, Inbound, Io, Layer, Root, ShellPolicy, Status, Stdio, spawn_inbound,
};

/// Where the tests' image has its state directory: a path the image lacks.
const STATE: &str = "/home/node/.openclaw";

/// A shell of `image` with a writable state directory at [`STATE`].
fn image_policy(shell: &Shell, image: &Image) -> ShellPolicy {
    let state = shell.dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut policy = policy(shell);
    policy.root = Root::Image(image.root.clone());
    policy.env = vec![("PATH".into(), "/bin".into())];
    policy.binds.push(Bind {
        host: state,
        inside: STATE.into(),
        writable: true,
    });
    policy
}

fn sh(script: &str) -> [&str; 3] {
    ["/bin/sh", "-c", script]
}

#[tokio::test]
async fn an_image_shell_sees_the_images_files_and_none_of_the_hosts() {
    let shell = Shell::new();
    let image = Image::busybox(&[("/etc/image-release", "busybox test image\n")]);
    let before = image.listing();
    // A file bound where the image has no such directory (as the egress CA
    // bundle is): its mount point comes from the skeleton too.
    let bundle = shell.dir.path().join("bundle.pem");
    std::fs::write(&bundle, "roots\n").unwrap();
    let mut policy = image_policy(&shell, &image);
    policy.binds.push(Bind {
        host: bundle,
        inside: "/etc/ssl/certs/ca-certificates.crt".into(),
        writable: false,
    });
    let out = run(
        &policy,
        &sh("cat /etc/image-release; cat /etc/ssl/certs/ca-certificates.crt; \
             for p in /etc/hostname /usr/bin/python3 /usr /lib; do test -e $p && echo HOST $p; done; \
             ls /; ls -d /home/node/.openclaw /workspace /tmp /proc /dev/null"),
    )
    .await;
    assert_eq!(out.report.status, Status::Exited(0), "{}", out.stderr);
    assert!(
        out.stdout.starts_with("busybox test image\nroots\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("HOST"), "{}", out.stdout);
    for mounted in ["/home/node/.openclaw", "/workspace", "/dev/null"] {
        assert!(out.stdout.contains(mounted), "{mounted}: {}", out.stdout);
    }
    // The mount points came from the skeleton: the image's directory is as
    // it was, not one entry more.
    assert_eq!(image.listing(), before);
    assert!(!image.root.join("home").exists());
    assert!(!image.root.join("workspace").exists());
}

#[tokio::test]
async fn the_image_root_cannot_be_written_and_tmp_workspace_and_state_can() {
    let shell = Shell::new();
    let image = Image::busybox(&[("/etc/image-release", "v1\n")]);
    let before = image.listing();
    let policy = image_policy(&shell, &image);
    let out = run(
        &policy,
        &sh("echo x > /x || echo root-refused; \
             echo x > /bin/x || echo bin-refused; \
             echo x >> /etc/image-release || echo file-refused; \
             rm /bin/sh || echo rm-refused; \
             mkdir /home/node/other || echo skeleton-refused; \
             echo t > /tmp/t && echo tmp-ok; \
             echo w > /workspace/w && echo workspace-ok; \
             echo s > /home/node/.openclaw/config.json && echo state-ok"),
    )
    .await;
    for refused in [
        "root-refused",
        "bin-refused",
        "file-refused",
        "rm-refused",
        "skeleton-refused",
    ] {
        assert!(out.stdout.contains(refused), "{refused}: {}", out.stdout);
    }
    for ok in ["tmp-ok", "workspace-ok", "state-ok"] {
        assert!(
            out.stdout.contains(ok),
            "{ok}: {}\n{}",
            out.stdout,
            out.stderr
        );
    }
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    assert_eq!(image.listing(), before);
    assert_eq!(
        std::fs::read_to_string(shell.dir.path().join("state/config.json")).unwrap(),
        "s\n"
    );
    assert_eq!(
        std::fs::read_to_string(shell.workspace.join("w")).unwrap(),
        "w\n"
    );
}

#[tokio::test]
async fn every_layer_holds_in_an_image_shell() {
    let shell = Shell::new();
    let image = Image::busybox(&[]);
    let out = run(
        &image_policy(&shell, &image),
        &sh("id -u; id -g; hostname; cat /proc/self/status; \
             unshare -U true || echo unshare-refused; \
             echo x | nc 127.0.0.1 9 || echo connect-refused; \
             mount -t tmpfs t /tmp || echo mount-refused; \
             echo pid $$"),
    )
    .await;
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(&lines[..3], ["1000", "1000", "hardshell"], "{}", out.stdout);
    common::assert_unprivileged(&out.stdout);
    for refused in ["unshare-refused", "connect-refused", "mount-refused"] {
        assert!(out.stdout.contains(refused), "{refused}: {}", out.stdout);
    }
    // Seccomp refuses unshare; Landlock refuses the connect (without it,
    // nothing listening would be "connection refused").
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
    assert!(out.stdout.contains("pid 2"), "{}", out.stdout);
}

#[tokio::test]
async fn a_mount_point_the_image_has_as_a_symlink_is_refused_naming_it() {
    let shell = Shell::new();
    let image = Image::busybox(&[]);
    std::fs::create_dir_all(image.root.join("srv")).unwrap();
    std::os::unix::fs::symlink("/srv", image.root.join("home")).unwrap();
    let before = image.listing();
    let error = common::try_start(&image_policy(&shell, &image), &["true"])
        .await
        .unwrap_err();
    assert_eq!(error.layer, Layer::Mounts, "{error}");
    assert!(
        error.detail().contains("/home/node/.openclaw") && error.detail().contains("at /home"),
        "{error}"
    );
    assert_eq!(image.listing(), before);
}

/// A port free on the host's loopback a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An inbound unix socket in a 0700 directory of its own, as the edge makes.
fn inbound_socket(shell: &Shell) -> (PathBuf, UnixListener) {
    use std::os::unix::fs::PermissionsExt;
    let dir = shell.dir.path().join("inbound");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.join("workload.sock");
    let listener = UnixListener::bind(&path).unwrap();
    (path, listener)
}

/// Sends `request` on a new connection to `path`; everything that came back.
fn exchange(path: &std::path::Path, request: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = UnixStream::connect(path)?;
    // A forwarder that is gone leaves the connection in the backlog
    // unanswered: fail rather than hang.
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(reply)
}

/// How a connection the forwarder could not relay ends for its client:
/// closed, with nothing. Reading gets end of file, or `ECONNRESET` when the
/// client's request was still unread as the forwarder closed (a unix socket
/// closed with unread data resets its peer); a write after the close gets
/// `EPIPE`.
fn closed_with_nothing(outcome: &std::io::Result<Vec<u8>>) -> bool {
    use std::io::ErrorKind;
    match outcome {
        Ok(reply) => reply.is_empty(),
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
    }
}

async fn start_inbound(
    policy: &ShellPolicy,
    argv: &[&str],
    listener: &UnixListener,
) -> (hardshell_sandbox::Running, common::Captured) {
    let (out_read, out_write) = std::io::pipe().unwrap();
    let (err_read, err_write) = std::io::pipe().unwrap();
    let io = Io {
        stdin: Stdio::Null,
        stdout: Stdio::Fd(out_write.into()),
        stderr: Stdio::Fd(err_write.into()),
    };
    let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
    let running = spawn_inbound(&common::launcher(), policy, &argv, io, listener)
        .await
        .unwrap();
    (running, common::Captured::new(out_read, err_read))
}

#[tokio::test]
async fn a_workload_serves_its_port_through_the_inbound_socket_and_binds_no_other() {
    let shell = Shell::new();
    let image = Image::busybox(&[("/www/index.html", "hello from the image\n")]);
    let (port, other) = (free_port(), free_port());
    let mut policy = image_policy(&shell, &image);
    policy.inbound = Some(Inbound { port });
    let (path, listener) = inbound_socket(&shell);
    let script = format!(
        "httpd -f -p 127.0.0.1:{other} -h /www; echo other-port-exit $?; \
         exec httpd -f -p 127.0.0.1:{port} -h /www"
    );
    let (running, captured) = start_inbound(&policy, &sh(&script), &listener).await;
    // Until httpd listens, a connection is closed with nothing (see the next
    // test); then it answers.
    let request = "GET /index.html HTTP/1.0\r\nHost: workload\r\n\r\n";
    let mut tries = 0;
    let reply = loop {
        let outcome = exchange(&path, request);
        if !closed_with_nothing(&outcome) {
            break String::from_utf8(outcome.unwrap()).unwrap();
        }
        tries += 1;
        assert!(tries < 1500, "the workload never answered");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.ends_with("hello from the image\n"), "{reply}");
    // Nothing listens on the host's network for it.
    let direct = std::net::TcpStream::connect(("127.0.0.1", port));
    assert_eq!(
        direct.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    // The workload does not hold the unix listener; only the reaper does.
    let inode = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&listener)
        ))
        .unwrap()
        .ino()
    };
    let held_by: Vec<String> = common::descendants(running.pid())
        .into_iter()
        .filter(|pid| holds_socket(*pid, inode))
        .map(common::comm)
        .collect();
    assert_eq!(held_by, ["shell-init"], "only the reaper holds it");
    running.terminate();
    running.wait().await.unwrap();
    let (stdout, stderr) = tokio::task::spawn_blocking(|| captured.collect())
        .await
        .unwrap();
    assert!(stdout.contains("other-port-exit 1"), "{stdout}\n{stderr}");
    assert!(stderr.contains("bind: Permission denied"), "{stderr}");
}

fn holds_socket(pid: u32, inode: u64) -> bool {
    let wanted = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|to| to.to_string_lossy() == wanted))
}

#[tokio::test]
async fn a_request_before_the_workload_listens_is_closed_with_nothing() {
    let shell = Shell::new();
    let image = Image::busybox(&[]);
    let mut policy = image_policy(&shell, &image);
    policy.inbound = Some(Inbound { port: free_port() });
    let (path, listener) = inbound_socket(&shell);
    let (running, _captured) = start_inbound(&policy, &["sleep", "30"], &listener).await;
    // A client that has sent nothing reads end of file at once.
    let mut stream = UnixStream::connect(&path).unwrap();
    let mut reply = Vec::new();
    assert_eq!(stream.read_to_end(&mut reply).unwrap(), 0);
    // One that sent a request sees the connection closed, not a hang.
    for _ in 0..3 {
        let outcome = exchange(&path, "GET / HTTP/1.0\r\n\r\n");
        assert!(closed_with_nothing(&outcome), "{outcome:?}");
    }
    running.terminate();
    running.wait().await.unwrap();
}

#[tokio::test]
async fn the_workload_can_reach_its_own_port_and_no_other() {
    let shell = Shell::new();
    let image = Image::busybox(&[("/www/index.html", "own\n")]);
    let (port, other) = (free_port(), free_port());
    let mut policy = image_policy(&shell, &image);
    policy.inbound = Some(Inbound { port });
    // Until httpd listens, a connect is refused; a bounded number of tries.
    let script = format!(
        "httpd -f -p 127.0.0.1:{port} -h /www & \
         for i in $(seq 1 500); do wget -q -O - http://127.0.0.1:{port}/index.html && break; usleep 20000; done; \
         echo x | nc 127.0.0.1 {other} || echo other-refused"
    );
    let out = run(&policy, &sh(&script)).await;
    assert!(
        out.stdout.starts_with("own\n"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("other-refused"), "{}", out.stdout);
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
}

#[tokio::test]
async fn without_an_inbound_port_the_workload_binds_nothing() {
    let shell = Shell::new();
    let image = Image::busybox(&[]);
    let port = free_port();
    let out = run(
        &image_policy(&shell, &image),
        &sh(&format!("httpd -f -p 127.0.0.1:{port} -h /; echo exit $?")),
    )
    .await;
    assert!(out.stdout.contains("exit 1"), "{}", out.stdout);
    assert!(
        out.stderr.contains("bind: Permission denied"),
        "{}",
        out.stderr
    );
    // And an inbound socket for a policy without a port is refused.
    let (_, listener) = inbound_socket(&shell);
    let io = Io::null();
    let error = spawn_inbound(
        &common::launcher(),
        &image_policy(&Shell::new(), &image),
        &["true".to_owned()],
        io,
        &listener,
    )
    .await
    .unwrap_err();
    assert_eq!(error.layer, Layer::Policy, "{error}");
}
