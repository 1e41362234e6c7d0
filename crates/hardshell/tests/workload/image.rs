//! A small test image, built the way a user's would be: an OCI layout made
//! with Debian's `umoci` from a root holding the static busybox (its shell,
//! its HTTP server and its CGI scripts), run by `[workload]` by digest.
//!
//! The layer is made with `umoci unpack` and `repack`, not `insert`: Debian's
//! umoci 0.4.7 `insert` writes a tar without its end (no padding after the
//! last file, no end-of-archive blocks), which GNU tar and hardshell both
//! refuse.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The port the test workload listens on inside its shell.
pub const PORT: u16 = 18781;

/// CGI scripts the test workload serves under `/cgi-bin/`.
const SCRIPTS: &[(&str, &str)] = &[
    (
        "whoami",
        "echo \"user=$HTTP_X_FORWARDED_USER\"\n\
         echo \"identity=${HTTP_X_HARDSHELL_IDENTITY:+present}\"\n",
    ),
    // Writes its query string to the state directory, then reads it back.
    (
        "note",
        "if [ -n \"$QUERY_STRING\" ]; then echo \"$QUERY_STRING\" > /state/note; fi\n\
         cat /state/note 2>/dev/null || echo none\n",
    ),
    // Writes more than any test's state volume holds into the state
    // directory: how far it got, and the error it met.
    (
        "fill",
        "busybox dd if=/dev/zero of=/state/fill bs=1M count=64 2>/tmp/fill.err; \
         echo \"exit=$?\"; cat /tmp/fill.err\n",
    ),
    // The workload's environment as the workload sees it.
    ("env", "env | sort\n"),
    // A way out that is not the broker: straight to an address.
    (
        "direct",
        "busybox nc -w 2 203.0.113.7 80 </dev/null >/dev/null 2>&1; echo \"exit=$?\"\n",
    ),
    // The broker, which has no route for this host: refused.
    (
        "proxied",
        "busybox wget -q -T 5 -O- http://denied.example.test/ >/dev/null 2>&1; echo \"exit=$?\"\n",
    ),
    // hardshell's CDP proxy, on the forwarder's port ([workload] browser):
    // the status line of a WebSocket handshake there (the request side kept
    // open meanwhile: a client that hangs up gets no upgrade).
    (
        "cdp",
        "(printf 'GET /cdp?session=workload HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUpgrade: websocket\\r\\n\
         Connection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\
         Sec-WebSocket-Version: 13\\r\\n\\r\\n'; busybox sleep 5) | busybox nc -w 5 127.0.0.1 9222 \
         | busybox head -n 1; echo \"done\"\n",
    ),
    // OpenClaw's skills where hardshell binds them: which are there, one
    // skill's name line and script mode; each one moved aside (refused),
    // then each write (refused: still covered).
    (
        "skills",
        "echo \"managed=$(busybox ls /state/skills | busybox tr '\\n' ' ')\"\n\
         busybox head -n 2 /state/skills/weather/SKILL.md | busybox tail -n 1\n\
         echo \"mode=$(busybox stat -c %a /state/skills/weather/scripts/run.sh)\"\n\
         for at in /state/workspace /state/skills /state/workspace/.agents; do \
         (busybox mv $at /state/moved) 2>/tmp/e; echo \"move $at=$? $(cat /tmp/e)\"; done\n\
         for at in /state/skills/planted /state/skills/weather/SKILL.md \
         /state/workspace/skills/planted /state/workspace/.agents/planted; do \
         (echo planted > $at) 2>/tmp/e; echo \"write $at=$? $(cat /tmp/e)\"; done\n\
         echo \"workspace_skills=$(busybox ls -A /state/workspace/skills)\"\n\
         echo note > /state/workspace/note 2>/tmp/e; echo \"workspace_write=$? $(cat /tmp/e)\"\n",
    ),
    // Writing the image's own root: refused, it is read-only.
    (
        "scribble",
        "echo x > /bin/scribble 2>/dev/null; echo \"exit=$?\"\n",
    ),
];

/// Builds the image under `dir`; returns the `[workload] image` reference
/// (`oci:LAYOUT@sha256:…`).
pub fn build(dir: &Path) -> String {
    let layout = dir.join("layout");
    let tagged = format!("{}:test", layout.display());
    umoci(&["init", "--layout", &layout.display().to_string()]);
    umoci(&["new", "--image", &tagged]);
    let bundle = dir.join("bundle");
    umoci(&["unpack", "--image", &tagged, &bundle.display().to_string()]);
    let root = bundle.join("rootfs");
    let www = root.join("www");
    let cgi = www.join("cgi-bin");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(&cgi).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("Debian's busybox-static (scripts/install.sh installs it)");
    for applet in ["sh", "env", "sort", "cat", "echo", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(www.join("index.html"), "hello from the workload\n").unwrap();
    for (name, body) in SCRIPTS {
        let path = cgi.join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho 'Content-Type: text/plain'\necho\n{body}"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    umoci(&["repack", "--image", &tagged, &bundle.display().to_string()]);
    umoci(&[
        "config",
        "--image",
        &tagged,
        "--config.entrypoint",
        "/bin/busybox",
        "--config.cmd",
        "httpd",
        "--config.cmd",
        "-f",
        "--config.cmd",
        "-p",
        "--config.cmd",
        &format!("127.0.0.1:{PORT}"),
        "--config.cmd",
        "-h",
        "--config.cmd",
        "/www",
        "--config.env",
        "PATH=/bin",
        "--config.exposedports",
        &format!("{PORT}/tcp"),
    ]);
    umoci(&["gc", "--layout", &layout.display().to_string()]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    format!("oci:{}@{digest}", layout.display())
}

fn umoci(args: &[&str]) {
    let status = Command::new("umoci")
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("Debian's umoci (scripts/install.sh installs it)");
    assert!(status.success(), "umoci {args:?}: {status}");
}

/// A directory for the image, apart from the instance's.
pub fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    (dir, path)
}
