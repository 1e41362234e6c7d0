//! Step 1: what the operator should know about this start before any work.

use hardshell_config::LoadedConfig;

/// Warns for each `[dangerous]` setting that is on and each `[exec] allow`
/// entry that runs other programs, and raises the open-file limit.
pub fn check_host(loaded: &LoadedConfig) {
    for (key, consequence) in loaded.config.dangerous.enabled() {
        tracing::warn!(setting = key, "dangerous setting is on: {consequence}");
    }
    for (key, consequence) in loaded.config.browser.warnings() {
        tracing::warn!(setting = key, "{consequence}");
    }
    for (key, consequence) in loaded.config.channels.warnings() {
        tracing::warn!(setting = key, "{consequence}");
    }
    for (key, consequence) in loaded.config.modules.warnings() {
        tracing::warn!(setting = key, "{consequence}");
    }
    for (program, reason) in loaded.config.exec.listed_programs_that_run_programs() {
        tracing::warn!(
            program,
            "[exec] allow lists a program that can run others ({reason}): commands using it are asked about all the same"
        );
    }
    match raise_open_files_limit() {
        Ok((soft, hard)) => tracing::info!(soft, hard, "the edge's open-file limit"),
        Err(e) => tracing::warn!(error = %e, "reading or raising the open-file limit failed"),
    }
}

/// Raises the soft limit on open files to the hard one, and returns both:
/// the edge holds a descriptor per client connection, per shell's broker
/// connection and per upstream connection it keeps, and a soft default of
/// 1024 runs out long before the system's limit does. Shells set their own.
fn raise_open_files_limit() -> nix::Result<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    getrlimit(Resource::RLIMIT_NOFILE)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_one() {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        // One below: harmless to the other tests in this process.
        setrlimit(Resource::RLIMIT_NOFILE, hard - 1, hard).unwrap();
        assert_eq!(super::raise_open_files_limit().unwrap(), (hard, hard));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
    }
}
