//! What a module tool call adds over the same tool as a native Rust
//! function: the `add` tool of the `echo` test guest (parse the JSON
//! arguments, add two integers, answer text) against the same work done
//! natively, in the same process and run.
//!
//! - cold: compile and link the component (`prepare`), then its first call;
//! - warm: the component prepared once, each call in a fresh instance (what
//!   every call pays, since no state is kept between calls).
//!
//!   module_overhead ECHO_WASM [WARM_CALLS] [COLD_CALLS]
//!
//! Prints medians and p99 of each, and the added latency over native.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardshell_module_host::{BodyLimits, Grants, ModuleHost, NoEgress};

const ARGUMENTS: &str = r#"{"a": 40, "b": 2}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let wasm_path = arguments
        .next()
        .ok_or("usage: module_overhead ECHO_WASM [WARM_CALLS] [COLD_CALLS]")?;
    let warm_calls: usize = arguments.next().map_or(Ok(2000), |n| n.parse())?;
    let cold_calls: usize = arguments.next().map_or(Ok(10), |n| n.parse())?;
    let component = std::fs::read(&wasm_path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(&component, warm_calls, cold_calls))
}

async fn measure(
    component: &[u8],
    warm_calls: usize,
    cold_calls: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let host = ModuleHost::new(Arc::new(NoEgress), BodyLimits::default())?;
    let grants = Grants::compute_only(64, 5_000);

    assert_eq!(native_add(ARGUMENTS).as_deref(), Ok("42"));
    let native = sample(warm_calls, || {
        let answer = native_add(black_box(ARGUMENTS));
        let _ = black_box(answer);
    });

    let mut cold = Vec::with_capacity(cold_calls);
    for _ in 0..cold_calls {
        let started = Instant::now();
        let prepared = host.prepare(component)?;
        let answer = host.call(&prepared, &grants, "add", ARGUMENTS).await?;
        cold.push(started.elapsed());
        assert_eq!(answer, "42");
    }

    let prepared = host.prepare(component)?;
    for _ in 0..20 {
        host.call(&prepared, &grants, "add", ARGUMENTS).await?;
    }
    let mut warm = Vec::with_capacity(warm_calls);
    for _ in 0..warm_calls {
        let started = Instant::now();
        let answer = host.call(&prepared, &grants, "add", ARGUMENTS).await?;
        warm.push(started.elapsed());
        black_box(answer);
    }

    let native_median = median(&native);
    println!(
        "calls: warm {warm_calls}, cold {cold_calls}; component {} bytes",
        component.len()
    );
    report("native add", &native, native_median);
    report("module warm", &warm, native_median);
    report("module cold", &cold, native_median);
    let added = median(&warm).saturating_sub(native_median);
    println!(
        "warm added latency: {:.3} ms (target <= 1 ms: {})",
        added.as_secs_f64() * 1e3,
        if added <= Duration::from_millis(1) {
            "met"
        } else {
            "missed"
        }
    );
    Ok(())
}

/// The built-in equivalent of the guest's `add`.
fn native_add(arguments: &str) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_str(arguments).map_err(|error| error.to_string())?;
    let number = |name: &str| value[name].as_i64().ok_or("not an integer");
    Ok((number("a")? + number("b")?).to_string())
}

fn sample(count: usize, mut work: impl FnMut()) -> Vec<Duration> {
    (0..count)
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
    let index = (sorted.len().saturating_sub(1) * percent) / 100;
    sorted.get(index).copied().unwrap_or_default()
}

fn report(name: &str, samples: &[Duration], native_median: Duration) {
    let median = median(samples);
    let ratio = median.as_secs_f64() / native_median.as_secs_f64().max(1e-9);
    println!(
        "{name:<12} median {:>10.1} µs  p99 {:>10.1} µs  {:>10.0}x native",
        median.as_secs_f64() * 1e6,
        percentile(samples, 99).as_secs_f64() * 1e6,
        ratio
    );
}
