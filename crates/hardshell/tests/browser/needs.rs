//! What the browser test runs against, found or refused up front: a test that
//! needs a real server or program fails, naming `scripts/test`, when it is missing.

use std::path::{Path, PathBuf};

const HOW: &str = "run the suite with scripts/test, which starts the local model server";

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
