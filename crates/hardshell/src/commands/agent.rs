//! `hardshell agent`: the built-in agent as its own process, started by
//! `hardshell up`. It holds no key and reads no config: settings come from the
//! edge and state goes through the edge's storage service, both on the control
//! socket it is given (`hardshell_protocol`'s [`ControlRoute`]s); models are
//! reached through its shell's broker.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hardshell_agent::builtin::{CommandRunner, Exec};
use hardshell_agent::{
    Agent, AgentConfig, AgentParts, ChainModel, ChatStream, Memory, Model, ModelError,
    OwnerTimeZone, SessionStore, SystemClock, ToolRegistry, Workspace,
    builtin::register_builtin_tools,
};
use hardshell_llm::ChatRequest;
use hardshell_protocol::socket::EDGE_HOST;
use hardshell_protocol::{AgentSettings, ControlRoute, ExecAnswer, ExecRequest, SwitchReport};
use hardshell_storage::{Location, RemoteOptions, Sealing, Store};
use reqwest::Method;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::AgentArgs;

pub async fn run(args: &AgentArgs) -> anyhow::Result<()> {
    let _log = crate::logging::init(
        hardshell_config::LogFormat::Text,
        hardshell_config::LogLevel::Info,
    );
    // Die with the edge: if `hardshell up` is killed (even with SIGKILL), the
    // kernel sends us SIGTERM. And if it died before this line ran, go now.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
        .context("setting the parent-death signal")?;
    if let Some(parent) = args.parent_pid
        && nix::unistd::getppid().as_raw() != parent
    {
        anyhow::bail!("the edge that started this agent (pid {parent}) is gone");
    }
    let store = Store::open(
        &Location::Remote(RemoteOptions {
            socket: args.control_socket.clone(),
        }),
        Sealing::Delegated,
    )
    .await
    .context("reaching the edge's storage service")?;
    let settings = settings(&args.control_socket).await?;
    let scope = store.root();
    let clock: Arc<dyn hardshell_agent::Clock> = Arc::new(SystemClock);
    let sessions = SessionStore::new(scope.clone(), clock.clone());
    let memory = Memory::new(scope, sessions.clone(), clock.clone());
    let mut tools = ToolRegistry::new();
    register_builtin_tools(&mut tools, &memory, clock.clone(), OwnerTimeZone::utc())?;
    if let Some(exec) = settings.exec.clone() {
        // A command's wait (the owner's answer, then the run) is bounded by the
        // edge; the turn's own timeout bounds it here.
        let runner = EdgeRunner::new(
            &args.control_socket,
            Duration::from_secs(settings.turn_timeout_secs),
        )?;
        tools.register(Exec::new(runner, exec))?;
    }
    let config = AgentConfig {
        max_steps: settings.max_steps,
        turn_timeout: Duration::from_secs(settings.turn_timeout_secs),
        max_user_message_bytes: settings.max_message_bytes,
        max_tokens: settings.max_tokens,
        ..AgentConfig::default()
    };
    let workspace = Workspace::new(args.workspace.clone());
    let agent = if settings.chain.is_empty() {
        tracing::warn!("no models configured ([llm] chain is empty): the agent will say so");
        build(NoModel, tools, sessions, workspace, clock, config)
    } else {
        let on_switch = report_switches(args.control_socket.clone());
        let model = ChainModel::through_broker(&settings.chain, &settings.model_proxy, on_switch)?;
        build(model, tools, sessions, workspace, clock, config)
    };

    let listener = listener(args.socket.as_deref())?;
    tracing::info!(models = settings.chain.len(), "agent listening");
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        () = hardshell_agent::serve::serve(listener, Arc::new(agent)) => {}
        _ = terminate.recv() => tracing::info!("agent stopping"),
        () = orphaned(args.parent_pid) => tracing::warn!("the edge is gone; agent stopping"),
    }
    Ok(())
}

/// Resolves when the agent's parent is no longer `parent`. The parent-death
/// signal is tied to the thread that spawned the agent, not the edge process;
/// this covers the cases it misses.
async fn orphaned(parent: Option<i32>) {
    let Some(parent) = parent else {
        return std::future::pending().await;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if nix::unistd::getppid().as_raw() != parent {
            return;
        }
    }
}

fn build<M: Model>(
    model: M,
    tools: ToolRegistry,
    sessions: SessionStore,
    workspace: Workspace,
    clock: Arc<dyn hardshell_agent::Clock>,
    config: AgentConfig,
) -> Agent {
    Agent::new(AgentParts {
        model,
        tools,
        sessions,
        workspace,
        clock,
        time_zone: OwnerTimeZone::utc(),
        config,
    })
}

/// The agent's settings, from the edge (the agent never reads the config).
async fn settings(control: &Path) -> anyhow::Result<AgentSettings> {
    let client = edge_client(control)?;
    let response = client
        .request(Method::GET, edge_url(ControlRoute::Settings))
        .send()
        .await
        .context("asking the edge for the agent's settings")?;
    anyhow::ensure!(
        response.status().is_success(),
        "the edge answered {} for the settings",
        response.status()
    );
    response
        .json()
        .await
        .context("reading the agent's settings")
}

/// `route` as a URL on the control socket.
fn edge_url(route: ControlRoute<'_>) -> String {
    format!("http://{EDGE_HOST}{}", route.path())
}

fn edge_client(control: &Path) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .unix_socket(control.to_owned())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// The `exec` tool's way to the edge, which decides and runs each command.
#[derive(Debug)]
struct EdgeRunner {
    client: reqwest::Client,
}

impl EdgeRunner {
    fn new(control: &Path, longest: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .unix_socket(control.to_owned())
                .no_proxy()
                .timeout(longest)
                .build()?,
        })
    }

    async fn post(
        &self,
        route: ControlRoute<'_>,
        body: Option<&ExecRequest>,
    ) -> Result<ExecAnswer, hardshell_agent::ToolError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            hardshell_agent::ToolError::failed(format!("the edge did not answer: {e}"))
        };
        let mut request = self.client.request(Method::POST, edge_url(route));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| unavailable(&e))?;
        if !response.status().is_success() {
            return Err(unavailable(&response.status()));
        }
        response.json().await.map_err(|e| unavailable(&e))
    }
}

impl CommandRunner for EdgeRunner {
    async fn request(
        &self,
        request: &ExecRequest,
    ) -> Result<ExecAnswer, hardshell_agent::ToolError> {
        self.post(ControlRoute::ExecRun, Some(request)).await
    }

    async fn wait(&self, approval: &str) -> Result<ExecAnswer, hardshell_agent::ToolError> {
        // The id came from the edge; keep it a path segment all the same.
        if !approval.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(hardshell_agent::ToolError::failed(
                "the edge sent a malformed approval id",
            ));
        }
        self.post(ControlRoute::ExecWait { approval }, None).await
    }
}

/// Tells the edge about each fallback switch, for its audit log. Best effort: a
/// lost report does not stop the turn.
fn report_switches(control: PathBuf) -> hardshell_agent::OnSwitch {
    Arc::new(move |from, to, reason| {
        let Ok(client) = edge_client(&control) else {
            return;
        };
        // (The edge checks all three before it records anything.)
        let report = SwitchReport {
            from: from.clone(),
            reason,
            to: to.clone(),
        };
        tokio::spawn(async move {
            if let Err(e) = client
                .request(Method::POST, edge_url(ControlRoute::Switch))
                .json(&report)
                .send()
                .await
            {
                tracing::warn!(error = %e, "reporting a model switch to the edge failed");
            }
        });
    })
}

/// The socket the edge reaches the agent on: the one its shell passed it
/// (the edge made it, and no path in the shell names it), else one bound at
/// `path`.
fn listener(path: Option<&Path>) -> anyhow::Result<UnixListener> {
    let inherited = hardshell_sandbox::inherited_listener()
        .context("taking the listening socket the edge passed")?;
    let listener = match (inherited, path) {
        (Some(listener), _) => listener,
        (None, Some(path)) => {
            return hardshell_broker::socket::bind(path)
                .with_context(|| format!("binding {}", path.display()));
        }
        (None, None) => anyhow::bail!("no socket to listen on: pass --socket"),
    };
    listener.set_nonblocking(true)?;
    Ok(UnixListener::from_std(listener)?)
}

/// The model when none is configured: every turn says how to configure one.
struct NoModel;

impl Model for NoModel {
    async fn stream(&self, _: ChatRequest) -> Result<ChatStream, ModelError> {
        Err(ModelError::fatal(
            "No model is configured: add [llm] chain and [llm.providers.*] to hardshell.toml.",
        ))
    }
}
