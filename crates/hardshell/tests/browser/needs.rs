//! What the browser test runs against, found or refused up front: a test that
//! needs a real server or program fails, naming `scripts/test`, when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's Chromium, the browser driven; playwright-core never downloads one.
pub const CHROMIUM: &str = "/usr/bin/chromium";

const HOW: &str = "run the suite with scripts/test, which installs chromium, node and \
                   playwright-core and starts the local model server";

/// The local OpenAI-compatible model server that `scripts/services.sh` starts.
pub struct ModelServer {
    pub url: String,
}

pub fn model_server() -> ModelServer {
    let url = std::env::var("HARDSHELL_TEST_LLM_URL").unwrap_or_else(|_| {
        panic!("HARDSHELL_TEST_LLM_URL is not set, so there is no model server: {HOW}")
    });
    assert!(
        std::env::var("HARDSHELL_TEST_LLM_KEY").is_ok(),
        "HARDSHELL_TEST_LLM_KEY is not set: {HOW}"
    );
    ModelServer { url }
}

/// The directory npm installed playwright-core into (`$INFRA/node`).
pub fn playwright_home() -> PathBuf {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: {HOW}");
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|output| output.status.success()),
        "node is missing: {HOW}"
    );
    let infra = std::env::var("INFRA")
        .unwrap_or_else(|_| panic!("INFRA is not set, so playwright-core cannot be found: {HOW}"));
    let home = PathBuf::from(infra).join("node");
    assert!(
        home.join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is not installed under {}: {HOW}",
        home.display()
    );
    home
}

/// `scripts/browser-chat.mjs` in this checkout.
pub fn browser_script() -> PathBuf {
    // As `cargo test` says when it runs the test: a path baked in at
    // compile time can be another checkout's (a shared build cache).
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
        .join("../../scripts/browser-chat.mjs")
}

/// `<target>/artifacts/browser/`, kept after the run (the target directory is
/// wherever cargo built the binary, so `CARGO_TARGET_DIR` is respected).
pub fn artifacts() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_hardshell"));
    let target = binary
        .parent()
        .and_then(Path::parent)
        .expect("the hardshell binary lives in <target>/<profile>/");
    let dir = target.join("artifacts").join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
