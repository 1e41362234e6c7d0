//! `hardshell agent`: the built-in agent as its own process, started by
//! `hardshell up`. It holds no key and reads no config: settings come from the
//! edge and state goes through the edge's storage service, both on the control
//! socket it is given (`hardshell_protocol`'s [`ControlRoute`]s); models are
//! reached through its shell's broker.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hardshell_agent::builtin::browser::{
    Browser, BrowserConnector, BrowserError, BrowserLimits, BrowserSocket, handshake,
};
use hardshell_agent::builtin::{
    CommandRunner, Exec, FileSender, ModuleCaller, ModuleTool, SendFile,
};
use hardshell_agent::{
    Agent, AgentConfig, AgentParts, ChainModel, ChatStream, Memory, Model, ModelError,
    OwnerTimeZone, SessionStore, SystemClock, ToolRegistry, Workspace,
    builtin::register_builtin_tools,
};
use hardshell_llm::ChatRequest;
use hardshell_protocol::socket::{BROWSER_SOCKET, EDGE_HOST, browser_path};
use hardshell_protocol::{
    AgentSettings, ControlRoute, ExecAnswer, ExecRequest, ModuleAnswer, ModuleCallRequest,
    SendFileAnswer, SendFileRequest, SwitchReport,
};
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
        // Sharing a file reads the workspace the commands write: offered
        // with them.
        let sender = EdgeRunner::new(
            &args.control_socket,
            Duration::from_secs(settings.turn_timeout_secs),
        )?;
        tools.register(SendFile::new(sender))?;
    }
    if let Some(browser) = settings.browser.clone() {
        // The edge's CDP proxy listens beside its control socket.
        let connector = EdgeBrowser {
            socket: args.control_socket.with_file_name(BROWSER_SOCKET),
        };
        tools.register(Browser::new(connector, browser, BrowserLimits::default()))?;
    }
    for module in &settings.modules {
        // A call waits for the module's shell (its deadline is the edge's
        // to keep); the turn's own timeout bounds it here.
        let caller = EdgeRunner::new(
            &args.control_socket,
            Duration::from_secs(settings.turn_timeout_secs),
        )?;
        tools.register(ModuleTool::new(caller, module.clone()))?;
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
    tokio::spawn(crate::readiness::keep_releasing_program_pages());
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

    async fn post<Answer: serde::de::DeserializeOwned>(
        &self,
        route: ControlRoute<'_>,
        body: Option<&(impl serde::Serialize + Sync)>,
    ) -> Result<Answer, hardshell_agent::ToolError> {
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
        self.post(ControlRoute::ExecWait { approval }, None::<&ExecRequest>)
            .await
    }
}

impl ModuleCaller for EdgeRunner {
    async fn call(
        &self,
        request: &ModuleCallRequest,
    ) -> Result<ModuleAnswer, hardshell_agent::ToolError> {
        self.post(ControlRoute::ModuleCall, Some(request)).await
    }
}

impl FileSender for EdgeRunner {
    async fn send(
        &self,
        request: &SendFileRequest,
    ) -> Result<SendFileAnswer, hardshell_agent::ToolError> {
        self.post(ControlRoute::ExecSendFile, Some(request)).await
    }
}

/// The `browser` tool's way to a browser: a WebSocket over the edge's
/// browser socket, which the edge answers with a fresh, policed Chromium
/// for the conversation, ended when the WebSocket closes.
#[derive(Debug)]
struct EdgeBrowser {
    socket: PathBuf,
}

impl BrowserConnector for EdgeBrowser {
    fn connect<'a>(
        &'a self,
        session: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<BrowserSocket, BrowserError>> {
        Box::pin(async move {
            let stream = tokio::net::UnixStream::connect(&self.socket)
                .await
                .map_err(|e| BrowserError::Connect {
                    reason: format!("the edge's browser socket: {e}"),
                })?;
            let url = format!("ws://{EDGE_HOST}{}", browser_path(session));
            handshake(Box::new(stream), &url).await
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The browser tool asks the edge's browser socket for the conversation's
    /// browser, by the path and host the edge expects.
    #[tokio::test]
    // tungstenite's handshake callback returns its error response by value.
    #[allow(clippy::result_large_err)]
    async fn the_browser_is_asked_for_on_the_edge_s_socket_by_session() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join(BROWSER_SOCKET);
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let edge = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut asked = None;
            let record = |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                          response| {
                asked = Some((
                    request.uri().to_string(),
                    request.headers().get("host").cloned(),
                ));
                Ok(response)
            };
            let _socket = tokio_tungstenite::accept_hdr_async(stream, record)
                .await
                .unwrap();
            asked.unwrap()
        });
        let connector = EdgeBrowser {
            socket: socket.clone(),
        };
        connector.connect("web-abc-1").await.unwrap();
        let (path, host) = edge.await.unwrap();
        assert_eq!(path, "/cdp?session=web-abc-1");
        assert_eq!(host.unwrap(), EDGE_HOST);

        let missing = EdgeBrowser {
            socket: dir.path().join("absent.sock"),
        };
        let Err(refused) = missing.connect("web-abc-1").await else {
            panic!("connected to a socket that is not there");
        };
        assert!(
            refused
                .to_string()
                .starts_with("no browser could be started: the edge's browser socket"),
            "{refused}"
        );
    }
}
