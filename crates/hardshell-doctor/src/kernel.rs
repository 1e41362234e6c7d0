//! What each layer of a shell needs from the kernel: user namespaces,
//! Landlock's ABI, seccomp filters, the memory, pids and cpu cgroup
//! controllers where hardshell may make its cgroups, and whether moving
//! into a cgroup is cheap (`favordynmods`). A shell refuses to start
//! without any of the first four; this says so before `up` does.

use std::path::Path;

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &[
    "kernel.user-namespaces",
    "kernel.landlock",
    "kernel.seccomp",
    "kernel.cgroups",
    "kernel.favordynmods",
];

/// The controllers a shell's limits use.
const CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// What the host offers, as read by [`KernelFacts::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFacts {
    /// Whether hardshell runs as root (then the unprivileged limits below
    /// do not apply).
    pub root: bool,
    /// `user.max_user_namespaces`.
    pub max_user_namespaces: Option<u64>,
    /// Debian's `kernel.unprivileged_userns_clone`, where it exists.
    pub unprivileged_userns_clone: Option<bool>,
    /// Ubuntu's `kernel.apparmor_restrict_unprivileged_userns`, where it
    /// exists.
    pub apparmor_restricts_userns: Option<bool>,
    /// Landlock's ABI version, or why there is none.
    pub landlock_abi: Result<u32, String>,
    /// Whether the kernel has seccomp filters (`Seccomp_filters:` in
    /// `/proc/self/status`).
    pub seccomp_filters: bool,
    /// Which controllers are missing, and whether hardshell's cgroup
    /// directories can be made where it makes them.
    pub cgroups: Cgroups,
    /// Whether a cgroup hierarchy is mounted with `favordynmods`.
    pub favordynmods: bool,
}

/// The cgroup facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroups {
    /// The unified (v2) hierarchy, or the v1 controllers.
    pub unified: bool,
    /// Controllers of [`CONTROLLERS`] not available.
    pub missing: Vec<&'static str>,
    /// Where hardshell makes its cgroups and may not write.
    pub not_writable: Vec<String>,
}

impl KernelFacts {
    /// This host's facts, as this process sees them.
    pub fn read() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let number = |path: &str| read(path).and_then(|text| text.trim().parse::<u64>().ok());
        Self {
            root: rustix::process::geteuid().is_root(),
            max_user_namespaces: number("/proc/sys/user/max_user_namespaces"),
            unprivileged_userns_clone: number("/proc/sys/kernel/unprivileged_userns_clone")
                .map(|n| n != 0),
            apparmor_restricts_userns: number(
                "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            )
            .map(|n| n != 0),
            landlock_abi: hardshell_sandbox_sys::landlock_abi().map_err(|e| e.to_string()),
            seccomp_filters: read("/proc/self/status")
                .is_some_and(|status| status.lines().any(|l| l.starts_with("Seccomp_filters:"))),
            cgroups: Cgroups::read(Path::new(CGROUP_ROOT)),
            favordynmods: hardshell_sandbox::cgroup_moves_are_fast(),
        }
    }
}

impl Cgroups {
    /// As the shell's cgroups are made (see the sandbox's `cgroup.rs`):
    /// under `root/hardshell` in the unified tree, or under
    /// `root/<controller>/hardshell` for each v1 controller.
    fn read(root: &Path) -> Self {
        let writable = |dir: &Path| {
            let dir = if dir.join("hardshell").is_dir() {
                dir.join("hardshell")
            } else {
                dir.to_path_buf()
            };
            rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_ok()
        };
        let unified_list = std::fs::read_to_string(root.join("cgroup.controllers")).ok();
        match unified_list {
            Some(list) => {
                let offered: Vec<&str> = list.split_whitespace().collect();
                Self {
                    unified: true,
                    missing: CONTROLLERS
                        .into_iter()
                        .filter(|c| !offered.contains(c))
                        .collect(),
                    not_writable: if writable(root) {
                        Vec::new()
                    } else {
                        vec![root.display().to_string()]
                    },
                }
            }
            None => {
                let mut missing = Vec::new();
                let mut not_writable = Vec::new();
                for controller in CONTROLLERS {
                    let dir = root.join(controller);
                    if !dir.join("tasks").exists() {
                        missing.push(controller);
                    } else if !writable(&dir) {
                        not_writable.push(dir.display().to_string());
                    }
                }
                Self {
                    unified: false,
                    missing,
                    not_writable,
                }
            }
        }
    }
}

/// The findings of `facts`.
pub fn check(facts: &KernelFacts) -> Vec<Finding> {
    let mut found = Vec::new();
    let userns = |what: String, fix: &str| {
        Finding::new(
            "kernel.user-namespaces",
            Severity::High,
            what,
            "Each shell is a new user namespace: its root is no one on the host. Without \
             them no shell starts, so neither the agent nor any command runs.",
            fix,
        )
    };
    if facts.max_user_namespaces == Some(0) {
        found.push(userns(
            "user namespaces are off (user.max_user_namespaces = 0)".into(),
            "sysctl -w user.max_user_namespaces=15000, and set it in /etc/sysctl.d/",
        ));
    }
    if !facts.root && facts.unprivileged_userns_clone == Some(false) {
        found.push(userns(
            "unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0)".into(),
            "sysctl -w kernel.unprivileged_userns_clone=1, and set it in /etc/sysctl.d/",
        ));
    }
    if !facts.root && facts.apparmor_restricts_userns == Some(true) {
        found.push(userns(
            "AppArmor restricts unprivileged user namespaces \
             (kernel.apparmor_restrict_unprivileged_userns = 1)"
                .into(),
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give hardshell an \
             AppArmor profile that allows `userns,`, or run it as root",
        ));
    }
    match &facts.landlock_abi {
        Ok(abi) if *abi >= hardshell_sandbox::LANDLOCK_ABI => {}
        offered => {
            let offered = match offered {
                Ok(abi) => format!("ABI {abi}"),
                Err(why) => format!("none ({why})"),
            };
            found.push(Finding::new(
                "kernel.landlock",
                Severity::High,
                format!(
                    "Landlock offers {offered}; a shell needs ABI {}",
                    hardshell_sandbox::LANDLOCK_ABI
                ),
                "Landlock repeats each shell's file tree and network rules as access rights \
                 the kernel checks on every open and connect; a shell that cannot have all of \
                 it does not start.",
                "run Linux 6.12 or later with landlock in the LSM list (lsm= on the kernel \
                 command line, or CONFIG_LSM)",
            ));
        }
    }
    if !facts.seccomp_filters {
        found.push(Finding::new(
            "kernel.seccomp",
            Severity::High,
            "the kernel has no seccomp filters",
            "Each shell's process is held to a list of system calls; without it no shell \
             starts.",
            "run a kernel built with CONFIG_SECCOMP_FILTER (every distribution's is)",
        ));
    }
    let cgroups = &facts.cgroups;
    if !cgroups.missing.is_empty() {
        found.push(Finding::new(
            "kernel.cgroups",
            Severity::High,
            format!(
                "the cgroup controllers {} are not available",
                cgroups.missing.join(", ")
            ),
            "Each shell's memory, process count and CPU are limited by its cgroups; without \
             them no shell starts.",
            if cgroups.unified {
                "enable them in the parent's cgroup.subtree_control (or run hardshell in a \
                 systemd unit with Delegate=yes)"
            } else {
                "mount the v1 controllers under /sys/fs/cgroup, or boot with the unified \
                 hierarchy"
            },
        ));
    }
    if !cgroups.not_writable.is_empty() {
        found.push(Finding::new(
            "kernel.cgroups",
            Severity::High,
            format!(
                "hardshell may not make its cgroups in {}",
                cgroups.not_writable.join(", ")
            ),
            "Each shell gets cgroups of its own there; without them no shell starts.",
            "run hardshell as root, or in a systemd unit with Delegate=yes",
        ));
    }
    if !facts.favordynmods {
        found.push(Finding::new(
            "kernel.favordynmods",
            Severity::Low,
            "no cgroup hierarchy is mounted with favordynmods",
            "A shell's start now and then waits a kernel RCU grace period moving into its \
             cgroups (p99 20 ms instead of 7).",
            "mount -o remount,favordynmods /sys/fs/cgroup (v2), or the v1 controllers' \
             mounts; it makes forks and exits slightly dearer host-wide",
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> KernelFacts {
        KernelFacts {
            root: false,
            max_user_namespaces: Some(15_000),
            unprivileged_userns_clone: Some(true),
            apparmor_restricts_userns: Some(false),
            landlock_abi: Ok(7),
            seccomp_filters: true,
            cgroups: Cgroups {
                unified: true,
                missing: Vec::new(),
                not_writable: Vec::new(),
            },
            favordynmods: true,
        }
    }

    fn checks(facts: &KernelFacts) -> Vec<(&'static str, Severity)> {
        check(facts)
            .into_iter()
            .map(|f| (f.check, f.severity))
            .collect()
    }

    #[test]
    fn a_host_with_every_layer_has_no_finding() {
        assert_eq!(checks(&good()), []);
    }

    #[test]
    fn each_missing_layer_is_high() {
        let high = |check| vec![(check, Severity::High)];
        let mut facts = good();
        facts.max_user_namespaces = Some(0);
        assert_eq!(checks(&facts), high("kernel.user-namespaces"));

        let mut facts = good();
        facts.apparmor_restricts_userns = Some(true);
        assert_eq!(checks(&facts), high("kernel.user-namespaces"));
        // Root is not held by the unprivileged limits.
        facts.root = true;
        facts.unprivileged_userns_clone = Some(false);
        assert_eq!(checks(&facts), []);

        let mut facts = good();
        facts.landlock_abi = Ok(5);
        assert_eq!(checks(&facts), high("kernel.landlock"));
        assert!(check(&facts)[0].what.contains("ABI 5; a shell needs ABI 6"));
        facts.landlock_abi = Err("Operation not supported (os error 95)".into());
        assert!(
            check(&facts)[0]
                .what
                .contains("none (Operation not supported")
        );

        let mut facts = good();
        facts.seccomp_filters = false;
        assert_eq!(checks(&facts), high("kernel.seccomp"));

        let mut facts = good();
        facts.cgroups.missing = vec!["memory"];
        facts.cgroups.not_writable = vec!["/sys/fs/cgroup".into()];
        assert_eq!(
            checks(&facts),
            [
                ("kernel.cgroups", Severity::High),
                ("kernel.cgroups", Severity::High)
            ]
        );
    }

    #[test]
    fn no_favordynmods_is_low() {
        let mut facts = good();
        facts.favordynmods = false;
        assert_eq!(checks(&facts), [("kernel.favordynmods", Severity::Low)]);
    }

    #[test]
    fn cgroups_are_read_from_a_unified_tree_and_from_v1_controllers() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("cgroup.controllers"),
            "cpuset cpu io memory\n",
        )
        .unwrap();
        let read = Cgroups::read(root.path());
        assert!(read.unified);
        assert_eq!(read.missing, ["pids"]);
        assert!(read.not_writable.is_empty());

        let v1 = tempfile::tempdir().unwrap();
        for controller in ["memory", "cpu"] {
            std::fs::create_dir(v1.path().join(controller)).unwrap();
            std::fs::write(v1.path().join(controller).join("tasks"), "").unwrap();
        }
        let read = Cgroups::read(v1.path());
        assert!(!read.unified);
        assert_eq!(read.missing, ["pids"]);
    }

    /// The machine the suite runs on has every layer; a missing one fails
    /// here, as it fails every shell's start.
    #[test]
    fn this_host_offers_every_layer_a_shell_needs() {
        let facts = KernelFacts::read();
        let high: Vec<Finding> = check(&facts)
            .into_iter()
            .filter(|f| f.severity == Severity::High)
            .collect();
        assert_eq!(high, [], "{facts:?}");
        assert!(
            facts
                .landlock_abi
                .as_ref()
                .is_ok_and(|abi| *abi >= hardshell_sandbox::LANDLOCK_ABI),
            "{facts:?}"
        );
    }
}
