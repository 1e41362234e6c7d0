//! The parts of hardshell the edge does not own (the modules, the workload),
//! read for the admin page through [`PartStatus`], which the binary's wiring
//! implements over their own crates: the edge depends on none of them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A part's view for the admin page.
pub trait PartStatus: Send + Sync {
    /// What the page shows of the part: names, digests and numbers, never a
    /// secret. An error is a one-line reason, shown to the admin as it is.
    fn read(&self) -> Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send + '_>>;
}

/// One part, by the name the page knows it by (`modules`, `workload`).
#[derive(Clone)]
pub struct Part {
    pub name: &'static str,
    pub status: Arc<dyn PartStatus>,
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
