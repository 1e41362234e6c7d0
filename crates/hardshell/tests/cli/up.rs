use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use hardshell_testkit::instance::Instance;
use hardshell_testkit::ready::NotifySocket;

/// How long `up` may take to say it is ready.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A running `hardshell up`, its address from its readiness notification;
/// killed by its pid if a failing test leaves it running.
struct Up(hardshell_testkit::instance::Up);

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.0.child.try_wait() {
            let _ = self.0.child.kill();
            let _ = self.0.child.wait();
        }
    }
}

impl Up {
    fn start(hs: &Instance) -> Up {
        hs.edit_config(|text| text.replace("127.0.0.1:8787", "127.0.0.1:0"));
        let mut command = hs.command(&["up"]);
        command.env("RUST_LOG", "info").stdout(Stdio::null());
        Up(hardshell_testkit::instance::Up::start(
            command,
            START_DEADLINE,
        ))
    }

    /// The log through the line users read to learn where the edge listens.
    fn start_log(&self) -> Vec<String> {
        self.0.log_through("edge listening on", START_DEADLINE)
    }

    fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(&self.0.addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    fn signal(&self, name: &str) {
        signal(&self.0.child, name);
    }

    fn wait(mut self) -> std::process::ExitStatus {
        wait(&mut self.0.child)
    }
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Its exit status, within 10 s.
fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("hardshell up did not stop within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn up_tells_its_service_manager_when_it_is_ready_and_when_it_stops() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let mut up = Up::start(&hs);
    // Ready means serving: the address it gave answers at once.
    let response = up.get("/healthz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    up.signal("TERM");
    let stopping =
        up.0.notify
            .wait_for("STOPPING", &mut up.0.child, START_DEADLINE);
    assert!(
        stopping.is_ok(),
        "no STOPPING=1 before exiting: {stopping:?}"
    );
    assert!(up.wait().success());
}

#[test]
fn up_serves_healthz_and_stops_cleanly_on_sigterm() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let up = Up::start(&hs);
    let response = up.get("/healthz");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("{\"status\":\"ok\"}"), "{response}");
    let addr = up.0.addr.clone();
    up.signal("TERM");
    assert!(up.wait().success());
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

#[test]
fn up_stops_cleanly_on_sigint() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let up = Up::start(&hs);
    up.signal("INT");
    assert!(up.wait().success());
}

#[test]
fn up_logs_dangerous_settings_as_warnings() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.edit_config(|text| {
        text.replace("unencrypted_storage = false", "unencrypted_storage = true")
    });
    let up = Up::start(&hs);
    let log = up.start_log();
    let warned = log
        .iter()
        .any(|line| line.contains("WARN") && line.contains("dangerous.unencrypted_storage"));
    assert!(warned, "{log:#?}");
    up.signal("TERM");
    assert!(up.wait().success());
}

#[test]
fn up_writes_json_logs_when_asked() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.edit_config(|text| text.replace("format = \"text\"", "format = \"json\""));
    let up = Up::start(&hs);
    for line in &up.start_log() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            value.get("level").is_some() && value.get("timestamp").is_some(),
            "{line}"
        );
    }
    up.signal("TERM");
    assert!(up.wait().success());
}

#[test]
fn up_refuses_a_non_loopback_address() {
    let hs = Instance::initialised(crate::HARDSHELL);
    for address in ["0.0.0.0:8787", "[::]:8787"] {
        hs.edit_config(|text| {
            let start = text.find("listen = ").unwrap();
            let end = start + text[start..].find('\n').unwrap();
            format!("{}listen = \"{address}\"{}", &text[..start], &text[end..])
        });
        let line = hs.run(&["up"]).failed_with_one_line();
        assert!(line.contains("refusing to listen"), "{line}");
    }
}

#[test]
fn up_refuses_a_taken_port() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    hs.edit_config(|text| text.replace("127.0.0.1:8787", &format!("127.0.0.1:{port}")));
    let output = hs.command(&["up"]).env("RUST_LOG", "off").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}

#[test]
fn up_keeps_serving_when_nobody_reads_its_log() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.edit_config(|text| {
        text.replace("127.0.0.1:8787", "127.0.0.1:0")
            .replace("requests_per_minute = 60", "requests_per_minute = 100000")
            .replace("burst = 10\n", "burst = 10000\n")
    });
    let notify = NotifySocket::new();
    let mut child = hs
        .command(&["up"])
        .env("RUST_LOG", "trace")
        .env("NOTIFY_SOCKET", notify.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The pipe is never read: at trace level it fills (64 KiB) within a few
    // requests, if not while starting. The edge must go on answering, not
    // block on it.
    let stderr = child.stderr.take().unwrap();
    let ready = notify
        .ready(&mut child, START_DEADLINE)
        .unwrap_or_else(|e| panic!("hardshell up was not ready: {e}"));
    for i in 0..600 {
        // With a timeout: a blocked edge fails the test instead of hanging it.
        let mut stream = TcpStream::connect(ready.edge_addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .unwrap_or_else(|e| panic!("request {i}: the edge stopped answering: {e}"));
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "request {i}: {response}"
        );
    }
    signal(&child, "TERM");
    drop(stderr);
    assert!(wait(&mut child).success());
}

/// `GET path` on `addr`, the whole answer, or `None` while nothing answers.
fn get_at(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn sighup_refuses_a_bad_config_and_keeps_serving_and_starts_again_with_a_good_one() {
    let hs = Instance::initialised(crate::HARDSHELL);
    // A fixed port: the run after the reload binds it again.
    let port = hardshell_testkit::free_port();
    hs.edit_config(|text| text.replace("127.0.0.1:8787", &format!("127.0.0.1:{port}")));
    let mut command = hs.command(&["up"]);
    command.env("RUST_LOG", "info").stdout(Stdio::null());
    let mut up = Up(hardshell_testkit::instance::Up::start(
        command,
        START_DEADLINE,
    ));
    let addr = up.0.addr.clone();
    let chat_page = "<title>Chat · hardshell</title>";
    assert!(get_at(&addr, "/").unwrap().contains(chat_page));
    let good = std::fs::read_to_string(hs.path("hardshell.toml")).unwrap();

    // A config that does not load: refused, said, and the edge serves on.
    std::fs::write(hs.path("hardshell.toml"), format!("{good}\n[edge\n")).unwrap();
    signal(&up.0.child, "HUP");
    let said =
        up.0.log_through("the new config is refused", START_DEADLINE);
    assert!(said.last().unwrap().contains("hardshell.toml"), "{said:?}");
    assert!(up.0.child.try_wait().unwrap().is_none(), "up exited");
    assert!(get_at(&addr, "/").unwrap().contains(chat_page));

    // A good one: up starts again in the same process, with it (an
    // upstream, which `/` then belongs to, behind a login).
    std::fs::write(
        hs.path("hardshell.toml"),
        format!("{good}\n[upstream]\nurl = \"http://127.0.0.1:9\"\n"),
    )
    .unwrap();
    signal(&up.0.child, "HUP");
    up.0.log_through("starting again with the new config", START_DEADLINE);
    let reloaded =
        up.0.notify
            .wait_for("RELOADING", &mut up.0.child, START_DEADLINE);
    assert!(reloaded.is_ok(), "no RELOADING=1: {reloaded:?}");
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Some(page) = get_at(&addr, "/")
            && page.starts_with("HTTP/1.1 401")
        {
            break;
        }
        assert!(
            up.0.child.try_wait().unwrap().is_none(),
            "up exited: {:?}",
            up.0.log()
        );
        assert!(
            Instant::now() < deadline,
            "not serving the new config: {:?}",
            up.0.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(&up.0.child, "TERM");
    assert!(wait(&mut up.0.child).success());
}

#[test]
fn a_sigterm_during_a_reload_stops_up_rather_than_being_lost() {
    for delay_ms in [0, 30, 120, 300] {
        sigterm_during_a_reload(delay_ms);
    }
}

fn sigterm_during_a_reload(delay_ms: u64) {
    let hs = Instance::initialised(crate::HARDSHELL);
    let up = Up::start(&hs);
    hs.edit_config(|text| format!("{text}\n[upstream]\nurl = \"http://127.0.0.1:9\"\n"));
    // The config passes its check; the TERM comes while it is checked, while
    // everything stops for the reload, or while the new run starts: each
    // time, it stops up cleanly.
    up.signal("HUP");
    std::thread::sleep(Duration::from_millis(delay_ms));
    up.signal("TERM");
    let log = up.0.log.clone();
    let status = up.wait();
    assert!(
        status.success(),
        "TERM {delay_ms} ms after HUP: {status:?}: {:#?}",
        log.lock().unwrap()
    );
}

/// Someone who can write the object store puts back the copy of a token from
/// before its revocation: every command refuses it, naming the object, and the
/// edge does not let the token in; the revoked copy, the newest, reads again.
#[test]
fn a_revoked_token_put_back_in_the_store_is_refused_not_revived() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let (token, id, revoked) = crate::revoked_token_put_back(&hs);
    let file = hs.path(&format!("data/objects/tokens/{id}"));

    let line = hs.run(&["token", "list"]).failed_with_one_line();
    assert!(
        line.contains(&format!("tokens/{id} was rolled back")),
        "{line}"
    );
    let up = Up::start(&hs);
    let whoami = |token: &str| {
        let mut stream = TcpStream::connect(&up.0.addr).unwrap();
        write!(
            stream,
            "GET /auth/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let response = whoami(&token);
    assert!(
        !response.starts_with("HTTP/1.1 2"),
        "the rolled-back token was let in: {response}"
    );
    assert!(
        up.0.log_through("was rolled back", START_DEADLINE)
            .iter()
            .any(|line| line.contains(&format!("tokens/{id}"))),
        "the log does not name the object"
    );
    // A fresh token works beside it: the edge refused one object, not all.
    let fresh = hs
        .run(&["token", "create", "--name", "fresh", "--scope", "chat"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(
        whoami(&fresh).starts_with("HTTP/1.1 200"),
        "{}",
        whoami(&fresh)
    );
    drop(up);

    std::fs::write(&file, &revoked).unwrap();
    let list = hs.run(&["token", "list"]).ok();
    assert!(list.stdout.contains("revoked"), "{}", list.stdout);
}
