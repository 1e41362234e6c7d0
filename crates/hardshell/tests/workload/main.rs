//! `[workload]` end to end: the real binary runs an OCI image (a busybox HTTP
//! server with CGI scripts, built with umoci and run by digest) in its shell,
//! reached only through the edge on the workload's own host, keyed only by its
//! broker, its state in the object store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod control_ui;
mod image;
mod openclaw;
mod skills;
mod state;
mod state_volume;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hardshell_testkit::instance::{Instance, Up};

/// The binary under test.
const HARDSHELL: &str = env!("CARGO_BIN_EXE_hardshell");
/// The workload's own host, with the public URL's port (`localhost:8787`).
const WORK_HOST: &str = "work.localhost:8787";
/// How long the workload may take to answer through the edge after `up` is
/// ready: its image is unpacked by then; the shell starts in milliseconds.
const WORKLOAD_DEADLINE: Duration = Duration::from_secs(30);

/// The template's config as these tests run it: on a free port, beside the
/// public URL the workload's host is named after, with rate limits the
/// tests' polling does not meet.
fn test_config(text: &str) -> String {
    text.replace("127.0.0.1:8787", "127.0.0.1:0")
        .replace(
            "# public_url = \"https://agent.example.com\"",
            "public_url = \"http://localhost:8787\"",
        )
        .replace(
            "requests_per_minute = 60\nburst = 10",
            "requests_per_minute = 6000\nburst = 1000",
        )
}

/// An instance whose `[workload]` is the test image; `extra` is appended.
fn instance(image: &str, extra: &str) -> Instance {
    let hs = Instance::initialised(HARDSHELL);
    hs.edit_config(|text| {
        format!(
            "{}\n[workload]\nimage = \"{image}\"\nhost = \"work.localhost\"\n\
             health_path = \"/index.html\"\nidentity_header = \"X-Forwarded-User\"\n\
             memory_mb = 256\nstate_dir = \"/state\"\nstop_grace_secs = 5\n{extra}",
            test_config(&text)
        )
    });
    hs
}

/// A running `up`, killed if the test ends without stopping it (a failed
/// assertion must not leave the edge and its shell running).
struct Running(Option<Up>);

impl std::ops::Deref for Running {
    type Target = Up;
    fn deref(&self) -> &Up {
        self.0.as_ref().expect("running")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(up) = &mut self.0 {
            let _ = up.child.kill();
            let _ = up.child.wait();
        }
    }
}

impl Running {
    /// `kill -9`: the edge dies without a word.
    fn kill9(mut self) {
        if let Some(mut up) = self.0.take() {
            let _ = up.child.kill();
            let _ = up.child.wait();
        }
    }
}

fn start(hs: &Instance) -> Running {
    start_within(hs, Duration::from_secs(60))
}

/// `up`, ready within `within` (its first start pulls and unpacks the image).
fn start_within(hs: &Instance, within: Duration) -> Running {
    let mut command = hs.command(&["up"]);
    command.env("RUST_LOG", "info").stdout(Stdio::null());
    Running(Some(Up::start(command, within)))
}

fn token(hs: &Instance) -> String {
    hs.run(&["token", "create", "--name", "t", "--scope", "chat"])
        .ok()
        .stdout
        .trim()
        .to_owned()
}

/// A plain HTTP/1.1 GET to the edge at `addr` with `host`; the status and
/// the body.
fn get(addr: &str, host: &str, path: &str, headers: &[String]) -> (u16, String) {
    request(addr, "GET", host, path, headers, "")
}

/// A POST of a JSON `body`, as [`get`].
fn post(addr: &str, host: &str, path: &str, headers: &[String], body: &str) -> (u16, String) {
    let mut headers = headers.to_vec();
    headers.push("Content-Type: application/json".to_owned());
    request(addr, "POST", host, path, &headers, body)
}

fn request(
    addr: &str,
    method: &str,
    host: &str,
    path: &str,
    headers: &[String],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// A chunked body's data (the workload's CGI answers are chunked).
fn dechunk(mut body: &str) -> String {
    let mut data = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        data.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    data
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

/// Waits until the workload answers `path` through the edge with 200.
fn answered(up: &Running, token: &str, path: &str) -> String {
    let deadline = Instant::now() + WORKLOAD_DEADLINE;
    loop {
        let (status, body) = get(&up.addr, WORK_HOST, path, &[bearer(token)]);
        if status == 200 {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "the workload did not answer {path} (last {status}: {body}); log:\n{}",
            up.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `path` is where a file system is mounted (its device is not its
/// parent's).
fn is_mount_point(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(path).unwrap().dev()
        != std::fs::metadata(path.parent().unwrap()).unwrap().dev()
}

fn stop(mut running: Running) {
    let Some(mut up) = running.0.take() else {
        return;
    };
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &up.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        if up.child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = up.child.kill();
    let _ = up.child.wait();
    panic!("up did not stop on SIGTERM");
}

#[test]
fn the_workload_answers_through_the_edge_on_its_own_host_and_only_there() {
    let (_dir, scratch) = image::scratch();
    let hs = instance(&image::build(&scratch), "");
    let token = token(&hs);
    let up = start(&hs);
    let body = answered(&up, &token, "/index.html");
    assert_eq!(body, "hello from the workload\n");
    // Without a credential the edge answers, not the workload.
    let (status, body) = get(&up.addr, WORK_HOST, "/index.html", &[]);
    assert_ne!(status, 200, "{body}");
    assert!(!body.contains("hello from the workload"), "{body}");
    // The edge's own host does not serve the workload.
    let (_, body) = get(&up.addr, "localhost:8787", "/index.html", &[bearer(&token)]);
    assert!(!body.contains("hello from the workload"), "{body}");
    // Nothing listens on the host for it: its port is in its own network
    // namespace.
    assert!(TcpStream::connect(("127.0.0.1", image::PORT)).is_err());
    // The image's digest is on record (the log is flushed every second).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = hs.run(&["audit", "tail"]).ok().stdout;
        if audit.contains("workload_image_resolved") {
            assert!(audit.contains("\"pinned\":true"), "{audit}");
            break;
        }
        assert!(Instant::now() < deadline, "not recorded: {audit}");
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(up);
}

#[test]
fn the_workload_sees_the_identity_the_edge_sets_never_the_clients() {
    let (_dir, scratch) = image::scratch();
    let hs = instance(&image::build(&scratch), "");
    let token = token(&hs);
    let up = start(&hs);
    answered(&up, &token, "/index.html");
    let (status, body) = get(
        &up.addr,
        WORK_HOST,
        "/cgi-bin/whoami",
        &[bearer(&token), "X-Forwarded-User: mallory".to_owned()],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("identity=present"), "{body}");
    assert!(!body.contains("mallory"), "{body}");
    assert!(
        !body.contains("user=\n"),
        "the edge names the principal: {body}"
    );
    stop(up);
}

#[test]
fn the_workload_reaches_nothing_but_its_broker_holds_placeholders_and_cannot_write_its_root() {
    let (_dir, scratch) = image::scratch();
    let hs = instance(
        &image::build(&scratch),
        "[workload.env]\nAPI_KEY = \"secret:TEST_API_KEY\"\n\
         [egress.secrets.TEST_API_KEY]\nhosts = [\"api.example.test\"]\n",
    );
    hs.run_with_stdin(
        &["secret", "put", "TEST_API_KEY"],
        b"sk-real-value-never-inside",
    )
    .ok();
    let token = token(&hs);
    let up = start(&hs);
    answered(&up, &token, "/index.html");
    let env = answered(&up, &token, "/cgi-bin/env");
    assert!(env.contains("API_KEY=hs-secret:TEST_API_KEY"), "{env}");
    assert!(!env.contains("sk-real-value-never-inside"), "{env}");
    assert!(!env.contains("HARDSHELL_MASTER_KEY"), "{env}");
    for script in ["direct", "proxied", "scribble"] {
        let body = answered(&up, &token, &format!("/cgi-bin/{script}"));
        assert!(
            body.starts_with("exit=") && !body.starts_with("exit=0"),
            "{script}: {body}"
        );
    }
    stop(up);
}

#[test]
fn the_workload_reaches_hardshells_browsers_only_when_given_them() {
    let (_dir, scratch) = image::scratch();
    let reference = image::build(&scratch);
    // Without `[workload] browser`: nothing listens on the port.
    let hs = instance(&reference, "");
    let chat = token(&hs);
    let up = start(&hs);
    let answer = answered(&up, &chat, "/cgi-bin/cdp");
    assert!(!answer.contains("101"), "{answer}");
    assert!(!answer.contains("HARDSHELL_CDP_URL"), "{answer}");
    stop(up);
    // With it: the handshake reaches the CDP service, whose browser is one
    // of hardshell's (its own shell, its own broker).
    let hs = instance(&reference, "browser = true\n");
    hs.edit_config(|text| {
        let at = text.find("[browser]").unwrap();
        let tail = text[at..]
            .replacen("enabled = false", "enabled = true", 1)
            .replacen("allow = []", "allow = [\"example.com\"]", 1);
        format!("{}{tail}", &text[..at])
    });
    let chat = token(&hs);
    let up = start(&hs);
    let answer = answered(&up, &chat, "/cgi-bin/cdp");
    let env = answered(&up, &chat, "/cgi-bin/env");
    assert!(
        answer.starts_with("HTTP/1.1 101"),
        "{answer}\n{env}\n{}",
        up.0.as_ref()
            .map(|up| up.log().join("\n"))
            .unwrap_or_default()
    );
    assert!(
        env.contains("HARDSHELL_CDP_URL=ws://127.0.0.1:9222/cdp?session=workload"),
        "{env}"
    );
    stop(up);
}

#[test]
fn a_workload_that_has_not_come_up_is_starting_then_late_never_an_upstream_error() {
    let (_dir, scratch) = image::scratch();
    // It never listens: every connection the forwarder relays is refused.
    let hs = instance(
        &image::build(&scratch),
        "command = [\"sleep\", \"600\"]\nready_timeout_secs = 3\n",
    );
    let token = token(&hs);
    let up = start(&hs);
    let (status, body) = get(&up.addr, WORK_HOST, "/index.html", &[bearer(&token)]);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, "the workload is starting\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(&up.addr, WORK_HOST, "/index.html", &[bearer(&token)]);
        assert_eq!(status, 503, "{body}");
        if body.contains("did not become ready in time") {
            break;
        }
        assert!(Instant::now() < deadline, "still: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(up);
}
