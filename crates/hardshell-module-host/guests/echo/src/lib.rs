//! A friendly test module: tools that do what they say and touch nothing.

use std::sync::atomic::{AtomicU32, Ordering};

wit_bindgen::generate!({ path: "../../wit", world: "module" });

use exports::hardshell::module::tools::Guest;

/// Counts the calls this instance has seen: with a fresh instance per call
/// the host must always see 1.
static CALLS: AtomicU32 = AtomicU32::new(0);

struct Echo;

impl Guest for Echo {
    fn call(tool: String, arguments: String) -> Result<String, String> {
        let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
        match tool.as_str() {
            "echo" => Ok(arguments),
            "add" => add(&arguments),
            "count" => Ok(calls.to_string()),
            "refuse" => Err("this tool always refuses".to_string()),
            other => Err(format!("no tool named {other}")),
        }
    }
}

fn add(arguments: &str) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_str(arguments).map_err(|error| format!("arguments: {error}"))?;
    let number = |name: &str| {
        value[name]
            .as_i64()
            .ok_or_else(|| format!("argument {name} must be an integer"))
    };
    Ok((number("a")? + number("b")?).to_string())
}

export!(Echo);
