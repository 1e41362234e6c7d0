//! The routes of both sockets as values, so the server matches the very
//! paths its client builds. An agent route carries its method; the control
//! socket's server checks each route's method itself, as the table says
//! (what it answers to a wrong one differs by route).
//!
//! The agent's socket (the edge is the client, `hardshell agent` the server):
//!
//! ```text
//! POST /v1/turn                  TurnRequest -> 200 application/x-ndjson, a TurnLine a line
//! GET  /v1/sessions              -> Vec<SessionSummary>
//! GET  /v1/sessions/<id>?limit=N -> Vec<StoredMessage>
//! GET  /v1/health                -> 200
//! ```
//!
//! The control socket (the agent is the client, the edge the server):
//!
//! ```text
//! *    /storage/v1/...                     the workload's state (hardshell-storage's remote store)
//! GET  /agent/v1/settings                  -> AgentSettings
//! POST /agent/v1/switch      SwitchReport  -> 204
//! POST /exec/v1/run          ExecRequest   -> ExecAnswer (Ran, Pending or Refused)
//! POST /exec/v1/approvals/<id>/wait        -> ExecAnswer (Ran or Refused), once the owner answered
//! POST /modules/v1/call   ModuleCallRequest -> ModuleAnswer
//! ```

use http::Method;

const HEALTH: &str = "/v1/health";
const TURN: &str = "/v1/turn";
const SESSIONS: &str = "/v1/sessions";
const LIMIT: &str = "limit=";

const SETTINGS: &str = "/agent/v1/settings";
const SWITCH: &str = "/agent/v1/switch";
const EXEC: &str = "/exec/v1/";
const EXEC_RUN: &str = "run";
const EXEC_SEND_FILE: &str = "files/send";
const APPROVALS: &str = "approvals/";
const WAIT: &str = "/wait";
const MODULE_CALL: &str = "/modules/v1/call";

/// A request on the agent's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentRoute<'a> {
    Health,
    Turn,
    Sessions,
    /// A session's messages, at most `limit` of the newest (the server's
    /// own bound when absent).
    History {
        session: &'a str,
        limit: Option<usize>,
    },
}

impl<'a> AgentRoute<'a> {
    /// The route a request names, if any: method and path must both match.
    /// A `limit` that is not a number counts as absent.
    pub fn parse(method: &Method, path: &'a str, query: Option<&str>) -> Option<Self> {
        let route = match path {
            HEALTH => AgentRoute::Health,
            TURN => AgentRoute::Turn,
            SESSIONS => AgentRoute::Sessions,
            _ => AgentRoute::History {
                session: path.strip_prefix(SESSIONS)?.strip_prefix('/')?,
                limit: query
                    .and_then(|query| query.strip_prefix(LIMIT))
                    .and_then(|n| n.parse().ok()),
            },
        };
        (route.method() == method).then_some(route)
    }

    pub fn method(&self) -> Method {
        match self {
            AgentRoute::Turn => Method::POST,
            AgentRoute::Health | AgentRoute::Sessions | AgentRoute::History { .. } => Method::GET,
        }
    }

    /// The path and query a client sends.
    pub fn path_and_query(&self) -> String {
        match self {
            AgentRoute::Health => HEALTH.to_owned(),
            AgentRoute::Turn => TURN.to_owned(),
            AgentRoute::Sessions => SESSIONS.to_owned(),
            AgentRoute::History {
                session,
                limit: None,
            } => format!("{SESSIONS}/{session}"),
            AgentRoute::History {
                session,
                limit: Some(limit),
            } => format!("{SESSIONS}/{session}?{LIMIT}{limit}"),
        }
    }
}

/// A request on the control socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRoute<'a> {
    /// The workload's state: `rest` is the remote store's own path
    /// (`object/<key>`, `list`).
    Storage {
        rest: &'a str,
    },
    Settings,
    Switch,
    ExecRun,
    /// The wait for the owner's answer to question `approval`.
    ExecWait {
        approval: &'a str,
    },
    /// The agent shares a file of its session's workspace (`send_file`).
    ExecSendFile,
    /// A tool of a locked module.
    ModuleCall,
}

impl<'a> ControlRoute<'a> {
    /// The route a path names, if any; its method is the server's to check.
    pub fn parse(path: &'a str) -> Option<Self> {
        if let Some(rest) = path
            .strip_prefix(hardshell_storage::remote_protocol::PATH_PREFIX)
            .and_then(|rest| rest.strip_prefix('/'))
        {
            return Some(ControlRoute::Storage { rest });
        }
        match path {
            SETTINGS => return Some(ControlRoute::Settings),
            SWITCH => return Some(ControlRoute::Switch),
            MODULE_CALL => return Some(ControlRoute::ModuleCall),
            _ => {}
        }
        match path.strip_prefix(EXEC)? {
            EXEC_RUN => Some(ControlRoute::ExecRun),
            EXEC_SEND_FILE => Some(ControlRoute::ExecSendFile),
            rest => Some(ControlRoute::ExecWait {
                approval: rest.strip_prefix(APPROVALS)?.strip_suffix(WAIT)?,
            }),
        }
    }

    /// Whether it is one of the `exec` tool's routes (under `/exec/v1/`).
    pub fn is_exec(&self) -> bool {
        matches!(
            self,
            ControlRoute::ExecRun | ControlRoute::ExecWait { .. } | ControlRoute::ExecSendFile
        )
    }

    /// The path a client sends.
    pub fn path(&self) -> String {
        match self {
            ControlRoute::Storage { rest } => {
                format!("{}/{rest}", hardshell_storage::remote_protocol::PATH_PREFIX)
            }
            ControlRoute::Settings => SETTINGS.to_owned(),
            ControlRoute::Switch => SWITCH.to_owned(),
            ControlRoute::ExecRun => format!("{EXEC}{EXEC_RUN}"),
            ControlRoute::ExecWait { approval } => format!("{EXEC}{APPROVALS}{approval}{WAIT}"),
            ControlRoute::ExecSendFile => format!("{EXEC}{EXEC_SEND_FILE}"),
            ControlRoute::ModuleCall => MODULE_CALL.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_routes_are_the_paths_they_always_were() {
        for (route, path) in [
            (AgentRoute::Health, "/v1/health"),
            (AgentRoute::Turn, "/v1/turn"),
            (AgentRoute::Sessions, "/v1/sessions"),
            (
                AgentRoute::History {
                    session: "web-abc",
                    limit: Some(500),
                },
                "/v1/sessions/web-abc?limit=500",
            ),
            (
                AgentRoute::History {
                    session: "web-abc",
                    limit: None,
                },
                "/v1/sessions/web-abc",
            ),
        ] {
            assert_eq!(route.path_and_query(), path);
            let (path, query) = match path.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (path, None),
            };
            assert_eq!(AgentRoute::parse(&route.method(), path, query), Some(route));
        }
    }

    #[test]
    fn an_agent_route_needs_its_method_and_a_known_path() {
        assert_eq!(AgentRoute::parse(&Method::GET, "/v1/turn", None), None);
        assert_eq!(AgentRoute::parse(&Method::POST, "/v1/sessions", None), None);
        assert_eq!(AgentRoute::parse(&Method::GET, "/v1/sessionsX", None), None);
        assert_eq!(AgentRoute::parse(&Method::GET, "/v2/health", None), None);
        assert_eq!(
            AgentRoute::parse(&Method::GET, "/v1/sessions/web-a", Some("limit=lots")),
            Some(AgentRoute::History {
                session: "web-a",
                limit: None
            })
        );
    }

    #[test]
    fn control_routes_are_the_paths_they_always_were() {
        for (route, path) in [
            (
                ControlRoute::Storage {
                    rest: "object/sessions/web-a/meta",
                },
                "/storage/v1/object/sessions/web-a/meta",
            ),
            (ControlRoute::Settings, "/agent/v1/settings"),
            (ControlRoute::Switch, "/agent/v1/switch"),
            (ControlRoute::ExecRun, "/exec/v1/run"),
            (ControlRoute::ExecSendFile, "/exec/v1/files/send"),
            (ControlRoute::ModuleCall, "/modules/v1/call"),
            (
                ControlRoute::ExecWait { approval: "a1b2" },
                "/exec/v1/approvals/a1b2/wait",
            ),
        ] {
            assert_eq!(route.path(), path);
            assert_eq!(ControlRoute::parse(path), Some(route));
        }
    }

    #[test]
    fn unknown_control_paths_name_no_route() {
        for path in [
            "/",
            "/storage/v1",
            "/storage/v2/object/x",
            "/agent/v1/settings/",
            "/agent/v1/other",
            "/exec/v1/",
            "/exec/v1/runs",
            "/exec/v1/files/send/",
            "/exec/v1/files",
            "/exec/v1/approvals/a1",
            "/exec/v1/approval/a1/wait",
            "/llm/anthropic/v1/messages",
        ] {
            assert_eq!(ControlRoute::parse(path), None, "{path}");
        }
    }
}
