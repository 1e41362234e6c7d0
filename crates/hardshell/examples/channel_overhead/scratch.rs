//! What the bench runs against: a loopback model stub answering at once, and
//! `hardshell up` in a scratch directory with its Telegram channel polling
//! crabline and the bench's senders paired.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hardshell_testkit::crabline::Crabline;
use hardshell_testkit::ready::NotifySocket;

/// `hardshell up`, running until dropped.
pub struct Hardshell {
    up: Child,
    pub edge: String,
    /// A `chat` token for the OpenAI-compatible API.
    pub token: String,
    _notify: NotifySocket,
    _dir: tempfile::TempDir,
}

impl Hardshell {
    /// A scratch instance whose agent calls `stub`, with Telegram polling
    /// `crab`, every sender in `senders` paired as a guest, rate limits at
    /// their maximum so none refuses.
    pub fn start(binary: &str, stub: &str, crab: &Crabline, senders: &[i64]) -> Hardshell {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str], stdin: Option<&str>| {
            let mut child = Command::new(binary)
                .args(args)
                .current_dir(dir.path())
                .env_remove("HARDSHELL_CONFIG")
                .stdin(if stdin.is_some() {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            if let Some(text) = stdin {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
            }
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "hardshell {args:?}: {output:?}");
            String::from_utf8(output.stdout).unwrap()
        };
        run(&["init"], None);
        let config = dir.path().join("hardshell.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        // The template's [agent], [llm] and [channels] tables, replaced.
        let start = text.find("[agent]").unwrap();
        let end = text.find("# Where authorised chat traffic goes").unwrap();
        let text = format!(
            "{}[agent]\n[llm]\nchain = [\"stub/bench\"]\n\
             [llm.providers.stub]\nkind = \"openai\"\nbase_url = \"{stub}/v1\"\n\
             [channels.telegram]\nenabled = true\ntoken = \"secret:TELEGRAM_BOT_TOKEN\"\n\
             api_root = \"{}\"\n\n{}",
            &text[..start],
            crab.base_url(),
            &text[end..]
        )
        .replace("127.0.0.1:8787", "127.0.0.1:0")
        .replace("requests_per_minute = 60", "requests_per_minute = 1000000")
        .replace("burst = 10\n", "burst = 100000\n");
        std::fs::write(&config, text).unwrap();
        run(
            &["secret", "put", "TELEGRAM_BOT_TOKEN"],
            Some(crab.bot_token()),
        );
        for sender in senders {
            let principal = format!("telegram:{sender}");
            run(&["pair", "add", &principal, "--role", "guest"], None);
        }
        let token = run(
            &["token", "create", "--name", "bench", "--scope", "chat"],
            None,
        )
        .trim()
        .to_owned();

        let notify = NotifySocket::new();
        let mut up = Command::new(binary)
            .arg("up")
            .current_dir(dir.path())
            .env_remove("HARDSHELL_CONFIG")
            .env("RUST_LOG", "warn,hardshell=info")
            .env("NOTIFY_SOCKET", notify.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let ready = notify
            .ready(&mut up, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("hardshell up was not ready: {e}"));
        Hardshell {
            edge: ready.edge_url().to_owned(),
            up,
            token,
            _notify: notify,
            _dir: dir,
        }
    }
}

impl Drop for Hardshell {
    fn drop(&mut self) {
        // By its pid, and TERM so it stops its shells itself.
        let _ = Command::new("kill")
            .args(["-TERM", &self.up.id().to_string()])
            .status();
        let _ = self.up.wait();
    }
}
