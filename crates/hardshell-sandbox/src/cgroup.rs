//! A shell's cgroups: memory, processes and CPU, through the v1 controllers
//! (one directory per controller under `/sys/fs/cgroup/<controller>/hardshell/`)
//! or the unified v2 tree (`/sys/fs/cgroup/hardshell/`), whichever the host
//! runs. Made by the supervisor before the shell starts, read after it ends
//! (to tell an out-of-memory kill from an exit), then removed.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Layer, Limits, ShellError};

const ROOT: &str = "/sys/fs/cgroup";
const PERIOD_US: u64 = 100_000;

/// One shell's cgroups.
#[derive(Debug)]
pub(crate) struct Cgroup {
    memory: PathBuf,
    pids: PathBuf,
    cpu: PathBuf,
    unified: bool,
}

impl Cgroup {
    /// Makes the shell's cgroups, with its limits set.
    pub(crate) fn create(name: &str, limits: &Limits) -> Result<Self, ShellError> {
        let fail = |what: &str, path: &Path, e: io::Error| {
            ShellError::new(
                Layer::Limits,
                format!("cgroup {what} {}: {e}", path.display()),
            )
        };
        let leaf = format!("{name}-{}", suffix());
        let unified = Path::new(ROOT).join("cgroup.controllers").exists();
        let cgroup = if unified {
            let parent = Path::new(ROOT).join("hardshell");
            make_dir(&parent).map_err(|e| fail("create", &parent, e))?;
            for dir in [Path::new(ROOT), &parent] {
                let control = dir.join("cgroup.subtree_control");
                std::fs::write(&control, "+memory +pids +cpu")
                    .map_err(|e| fail("enable controllers in", &control, e))?;
            }
            let dir = parent.join(&leaf);
            Self {
                memory: dir.clone(),
                pids: dir.clone(),
                cpu: dir,
                unified,
            }
        } else {
            let dir = |controller: &str| {
                Path::new(ROOT)
                    .join(controller)
                    .join("hardshell")
                    .join(&leaf)
            };
            Self {
                memory: dir("memory"),
                pids: dir("pids"),
                cpu: dir("cpu"),
                unified,
            }
        };
        for dir in cgroup.dirs() {
            make_dir(dir).map_err(|e| fail("create", dir, e))?;
        }
        if let Err(e) = cgroup.write_limits(&cgroup.settings(limits)) {
            // Nothing runs in it yet.
            let _ = cgroup.remove();
            return Err(e);
        }
        Ok(cgroup)
    }

    /// Changes the limits from `old` to `new` (a pooled shell's, for its
    /// run; nothing runs in it yet but its init and reaper).
    pub(crate) fn relimit(&self, old: &Limits, new: &Limits) -> Result<(), ShellError> {
        if (old.memory_bytes, old.max_pids, old.cpu_percent)
            == (new.memory_bytes, new.max_pids, new.cpu_percent)
        {
            return Ok(());
        }
        let mut settings = self.settings(new);
        // v1 refuses a memory limit above the memory-and-swap one: on a
        // raise, that one goes first.
        if !self.unified && new.memory_bytes > old.memory_bytes {
            settings.swap(0, 1);
        }
        self.write_limits(&settings)
    }

    /// `(file, value, required)`: each limit file, in the order written.
    fn settings(&self, limits: &Limits) -> Vec<(PathBuf, String, bool)> {
        let quota = u64::from(limits.cpu_percent) * PERIOD_US / 100;
        let memory = limits.memory_bytes.to_string();
        if self.unified {
            vec![
                (self.memory.join("memory.max"), memory, true),
                (self.memory.join("memory.swap.max"), "0".into(), false),
                (
                    self.pids.join("pids.max"),
                    limits.max_pids.to_string(),
                    true,
                ),
                (
                    self.cpu.join("cpu.max"),
                    format!("{quota} {PERIOD_US}"),
                    true,
                ),
            ]
        } else {
            vec![
                (
                    self.memory.join("memory.limit_in_bytes"),
                    memory.clone(),
                    true,
                ),
                // Without swap accounting (the file is absent) swap is not
                // limited; with it, memory plus swap gets the same limit.
                (
                    self.memory.join("memory.memsw.limit_in_bytes"),
                    memory,
                    false,
                ),
                (
                    self.pids.join("pids.max"),
                    limits.max_pids.to_string(),
                    true,
                ),
                (
                    self.cpu.join("cpu.cfs_period_us"),
                    PERIOD_US.to_string(),
                    true,
                ),
                (self.cpu.join("cpu.cfs_quota_us"), quota.to_string(), true),
            ]
        }
    }

    fn write_limits(&self, settings: &[(PathBuf, String, bool)]) -> Result<(), ShellError> {
        for (path, value, required) in settings {
            if !required && !path.exists() {
                continue;
            }
            std::fs::write(path, value).map_err(|e| {
                ShellError::new(
                    Layer::Limits,
                    format!("cgroup limit {}: {e}", path.display()),
                )
            })?;
        }
        Ok(())
    }

    fn dirs(&self) -> Vec<&Path> {
        if self.unified {
            vec![&self.memory]
        } else {
            vec![&self.memory, &self.pids, &self.cpu]
        }
    }

    /// Moves `pid` (and so everything it forks afterwards) into the cgroups.
    pub(crate) fn add(&self, pid: u32) -> Result<(), ShellError> {
        for dir in self.dirs() {
            let procs = dir.join("cgroup.procs");
            std::fs::write(&procs, pid.to_string()).map_err(|e| {
                ShellError::new(Layer::Limits, format!("joining {}: {e}", procs.display()))
            })?;
        }
        Ok(())
    }

    /// Processes the kernel killed for the memory limit.
    pub(crate) fn oom_kills(&self) -> u64 {
        let file = if self.unified {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        counter(&self.memory.join(file), "oom_kill")
    }

    /// Whether a fork was refused for the process limit.
    pub(crate) fn pids_limit_hit(&self) -> bool {
        counter(&self.pids.join("pids.events"), "max") > 0
    }

    /// Every process still in the shell's cgroups.
    pub(crate) fn members(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for dir in self.dirs() {
            let text = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            pids.extend(
                text.lines()
                    .filter_map(|line| line.trim().parse::<i32>().ok()),
            );
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Kills whatever is left, then removes the cgroups (retrying for about a
    /// second while the kernel finishes tearing the processes down). Whether
    /// they are gone: the kernel removes a cgroup only once no process is left
    /// in it, so `false` means a process of the shell may still run.
    pub(crate) fn remove(&self) -> bool {
        for _ in 0..200 {
            if self.try_remove() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// One pass of [`Cgroup::remove`]: SIGKILL to every member, then the
    /// directories removed; whether none is left.
    pub(crate) fn try_remove(&self) -> bool {
        for pid in self.members() {
            let _ = hardshell_sandbox_sys::kill(pid, hardshell_sandbox_sys::SIGKILL);
        }
        self.dirs()
            .into_iter()
            .all(|dir| !dir.exists() || std::fs::remove_dir(dir).is_ok())
    }

    /// Where the cgroup is, for a log line.
    pub(crate) fn path(&self) -> &Path {
        &self.memory
    }

    /// Its name under `hardshell/`, as [`running_shells`] lists it.
    pub(crate) fn name(&self) -> String {
        self.memory
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Removes the cgroups of shells whose supervisor died without cleaning up
/// (killed with SIGKILL): empty directories under `hardshell/` older than a
/// minute. A cgroup with a process in it cannot be removed, and a younger one
/// may belong to a shell another supervisor is starting this moment.
pub(crate) fn remove_stale() -> usize {
    let parents: Vec<PathBuf> = if Path::new(ROOT).join("cgroup.controllers").exists() {
        vec![Path::new(ROOT).join("hardshell")]
    } else {
        ["memory", "pids", "cpu"]
            .iter()
            .map(|controller| Path::new(ROOT).join(controller).join("hardshell"))
            .collect()
    };
    let mut removed = 0;
    for parent in parents {
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|at| at.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(60));
            if old && entry.path().is_dir() && std::fs::remove_dir(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// A shell running now, as its cgroups account for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellUsage {
    /// The cgroup's name: the shell's name and a random suffix, e.g.
    /// `exec-web-1a2b-3c4d5e6f7a8b`.
    pub cgroup: String,
    pub processes: u64,
    pub memory_bytes: u64,
    /// CPU time used so far; `None` where the host does not account it.
    pub cpu_usec: Option<u64>,
    /// A shell this process prepared ahead that waits for its run (its
    /// processes are its init and reaper, idle).
    pub ready: bool,
}

/// Every shell of this host's hardshell that has a process now, with what it
/// uses: read from the cgroups the supervisors made (a shell cannot name or
/// move its own). Empty when there are none or the tree is not there.
pub fn running_shells() -> Vec<ShellUsage> {
    let unified = Path::new(ROOT).join("cgroup.controllers").exists();
    let parent = |controller: &str| match unified {
        true => Path::new(ROOT).join("hardshell"),
        false => Path::new(ROOT).join(controller).join("hardshell"),
    };
    let mut shells = Vec::new();
    for entry in std::fs::read_dir(parent("memory"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let memory = entry.path();
        if !memory.is_dir() {
            continue;
        }
        let processes = std::fs::read_to_string(memory.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .count() as u64;
        if processes == 0 {
            continue;
        }
        let (memory_file, cpu_usec) = if unified {
            (
                "memory.current",
                Some(counter(&memory.join("cpu.stat"), "usage_usec")),
            )
        } else {
            // cpuacct mounted with cpu (nanoseconds), else what the processes
            // there now used (those that ended are not counted).
            let usage = std::fs::read_to_string(parent("cpu").join(&name).join("cpuacct.usage"))
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .map(|ns| ns / 1000)
                .or_else(|| processes_cpu_usec(&memory.join("cgroup.procs")));
            ("memory.usage_in_bytes", usage)
        };
        let memory_bytes = std::fs::read_to_string(memory.join(memory_file))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        shells.push(ShellUsage {
            ready: crate::supervisor::waiting(&name),
            cgroup: name,
            processes,
            memory_bytes,
            cpu_usec,
        });
    }
    shells.sort_by(|a, b| a.cgroup.cmp(&b.cgroup));
    shells
}

/// The CPU time (user and system) of the processes listed in `procs`, from
/// `/proc/<pid>/stat`, in microseconds; `None` when none could be read.
fn processes_cpu_usec(procs: &Path) -> Option<u64> {
    // USER_HZ: 100 on every Linux architecture hardshell runs on.
    const TICK_USEC: u64 = 10_000;
    let mut ticks = None;
    for pid in std::fs::read_to_string(procs).unwrap_or_default().lines() {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) else {
            continue;
        };
        // Fields after the command (which may hold spaces and parentheses):
        // state is field 3, utime 14 and stime 15.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let used = |at: usize| fields.get(at).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (used(11), used(12)) {
            ticks = Some(ticks.unwrap_or(0) + user + system);
        }
    }
    ticks.map(|ticks: u64| ticks.saturating_mul(TICK_USEC))
}

fn make_dir(path: &Path) -> io::Result<()> {
    match std::fs::create_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The value of `key` in a flat-keyed cgroup file (`key value` lines).
fn counter(path: &Path, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(' ')?;
            (name == key).then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

fn suffix() -> String {
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        // Uniqueness, not secrecy: the pid and the time serve.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return format!("{}-{}", std::process::id(), now.as_nanos());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
