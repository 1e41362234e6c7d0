//! A module's tool calls in its own shell: the real binary's `module-host`
//! in a real shell, the test guests (`crates/hardshell-module-host/guests`),
//! and the module's own broker in front of a test site served from a
//! network namespace the test makes (`scripts/test-site.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use hardshell_audit::{AuditLog, AuditOptions, LogId};
use hardshell_broker::secrets::{LeakScanner, LiveScanner};
use hardshell_config::Cidr;
use hardshell_modules::Capabilities;
use hardshell_protocol::{ModuleAnswer, ModuleFailure};
use hardshell_sandbox::Launcher;
use hardshell_sandbox::volume::{VolumeSize, Volumes};
use hardshell_shells::{
    MAX_SESSION_SHELLS, ModuleLimits, ModuleRunner, ModuleShells, ModuleSpec, SessionWorkspaces,
};
use hardshell_testkit::netns::NetnsSite;
use hardshell_testkit::{TestStore, browser, modules::guest};

/// The secret the site may be sent, and its value.
const SITE_TOKEN: &str = "site-token-value-4242";

/// Module shells over real shells, with an audit log to read back.
struct Modules {
    shells: ModuleShells,
    workspaces: SessionWorkspaces,
    volumes: Arc<Volumes>,
    site: NetnsSite,
    audit: Arc<AuditLog>,
    store: TestStore,
    _dir: tempfile::TempDir,
}

impl Modules {
    async fn new() -> Self {
        let site = NetnsSite::serve(&browser::script("test-site.py"));
        let store = TestStore::new().await;
        let audit = Arc::new(
            AuditLog::open(
                &store.scope("audit"),
                &LogId::new("modules-test").unwrap(),
                AuditOptions::default(),
            )
            .await
            .unwrap(),
        );
        let dir = tempfile::tempdir().unwrap();
        let launcher = Launcher {
            program: PathBuf::from(env!("CARGO_BIN_EXE_hardshell")),
            args: vec!["shell-init".into()],
        };
        let size = VolumeSize {
            bytes: 16 << 20,
            inodes: 1024,
        };
        let volumes = Arc::new(Volumes::open(&dir.path().join("volumes"), size).unwrap());
        let workspaces =
            SessionWorkspaces::open(dir.path().join("workspaces"), volumes.clone()).unwrap();
        let shells = ModuleShells::new(
            launcher,
            &module_host_image(),
            dir.path().join("run/modules"),
            ModuleLimits {
                cpu_percent: 100,
                tmp_bytes: 16 << 20,
            },
        )
        .unwrap()
        .with_workspaces(workspaces.clone());
        Self {
            shells,
            workspaces,
            volumes,
            site,
            audit,
            store,
            _dir: dir,
        }
    }

    /// A runner for guest `guest_name` under `capabilities` (as the lock
    /// holds them, JSON; `@SITE@` stands for the site's address).
    fn runner(&self, name: &str, guest_name: &str, capabilities: &str) -> ModuleRunner {
        self.runner_of(name, &guest(guest_name), capabilities)
    }

    /// A runner for `component` under `capabilities` (as [`Modules::runner`]).
    fn runner_of(&self, name: &str, component: &[u8], capabilities: &str) -> ModuleRunner {
        let text = capabilities.replace("@SITE@", &self.site.address.to_string());
        let capabilities: Capabilities = serde_json::from_str(&text).unwrap();
        let internal = [Cidr::parse(&self.site.cidr()).unwrap()];
        let broker = hardshell_egress::module_broker(
            hardshell_egress::ModuleEgress {
                capabilities: &capabilities,
                internal: &internal,
                // The host's end of the link to the site: this machine's
                // own address, inside the exception above.
                own: &[self.site.host_address.into()],
                secret: Arc::new(|name| (name == "SITE_TOKEN").then(|| SITE_TOKEN.to_owned())),
            },
            LiveScanner::fixed(LeakScanner::new(&[])),
            self.audit.clone(),
        )
        .unwrap();
        self.shells
            .runner(ModuleSpec {
                name,
                component,
                grants: capabilities.grants(),
                broker: Arc::new(broker),
            })
            .unwrap()
    }

    /// Every audit record written so far, as JSON.
    async fn records(&self) -> Vec<serde_json::Value> {
        self.audit.flush().await.unwrap();
        let mut tail = hardshell_audit::Tail::new(
            &self.store.scope("audit"),
            &LogId::new("modules-test").unwrap(),
            1,
        )
        .unwrap();
        tail.read()
            .await
            .unwrap()
            .iter()
            .map(|record| serde_json::to_value(record.event()).unwrap())
            .collect()
    }
}

/// The conversation the calls are made for.
const SESSION: &str = "web-modules-test";

/// The module host program as this build of hardshell carries it.
fn module_host_image() -> Vec<u8> {
    std::fs::read(env!("HARDSHELL_MODULE_HOST_IMAGE")).unwrap()
}

fn answered(answer: ModuleAnswer) -> String {
    match answer {
        ModuleAnswer::Answered { text } => text,
        failed => panic!("not answered: {failed:?}"),
    }
}

fn failed(answer: ModuleAnswer) -> (ModuleFailure, String) {
    match answer {
        ModuleAnswer::Failed { failure, message } => (failure, message),
        answered => panic!("not failed: {answered:?}"),
    }
}

const COMPUTE_ONLY: &str = r#"{"memory_mb": 64, "timeout_ms": 5000}"#;

#[tokio::test]
async fn a_module_answers_from_its_shell_and_every_call_is_fresh() {
    let modules = Modules::new().await;
    let echo = modules.runner("echo", "echo", COMPUTE_ONLY);
    assert_eq!(
        answered(echo.call(SESSION, "echo", r#"{"said":"hello"}"#).await),
        r#"{"said":"hello"}"#
    );
    // The guest counts its calls in a static: a fresh instance each call.
    assert_eq!(answered(echo.call(SESSION, "count", "{}").await), "1");
    assert_eq!(answered(echo.call(SESSION, "count", "{}").await), "1");
    let (failure, message) = failed(echo.call(SESSION, "refuse", "{}").await);
    assert_eq!(failure, ModuleFailure::Tool);
    assert!(message.contains("this tool always refuses"), "{message}");
    // Stopped, the next call starts a fresh shell.
    echo.stop().await;
    assert_eq!(
        answered(echo.call(SESSION, "add", r#"{"a":2,"b":3}"#).await),
        "5"
    );
    echo.stop().await;
}

#[tokio::test]
async fn a_module_reaches_its_granted_host_through_its_broker_with_its_secret_only() {
    let modules = Modules::new().await;
    let grants = r#"{"memory_mb": 64, "timeout_ms": 10000,
        "hosts": [{"host": "@SITE@", "port": 80, "scheme": "http", "methods": ["GET"]}],
        "secrets": [{"name": "SITE_TOKEN", "host": "@SITE@"}]}"#;
    let module = modules.runner("fetcher", "hostile", grants);
    let fetch = |path: &str, header: &str| {
        serde_json::json!({"url": modules.site.url(path), "header": header}).to_string()
    };
    // The placeholder is swapped for the value on the way to the site,
    // which shows the sha256 of the cookie it was sent.
    let page = answered(
        module
            .call(
                SESSION,
                "fetch",
                &fetch("/cookie/sha256", "Cookie: t=hs-secret:SITE_TOKEN"),
            )
            .await,
    );
    let sent = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("t={SITE_TOKEN}").as_bytes(),
    ));
    assert!(page.starts_with("200 "), "{page}");
    assert!(page.contains(&sent), "{page}");
    // A secret it was not granted is refused by its broker.
    let page = answered(
        module
            .call(
                SESSION,
                "fetch",
                &fetch("/cookie/sha256", "Cookie: t=hs-secret:OTHER_TOKEN"),
            )
            .await,
    );
    assert!(page.starts_with("403 "), "{page}");
    // A page that shows the value back: the broker turns it into its
    // placeholder again, so the module never reads the secret.
    let page = answered(
        module
            .call(
                SESSION,
                "fetch",
                &fetch("/cookies", "Cookie: t=hs-secret:SITE_TOKEN"),
            )
            .await,
    );
    assert!(!page.contains(SITE_TOKEN), "{page}");
    // A method beyond its grant is stopped in the host, before any broker.
    let post = serde_json::json!({"method": "POST", "url": modules.site.url("/submit")});
    let (failure, _) = failed(module.call(SESSION, "fetch", &post.to_string()).await);
    assert_eq!(failure, ModuleFailure::Denied);
    // No socket of its own.
    let connect = serde_json::json!({"address": format!("{}:80", modules.site.address)});
    let (failure, message) = failed(module.call(SESSION, "connect", &connect.to_string()).await);
    assert_eq!(failure, ModuleFailure::Tool, "{message}");
    module.stop().await;
    let records = modules.records().await;
    let decided: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["type"] == "egress_decided" && r["shell"] == "module")
        .collect();
    assert!(
        decided.iter().any(|r| r["decision"] == "allowed"),
        "{records:?}"
    );
    assert!(
        !serde_json::to_string(&records)
            .unwrap()
            .contains(SITE_TOKEN),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_module_that_spins_traps_or_overgrows_fails_alone_and_the_next_call_is_answered() {
    let modules = Modules::new().await;
    let module = modules.runner(
        "hostile",
        "hostile",
        r#"{"memory_mb": 32, "timeout_ms": 500}"#,
    );
    let (failure, _) = failed(module.call(SESSION, "spin", "{}").await);
    assert_eq!(failure, ModuleFailure::Timeout);
    let (failure, _) = failed(module.call(SESSION, "trap", "{}").await);
    assert_eq!(failure, ModuleFailure::Trap);
    let (failure, _) = failed(module.call(SESSION, "grow", "{}").await);
    assert_eq!(failure, ModuleFailure::Memory);
    let environment = answered(module.call(SESSION, "read_env", r#"{"name":"PATH"}"#).await);
    assert!(!environment.contains("/usr/bin"), "{environment}");
    let (failure, message) = failed(
        module
            .call(SESSION, "read_file", r#"{"path":"/etc/passwd"}"#)
            .await,
    );
    assert_eq!(failure, ModuleFailure::Tool, "{message}");
    // What it prints is captured in the host, never written on the
    // answers' stream: the next answer still reads.
    let printed = answered(module.call(SESSION, "print", r#"{"lines":100}"#).await);
    assert_eq!(printed, "printed");
    let (failure, _) = failed(module.call(SESSION, "print", r#"{"lines":100000}"#).await);
    assert_eq!(failure, ModuleFailure::Trap);
    let environment = answered(module.call(SESSION, "read_env", r#"{"name":""}"#).await);
    assert_eq!(environment, "");
    // A tool name over its bound is refused before it reaches the shell.
    let (failure, _) = failed(module.call(SESSION, &"t".repeat(65), "{}").await);
    assert_eq!(failure, ModuleFailure::Refused);
    module.stop().await;
}

impl Drop for Modules {
    fn drop(&mut self) {
        // Before the directory under them goes.
        self.volumes.unmount_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_granted_the_workspace_sees_only_its_conversations_and_writes_only_if_granted() {
    let modules = Modules::new().await;
    let writer = modules.runner(
        "writer",
        "hostile",
        r#"{"workspace": "write", "memory_mb": 32, "timeout_ms": 5000}"#,
    );
    let reader = modules.runner(
        "reader",
        "hostile",
        r#"{"workspace": "read", "memory_mb": 32, "timeout_ms": 5000}"#,
    );
    let blind = modules.runner(
        "blind",
        "hostile",
        r#"{"memory_mb": 32, "timeout_ms": 5000}"#,
    );
    let write = |content: &str| {
        serde_json::json!({"path": "/workspace/note.txt", "content": content}).to_string()
    };
    let read = r#"{"path": "/workspace/note.txt"}"#;

    // Written in one conversation's workspace, on its volume on the host.
    assert_eq!(
        answered(
            writer
                .call("web-one", "write_file", &write("from one"))
                .await
        ),
        "written"
    );
    let on_host = modules.workspaces.path("web-one").join("note.txt");
    assert_eq!(std::fs::read_to_string(&on_host).unwrap(), "from one");
    assert_eq!(
        answered(writer.call("web-one", "read_file", read).await),
        "from one"
    );
    // Another conversation's shell sees its own workspace, not that one.
    let (failure, _) = failed(writer.call("web-two", "read_file", read).await);
    assert_eq!(failure, ModuleFailure::Tool);
    assert!(!modules.workspaces.path("web-two").join("note.txt").exists());

    // Granted read: it reads the conversation's file and cannot write it.
    assert_eq!(
        answered(reader.call("web-one", "read_file", read).await),
        "from one"
    );
    let (failure, message) = failed(
        reader
            .call("web-one", "write_file", &write("changed"))
            .await,
    );
    assert_eq!(failure, ModuleFailure::Tool, "{message}");
    assert_eq!(std::fs::read_to_string(&on_host).unwrap(), "from one");
    // Not granted: no workspace at all, whatever the conversation.
    let (failure, _) = failed(blind.call("web-one", "read_file", read).await);
    assert_eq!(failure, ModuleFailure::Tool);
    let listed = blind
        .call("web-one", "list_dir", r#"{"path": "/workspace"}"#)
        .await;
    assert!(matches!(listed, ModuleAnswer::Failed { .. }), "{listed:?}");

    // A session id that is no id is refused before anything is mounted.
    let (failure, _) = failed(writer.call("../web-one", "read_file", read).await);
    assert_eq!(failure, ModuleFailure::Refused);
    // More conversations than shells: the least recently used idle shell
    // makes room, and every conversation is still answered with its own.
    for n in 0..=MAX_SESSION_SHELLS {
        let session = format!("web-many-{n}");
        let text = format!("from {session}");
        assert_eq!(
            answered(writer.call(&session, "write_file", &write(&text)).await),
            "written"
        );
    }
    assert_eq!(
        answered(writer.call("web-one", "read_file", read).await),
        "from one"
    );
    for runner in [writer, reader, blind] {
        runner.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fetch_module_reads_public_pages_through_redirects_and_never_an_internal_address() {
    let modules = Modules::new().await;
    let (manifest, wasm) = hardshell_testkit::modules::first_party("fetch");
    // The capabilities its manifest declares, as the lock would hold them.
    let manifest = hardshell_modules::Manifest::parse(manifest.as_bytes()).unwrap();
    assert!(manifest.capabilities.public_web && manifest.capabilities.hosts.is_empty());
    let capabilities = serde_json::to_string(&manifest.capabilities).unwrap();
    let fetch = modules.runner_of("fetch", &wasm, &capabilities);
    let site = modules.site.address;
    let url = |path: &str| serde_json::json!({"url": format!("http://{site}{path}")}).to_string();

    // A page of a host no grant names, three redirects away, as its text.
    let page = answered(fetch.call(SESSION, "fetch", &url("/redirect/3")).await);
    assert_eq!(
        page,
        format!("http://{site}/landed\n\nLanded\nafter redirects")
    );
    let (failure, message) = failed(fetch.call(SESSION, "fetch", &url("/redirect/6")).await);
    assert_eq!(failure, ModuleFailure::Tool);
    assert!(message.contains("more than 5 redirects"), "{message}");

    // This machine and the cloud's metadata address are not the public
    // web: the broker refuses them, whatever the module asks.
    // This machine's own address is refused too, though the site's
    // network (which holds it) is an allowed exception.
    let own = modules.site.host_address.to_string();
    for internal in ["127.0.0.1", "169.254.169.254", own.as_str()] {
        let asked = serde_json::json!({"url": format!("http://{internal}/latest/meta-data/")});
        let (failure, message) = failed(fetch.call(SESSION, "fetch", &asked.to_string()).await);
        assert_eq!(failure, ModuleFailure::Tool, "{internal}: {message}");
        assert!(message.contains("broker refused"), "{internal}: {message}");
    }
    // Another port, another scheme: refused before anything is sent.
    for asked in [
        format!("http://{site}:8080/"),
        format!("ftp://{site}/"),
        "https://user:pw@example.org/".to_owned(),
    ] {
        let arguments = serde_json::json!({"url": asked}).to_string();
        let (failure, _) = failed(fetch.call(SESSION, "fetch", &arguments).await);
        assert_eq!(failure, ModuleFailure::Tool, "{asked}");
    }
    // Each refused by the broker's guard before any connection, recorded.
    let records = modules.records().await;
    for address in ["127.0.0.1", "169.254.169.254", own.as_str()] {
        assert!(
            records
                .iter()
                .any(|r| r["host"] == address && r["decision"] == "refused"),
            "{address}: {records:?}"
        );
    }
    fetch.stop().await;
}

/// Module shells whose host process is `script` (written where the module
/// host program would be): a host process that escaped its module, as the runner meets
/// it.
fn impostor_shells(dir: &std::path::Path, script: &str) -> ModuleShells {
    ModuleShells::new(
        Launcher {
            program: PathBuf::from(env!("CARGO_BIN_EXE_hardshell")),
            args: vec!["shell-init".into()],
        },
        format!("#!/bin/sh\n{script}\n").as_bytes(),
        dir.join("run/modules"),
        ModuleLimits {
            cpu_percent: 100,
            tmp_bytes: 16 << 20,
        },
    )
    .unwrap()
}

fn impostor_runner(shells: &ModuleShells, audit: Arc<AuditLog>) -> ModuleRunner {
    let capabilities: Capabilities =
        serde_json::from_str(r#"{"memory_mb": 16, "timeout_ms": 200}"#).unwrap();
    let broker = hardshell_egress::module_broker(
        hardshell_egress::ModuleEgress {
            capabilities: &capabilities,
            internal: &[],
            own: &[],
            secret: Arc::new(|_| None),
        },
        LiveScanner::fixed(LeakScanner::new(&[])),
        audit,
    )
    .unwrap();
    shells
        .runner(ModuleSpec {
            name: "impostor",
            component: b"not wasm: the impostor never reads it",
            grants: capabilities.grants(),
            broker: Arc::new(broker),
        })
        .unwrap()
}

#[tokio::test]
async fn a_host_process_that_hangs_lies_floods_or_dies_is_stopped_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = TestStore::new().await;
    let audit = Arc::new(
        AuditLog::open(
            &store.scope("audit"),
            &LogId::new("impostor-test").unwrap(),
            AuditOptions::default(),
        )
        .await
        .unwrap(),
    );
    // Each case's message tells which check stopped it: a case whose
    // script failed some other way would not match.
    let cases = [
        // Never says it is ready.
        (
            "not-ready",
            "echo nope",
            ModuleFailure::Refused,
            "could not be started",
        ),
        // Ready, then never answers.
        (
            "hangs",
            "echo ready; exec sleep 3600",
            ModuleFailure::Timeout,
            "did not answer within 200 ms",
        ),
        // Answers what the edge's reading refuses.
        (
            "lies",
            r#"echo ready; read line; echo '{"status":"answered","text":"x","workspace":"/etc"}'; exec sleep 3600"#,
            ModuleFailure::Refused,
            "failed and was stopped",
        ),
        // An answer line past every bound, without an end.
        (
            "floods",
            "echo ready; read line; head -c 8000000 /dev/zero | tr '\\0' a; exec sleep 3600",
            ModuleFailure::Refused,
            "failed and was stopped",
        ),
    ];
    for (name, script, expected, said) in cases {
        let case_dir = dir.path().join(name);
        std::fs::create_dir(&case_dir).unwrap();
        let shells = impostor_shells(&case_dir, script);
        let runner = impostor_runner(&shells, audit.clone());
        for _ in 0..2 {
            let (failure, message) = failed(runner.call(SESSION, "tool", "{}").await);
            assert_eq!(failure, expected, "{name}: {message}");
            assert!(message.contains(said), "{name}: {message}");
        }
        runner.stop().await;
    }
    // Answers once, then dies: the next call finds it gone, the one after
    // that a fresh process.
    let case_dir = dir.path().join("dies");
    std::fs::create_dir(&case_dir).unwrap();
    let shells = impostor_shells(
        &case_dir,
        r#"echo ready; read line; echo '{"status":"answered","text":"once"}'"#,
    );
    let runner = impostor_runner(&shells, audit.clone());
    assert_eq!(answered(runner.call(SESSION, "tool", "{}").await), "once");
    let (failure, _) = failed(runner.call(SESSION, "tool", "{}").await);
    assert_eq!(failure, ModuleFailure::Refused);
    assert_eq!(answered(runner.call(SESSION, "tool", "{}").await), "once");
    runner.stop().await;
}
