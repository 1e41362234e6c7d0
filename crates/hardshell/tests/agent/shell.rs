//! The shell under `hardshell up`: the agent runs in one and comes back in a
//! fresh one; the `exec` tool's commands run in shells of their own, under each
//! approval mode. Commands are sent on the control socket exactly as the agent
//! sends them (a small model does not call tools reliably), and answered
//! through the client API as the chat page and `hardshell chat` answer them.
//! The suites are by theme; this file holds what they share (the control
//! socket, the shell's processes as the host sees them, the outside servers).

mod agent;
mod egress;
mod exec;
mod inspect;
mod modules;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::running::{
    Running, audit_records, env, eventually, http, instance, local_model, new_session, reply_text,
    token, turn,
};
use hardshell_testkit::instance::Instance;

fn socket(hs: &Instance) -> PathBuf {
    hs.path("data/run/agent/edge.sock")
}

/// A POST on the instance's control socket, as the agent makes it.
pub(crate) fn control(
    socket: &Path,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.to_string();
    // One write: the edge may answer (and close) as soon as it has the head,
    // before a request written piece by piece is complete.
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: hardshell-edge\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, serde_json::from_str(&body).unwrap_or_default())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

fn run(hs: &Instance, session: &str, command: &str) -> serde_json::Value {
    let (status, answer) = control(
        &socket(hs),
        "/exec/v1/run",
        &serde_json::json!({ "session": session, "command": command }),
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

fn wait(socket: &Path, approval: &str) -> serde_json::Value {
    let (status, answer) = control(
        socket,
        &format!("/exec/v1/approvals/{approval}/wait"),
        &serde_json::json!({}),
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

fn reply(running: &Running, token: &str, session: &str, approval: &str, approve: bool) -> u16 {
    http()
        .post(running.url(&format!("/api/sessions/{session}/approvals/{approval}")))
        .bearer_auth(token)
        .json(&serde_json::json!({ "approve": approve }))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn ran(answer: &serde_json::Value) -> &serde_json::Value {
    assert_eq!(answer["status"], "ran", "{answer}");
    &answer["report"]
}

/// The host pid of the process running `hardshell agent` under `running`.
fn agent_pid(running: &Running) -> Option<u32> {
    command_pid(running, "agent")
}

/// A process under `running`'s edge running `hardshell <command>`.
fn command_pid(running: &Running, command: &str) -> Option<u32> {
    argument_pid(running, 1, command)
}

/// The process under `running` whose argument `index` is `argument`
/// (0: the program it was started as).
pub(crate) fn argument_pid(running: &Running, index: usize, argument: &str) -> Option<u32> {
    let up = running.child.id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.get(index) == Some(&argument.as_bytes()) && descends_from(*pid, up)
        })
}

/// The shell init process (the edge's child) that `pid` runs under.
fn shell_of(mut pid: u32, up: u32) -> u32 {
    for _ in 0..8 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let parent: u32 = after.split(' ').nth(1).unwrap().parse().unwrap();
        if parent == up {
            return pid;
        }
        pid = parent;
    }
    panic!("{pid} is not under {up}");
}

/// The parent of `pid`.
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Whether `ancestor` is among `pid`'s parents.
pub(crate) fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..8 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let Ok(parent) = after.split(' ').nth(1).unwrap().parse::<u32>() else {
            return false;
        };
        if parent == ancestor {
            return true;
        }
        if parent <= 1 {
            return false;
        }
        pid = parent;
    }
    false
}

fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} not in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

fn namespace(pid: impl std::fmt::Display, kind: &str) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap()
}

/// The agent's pid once the `starts`th agent is listening.
fn wait_for_agent(running: &Running, starts: usize, not: Option<u32>) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listening = running
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("agent listening"))
            .count();
        if let Some(pid) = agent_pid(running).filter(|pid| Some(*pid) != not)
            && listening >= starts
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no agent came up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every process in the shell whose init is `init`: init and all below it.
fn shell_processes(init: u32) -> Vec<u32> {
    let mut found: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| descends_from(*pid, init))
        .collect();
    found.push(init);
    found
}

/// Whether `needle` is in the readable memory of `pid`, read from the host.
/// Panics if none of it could be read: "not found" must mean searched.
fn in_memory(pid: u32, needle: &[u8]) -> bool {
    in_memory_unless_gone(pid, needle).unwrap_or_else(|| panic!("process {pid} is gone"))
}

/// [`in_memory`], or `None` when `pid` exited before or while it was read
/// (a short-lived process of a shell: gone, it holds nothing).
pub(crate) fn in_memory_unless_gone(pid: u32, needle: &[u8]) -> Option<bool> {
    use std::os::unix::fs::FileExt;
    let gone = || !std::path::Path::new(&format!("/proc/{pid}")).exists();
    let (maps, memory) = match (
        std::fs::read_to_string(format!("/proc/{pid}/maps")),
        std::fs::File::open(format!("/proc/{pid}/mem")),
    ) {
        (Ok(maps), Ok(memory)) => (maps, memory),
        _ if gone() => return None,
        (maps, memory) => panic!(
            "the memory of {pid} could not be opened: maps {:?}, mem {:?}",
            maps.err(),
            memory.err()
        ),
    };
    let mut buffer = vec![0u8; 1 << 20];
    let mut searched = 0usize;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (range, perms) = (fields.next().unwrap(), fields.next().unwrap());
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        // A file mapped read-only (the binary's code and constants, the
        // libraries) holds nothing made at run time, and is most of what a
        // process maps: searching it made the search outlast the shell it
        // looked into. Everything writable, and all that is not a file, is
        // searched.
        let path = fields.nth(3).unwrap_or_default();
        if !perms.contains('w') && path.starts_with('/') {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut at = start;
        // Overlapping reads, so a value across two reads is still seen.
        while at < end {
            let want = usize::try_from((end - at).min(buffer.len() as u64)).unwrap();
            let Ok(n) = memory.read_at(&mut buffer[..want], at) else {
                break;
            };
            if n == 0 {
                break;
            }
            searched += n;
            if buffer[..n].windows(needle.len()).any(|w| w == needle) {
                return Some(true);
            }
            if at + (n as u64) >= end {
                break;
            }
            at += (n.saturating_sub(needle.len()).max(1)) as u64;
        }
    }
    if searched == 0 && gone() {
        return None;
    }
    assert!(searched > 0, "no memory of {pid} could be read");
    Some(false)
}

/// Regular files under `dir` (following no links), whole; `dir` must exist.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(files_under(&entry.path()));
        } else if kind.is_file() {
            found.push((
                entry.path(),
                std::fs::read(entry.path())
                    .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display())),
            ));
        }
    }
    found
}

/// A server on the host's loopback standing in for the outside world: answers
/// every request, and keeps each request head it got.
fn outside_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::BufRead;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            log.lock().unwrap().push(head);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 18\r\nConnection: close\r\n\r\nhello from outside",
            );
        }
    });
    (port, seen)
}

/// An HTTPS server on the host's loopback for `localhost`, standing in for
/// an outside API: answers with the `authorization` header it got (as APIs
/// that reflect a request do), and keeps each request head. Returns its port
/// and its certificate's PEM (the only root the edge is given).
pub(crate) fn outside_tls_server() -> (u16, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::Read;
    let identity = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(identity.signing_key.serialize_der()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![identity.cert.der().clone()], key)
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match tls.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let auth = head
                .lines()
                .find_map(|l| l.strip_prefix("authorization: "))
                .unwrap_or("none")
                .to_owned();
            log.lock().unwrap().push(head);
            let body = format!("you sent {auth}");
            let _ = write!(
                tls,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (port, identity.cert.pem(), seen)
}
