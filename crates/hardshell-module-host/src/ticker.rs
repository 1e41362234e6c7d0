//! The thread that advances the engine's epoch: a store's deadline is a
//! number of ticks, so without it no call would ever time out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch advances: the granularity of call deadlines. Each
/// tick costs a wake-up of one thread, nothing per call.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Ticks the engine's epoch until dropped.
#[derive(Debug)]
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_seen = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("module-epoch".into())
            .spawn(move || {
                while !stop_seen.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic in a loop of sleep and increment is not expected; if
            // it happened there is nothing left to stop.
            let _ = thread.join();
        }
    }
}
