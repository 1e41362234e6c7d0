//! The agent's own cost per turn: everything between the client and the model
//! server except the model's time. Run by `bench/agent.sh`.
//!
//! A loopback model stub answers every chat request at once with the same short
//! streamed reply. Two clients are timed against it in the same run:
//!
//! - **direct**: the request the agent would send, straight to the stub;
//! - **turn**: one chat turn through `hardshell up` — the edge (token check,
//!   rate limit, audit), the agent process (session append, prompt, loop),
//!   the edge's model gateway (key, spend check, metering) and back as SSE.
//!
//! The difference is hardshell's overhead. Sessions are rotated every
//! `TURNS_PER_SESSION` turns so the history stays the size of a short chat.
//!
//! It runs twice: with the data directory on the disk the temporary directory
//! is on, where every acknowledged message is fsynced, and on tmpfs
//! (`/dev/shm`), where fsync costs nothing, which leaves hardshell's own work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hardshell_testkit::ready::NotifySocket;
use model_stub::stub_model;

#[path = "support/model_stub.rs"]
mod model_stub;

const TURNS_PER_SESSION: usize = 10;

fn main() {
    let mut args = std::env::args().skip(1);
    let hardshell = args
        .next()
        .expect("usage: agent_overhead HARDSHELL_BINARY [TURNS]");
    // Commands run in the scratch directory, so the path must not be relative.
    let hardshell = std::fs::canonicalize(&hardshell)
        .unwrap_or_else(|e| panic!("{hardshell}: {e}"))
        .display()
        .to_string();
    let turns: usize = args.next().map_or(500, |n| n.parse().expect("TURNS"));

    let stub = stub_model();
    let mut places = vec![("disk", std::env::temp_dir())];
    if std::path::Path::new("/dev/shm").is_dir() {
        places.push(("tmpfs", "/dev/shm".into()));
    }
    println!("agent turn overhead, {turns} turns, loopback model stub answering at once");
    for (name, parent) in places {
        let (direct, through) = measure(&hardshell, &stub, &parent, turns);
        report(name, &parent, &direct, &through);
    }
}

fn measure(hardshell: &str, stub: &str, parent: &std::path::Path, turns: usize) -> (Stats, Stats) {
    let dir = tempfile::tempdir_in(parent).unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(hardshell)
            .args(args)
            .current_dir(dir.path())
            .env_remove("HARDSHELL_CONFIG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "hardshell {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    run(&["init"]);
    let config = dir.path().join("hardshell.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let start = text.find("[agent]").unwrap();
    let end = text.find("# Where authorised chat traffic goes").unwrap();
    let text = format!(
        "{}[agent]\n[llm]\nchain = [\"stub/bench\"]\n\
         [llm.providers.stub]\nkind = \"openai\"\nbase_url = \"{stub}/v1\"\n\n{}",
        &text[..start],
        &text[end..]
    )
    .replace("127.0.0.1:8787", "127.0.0.1:0")
    .replace("requests_per_minute = 60", "requests_per_minute = 1000000")
    .replace("burst = 10\n", "burst = 100000\n");
    std::fs::write(&config, text).unwrap();
    let token = run(&["token", "create", "--name", "bench", "--scope", "chat"]);
    let token = token.trim().to_owned();

    let (mut up, edge, _notify) = start_up(hardshell, dir.path());
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // The request the agent sends, as near as the stub cares: same size class.
    let direct_body = serde_json::json!({
        "model": "bench",
        "stream": true,
        "stream_options": { "include_usage": true },
        "max_tokens": 1024,
        "messages": [
            { "role": "system", "content": "x".repeat(1500) },
            { "role": "user", "content": "Say hello." },
        ],
    });
    let direct = |_: usize| {
        let response = http
            .post(format!("{stub}/v1/chat/completions"))
            .json(&direct_body)
            .send()
            .unwrap();
        assert!(response.text().unwrap().ends_with("[DONE]\n\n"));
    };
    let mut session = String::new();
    let turn = |i: usize, session: &mut String| {
        if i.is_multiple_of(TURNS_PER_SESSION) {
            let created: serde_json::Value = http
                .post(format!("{edge}/api/sessions"))
                .bearer_auth(&token)
                .send()
                .unwrap()
                .json()
                .unwrap();
            *session = created["id"].as_str().unwrap().to_owned();
        }
        let started = Instant::now();
        let body = http
            .post(format!("{edge}/api/sessions/{session}/messages"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "text": "Say hello." }))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let took = started.elapsed();
        assert!(body.contains("event: done"), "turn failed: {body}");
        took
    };

    // Warm both paths (connections, caches, the agent's first prompt build).
    for i in 0..30 {
        direct(i);
        turn(i, &mut session);
    }
    // Interleaved, so both see the same machine load.
    let mut direct_times = Vec::with_capacity(turns);
    let mut turn_times = Vec::with_capacity(turns);
    for i in 0..turns {
        let started = Instant::now();
        direct(i);
        direct_times.push(started.elapsed());
        // Session creation is outside the timed part of a turn.
        turn_times.push(turn(i, &mut session));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &up.id().to_string()])
        .status();
    let _ = up.wait();

    (Stats::of(&mut direct_times), Stats::of(&mut turn_times))
}

fn report(name: &str, parent: &std::path::Path, direct: &Stats, through: &Stats) {
    println!("data on {name} ({}):", parent.display());
    println!("  {:28} {:>9} {:>9} {:>9}", "", "p50", "p99", "mean");
    direct.print("direct to the model stub");
    through.print("turn through hardshell");
    println!(
        "  {:28} {:>9} {:>9} {:>9}",
        "overhead (turn - direct)",
        ms(through.p50.saturating_sub(direct.p50)),
        ms(through.p99.saturating_sub(direct.p99)),
        ms(through.mean.saturating_sub(direct.mean)),
    );
    println!(
        "  ratio turn/direct at p50: {:.1}x; overhead <= 2 ms at p50: {}",
        through.p50.as_secs_f64() / direct.p50.as_secs_f64(),
        if through.p50.saturating_sub(direct.p50) <= Duration::from_millis(2) {
            "met"
        } else {
            "NOT met"
        }
    );
}

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

impl Stats {
    fn of(times: &mut [Duration]) -> Stats {
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        Stats {
            p50: at(0.50),
            p99: at(0.99),
            mean: times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap(),
        }
    }

    fn print(&self, name: &str) {
        println!(
            "  {name:28} {:>9} {:>9} {:>9}",
            ms(self.p50),
            ms(self.p99),
            ms(self.mean)
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `hardshell up` in `dir`; returns it and the edge's URL once it says it
/// is ready (the edge serves, the agent answers), with the socket it says so on.
fn start_up(hardshell: &str, dir: &std::path::Path) -> (Child, String, NotifySocket) {
    let notify = NotifySocket::new();
    let mut child = Command::new(hardshell)
        .arg("up")
        .current_dir(dir)
        .env_remove("HARDSHELL_CONFIG")
        .env("RUST_LOG", "warn,hardshell=info")
        .env("NOTIFY_SOCKET", notify.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = notify
        .ready(&mut child, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("hardshell up was not ready: {e}"));
    let edge = ready.edge_url().to_owned();
    (child, edge, notify)
}
