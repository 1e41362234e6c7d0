//! A WebSocket relay between the channel and crabline's gateway, for one
//! difference between them: twilight sends IDENTIFY's and RESUME's token as
//! `Bot <token>` (which Discord accepts), crabline takes only the bare token.
//! The relay forwards every frame both ways unchanged but that one field,
//! and can drop the connection, which makes the channel resume. It also
//! sends the channel dispatch events crabline cannot (INTERACTION_CREATE),
//! framed as Discord frames them: `{"op": 0, "s", "t", "d"}`, with the last
//! sequence crabline sent, so a resume asks crabline for nothing it skipped.
//!
//! The relay is also the tests' witness of the session: it counts the
//! opcodes the channel sent and the events it was dispatched (READY,
//! RESUMED). crabline records the same payloads, but its recorder drops an
//! event it fails to persist without a word, so a test waiting on it could
//! wait for an IDENTIFY that happened.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use url::Url;

pub struct Relay {
    /// Where the channel connects.
    pub url: Url,
    drop_now: Arc<Notify>,
    inject: mpsc::UnboundedSender<String>,
    sequence: Arc<AtomicU64>,
    seen: Seen,
}

/// What went through the relay, in order: `connected`, `channel op 2`,
/// `dispatched READY`, `upstream failed: …`. Payloads are not kept.
#[derive(Clone, Default)]
pub struct Seen(Arc<StdMutex<Vec<String>>>);

impl Seen {
    fn note(&self, what: String) {
        self.0.lock().unwrap().push(what);
    }

    fn count(&self, what: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|w| *w == what).count()
    }

    fn log(&self) -> String {
        self.0.lock().unwrap().join(", ")
    }
}

type Injected = Arc<Mutex<mpsc::UnboundedReceiver<String>>>;

impl Relay {
    /// Relays connections to `upstream` (crabline's `ws://…/gateway`).
    pub async fn start(upstream: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("ws://{}/gateway", listener.local_addr().unwrap())).unwrap();
        let upstream = Url::parse(upstream).unwrap();
        let drop_now = Arc::new(Notify::new());
        let notify = drop_now.clone();
        let (inject, injected) = mpsc::unbounded_channel();
        let injected: Injected = Arc::new(Mutex::new(injected));
        let sequence = Arc::new(AtomicU64::new(0));
        let last = sequence.clone();
        let seen = Seen::default();
        let noted = seen.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(relay_one(
                    stream,
                    upstream.clone(),
                    notify.clone(),
                    injected.clone(),
                    last.clone(),
                    noted.clone(),
                ));
            }
        });
        Relay {
            url,
            drop_now,
            inject,
            sequence,
            seen,
        }
    }

    /// How many payloads of opcode `op` the channel sent (2 IDENTIFY,
    /// 6 RESUME).
    pub fn channel_ops(&self, op: u64) -> usize {
        self.seen.count(&format!("channel op {op}"))
    }

    /// How many dispatch events `t` the server sent the channel.
    pub fn dispatched(&self, t: &str) -> usize {
        self.seen.count(&format!("dispatched {t}"))
    }

    /// Waits until the channel was dispatched `count` events `t` (READY
    /// after an IDENTIFY, RESUMED after a RESUME); `Err` says what the
    /// relay saw instead.
    pub async fn wait_dispatched(
        &self,
        t: &str,
        count: usize,
        deadline: Duration,
    ) -> Result<(), String> {
        let until = Instant::now() + deadline;
        while self.dispatched(t) < count {
            if Instant::now() >= until {
                return Err(format!(
                    "the relay saw no {count} {t} within {}s; it saw: {}",
                    deadline.as_secs(),
                    self.seen.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Sends the channel the dispatch event `t` with data `d`.
    pub fn dispatch(&self, t: &str, d: Value) {
        let s = self.sequence.load(Ordering::SeqCst);
        let frame = serde_json::json!({"op": 0, "s": s, "t": t, "d": d});
        self.inject.send(frame.to_string()).unwrap();
    }

    /// Drops the current connection, as a network failure would.
    pub fn drop_connection(&self) {
        self.drop_now.notify_one();
    }
}

async fn relay_one(
    stream: TcpStream,
    upstream: Url,
    drop_now: Arc<Notify>,
    injected: Injected,
    sequence: Arc<AtomicU64>,
    seen: Seen,
) {
    seen.note("connected".to_owned());
    let mut query = None;
    // The callback's signature is tungstenite's, its error type included.
    #[allow(clippy::result_large_err)]
    let capture = |request: &Request, response: Response| {
        query = request.uri().query().map(str::to_owned);
        Ok(response)
    };
    let client = match tokio_tungstenite::accept_hdr_async(stream, capture).await {
        Ok(client) => client,
        Err(e) => return seen.note(format!("channel's handshake failed: {e}")),
    };
    let mut target = upstream.clone();
    target.set_query(query.as_deref());
    let host = format!(
        "{}:{}",
        target.host_str().unwrap(),
        target.port_or_known_default().unwrap()
    );
    let tcp = match TcpStream::connect(host).await {
        Ok(tcp) => tcp,
        Err(e) => return seen.note(format!("upstream unreachable: {e}")),
    };
    let server = match tokio_tungstenite::client_async(target.as_str(), tcp).await {
        Ok((server, _)) => server,
        Err(e) => return seen.note(format!("upstream's handshake failed: {e}")),
    };
    let (mut to_client, mut from_client) = client.split();
    let (mut to_server, mut from_server) = server.split();
    let ended = loop {
        tokio::select! {
            () = drop_now.notified() => break "dropped by the test",
            frame = from_client.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let payload = serde_json::from_str::<Value>(text.as_str()).unwrap_or_default();
                    if let Some(op) = payload["op"].as_u64() {
                        seen.note(format!("channel op {op}"));
                    }
                    let text = bare_token(text.as_str());
                    if to_server.send(Message::text(text)).await.is_err() { break "upstream closed"; }
                }
                Some(Ok(frame)) => if to_server.send(frame).await.is_err() { break "upstream closed"; },
                _ => break "channel closed",
            },
            frame = from_server.next() => match frame {
                Some(Ok(frame)) => {
                    if let Message::Text(text) = &frame
                        && let Ok(payload) = serde_json::from_str::<Value>(text.as_str())
                    {
                        if let Some(s) = payload["s"].as_u64() {
                            sequence.store(s, Ordering::SeqCst);
                        }
                        if let Some(t) = payload["t"].as_str() {
                            seen.note(format!("dispatched {t}"));
                        }
                    }
                    if let Message::Close(close) = &frame {
                        seen.note(format!("upstream sent close {close:?}"));
                    }
                    if to_client.send(frame).await.is_err() { break "channel closed"; }
                }
                _ => break "upstream closed",
            },
            text = async { injected.lock().await.recv().await } => match text {
                Some(text) => if to_client.send(Message::text(text)).await.is_err() { break "channel closed"; },
                None => break "injection ended",
            },
        }
    };
    seen.note(format!("ended: {ended}"));
}

fn bare_token(text: &str) -> String {
    let Ok(mut payload) = serde_json::from_str::<Value>(text) else {
        return text.to_owned();
    };
    if (payload["op"] == 2 || payload["op"] == 6)
        && let Some(token) = payload["d"]["token"].as_str()
        && let Some(bare) = token.strip_prefix("Bot ")
    {
        payload["d"]["token"] = Value::String(bare.to_owned());
        return payload.to_string();
    }
    text.to_owned()
}
