//! What the admin page shows of the parts the edge runs beside but does not
//! own (`hardshell_edge::PartStatus`): the modules the lock accepted, with
//! what each may do, and the workload's image, health and state, each read
//! from its own store when the page asks.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context as _;
use hardshell_config::LoadedConfig;
use hardshell_edge::{Part, PartStatus};
use hardshell_modules::{Modules, TrustPolicy};
use hardshell_storage::{ObjectKey, Scope, Store};
use hardshell_workload::Status;
use tokio::sync::watch;

use crate::terminal::one_line;

type Reading<'a> = Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send + 'a>>;

/// The module lock, as accepted: a module's name, publisher and tools are its
/// author's words, which the page shows as untrusted text.
struct ModulesPart {
    modules: Modules,
}

impl PartStatus for ModulesPart {
    fn read(&self) -> Reading<'_> {
        Box::pin(async move {
            let locked = self
                .modules
                .list()
                .await
                .map_err(|e| one_line(&format!("reading the module lock: {e}")).into_owned())?;
            Ok(serde_json::json!({ "modules": locked }))
        })
    }
}

/// The modules' part: the lock in the state store's `modules` scope.
pub fn modules_part(loaded: &LoadedConfig, store: &Store) -> anyhow::Result<Part> {
    let policy = TrustPolicy::from_config(&loaded.config.modules)?;
    let scope = store.root().scope(&ObjectKey::parse("modules")?)?;
    Ok(Part {
        name: "modules",
        status: Arc::new(ModulesPart {
            modules: Modules::new(scope, policy),
        }),
    })
}

/// The image the workload runs, what its probes say, and its state as the
/// store keeps it.
pub(crate) struct WorkloadPart {
    pub image: serde_json::Value,
    pub health: watch::Receiver<Status>,
    /// The scope of its synced state, with `state_dir`.
    pub state: Option<Scope>,
}

impl PartStatus for WorkloadPart {
    fn read(&self) -> Reading<'_> {
        Box::pin(async move {
            let health = self.health.borrow().word();
            let state = match &self.state {
                Some(scope) => Some(
                    state_view(scope)
                        .await
                        .map_err(|e| one_line(&format!("{e:#}")).into_owned())?,
                ),
                None => None,
            };
            Ok(serde_json::json!({
                "image": self.image,
                "health": health,
                "state": state,
            }))
        })
    }
}

async fn state_view(scope: &Scope) -> anyhow::Result<serde_json::Value> {
    let listing = hardshell_state::operator::list(scope)
        .await
        .context("reading the workload's state")?;
    let lease = listing
        .lease
        .filter(|lease| lease.is_live(chrono::Utc::now()))
        .map(|lease| serde_json::json!({ "holder": lease.holder, "expires_at": lease.expires_at }));
    let current = listing.current.map(|current| {
        serde_json::json!({
            "generation": current.generation,
            "at": current.at,
            "files": current.files,
            "bytes": current.bytes,
            "holder": current.holder,
        })
    });
    Ok(serde_json::json!({
        "lease": lease,
        "current": current,
        "snapshots": listing.snapshots.len(),
    }))
}
