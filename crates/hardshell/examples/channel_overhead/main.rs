//! What the Telegram channel adds to a turn, and how many messages a second
//! it answers. Run by `bench/channels.sh`; bench/README.md says what each
//! figure includes.
//!
//! A loopback model stub answers every chat request at once. Three paths to
//! the same answer are timed in the same run, turn by turn:
//!
//! - **crabline alone**: a message injected into crabline's Telegram
//!   emulator and answered by a bot that does nothing but make the Bot API
//!   calls hardshell makes for a turn: the emulator's own floor;
//! - **API**: the turn through `POST /v1/chat/completions` (non-streamed) of
//!   `hardshell up`;
//! - **channel**: a message injected into a second crabline that the same
//!   `hardshell up` polls, from a paired sender, until crabline recorded the
//!   bot showing the whole answer.
//!
//! Then M messages from K senders at once through each, for messages per
//! second. Figures are printed, never asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../support/model_stub.rs"]
mod model_stub;
mod scratch;
mod telegram;

use std::time::{Duration, Instant};

use hardshell_testkit::crabline::Crabline;
use scratch::Hardshell;
use telegram::{ANSWER, Answers, say};

/// A chat's session is changed every so many turns, so its history stays
/// the size of a short chat, as the API path's (which has none) nearly does.
const TURNS_PER_SENDER: usize = 10;
const WARM_UP: usize = 10;
const LATENCY_SENDERS: i64 = 5_550_000;
const BURST_SENDERS: i64 = 5_560_000;
const WARM_SENDER: i64 = 5_570_000;
const FLOOR_SENDER: i64 = 5_580_000;
const TEXT: &str = "Say hello.";

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: channel_overhead HARDSHELL_BINARY [TURNS] [MESSAGES] [SENDERS]";
    let binary = args.next().expect(usage);
    // Commands run in the scratch directory, so the path must not be relative.
    let binary = std::fs::canonicalize(&binary)
        .unwrap_or_else(|e| panic!("{binary}: {e}"))
        .display()
        .to_string();
    let mut number = |default: usize| args.next().map_or(default, |n| n.parse().expect(usage));
    let turns = number(400).max(1);
    let messages = number(300);
    let senders = number(10).max(1);
    let per_sender = (messages / senders).max(1);

    let stub = model_stub::stub_model();
    let floor_crab = Crabline::start("telegram");
    telegram::spawn_floor_bot(&floor_crab);
    let mut floor = Answers::of(&floor_crab);
    let crab = Crabline::start("telegram");
    let mut paired: Vec<i64> = (0..turns.div_ceil(TURNS_PER_SENDER))
        .map(|s| LATENCY_SENDERS + s as i64)
        .chain((0..senders).map(|s| BURST_SENDERS + s as i64))
        .collect();
    paired.push(WARM_SENDER);
    let hs = Hardshell::start(&binary, &stub, &crab, &paired);
    let mut channel = Answers::of(&crab);
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let floor_turn = |floor: &mut Answers| {
        let before = floor.in_chat(FLOOR_SENDER);
        let started = Instant::now();
        say(&floor_crab, FLOOR_SENDER, TEXT);
        floor.wait("floor answer", |a| a.in_chat(FLOOR_SENDER) > before) - started
    };
    let api_turn = || {
        let started = Instant::now();
        api(&http, &hs);
        started.elapsed()
    };
    // One call, answered once crabline recorded it: the emulator's cost per
    // call, of which a turn makes several.
    let bot_call = || {
        let started = Instant::now();
        let answer: serde_json::Value = http
            .post(format!(
                "{}/bot{}/sendChatAction",
                floor_crab.base_url(),
                floor_crab.bot_token()
            ))
            .json(&serde_json::json!({ "chat_id": FLOOR_SENDER, "action": "typing" }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let took = started.elapsed();
        assert_eq!(answer["ok"], true, "crabline's answer: {answer}");
        took
    };
    let channel_turn = |channel: &mut Answers, chat: i64| {
        let before = channel.in_chat(chat);
        let started = Instant::now();
        say(&crab, chat, TEXT);
        channel.wait("channel answer", |a| a.in_chat(chat) > before) - started
    };

    // Warm every path (connections, caches, the agent's first prompt, the
    // channel's first poll).
    for _ in 0..WARM_UP {
        floor_turn(&mut floor);
        bot_call();
        api_turn();
        channel_turn(&mut channel, WARM_SENDER);
    }
    let calls_before = channel.methods();
    // Interleaved, so all three see the same machine load.
    let (mut floor_times, mut call_times) = (vec![], vec![]);
    let (mut api_times, mut channel_times) = (vec![], vec![]);
    for i in 0..turns {
        floor_times.push(floor_turn(&mut floor));
        call_times.push(bot_call());
        api_times.push(api_turn());
        let chat = LATENCY_SENDERS + (i / TURNS_PER_SENDER) as i64;
        channel_times.push(channel_turn(&mut channel, chat));
    }
    let calls = per_turn(&calls_before, &channel.methods(), turns);
    let floor_lat = Stats::of(&mut floor_times);
    let call_lat = Stats::of(&mut call_times);
    let api_lat = Stats::of(&mut api_times);
    let channel_lat = Stats::of(&mut channel_times);

    // M messages from K senders at once; the channel's and the floor's
    // injected by K threads, the API's sent by K clients.
    let total = per_sender * senders;
    let burst = |crab: &Crabline, answers: &mut Answers, base: i64| {
        let before = answers.total();
        let started = Instant::now();
        std::thread::scope(|scope| {
            for s in 0..senders {
                scope.spawn(move || {
                    for _ in 0..per_sender {
                        say(crab, base + s as i64, TEXT);
                    }
                });
            }
        });
        let done = answers.wait("burst answers", |a| a.total() >= before + total);
        rate(total, done - started)
    };
    let floor_rate = burst(&floor_crab, &mut floor, FLOOR_SENDER + 1);
    let api_rate = {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..senders {
                scope.spawn(|| (0..per_sender).for_each(|_| api(&http, &hs)));
            }
        });
        rate(total, started.elapsed())
    };
    let channel_rate = burst(&crab, &mut channel, BURST_SENDERS);
    drop(hs);

    println!(
        "channel turn latency: {turns} turns each, sequential, interleaved, after {WARM_UP} unmeasured; \
         loopback model stub answering at once; scratch data and crabline's recorder under {}",
        std::env::temp_dir().display()
    );
    println!("  {:44} {:>9} {:>9} {:>9}", "", "p50", "p99", "mean");
    call_lat.print("one Bot API call to crabline, recorded");
    floor_lat.print("crabline alone (a bot that only answers)");
    api_lat.print("API path (/v1/chat/completions)");
    channel_lat.print("Telegram channel (through crabline)");
    let p50 = |s: &Stats| s.p50.as_secs_f64() * 1000.0;
    let p99 = |s: &Stats| s.p99.as_secs_f64() * 1000.0;
    println!(
        "  the channel path adds {:+.2} ms p50, {:+.2} ms p99 over the API path;",
        p50(&channel_lat) - p50(&api_lat),
        p99(&channel_lat) - p99(&api_lat)
    );
    // What is left once the emulator's floor is taken away: the poller, the
    // turn and the answer, to set beside the API turn's own time.
    println!(
        "  channel - crabline alone: {:+.2} ms p50, hardshell's whole part of a channel turn \
         (the API turn alone: {:.2} ms p50; differences of medians, within crabline's spread)",
        p50(&channel_lat) - p50(&floor_lat),
        p50(&api_lat)
    );
    println!("  Bot API calls per channel turn: {calls}");
    println!(
        "messages per second: {total} messages from {senders} senders at once ({per_sender} each)"
    );
    println!("  {:44} {floor_rate:>9.1} msgs/s", "crabline alone");
    println!(
        "  {:44} {api_rate:>9.1} turns/s",
        format!("API path ({senders} clients at once)")
    );
    println!("  {:44} {channel_rate:>9.1} msgs/s", "Telegram channel");
    println!(
        "  channel/API: {:.2}x; channel/crabline alone: {:.2}x",
        channel_rate / api_rate,
        channel_rate / floor_rate
    );
}

/// One turn through the OpenAI-compatible API, not streamed.
fn api(http: &reqwest::blocking::Client, hs: &Hardshell) {
    let answer: serde_json::Value = http
        .post(format!("{}/v1/chat/completions", hs.edge))
        .bearer_auth(&hs.token)
        .json(&serde_json::json!({
            "model": "hardshell",
            "messages": [{ "role": "user", "content": TEXT }],
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"], ANSWER,
        "the API's answer: {answer}"
    );
}

fn rate(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

/// Bot API calls of each method per turn between two counts.
fn per_turn(
    before: &std::collections::BTreeMap<String, usize>,
    after: &std::collections::BTreeMap<String, usize>,
    turns: usize,
) -> String {
    let calls: Vec<String> = after
        .iter()
        .filter_map(|(method, n)| {
            let n = n - before.get(method).copied().unwrap_or(0);
            (n > 0).then(|| format!("{method} {:.2}", n as f64 / turns.max(1) as f64))
        })
        .collect();
    calls.join(", ")
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
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
        println!(
            "  {name:44} {:>9} {:>9} {:>9}",
            ms(self.p50),
            ms(self.p99),
            ms(self.mean)
        );
    }
}
