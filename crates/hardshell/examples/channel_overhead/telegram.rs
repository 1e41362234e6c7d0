//! The Telegram side of the bench: crabline's recorder read as it grows, the
//! answers counted per chat, and a bot that only answers, for the emulator's
//! own floor.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hardshell_testkit::crabline::Crabline;
use serde_json::{Value, json};

/// The model stub's reply, as the chat shows it once the turn is done.
pub const ANSWER: &str = "Hello, there.";
/// A guard against a hang, not a measurement: a turn answers in milliseconds.
const HANG: Duration = Duration::from_secs(120);
/// How often the recorder is read while waiting; the figures' resolution.
const POLL: Duration = Duration::from_micros(200);

/// Makes `from` write `text` to the bot in a direct chat.
pub fn say(crab: &Crabline, from: i64, text: &str) {
    crab.inject(json!({
        "chatId": from.to_string(),
        "fromId": from,
        "text": text,
        "chatType": "private",
    }));
}

/// crabline's recorder, read from where it was last read: every accepted Bot
/// API call counted by method, and the answers (a `sendMessage` or
/// `editMessageText` that shows [`ANSWER`]) counted by chat.
pub struct Answers {
    path: PathBuf,
    file: Option<File>,
    partial: Vec<u8>,
    by_chat: HashMap<i64, usize>,
    total: usize,
    methods: BTreeMap<String, usize>,
}

impl Answers {
    pub fn of(crab: &Crabline) -> Answers {
        let path = crab
            .manifest()
            .pointer("/recorderPath")
            .and_then(Value::as_str)
            .expect("crabline's recorder path");
        let mut answers = Answers {
            path: path.into(),
            file: None,
            partial: Vec::new(),
            by_chat: HashMap::new(),
            total: 0,
            methods: BTreeMap::new(),
        };
        answers.pump();
        answers
    }

    /// Answers shown in `chat` so far.
    pub fn in_chat(&self, chat: i64) -> usize {
        self.by_chat.get(&chat).copied().unwrap_or(0)
    }

    /// Answers shown in every chat so far.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Accepted Bot API calls so far, by method.
    pub fn methods(&self) -> BTreeMap<String, usize> {
        self.methods.clone()
    }

    /// Reads what crabline recorded since the last read.
    fn pump(&mut self) {
        if self.file.is_none() {
            // The recorder is created with crabline's first event.
            self.file = File::open(&self.path).ok();
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        file.read_to_end(&mut self.partial)
            .expect("reading the recorder");
        // A last line without its newline is still being written.
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let event: Value = serde_json::from_slice(line).expect("a recorder event");
            self.count(&event);
        }
    }

    fn count(&mut self, event: &Value) {
        if event["type"] != "api" || event["accepted"] != true {
            return;
        }
        let path = event["path"].as_str().unwrap_or_default();
        let method = path.rsplit('/').next().unwrap_or_default();
        *self.methods.entry(method.to_owned()).or_default() += 1;
        let body = &event["body"];
        if matches!(method, "sendMessage" | "editMessageText") && body["text"] == ANSWER {
            let chat = body["chat_id"]
                .as_i64()
                .or_else(|| body["chat_id"].as_str().and_then(|c| c.parse().ok()))
                .expect("an answer's chat id");
            *self.by_chat.entry(chat).or_default() += 1;
            self.total += 1;
        }
    }

    /// Reads the recorder until `done` holds; returns when it was seen.
    pub fn wait(&mut self, what: &str, done: impl Fn(&Answers) -> bool) -> Instant {
        let hang = Instant::now() + HANG;
        loop {
            self.pump();
            if done(self) {
                return Instant::now();
            }
            assert!(
                Instant::now() < hang,
                "no {what} within {}s; calls recorded: {:?}",
                HANG.as_secs(),
                self.methods
            );
            std::thread::sleep(POLL);
        }
    }
}

/// A bot that does nothing but answer, over the same Bot API calls as
/// hardshell's channel makes for a turn answered at once: a long poll, the
/// typing indicator, the first words sent as a reply, then edited into the
/// whole answer. Runs until crabline goes away.
pub fn spawn_floor_bot(crab: &Crabline) {
    let base = crab.base_url().to_owned();
    let token = crab.bot_token().to_owned();
    std::thread::spawn(move || {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let call = |method: &str, body: Value| -> Option<Value> {
            let mut answer: Value = http
                .post(format!("{base}/bot{token}/{method}"))
                .json(&body)
                .send()
                .ok()?
                .json()
                .ok()?;
            (answer["ok"] == true).then(|| answer["result"].take())
        };
        let mut offset: Option<i64> = None;
        loop {
            let mut poll = json!({ "timeout": 25 });
            if let Some(offset) = offset {
                poll["offset"] = offset.into();
            }
            let Some(updates) = call("getUpdates", poll) else {
                return;
            };
            for update in updates.as_array().into_iter().flatten() {
                offset = update["update_id"].as_i64().map(|id| id + 1);
                let message = &update["message"];
                let chat = message["chat"]["id"].clone();
                call(
                    "sendChatAction",
                    json!({ "chat_id": chat, "action": "typing" }),
                );
                let Some(sent) = call(
                    "sendMessage",
                    json!({
                        "chat_id": chat,
                        "text": "Hello",
                        "reply_parameters": { "message_id": message["message_id"] },
                    }),
                ) else {
                    return;
                };
                call(
                    "editMessageText",
                    json!({ "chat_id": chat, "message_id": sent["message_id"], "text": ANSWER }),
                );
            }
        }
    });
}
