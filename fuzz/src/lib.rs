//! Fixtures shared by the fuzz targets: a runtime for the async entry points and
//! a real local object store. Built once per fuzzing process, not per input.
#![forbid(unsafe_code)]

pub mod chain;

use std::path::PathBuf;
use std::sync::OnceLock;

use hardshell_storage::{LocalOptions, Location, MasterKey, Scope, Sealing, Store};

/// One current-thread runtime per process: libFuzzer calls a target from one
/// thread, and a runtime per input would cost more than most inputs.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("fuzz fixture: tokio runtime: {e}"))
    })
}

/// A master key fixed for the whole run, so inputs replay the same way.
pub fn fixed_master_key() -> MasterKey {
    MasterKey::from_hex(&"42".repeat(32))
        .unwrap_or_else(|| panic!("fuzz fixture: the fixed master key is not 64 hex digits"))
}

/// Where [`local_store`] puts its directories, if set (scripts/fuzz-smoke sets
/// it to a directory it removes afterwards).
pub const STORE_DIR_ENV: &str = "HARDSHELL_FUZZ_STORE_DIR";

/// The root scope of a sealed local store in a directory of its own: under
/// `$HARDSHELL_FUZZ_STORE_DIR`, else on tmpfs when there is one (the local
/// backend fsyncs every write). `name` keeps two targets running at once apart;
/// the process id keeps two runs apart.
pub fn local_store(name: &str) -> Scope {
    let base = match std::env::var_os(STORE_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None if std::path::Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    };
    let dir = base.join(format!("hardshell-fuzz-{name}-{}", std::process::id()));
    // Left over from a crashed run with the same pid, or absent: either is fine.
    let _ = std::fs::remove_dir_all(&dir);
    let options = LocalOptions {
        objects: dir.join("objects"),
        locks: dir.join("locks"),
    };
    let store = runtime()
        .block_on(Store::open(
            &Location::Local(options),
            Sealing::Envelope(fixed_master_key()),
        ))
        .unwrap_or_else(|e| panic!("fuzz fixture: local store in {}: {e}", dir.display()));
    store.root()
}

/// Splits `data` at the first `separator` byte: the fuzzer learns the separator
/// quickly, and both halves stay easy to mutate.
pub fn split_at_byte(data: &[u8], separator: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == separator) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}
