//! How `hardshell up` puts the crates together, as named steps in the order
//! they run (linkerd's `app` crate is the model). Each step takes what it
//! needs as arguments and returns a typed value the later steps are given,
//! so the dependency order is the order of the calls in `commands/up.rs`
//! and nothing is filled in late.
//!
//! 1. [`check_host`]: warnings for `[dangerous]` and `[exec]`, the open-file limit.
//! 2. [`open_secrets`] and [`open_storage`]: the master key and the secret
//!    store ([`storage::Secrets`]), then, with the credentials the config
//!    names, the state store, the edge's identity and the audit log
//!    ([`Storage`]).
//! 3. [`listen_addr`] and [`oidc_client_secret`]: where the edge may listen,
//!    the credentials the edge itself holds.
//! 4. [`prepare_shells`]: the socket paths, the launcher, stale cgroups, the
//!    workspace volumes and the exec broker's directory ([`ShellHost`]).
//! 5. [`build_egress`]: the model gateway (providers' keys resolved) and the
//!    leak scanner, which takes the credentials whole ([`Egress`]).
//! 6. [`build_exec`]: the exec tool's shells, broker and service;
//!    [`build_browser`], with `[browser] enabled`: the browser pool (each
//!    session's Chromium in its own shell) and its CDP service.
//! 7. [`prepare_channels`] (their tokens read by [`channel_secrets`] with
//!    the other credentials, before step 5): the chat channels' dispatchers
//!    and webhook routes; [`bind_edge`]: the edge, listening
//!    ([`edge::Listening`]); [`print_setup_link`]; then the channels joined
//!    to the edge's turns and started ([`PreparedChannels::start`]).
//! 8. [`start_modules`]: the locked modules, each loaded and checked again,
//!    its runner and broker made ([`RunningModules`]); [`start_agent_shell`]:
//!    the agent's sockets, broker, workspace volume and its shell under the
//!    supervisor ([`AgentShell`]), offered the modules' tools; or, with `[workload]`,
//!    [`prepare_workload`] (before the edge binds: the image, the state's
//!    lease and restore, its broker and inbound socket) and
//!    [`start_workload`].
//! 9. [`serve`]: until a signal ([`Signals`]; a SIGHUP only when the config
//!    on disk passes `up --check`), then stop the channels (each after the
//!    message it is handling), the agent, and unmount the volumes. After a
//!    SIGHUP, `up` then execs itself again: the same pid, the new config.

mod agent_shell;
mod browser;
mod channels;
mod edge;
mod egress;
mod exec;
mod host;
mod modules;
mod parts;
mod serve;
mod shells;
mod storage;
mod workload;

pub use agent_shell::{AgentBrowser, AgentShell, start_agent_shell};
pub use browser::build_browser;
pub use channels::{RunningChannels, channel_secrets, prepare_channels};
pub use edge::{Behind, bind_edge, listen_addr, oidc_client_secret, print_setup_link};
pub use egress::{Egress, build_egress, check_egress_credentials};
pub use exec::build_exec;
pub use host::check_host;
pub use modules::{ModuleService, RunningModules, start_modules};
pub use parts::modules_part;
pub use serve::{Ending, ReloadCheck, Signals, serve, stop_signals_blocked};
pub use shells::{ShellHost, open_volumes, prepare_shells};
pub use storage::{Storage, open_secrets, open_storage};
pub use workload::{
    NAME as WORKLOAD_NAME, edge_config, mount_state, prepare_workload, registry_credential,
    start_workload,
};
