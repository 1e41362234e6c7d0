//! Step 7b: the locked modules, when the agent runs. Each is loaded from
//! the lock (its stored bytes against the accepted digest, its signature
//! against today's `[modules]`, its capabilities against the accepted copy);
//! one that fails is left out, said in the log and recorded as refused, and
//! the rest start. Each gets a runner (its host process in a shell of its
//! own, started at its first call) and a broker of its own; its tools are
//! offered to the agent, and every call is checked against the lock,
//! recorded (module, tool, package, session, outcome, never the
//! arguments) and, for a module that reaches the network, marks the
//! conversation as having read untrusted content, as browsing does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use futures::future::BoxFuture;
use hardshell_audit::event::{ModuleCalled, ModuleOutcome, ModuleRefused};
use hardshell_audit::{AuditEvent, AuditLog};
use hardshell_broker::secrets::LiveScanner;
use hardshell_config::LoadedConfig;
use hardshell_edge::ModuleCalls;
use hardshell_modules::{ENTRY_POINT, LockedModule, ModuleName, Modules, TrustPolicy};
use hardshell_protocol::{
    ModuleAnswer, ModuleCallRequest, ModuleFailure, ModuleToolSettings, SessionId,
};
use hardshell_secrets::SecretStore;
use hardshell_shells::{ModuleLimits, ModuleRunner, ModuleShells, ModuleSpec};
use hardshell_storage::ObjectKey;

use super::{ShellHost, Storage};

/// The longest name a model provider takes for a tool.
const MAX_TOOL_NAME: usize = 64;

/// The modules that run, for the agent.
pub struct RunningModules {
    pub service: Arc<ModuleService>,
    /// Their tools, for the agent's settings.
    pub tools: Vec<ModuleToolSettings>,
}

/// Loads every locked module and makes its runner; `None` when the lock
/// holds none.
pub async fn start_modules(
    loaded: &LoadedConfig,
    storage: &Storage,
    secrets: &SecretStore,
    host: &ShellHost,
    scanner: Arc<LiveScanner>,
    untrusted: Option<Arc<hardshell_exec::UntrustedSessions>>,
) -> anyhow::Result<Option<RunningModules>> {
    let policy = TrustPolicy::from_config(&loaded.config.modules)?;
    let modules = Modules::new(
        storage.store.root().scope(&ObjectKey::parse("modules")?)?,
        policy,
    );
    let locked = modules.list().await.context("reading the module lock")?;
    if locked.is_empty() {
        return Ok(None);
    }
    let shells = ModuleShells::new(
        host.launcher.clone(),
        crate::module_host_image::MODULE_HOST_IMAGE,
        loaded.data_dir().join("run").join("modules"),
        ModuleLimits {
            cpu_percent: loaded.config.shell.cpu_percent,
            tmp_bytes: loaded.config.shell.tmp_mb << 20,
        },
    )
    .context("preparing the module shells' directory")?;
    let shells = match &host.workspaces {
        Some(workspaces) => shells.with_workspaces(workspaces.clone()),
        None => shells,
    };
    let internal = &loaded.config.dangerous.egress_internal;
    let own = super::browser::own_addresses()?;
    let mut running = BTreeMap::new();
    let mut tools = Vec::new();
    for entry in locked {
        let name = entry.name.clone();
        let module = match modules.load(&name).await {
            Ok(module) => module,
            Err(e) => {
                tracing::error!(module = %name, error = %e, "a locked module does not load; it is left out");
                if let Some(reason) = e.refusal() {
                    storage.audit.note(AuditEvent::ModuleRefused(ModuleRefused {
                        module: Some(name.clone()),
                        package: Some(entry.package),
                        reason,
                        actor: None,
                    }));
                }
                continue;
            }
        };
        let Some(component) = module.verified.file(ENTRY_POINT) else {
            tracing::error!(module = %name, "a locked module has no component; it is left out");
            continue;
        };
        let capabilities = &module.locked.capabilities;
        let names: Vec<_> = capabilities
            .secrets
            .iter()
            .map(|used| used.name.clone())
            .collect();
        let values = hardshell_egress::BoundValues::follow_names(
            &names,
            secrets,
            hardshell_broker::secrets::CHECK_EVERY,
        )
        .await?;
        for missing in names.iter().filter(|n| values.get(n.as_str()).is_none()) {
            tracing::warn!(module = %name, secret = %missing, "a module's secret is not in the secret store: its placeholder is refused until `hardshell secret put` stores it");
        }
        let broker = match hardshell_egress::module_broker(
            hardshell_egress::ModuleEgress {
                capabilities,
                internal,
                own: &own,
                secret: Arc::new(move |secret| values.get(secret)),
            },
            scanner.clone(),
            storage.audit.clone(),
        ) {
            Ok(broker) => broker,
            Err(e) => {
                tracing::error!(module = %name, error = %e, "a module's broker cannot be made; it is left out");
                continue;
            }
        };
        let runner = match shells.runner(ModuleSpec {
            name: name.as_str(),
            component,
            grants: capabilities.grants(),
            broker: Arc::new(broker),
        }) {
            Ok(runner) => runner,
            Err(e) => {
                tracing::error!(module = %name, error = %e, "a module's component cannot be written for its shell; it is left out");
                continue;
            }
        };
        for tool in &module.locked.tools {
            let offered = format!("{name}__{}", tool.name);
            if offered.len() > MAX_TOOL_NAME {
                tracing::warn!(module = %name, tool = %tool.name, "a module's tool is not offered: `<module>__<tool>` is longer than {MAX_TOOL_NAME} characters");
                continue;
            }
            tools.push(ModuleToolSettings {
                module: name.to_string(),
                tool: tool.name.clone(),
                name: offered,
                description: tool.description.clone(),
                parameters: tool.parameters.clone(),
            });
        }
        tracing::info!(module = %name, package = %module.locked.package, "module ready");
        running.insert(
            name,
            Loaded {
                locked: module.locked,
                runner,
            },
        );
    }
    Ok(Some(RunningModules {
        service: Arc::new(ModuleService {
            modules: running,
            audit: storage.audit.clone(),
            untrusted,
        }),
        tools,
    }))
}

/// One module that loaded: what was accepted, and its runner.
struct Loaded {
    locked: LockedModule,
    runner: ModuleRunner,
}

/// The agent's module calls (see the module).
pub struct ModuleService {
    modules: BTreeMap<ModuleName, Loaded>,
    audit: Arc<AuditLog>,
    untrusted: Option<Arc<hardshell_exec::UntrustedSessions>>,
}

impl ModuleService {
    /// Stops every module's shell.
    pub async fn stop(&self) {
        for module in self.modules.values() {
            module.runner.stop().await;
        }
    }

    async fn run(self: Arc<Self>, request: ModuleCallRequest) -> ModuleAnswer {
        // What the agent says is checked before anything is recorded: a
        // session id by its rule, the module and tool against the lock.
        let Ok(session) = SessionId::parse(&request.session) else {
            return refused("the session id is not one");
        };
        let Some(module) = ModuleName::parse(&request.module)
            .ok()
            .and_then(|name| self.modules.get_key_value(&name))
        else {
            return refused("no module of that name is loaded");
        };
        let (name, loaded) = module;
        let Some(tool) = loaded
            .locked
            .tools
            .iter()
            .find(|tool| tool.name == request.tool)
        else {
            return refused("the module has no tool of that name");
        };
        if !request.arguments.is_object() {
            return refused("the arguments must be a JSON object");
        }
        let capabilities = &loaded.locked.capabilities;
        if (!capabilities.hosts.is_empty() || capabilities.public_web)
            && let Some(untrusted) = &self.untrusted
        {
            // Marked before the call: what it reads is the network's.
            untrusted.mark(session.as_str());
        }
        let started = Instant::now();
        let answer = loaded
            .runner
            .call(session.as_str(), &tool.name, &request.arguments.to_string())
            .await;
        self.audit.note(AuditEvent::ModuleCalled(ModuleCalled {
            module: name.clone(),
            tool: tool.name.clone(),
            package: loaded.locked.package,
            session: session.to_string(),
            outcome: outcome(&answer),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }));
        answer
    }
}

impl ModuleCalls for ModuleService {
    fn call(self: Arc<Self>, request: ModuleCallRequest) -> BoxFuture<'static, ModuleAnswer> {
        Box::pin(self.run(request))
    }
}

fn refused(message: &str) -> ModuleAnswer {
    ModuleAnswer::Failed {
        failure: ModuleFailure::Refused,
        message: message.to_owned(),
    }
}

fn outcome(answer: &ModuleAnswer) -> ModuleOutcome {
    match answer {
        ModuleAnswer::Answered { .. } => ModuleOutcome::Answered,
        ModuleAnswer::Failed { failure, .. } => match failure {
            ModuleFailure::Timeout => ModuleOutcome::Timeout,
            ModuleFailure::Memory => ModuleOutcome::Memory,
            ModuleFailure::Denied => ModuleOutcome::Denied,
            ModuleFailure::Trap => ModuleOutcome::Trap,
            ModuleFailure::Tool => ModuleOutcome::Tool,
            ModuleFailure::TooLarge => ModuleOutcome::TooLarge,
            ModuleFailure::Refused => ModuleOutcome::Refused,
        },
    }
}
