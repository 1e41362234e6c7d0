#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::policy::{PROXY_PORT, SOCKETS, TRUST_DIR};

fn shell<'a>(way_out: Option<(PathBuf, Option<&'a TrustFiles>)>) -> WorkloadShell<'a> {
    WorkloadShell {
        image_root: "/data/images/sha256-abc/rootfs".into(),
        argv: vec!["node".into(), "openclaw.mjs".into(), "gateway".into()],
        env: vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("HOME".into(), "/home/node".into()),
            ("HTTPS_PROXY".into(), "http://elsewhere:8080".into()),
            (
                "ANTHROPIC_API_KEY".into(),
                "hs-secret:ANTHROPIC_API_KEY".into(),
            ),
        ],
        cwd: "/app".into(),
        port: 18789,
        memory_bytes: 2 << 30,
        max_pids: 512,
        cpu_percent: 200,
        tmp_bytes: 64 << 20,
        workspace: "/data/workload/workspace".into(),
        state: vec![StateBind {
            host: "/data/workload/state".into(),
            inside: "/home/node/.openclaw".into(),
        }],
        skills: None,
        way_out,
        browser: false,
    }
}

fn env(policy: &ShellPolicy) -> HashMap<String, String> {
    policy.env.iter().cloned().collect()
}

#[test]
fn the_workload_sees_its_image_its_state_and_its_port_and_nothing_of_the_host() {
    let Workload { policy, argv } = workload(shell(None));
    assert!(
        matches!(&policy.root, Root::Image(dir) if dir == Path::new("/data/images/sha256-abc/rootfs"))
    );
    assert_eq!(argv, ["node", "openclaw.mjs", "gateway"]);
    assert_eq!(policy.inbound, Some(Inbound { port: 18789 }));
    assert!(policy.forward.is_empty(), "no way out unless given one");
    let [state] = policy.binds.as_slice() else {
        panic!("{:?}", policy.binds);
    };
    assert!(state.writable);
    assert_eq!(state.inside, Path::new("/home/node/.openclaw"));
    assert_eq!(policy.cwd, Path::new("/app"));
    assert_eq!(policy.limits.memory_bytes, 2 << 30);
    assert_eq!(policy.limits.max_pids, 512);
    assert!(policy.limits.wall_clock.is_none());
    let env = env(&policy);
    assert_eq!(env["HOME"], "/home/node");
    assert_eq!(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
    // The placeholder goes in as given; the broker swaps it on the way out.
    assert_eq!(env["ANTHROPIC_API_KEY"], "hs-secret:ANTHROPIC_API_KEY");
}

#[test]
fn with_the_browser_it_reaches_hardshells_cdp_proxy_on_its_own_loopback() {
    let mut with = shell(Some(("/data/run/workload".into(), None)));
    with.browser = true;
    let Workload { policy, .. } = workload(with);
    let forwards: Vec<(u16, &Path)> = policy
        .forward
        .iter()
        .map(|forward| (forward.port, forward.to.as_path()))
        .collect();
    assert_eq!(
        forwards,
        [
            (PROXY_PORT, Path::new("/run/hardshell/broker.sock")),
            (9222, Path::new("/run/hardshell/browser.sock")),
        ]
    );
    assert_eq!(
        env(&policy)["HARDSHELL_CDP_URL"],
        "ws://127.0.0.1:9222/cdp?session=workload"
    );
    // Without it, no such port and no such variable.
    let Workload { policy, .. } = workload(shell(Some(("/data/run/workload".into(), None))));
    assert_eq!(policy.forward.len(), 1);
    assert!(!env(&policy).contains_key("HARDSHELL_CDP_URL"));
}

#[test]
fn its_way_out_is_its_broker_whatever_proxy_the_image_names() {
    let trust = TrustFiles {
        dir: "/data/run/egress-ca".into(),
        ca: "/data/run/egress-ca/egress-ca.pem".into(),
        bundle: "/data/run/egress-ca/ca-bundle.pem".into(),
        covers: vec!["/etc/ssl/certs/ca-certificates.crt".into()],
    };
    let Workload { policy, .. } =
        workload(shell(Some(("/data/run/workload".into(), Some(&trust)))));
    // Bound in read-only, as an exec shell's: the broker's sockets and the CA.
    assert!(
        policy
            .binds
            .iter()
            .filter(|bind| bind.writable)
            .all(|bind| bind.inside == Path::new("/home/node/.openclaw"))
    );
    let bound: Vec<&Path> = policy.binds.iter().map(|b| b.inside.as_path()).collect();
    for inside in [SOCKETS, TRUST_DIR, "/etc/ssl/certs/ca-certificates.crt"] {
        assert!(bound.contains(&Path::new(inside)), "{inside}: {bound:?}");
    }
    assert_eq!(policy.forward[0].port, PROXY_PORT);
    // One entry per name, and the broker's proxy, not the image's.
    let names: Vec<&str> = policy.env.iter().map(|(n, _)| n.as_str()).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    let env = env(&policy);
    let proxy = format!("http://127.0.0.1:{PROXY_PORT}");
    for name in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        assert_eq!(env[name], proxy, "{name}");
    }
    assert_eq!(env["NO_PROXY"], "localhost,127.0.0.1,::1");
    assert_eq!(env["NODE_USE_ENV_PROXY"], "1");
    assert_eq!(
        env["NODE_EXTRA_CA_CERTS"],
        "/run/hardshell-ca/egress-ca.pem"
    );
    assert_eq!(env["SSL_CERT_FILE"], "/run/hardshell-ca/ca-bundle.pem");
}

#[test]
fn path_and_home_have_defaults_when_the_image_sets_none() {
    let mut bare = shell(None);
    bare.env.clear();
    let env = env(&workload(bare).policy);
    assert_eq!(env["PATH"], DEFAULT_PATH);
    assert_eq!(env["HOME"], "/tmp");
    // Caches go where the shell can write: the image's root cannot be.
    assert_eq!(env["XDG_CACHE_HOME"], "/tmp/.cache");
}

#[test]
fn a_later_value_replaces_an_earlier_one_in_place_of_both() {
    let env = later_wins(vec![
        ("A".into(), "1".into()),
        ("B".into(), "2".into()),
        ("A".into(), "3".into()),
    ]);
    let expected: Vec<(String, String)> = vec![("B".into(), "2".into()), ("A".into(), "3".into())];
    assert_eq!(env, expected);
}

/// The config refuses, in `[workload.env]`, every variable the way out sets
/// (`hardshell_config::RESERVED_ENV`): a list of its own, kept true here.
#[test]
fn every_variable_the_way_out_sets_is_one_the_config_refuses() {
    let mut bare = shell(Some(("/data/run/workload".into(), None)));
    bare.env.clear();
    let Workload { policy, .. } = workload(bare);
    let defaults = ["PATH", "HOME", "XDG_CACHE_HOME"];
    for (name, _) in &policy.env {
        if defaults.contains(&name.as_str()) {
            continue;
        }
        assert!(
            hardshell_config::RESERVED_ENV.contains(&name.to_ascii_uppercase().as_str()),
            "{name} is set by the way out but not refused in [workload.env]"
        );
    }
}

/// What the config tells the owner a secret becomes is what the broker swaps.
#[test]
fn the_configs_placeholder_is_the_brokers() {
    assert_eq!(
        hardshell_config::PLACEHOLDER_PREFIX,
        hardshell_broker::secrets::PREFIX
    );
}

#[test]
fn openclaws_skill_directories_are_bound_read_only_over_its_state() {
    let mut with_skills = shell(None);
    with_skills.skills = Some(SkillBinds {
        locked: "/data/workload/openclaw-skills".into(),
        empty: "/data/workload/openclaw-no-skills".into(),
    });
    let Workload { policy, .. } = workload(with_skills);
    let binds: Vec<(&Path, &Path, bool)> = policy
        .binds
        .iter()
        .map(|b| (b.host.as_path(), b.inside.as_path(), b.writable))
        .collect();
    // The state first, each bind mounted over those before it: the
    // workspace over itself (a mount point cannot be moved aside), then the
    // skills.
    assert_eq!(
        binds,
        [
            (
                Path::new("/data/workload/state"),
                Path::new("/home/node/.openclaw"),
                true
            ),
            (
                Path::new("/data/workload/state/workspace"),
                Path::new("/home/node/.openclaw/workspace"),
                true
            ),
            (
                Path::new("/data/workload/openclaw-skills"),
                Path::new("/home/node/.openclaw/skills"),
                false
            ),
            (
                Path::new("/data/workload/openclaw-no-skills"),
                Path::new("/home/node/.openclaw/workspace/skills"),
                false
            ),
            (
                Path::new("/data/workload/openclaw-no-skills"),
                Path::new("/home/node/.openclaw/workspace/.agents"),
                false
            ),
        ]
    );
    // Without skills (or without a state directory to put them in), none.
    let Workload { policy, .. } = workload(shell(None));
    assert_eq!(policy.binds.len(), 1);
    let mut stateless = shell(None);
    stateless.state.clear();
    stateless.skills = Some(SkillBinds {
        locked: "/x".into(),
        empty: "/y".into(),
    });
    assert!(workload(stateless).policy.binds.is_empty());
}
