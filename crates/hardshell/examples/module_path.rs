//! What a module tool call costs on the path `hardshell up` gives it: the
//! module's host process in a shell of its own (`hardshell-module-host`),
//! each call a line in and a line out on its pipes, against the same call
//! made in process (`ModuleHost::call`) and the same work done natively,
//! measured side by side in one run.
//!
//! - warm: the shell started and the component compiled, each call a fresh
//!   instance in it (what every call pays);
//! - cold: the shell started, the component compiled, then the first call
//!   (what the first call after `up`, or after a stuck call, pays).
//!
//!   module_path HARDSHELL_BIN MODULE_HOST ECHO_WASM [WARM_CALLS] [COLD_CALLS]
//!
//! HARDSHELL_BIN runs the shells' init; MODULE_HOST is the module host
//! program that binary carries (built beside it, under
//! `<target>/module-host/release/`).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardshell_broker::address::AddressGuard;
use hardshell_broker::policy::EgressPolicy;
use hardshell_broker::proxy::Broker;
use hardshell_module_host::{BodyLimits, Grants, ModuleHost, NoEgress};
use hardshell_module_wire::{ModuleGrants, WorkspaceGrant};
use hardshell_protocol::ModuleAnswer;
use hardshell_sandbox::Launcher;
use hardshell_shells::{ModuleLimits, ModuleShells, ModuleSpec};

const ARGUMENTS: &str = r#"{"a": 40, "b": 2}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let usage = "usage: module_path HARDSHELL_BIN MODULE_HOST ECHO_WASM [WARM_CALLS] [COLD_CALLS]";
    let binary = PathBuf::from(arguments.next().ok_or(usage)?);
    let module_host = std::fs::read(arguments.next().ok_or(usage)?)?;
    let wasm = arguments.next().ok_or(usage)?;
    let warm_calls: usize = arguments.next().map_or(Ok(2000), |n| n.parse())?;
    let cold_calls: usize = arguments.next().map_or(Ok(5), |n| n.parse())?;
    let component = std::fs::read(&wasm)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(measure(
        &binary,
        &module_host,
        &component,
        warm_calls,
        cold_calls,
    ))
}

async fn measure(
    binary: &Path,
    module_host: &[u8],
    component: &[u8],
    warm_calls: usize,
    cold_calls: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let native = sample(warm_calls, || {
        let _ = black_box(native_add(black_box(ARGUMENTS)));
    });

    let host = ModuleHost::new(Arc::new(NoEgress), BodyLimits::default())?;
    let prepared = host.prepare(component)?;
    let grants = Grants::compute_only(64, 5_000);
    for _ in 0..20 {
        host.call(&prepared, &grants, "add", ARGUMENTS).await?;
    }
    let mut in_process = Vec::with_capacity(warm_calls);
    for _ in 0..warm_calls {
        let started = Instant::now();
        let answer = host.call(&prepared, &grants, "add", ARGUMENTS).await?;
        in_process.push(started.elapsed());
        black_box(answer);
    }

    let dir = tempfile::tempdir()?;
    let shells = ModuleShells::new(
        Launcher {
            program: binary.to_owned(),
            args: vec!["shell-init".into()],
        },
        module_host,
        dir.path().join("modules"),
        ModuleLimits {
            cpu_percent: 200,
            tmp_bytes: 16 << 20,
        },
    )?;
    let tls = hardshell_broker::proxy::platform_tls()?;
    let broker = Broker::new(
        EgressPolicy { routes: Vec::new() },
        AddressGuard::new(Vec::new()),
        tls,
    );
    let runner = shells.runner(ModuleSpec {
        name: "echo",
        component,
        grants: ModuleGrants {
            hosts: Vec::new(),
            public_web: false,
            workspace: WorkspaceGrant::None,
            memory_mb: 64,
            timeout_ms: 5_000,
        },
        broker: Arc::new(broker),
    })?;
    let mut cold = Vec::with_capacity(cold_calls);
    for _ in 0..cold_calls {
        runner.stop().await;
        let started = Instant::now();
        let answer = runner.call("web-bench", "add", ARGUMENTS).await;
        cold.push(started.elapsed());
        expect_42(&answer)?;
    }
    for _ in 0..20 {
        expect_42(&runner.call("web-bench", "add", ARGUMENTS).await)?;
    }
    let mut in_shell = Vec::with_capacity(warm_calls);
    for _ in 0..warm_calls {
        let started = Instant::now();
        let answer = runner.call("web-bench", "add", ARGUMENTS).await;
        in_shell.push(started.elapsed());
        black_box(answer);
    }
    runner.stop().await;

    let base = median(&native);
    println!(
        "calls: warm {warm_calls}, cold {cold_calls}; component {} bytes",
        component.len()
    );
    report("native add", &native, base);
    report("in process (warm)", &in_process, base);
    report("in its shell (warm)", &in_shell, base);
    report("in its shell (cold)", &cold, base);
    let shell_added = median(&in_shell).saturating_sub(median(&in_process));
    println!(
        "the shell's pipes add {:.1} µs a call over the call in process; \
         a module call adds {:.1} µs over native (target <= 1000 µs)",
        shell_added.as_secs_f64() * 1e6,
        median(&in_shell).saturating_sub(base).as_secs_f64() * 1e6
    );
    Ok(())
}

fn expect_42(answer: &ModuleAnswer) -> Result<(), String> {
    match answer {
        ModuleAnswer::Answered { text } if text == "42" => Ok(()),
        other => Err(format!("unexpected answer: {other:?}")),
    }
}

/// The same work as the guest's `add`: parse, add, answer text.
fn native_add(arguments: &str) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_str(arguments).map_err(|e| e.to_string())?;
    let a = value["a"].as_i64().ok_or("a")?;
    let b = value["b"].as_i64().ok_or("b")?;
    Ok((a + b).to_string())
}

fn sample(calls: usize, mut work: impl FnMut()) -> Vec<Duration> {
    (0..calls)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect()
}

fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50)
}

fn percentile(samples: &[Duration], percent: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[(sorted.len() - 1) * percent / 100]
}

fn report(name: &str, samples: &[Duration], base: Duration) {
    let median = median(samples);
    println!(
        "{name:22} median {:>10.1} µs  p99 {:>10.1} µs  {:>8.1}x native",
        median.as_secs_f64() * 1e6,
        percentile(samples, 99).as_secs_f64() * 1e6,
        median.as_secs_f64() / base.as_secs_f64().max(1e-9)
    );
}
