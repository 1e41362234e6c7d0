//! The order of the layers, with a recording fake instead of the kernel; the
//! real layers are tested for real in `tests/shell.rs` and the adversarial
//! suite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::{InitPlan, Kind, Opened, Passed, Rlimit, Syscall, contain, enter, pivot};
use crate::landlock::FsRules;
use crate::{Bind, Inbound, Layer, Limits, Root, ShellPolicy};

/// Records every call as a line; fails the first call whose line starts with
/// `fail_on`.
#[derive(Default)]
struct Recording {
    calls: Vec<String>,
    fail_on: Option<&'static str>,
    rules: Option<FsRules>,
    /// Paths opened, by descriptor number - 100.
    opened: Vec<String>,
    /// The environment exec was given.
    env: Vec<(String, String)>,
}

impl Recording {
    fn record(&mut self, call: String) -> io::Result<()> {
        let failing = self.fail_on.is_some_and(|prefix| call.starts_with(prefix));
        self.calls.push(call);
        if failing {
            Err(io::Error::other("refused by the test"))
        } else {
            Ok(())
        }
    }

    fn position(&self, prefix: &str) -> usize {
        // An exact match first, then the first call starting with it.
        self.calls
            .iter()
            .position(|call| call == prefix)
            .or_else(|| self.calls.iter().position(|call| call.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no call {prefix:?} in {:#?}", self.calls))
    }

    /// Like `before`, among the calls from the first `from` on.
    fn before_from(&self, from: &str, first: &str, second: &str) {
        let start = self.position(from);
        let tail = Recording {
            calls: self.calls[start..].to_vec(),
            ..Recording::default()
        };
        tail.before(first, second);
    }

    fn before(&self, first: &str, second: &str) {
        assert!(
            self.position(first) < self.position(second),
            "{first:?} must come before {second:?}: {:#?}",
            self.calls
        );
    }
}

impl Syscall for Recording {
    fn clear_groups(&mut self) -> io::Result<()> {
        self.record("clear_groups".into())
    }
    fn set_gid(&mut self, gid: u32) -> io::Result<()> {
        self.record(format!("set_gid {gid}"))
    }
    fn set_uid(&mut self, uid: u32) -> io::Result<()> {
        self.record(format!("set_uid {uid}"))
    }
    fn unshare(&mut self, flags: i32) -> io::Result<()> {
        self.record(format!("unshare {flags:#x}"))
    }
    fn await_user_map(&mut self) -> io::Result<()> {
        self.record("await_user_map".into())
    }
    fn set_hostname(&mut self, name: &str) -> io::Result<()> {
        self.record(format!("hostname {name}"))
    }
    fn mount(
        &mut self,
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: u64,
        data: Option<&str>,
    ) -> io::Result<()> {
        let kind = if flags & libc::MS_REMOUNT != 0 {
            let ro = if flags & libc::MS_RDONLY != 0 {
                "ro"
            } else {
                "rw"
            };
            format!("remount-{ro}")
        } else if flags & libc::MS_BIND != 0 && flags & libc::MS_REC != 0 {
            "bind".into()
        } else if flags & libc::MS_BIND != 0 {
            // A shallow bind fails where the source has mounts inside it.
            "bind-shallow".into()
        } else {
            fstype.unwrap_or("none").to_owned()
        };
        // Bound descriptors are shown as the path they were opened from.
        let source = match source.and_then(|s| s.strip_prefix("/proc/self/fd/")) {
            Some(fd) => self.opened[fd.parse::<usize>().unwrap() - 100].clone(),
            None => source.unwrap_or("-").to_owned(),
        };
        // An overlay's layers, descriptors shown as paths too.
        let layers = match (fstype, data) {
            (Some("overlay"), Some(data)) => {
                let mut shown = data.to_owned();
                for (index, path) in self.opened.iter().enumerate() {
                    shown = shown.replace(&format!("/proc/self/fd/{}", 100 + index), path);
                }
                format!(" {shown}")
            }
            _ => String::new(),
        };
        self.record(format!("mount {kind} {source} {target}{layers}"))
    }
    fn restrict_tree(&mut self, path: &str, set: u64) -> io::Result<()> {
        use hardshell_sandbox_sys as sys_;
        let to = match set {
            s if s
                == sys_::MOUNT_ATTR_NOSUID | sys_::MOUNT_ATTR_NODEV | sys_::MOUNT_ATTR_RDONLY =>
            {
                "ro"
            }
            s if s == sys_::MOUNT_ATTR_NOSUID | sys_::MOUNT_ATTR_NODEV => "rw",
            s if s == sys_::MOUNT_ATTR_NOSUID => "dev",
            other => panic!("unexpected mount attributes {other:#x}"),
        };
        self.record(format!("restrict-{to} {path}"))
    }
    fn open(&mut self, path: &str, _follow: bool) -> io::Result<Opened> {
        let fd = 100 + i32::try_from(self.opened.len()).unwrap();
        let opened = match self.kind(path)? {
            Kind::Missing => Opened::Missing,
            Kind::Symlink(to) => Opened::Symlink(to),
            Kind::Dir => Opened::Dir(fd),
            Kind::File => Opened::File(fd),
        };
        if matches!(opened, Opened::Dir(_) | Opened::File(_)) {
            self.opened.push(path.to_owned());
        }
        self.record(format!("open {path}"))?;
        Ok(opened)
    }
    fn kind(&mut self, path: &str) -> io::Result<Kind> {
        // A path under an opened descriptor is shown as the path it was
        // opened from.
        let mut path = path.to_owned();
        if let Some(rest) = path.strip_prefix("/proc/self/fd/") {
            let (fd, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            path = format!("{}{tail}", self.opened[fd.parse::<usize>().unwrap() - 100]);
        }
        Ok(match path.as_str() {
            "/bin" => Kind::Symlink(PathBuf::from("usr/bin")),
            "/images/app/var/run" => Kind::Symlink(PathBuf::from("/run")),
            "/images/app/etc/hosts" => Kind::File,
            p if p.contains("missing") => Kind::Missing,
            p if p.ends_with("AGENTS.md") || p.contains("/dev/") || p.ends_with(".sock") => {
                Kind::File
            }
            p if p.ends_with("link.md") => Kind::Symlink(PathBuf::from("/etc/shadow")),
            p if p.starts_with("/usr/bin/") => Kind::File,
            _ => Kind::Dir,
        })
    }
    fn attach(&mut self, tree: i32, target: &str) -> io::Result<()> {
        self.record(format!("attach {tree} {target}"))
    }
    fn make_dir(&mut self, path: &str) -> io::Result<()> {
        self.record(format!("mkdir {path}"))
    }
    fn make_file(&mut self, path: &str) -> io::Result<()> {
        self.record(format!("touch {path}"))
    }
    fn symlink(&mut self, points_to: &str, at: &str) -> io::Result<()> {
        self.record(format!("symlink {at} -> {points_to}"))
    }
    fn pivot_root(&mut self, new_root: &str, put_old: &str) -> io::Result<()> {
        self.record(format!("pivot_root {new_root} {put_old}"))
    }
    fn detach(&mut self, target: &str) -> io::Result<()> {
        self.record(format!("detach {target}"))
    }
    fn chdir(&mut self, path: &str) -> io::Result<()> {
        self.record(format!("chdir {path}"))
    }
    fn loopback_up(&mut self) -> io::Result<()> {
        self.record("loopback_up".into())
    }
    fn descriptors(&mut self, passed: Passed) -> io::Result<()> {
        self.record(match passed {
            Passed::Nothing => "descriptors".into(),
            Passed::Listener => "descriptors, a listener at 3".into(),
        })
    }
    fn new_session(&mut self) -> io::Result<()> {
        self.record("setsid".into())
    }
    fn rlimit(&mut self, resource: Rlimit, value: u64) -> io::Result<()> {
        self.record(format!("rlimit {resource:?} {value}"))
    }
    fn parent_death_signal(&mut self) -> io::Result<()> {
        self.record("pdeathsig".into())
    }
    fn drop_bounding_set(&mut self) -> io::Result<()> {
        self.record("drop_bounding_set".into())
    }
    fn clear_capabilities(&mut self) -> io::Result<()> {
        self.record("clear_capabilities".into())
    }
    fn verify_no_capabilities(&mut self) -> io::Result<()> {
        self.record("verify_no_capabilities".into())
    }
    fn no_new_privs(&mut self) -> io::Result<()> {
        self.record("no_new_privs".into())
    }
    fn landlock(&mut self, rules: &FsRules) -> io::Result<()> {
        self.rules = Some(rules.clone());
        self.record("landlock".into())
    }
    fn seccomp(&mut self) -> io::Result<()> {
        self.record("seccomp".into())
    }
    fn exec(&mut self, program: &str, argv: &[String], env: &[(String, String)]) -> io::Error {
        self.env = env.to_vec();
        let _ = self.record(format!("exec {program} {}", argv.join(" ")));
        io::Error::other("the fake does not exec")
    }
}

fn plan() -> InitPlan {
    InitPlan {
        policy: ShellPolicy {
            name: "test".into(),
            workspace: PathBuf::from("/srv/ws"),
            protected: vec![
                PathBuf::from("AGENTS.md"),
                PathBuf::from("missing.md"),
                PathBuf::from("link.md"),
            ],
            root: Root::Host(vec![PathBuf::from("/usr"), PathBuf::from("/bin")]),
            binds: vec![Bind {
                host: PathBuf::from("/srv/run"),
                inside: PathBuf::from("/run/hardshell"),
                writable: true,
            }],
            env: vec![("PATH".into(), "/usr/bin".into())],
            forward: Vec::new(),
            inbound: None,
            cwd: PathBuf::from("/workspace"),
            limits: Limits {
                memory_bytes: 1 << 28,
                max_pids: 64,
                cpu_percent: 100,
                wall_clock: Some(Duration::from_secs(5)),
                tmp_bytes: 1 << 20,
                file_size_bytes: 1 << 20,
                open_files: 256,
            },
        },
        argv: vec!["true".into()],
        host_gid: 2_147_000_000,
        passed: Passed::Nothing,
        inbound: false,
        pooled: false,
    }
}

fn all_three(sys: &mut Recording, plan: &InitPlan) -> crate::ShellError {
    enter(sys, plan).unwrap();
    pivot(sys, plan).unwrap();
    contain(sys, plan)
}

#[test]
fn the_layers_apply_in_order_and_seccomp_is_last_before_exec() {
    let mut sys = Recording::default();
    let plan = plan();
    let end = all_three(&mut sys, &plan);
    assert_eq!(end.layer, Layer::Exec, "{end}");

    // Host groups are gone before anything is entered; the map before mounts.
    sys.before("await_user_map", "open /srv/ws");
    sys.before("open /srv/ws/AGENTS.md", "set_uid 1000");
    sys.before("clear_groups", "unshare");
    sys.before("set_gid 2147000000", "unshare");
    sys.before("unshare", "await_user_map");
    // Init leaves the edge's directory before it copies the mount tree, so
    // the pivot takes its working directory along (see enter).
    sys.before("chdir /", "unshare");
    sys.before("await_user_map", "set_uid 1000");
    sys.before("set_uid 1000", "mount");
    // The new root is assembled, then pivoted into, then the host detached.
    sys.before("mount bind /srv/ws /tmp/workspace", "pivot_root . .");
    sys.before("mount proc", "pivot_root . .");
    sys.before("pivot_root . .", "detach .");
    sys.before("detach .", "mount remount-ro - /");
    sys.before("mount remount-ro - /", "loopback_up");
    // The workload: descriptors, limits, then privileges, then the filters.
    sys.before("loopback_up", "descriptors");
    sys.before("descriptors", "rlimit Core 0");
    sys.before_from("descriptors", "drop_bounding_set", "set_uid 1000");
    sys.before_from("descriptors", "set_gid 1000", "set_uid 1000");
    sys.before_from("descriptors", "set_uid 1000", "clear_capabilities");
    // Changing ids clears the parent-death signal: it is set after, each time.
    sys.before_from("descriptors", "set_uid 1000", "pdeathsig");
    sys.before("set_uid 1000", "pdeathsig");
    sys.before("clear_capabilities", "verify_no_capabilities");
    sys.before("verify_no_capabilities", "no_new_privs");
    sys.before("no_new_privs", "landlock");
    sys.before("landlock", "seccomp");
    let last_two: Vec<&str> = sys.calls[sys.calls.len() - 2..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(last_two, ["seccomp", "exec /usr/bin/true true"]);
}

#[test]
fn a_passed_listener_is_kept_at_3_and_announced_and_nothing_else_is() {
    let mut sys = Recording::default();
    let mut plan = plan();
    // A LISTEN_FDS of the policy's own never stands.
    plan.policy.env.push(("LISTEN_FDS".into(), "7".into()));
    all_three(&mut sys, &plan);
    assert!(
        sys.calls.iter().any(|c| c == "descriptors"),
        "{:#?}",
        sys.calls
    );
    assert!(
        !sys.env.iter().any(|(name, _)| name == "LISTEN_FDS"),
        "{:?}",
        sys.env
    );

    let mut sys = Recording::default();
    plan.passed = Passed::Listener;
    all_three(&mut sys, &plan);
    // In the same place as without one: before limits, ids and filters.
    sys.before("loopback_up", "descriptors, a listener at 3");
    sys.before("descriptors, a listener at 3", "rlimit Core 0");
    let announced: Vec<_> = sys
        .env
        .iter()
        .filter(|(name, _)| name == "LISTEN_FDS")
        .collect();
    assert_eq!(announced, [&("LISTEN_FDS".to_owned(), "1".to_owned())]);
    assert!(
        sys.env
            .contains(&("PATH".to_owned(), "/usr/bin".to_owned()))
    );
}

#[test]
fn the_root_holds_what_the_policy_names_and_nothing_else() {
    let mut sys = Recording::default();
    let plan = plan();
    all_three(&mut sys, &plan);
    let binds: Vec<&str> = sys
        .calls
        .iter()
        .filter(|c| c.starts_with("mount bind"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        binds,
        [
            "mount bind /usr /tmp/usr",
            "mount bind /srv/ws /tmp/workspace",
            "mount bind /srv/ws/AGENTS.md /tmp/workspace/AGENTS.md",
            "mount bind /srv/run /tmp/run/hardshell",
            "mount bind /dev/null /tmp/dev/null",
            "mount bind /dev/zero /tmp/dev/zero",
            "mount bind /dev/full /tmp/dev/full",
            "mount bind /dev/random /tmp/dev/random",
            "mount bind /dev/urandom /tmp/dev/urandom",
        ]
    );
    // Each bind is followed by the restriction of its whole tree: system and
    // protected read-only, the workspace and the socket directory writable,
    // devices only nosuid.
    let after = |bind: &str| {
        let at = sys.position(bind);
        sys.calls[at + 1].clone()
    };
    assert_eq!(after("mount bind /usr"), "restrict-ro /tmp/usr");
    assert_eq!(after("mount bind /srv/ws /"), "restrict-rw /tmp/workspace");
    assert_eq!(
        after("mount bind /srv/ws/AGENTS.md"),
        "restrict-ro /tmp/workspace/AGENTS.md"
    );
    assert_eq!(
        after("mount bind /srv/run"),
        "restrict-rw /tmp/run/hardshell"
    );
    assert_eq!(after("mount bind /dev/null"), "restrict-dev /tmp/dev/null");
    // A symlinked system directory is recreated, not followed; a protected
    // path that is a symlink or missing is not bound at all.
    assert!(
        sys.calls
            .contains(&"symlink /tmp/bin -> usr/bin".to_owned())
    );
    assert!(
        !sys.calls
            .iter()
            .any(|c| c.starts_with("mount") && (c.contains("link.md") || c.contains("missing")))
    );
    // Landlock sees the same tree.
    let rules = sys.rules.unwrap();
    assert_eq!(rules.read_only, [PathBuf::from("/")]);
    assert!(rules.read_write.contains(&PathBuf::from("/workspace")));
    assert!(rules.read_write.contains(&PathBuf::from("/run/hardshell")));
    assert!(!rules.read_write.contains(&PathBuf::from("/usr")));
}

#[test]
fn a_layer_that_fails_stops_the_start_and_is_named() {
    for (call, layer) in [
        ("unshare", Layer::Namespaces),
        ("await_user_map", Layer::UserMap),
        ("open /srv/ws", Layer::Mounts),
        ("mount bind /srv/ws", Layer::Mounts),
        ("mount proc", Layer::Mounts),
        ("loopback_up", Layer::Network),
        ("descriptors", Layer::Descriptors),
        ("rlimit", Layer::Limits),
        ("drop_bounding_set", Layer::Capabilities),
        ("verify_no_capabilities", Layer::Capabilities),
        ("no_new_privs", Layer::Capabilities),
        ("landlock", Layer::Landlock),
        ("seccomp", Layer::Seccomp),
    ] {
        let mut sys = Recording {
            fail_on: Some(call),
            ..Recording::default()
        };
        let plan = plan();
        let error = match enter(&mut sys, &plan).and_then(|()| pivot(&mut sys, &plan)) {
            Err(e) => e,
            Ok(()) => contain(&mut sys, &plan),
        };
        assert_eq!(error.layer, layer, "{call}: {error}");
        assert!(
            !sys.calls.iter().any(|c| c.starts_with("exec")),
            "{call}: exec ran after a failed layer"
        );
        // Nothing after the failed call.
        assert!(
            sys.calls.last().unwrap().starts_with(call),
            "{call}: {:#?}",
            sys.calls
        );
    }
}

#[test]
fn policies_with_relative_or_odd_paths_are_refused() {
    let mut bad = plan();
    bad.policy.workspace = PathBuf::from("srv/ws");
    let mut cases = vec![bad];
    let mut bad = plan();
    bad.policy.root = Root::Host(vec![PathBuf::from("/usr/../etc")]);
    cases.push(bad);
    let mut bad = plan();
    bad.policy.root = Root::Image(PathBuf::from("images/app"));
    cases.push(bad);
    for port in [0, 3128] {
        let mut bad = plan();
        bad.policy.forward = vec![crate::Forward {
            port: 3128,
            to: PathBuf::from("/run/hardshell/broker.sock"),
        }];
        bad.policy.inbound = Some(Inbound { port });
        cases.push(bad);
    }
    // Two forwarders on one port, or one on port 0.
    for ports in [[3128, 3128], [0, 9222]] {
        let mut bad = plan();
        bad.policy.forward = ports
            .iter()
            .map(|&port| crate::Forward {
                port,
                to: PathBuf::from("/run/hardshell/broker.sock"),
            })
            .collect();
        cases.push(bad);
    }
    let mut bad = plan();
    bad.policy.protected.push(PathBuf::from("../outside"));
    cases.push(bad);
    let mut bad = plan();
    bad.policy.binds[0].inside = PathBuf::from("/proc");
    cases.push(bad);
    let mut bad = plan();
    bad.policy.name = "Agent One".into();
    cases.push(bad);
    // A path that is not UTF-8: every layer names paths as text, and a lossy
    // copy ("\u{fffd}" for the byte) could name another file that exists.
    let mut bad = plan();
    bad.policy.binds[0].host = {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(b"/srv/run\xff"))
    };
    cases.push(bad);
    for plan in cases {
        let mut sys = Recording::default();
        let error = enter(&mut sys, &plan).unwrap_err();
        assert_eq!(error.layer, Layer::Policy, "{error}");
        assert!(sys.calls.is_empty(), "{:#?}", sys.calls);
    }
}

fn image_plan() -> InitPlan {
    let mut plan = plan();
    plan.policy.root = Root::Image(PathBuf::from("/images/app"));
    plan.policy.inbound = Some(Inbound { port: 8080 });
    plan.policy.binds.push(Bind {
        host: PathBuf::from("/srv/hosts.sock"),
        inside: PathBuf::from("/etc/hosts"),
        writable: false,
    });
    plan
}

#[test]
fn an_image_root_is_a_read_only_overlay_of_a_skeleton_over_the_image() {
    let mut sys = Recording::default();
    let plan = image_plan();
    let end = all_three(&mut sys, &plan);
    assert_eq!(end.layer, Layer::Exec, "{end}");
    // Every mount point is made in the skeleton, before the overlay covers it.
    for point in [
        "mkdir /tmp/workspace",
        "mkdir /tmp/tmp",
        "mkdir /tmp/dev",
        "mkdir /tmp/proc",
        "mkdir /tmp/run/hardshell",
        "touch /tmp/etc/hosts",
    ] {
        sys.before(point, "mount overlay");
    }
    let overlay = &sys.calls[sys.position("mount overlay")];
    assert_eq!(
        overlay, "mount overlay overlay /tmp lowerdir=/tmp:/images/app",
        "the skeleton on top, the image below, no upper layer"
    );
    // Nothing is made, bound or linked inside the image's directory, and no
    // host system directory is bound.
    assert!(
        !sys.calls.iter().any(|c| (c.starts_with("mkdir")
            || c.starts_with("touch")
            || c.starts_with("symlink"))
            && c.contains("/images/")),
        "{:#?}",
        sys.calls
    );
    assert!(!sys.calls.iter().any(|c| c.starts_with("mount bind /usr")));
    sys.before("mount overlay", "mount bind /srv/ws /tmp/workspace");
    sys.before("pivot_root . .", "mount remount-ro - /");
    // Landlock: execute from the (read-only) image, bind the inbound port
    // only, connect to it (and to no forwarder: this policy has none).
    let rules = sys.rules.unwrap();
    assert_eq!(
        rules.read_exec,
        [PathBuf::from("/"), PathBuf::from("/etc/hosts")]
    );
    assert_eq!(rules.bind_ports, [8080]);
    assert_eq!(rules.connect_ports, [8080]);
}

#[test]
fn a_mount_point_the_image_has_as_a_symlink_or_a_file_is_refused_by_name() {
    for (inside, named) in [
        ("/var/run/hardshell", "/var/run"),
        ("/etc/hosts/dir", "/etc/hosts"),
    ] {
        let mut plan = image_plan();
        plan.policy.binds.push(Bind {
            host: PathBuf::from("/srv/run"),
            inside: PathBuf::from(inside),
            writable: false,
        });
        let mut sys = Recording::default();
        let error = enter(&mut sys, &plan).unwrap_err();
        assert_eq!(error.layer, Layer::Mounts, "{error}");
        assert!(error.detail().contains(named), "{error}");
        assert!(error.detail().contains(inside), "{error}");
        assert!(!sys.calls.iter().any(|c| c.starts_with("mount overlay")));
    }
}

#[test]
fn a_host_root_binds_no_port_and_an_inbound_port_is_the_only_one() {
    let plan = plan();
    assert!(super::fs_rules(&plan.policy).bind_ports.is_empty());
    let plan = image_plan();
    assert_eq!(super::fs_rules(&plan.policy).bind_ports, [8080]);
}

#[test]
fn a_pooled_shell_gets_its_workspace_and_binds_at_the_run_then_a_read_only_root() {
    let mut sys = Recording::default();
    let mut plan = plan();
    plan.pooled = true;
    enter(&mut sys, &plan).unwrap();
    pivot(&mut sys, &plan).unwrap();
    // Nothing of the run is opened or bound ahead, and the root stays
    // writable for the mount points.
    for call in &sys.calls {
        assert!(!call.contains("/srv/"), "{call}: {:#?}", sys.calls);
        assert!(call != "mount remount-ro - /", "{:#?}", sys.calls);
    }
    sys.calls.clear();
    super::attach(
        &mut sys,
        &plan.policy,
        &[(40, super::TreeKind::Dir), (41, super::TreeKind::Dir)],
    )
    .unwrap();
    sys.before("mkdir /workspace", "attach 40 /workspace");
    sys.before("attach 40 /workspace", "restrict-rw /workspace");
    // Protected paths over themselves, inside the workspace just attached; a
    // symlink or a missing one is left alone.
    sys.before("attach 40 /workspace", "open /workspace/AGENTS.md");
    assert!(
        sys.calls
            .iter()
            .any(|c| c.starts_with("mount bind /workspace/AGENTS.md /workspace/AGENTS.md")),
        "{:#?}",
        sys.calls
    );
    assert!(
        !sys.calls
            .iter()
            .any(|c| c.contains("mount bind /workspace/link.md"))
    );
    sys.before("mkdir /run/hardshell", "attach 41 /run/hardshell");
    sys.before("attach 41 /run/hardshell", "mount remount-ro - /");
    // The trees must match the binds one for one.
    let error = super::attach(&mut sys, &plan.policy, &[(40, super::TreeKind::Dir)]).unwrap_err();
    assert_eq!(error.layer, Layer::Supervisor, "{error}");
}
