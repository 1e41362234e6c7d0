//! The policy's own check, before any layer: paths absolute and normal, a
//! name the cgroups can use, nothing bound over what the shell itself makes,
//! ports that can be told apart.

use std::ffi::CString;
use std::path::{Component, Path};

use crate::{Layer, Root, ShellError, ShellPolicy};

/// Absolute, normalised UTF-8 paths (every layer names them as text, and a
/// lossy copy could name another file); a name the cgroups can use.
pub(crate) fn check_policy(policy: &ShellPolicy) -> Result<(), ShellError> {
    let invalid = |what: String| Err(ShellError::new(Layer::Policy, what));
    let plain = |path: &Path| {
        path.to_str().is_some()
            && path.is_absolute()
            && path
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
            && CString::new(path.as_os_str().as_encoded_bytes()).is_ok()
    };
    let relative = |path: &Path| {
        path.to_str().is_some()
            && !path.as_os_str().is_empty()
            && path.components().all(|c| matches!(c, Component::Normal(_)))
    };
    if !is_name(&policy.name) {
        return invalid(format!(
            "the name {:?} is not [a-z0-9-]{{1,48}}",
            policy.name
        ));
    }
    let root = match &policy.root {
        Root::Host(dirs) => dirs.as_slice(),
        Root::Image(dir) => std::slice::from_ref(dir),
    };
    for path in root
        .iter()
        .chain([&policy.workspace, &policy.cwd])
        .chain(policy.binds.iter().flat_map(|b| [&b.host, &b.inside]))
    {
        if !plain(path) {
            return invalid(format!(
                "{} is not an absolute, normal UTF-8 path",
                path.display()
            ));
        }
    }
    for bind in &policy.binds {
        let reserved = ["/", "/proc", "/dev", "/tmp", "/workspace"];
        if reserved.iter().any(|r| bind.inside == Path::new(r)) {
            return invalid(format!("{} cannot be bound over", bind.inside.display()));
        }
    }
    if let Some(bad) = policy.protected.iter().find(|p| !relative(p)) {
        return invalid(format!("protected path {} is not relative", bad.display()));
    }
    let mut ports: Vec<u16> = policy.forward.iter().map(|f| f.port).collect();
    ports.sort_unstable();
    if ports.contains(&0) || ports.windows(2).any(|pair| pair[0] == pair[1]) {
        return invalid("a forwarder's port is 0 or another's".to_owned());
    }
    if let Some(inbound) = policy.inbound
        && (inbound.port == 0 || ports.contains(&inbound.port))
    {
        return invalid(format!(
            "the inbound port {} is 0 or a forwarder's",
            inbound.port
        ));
    }
    Ok(())
}

fn is_name(name: &str) -> bool {
    (1..=48).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
