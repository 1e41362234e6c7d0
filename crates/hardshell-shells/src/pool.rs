//! Exec shells prepared ahead (`hardshell_sandbox::prepare`): a command
//! takes one that is ready and hands it its run, so it does not wait for the
//! kernel to make namespaces, cgroups and a root (measured by
//! `bench/shell.sh`). Each shell runs one command and ends with it.
//!
//! The pool fills after a run, in the background, with shells shaped like
//! that run's policy (see `Prepared::fits`), and each shell it holds ends
//! after [`IDLE`] without a run: an agent that runs no commands has none
//! waiting, and its idle memory is what it was. A shell that cannot be
//! prepared is logged and not retried until the next run; that run, and any
//! while none is ready, starts cold, as every run did before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hardshell_sandbox::{Launcher, Prepared, ShellPolicy};

/// How long a prepared shell waits for a run before it is ended.
pub const IDLE: Duration = Duration::from_secs(300);

/// Shells prepared ahead; cheap to clone (one pool).
#[derive(Debug, Clone)]
pub struct ShellPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    launcher: Arc<Launcher>,
    /// Shells kept ready, at most.
    size: usize,
    idle: Duration,
    state: Mutex<State>,
    next: AtomicU64,
    /// Runs given a prepared shell so far.
    handed: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    ready: Vec<(u64, Prepared)>,
    /// Being prepared now.
    preparing: usize,
}

impl ShellPool {
    /// A pool of at most `size` shells started by `launcher` (0: none is
    /// ever prepared), each ended after `idle` without a run ([`IDLE`] in
    /// the edge).
    pub fn new(launcher: Arc<Launcher>, size: usize, idle: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                launcher,
                size,
                idle,
                state: Mutex::new(State::default()),
                next: AtomicU64::new(0),
                handed: AtomicU64::new(0),
            }),
        }
    }

    /// A ready shell that fits `policy`, if one is; either way the pool is
    /// filled again in the background with shells shaped like it.
    pub fn take(&self, policy: &ShellPolicy) -> Option<Prepared> {
        let taken = {
            let mut state = self.state();
            let position = state
                .ready
                .iter()
                .position(|(_, prepared)| prepared.fits(policy));
            position.map(|at| state.ready.swap_remove(at).1)
        };
        self.fill(policy);
        if taken.is_some() {
            self.inner.handed.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    /// Runs given a prepared shell so far (for the admin page and tests).
    pub fn handed(&self) -> u64 {
        self.inner.handed.load(Ordering::Relaxed)
    }

    /// Shells ready now.
    pub fn ready(&self) -> usize {
        self.state().ready.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a list of shells, still
        // consistent: each entry is whole.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts preparing shells shaped like `template` until the ready and
    /// the preparing ones make the pool's size. Ready shells of another shape
    /// are ended: the next run is more likely to look like this one.
    fn fill(&self, template: &ShellPolicy) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (wanted, stale) = {
            let mut state = self.state();
            let (fitting, stale): (Vec<_>, Vec<_>) = std::mem::take(&mut state.ready)
                .into_iter()
                .partition(|(_, prepared)| prepared.fits(template));
            state.ready = fitting;
            let wanted = self
                .inner
                .size
                .saturating_sub(state.ready.len() + state.preparing);
            state.preparing += wanted;
            (wanted, stale)
        };
        for (_, prepared) in stale {
            runtime.spawn(prepared.discard());
        }
        for _ in 0..wanted {
            let pool = self.clone();
            let template = template.clone();
            runtime.spawn(pool.prepare_one(template));
        }
    }

    async fn prepare_one(self, template: ShellPolicy) {
        let prepared = hardshell_sandbox::prepare(&self.inner.launcher, &template).await;
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = self.state();
            state.preparing = state.preparing.saturating_sub(1);
            match prepared {
                Ok(prepared) => state.ready.push((id, prepared)),
                Err(e) => {
                    tracing::warn!(error = %e, "an exec shell could not be prepared ahead; runs start cold");
                    return;
                }
            }
        }
        // Unused for `idle`, it ends. The timer does not keep the pool: a
        // pool dropped meanwhile ends its shells as it goes.
        let idle = self.inner.idle;
        let pool = Arc::downgrade(&self.inner);
        drop(self);
        tokio::time::sleep(idle).await;
        let Some(inner) = pool.upgrade() else {
            return;
        };
        let expired = {
            let pool = Self { inner };
            let mut state = pool.state();
            let position = state.ready.iter().position(|(entry, _)| *entry == id);
            position.map(|at| state.ready.swap_remove(at).1)
        };
        if let Some(prepared) = expired {
            prepared.discard().await;
        }
    }

    /// Ends every ready shell (the edge stopping), returning once they are
    /// gone.
    pub async fn drain(&self) {
        let ready = std::mem::take(&mut self.state().ready);
        for (_, prepared) in ready {
            prepared.discard().await;
        }
    }
}
