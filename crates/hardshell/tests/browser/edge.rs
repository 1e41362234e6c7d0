//! A fresh hardshell instance whose agent talks to the local model, running
//! under `hardshell up` on a free loopback port, and its first-run setup link.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hardshell_testkit::ready::NotifySocket;

use crate::needs::ModelServer;

/// How long `up` may take to listen, print its setup link and start the agent.
const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct Instance {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Instance {
    /// `hardshell init`, then the edge on a free port at `http://localhost:PORT`
    /// (a passkey is bound to that origin) and the model as the only provider.
    pub fn with_model(model: &ModelServer) -> Self {
        let instance = Self {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
        };
        let init = instance.run(&["init"]);
        assert!(init.status.success(), "hardshell init failed: {init:?}");
        let path = instance.dir.path().join("hardshell.toml");
        let config = std::fs::read_to_string(&path).unwrap();
        let port = instance.port;
        let config = config
            .replace(
                "listen = \"127.0.0.1:8787\"",
                &format!("listen = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\""),
            )
            .replace("chain = []\n", "chain = [\"local/smollm2\"]\n")
            // A short reply is enough to see it stream, and keeps a small model
            // that rambles on to its limit well inside the turn's time limit.
            .replace("max_tokens = 1024 ", "max_tokens = 64 ")
            // More API calls within seconds than a person makes (the deny checks,
            // a reload, a second viewport). The limiter, and the page files'
            // exemption from it, have their own tests in hardshell-edge.
            .replace(
                "requests_per_minute = 60\nburst = 10\n",
                "requests_per_minute = 600\nburst = 100\n",
            );
        for edited in [
            "public_url",
            "local/smollm2",
            "max_tokens = 64",
            "burst = 100",
        ] {
            assert!(
                config.contains(edited),
                "the init template changed: {config}"
            );
        }
        let config = format!(
            "{config}\n[llm.providers.local]\nkind = \"openai\"\nbase_url = \"{}\"\n\
             api_key = \"env:HARDSHELL_TEST_LLM_KEY\"\n",
            model.url
        );
        std::fs::write(&path, config).unwrap();
        instance
    }

    pub fn url(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hardshell"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("HARDSHELL_MASTER_KEY")
            .env_remove("HARDSHELL_MASTER_KEY_FILE")
            .env_remove("HARDSHELL_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// A chat-scoped API token, made with the CLI as a user would.
    pub fn chat_token(&self) -> String {
        let output = self.run(&[
            "token",
            "create",
            "--name",
            "browser-test",
            "--scope",
            "chat",
        ]);
        assert!(output.status.success(), "token create failed: {output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// `GET path` on the edge with a bearer token: (status, body).
    pub fn get(&self, path: &str, token: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
        let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        (status, body.to_owned())
    }
}

/// A free port on 127.0.0.1 (released just before `up` binds it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `hardshell up`; stopped with SIGTERM when dropped.
pub struct Up {
    child: Child,
    pub setup_link: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Kept open: `up` tells it `STOPPING=1` when it stops.
    _notify: NotifySocket,
}

impl Up {
    /// Starts `up` and waits, at most `START_DEADLINE`, until it says it is
    /// ready (the edge serves, the agent answers); takes the setup link it
    /// printed before.
    pub fn start(instance: &Instance) -> Self {
        let mut command = instance.command(&["up"]);
        command.stdout(Stdio::null());
        let up = hardshell_testkit::instance::Up::start(command, START_DEADLINE);
        // Printed on standard error before the agent starts, so before
        // READY=1; read by another thread, so waited for all the same.
        let printed = up.log_through("/login#setup=", START_DEADLINE);
        let line = printed.last().expect("the line with the link");
        let at = line.find("http://localhost:").expect("the link's origin");
        Up {
            child: up.child,
            setup_link: line[at..].trim().to_owned(),
            log: up.log,
            _notify: up.notify,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM, then wait up to 10 s for a clean exit (which flushes the audit log).
    pub fn stop(mut self) {
        let stopped = self.terminate();
        assert!(stopped, "hardshell up did not stop within 10 s of SIGTERM");
    }

    fn terminate(&mut self) -> bool {
        if self.child.try_wait().unwrap().is_some() {
            return true;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.terminate();
    }
}
