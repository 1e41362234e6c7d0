//! `[workload.seed]`: the files a workload's state starts with (OpenClaw's
//! `openclaw.json`), copied into its state directory when there is no state
//! at all — nothing stored, nothing local — and never again: once it runs,
//! the state is the workload's, and a restore brings back what it made of it.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use anyhow::Context as _;
use hardshell_config::LoadedConfig;

/// The most a seed file may hold: configuration, not data.
const MAX_SEED_BYTES: u64 = 1 << 20;

/// Copies each seed file into `state` (empty: the state is fresh and the
/// shell has not started), owned by the shell's ids. Paths were checked at
/// load (relative, no `.` or `..`); every file is made new, so nothing in
/// the directory is followed or overwritten.
pub(super) fn copy_into(
    loaded: &LoadedConfig,
    state: &Path,
    (uid, gid): (u32, u32),
) -> anyhow::Result<usize> {
    let Some(workload) = &loaded.config.workload else {
        return Ok(0);
    };
    for (inside, file) in &workload.seed {
        let source = loaded.base_dir().join(file);
        let bytes = read_bounded(&source)
            .with_context(|| format!("[workload.seed] {inside:?}: reading {}", source.display()))?;
        let target = state.join(inside);
        let mut dir = state.to_path_buf();
        for part in Path::new(inside)
            .parent()
            .into_iter()
            .flat_map(Path::components)
        {
            dir.push(part);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("making {}", dir.display())),
            }
        }
        // `create_new` is O_CREAT|O_EXCL: it fails on anything already there,
        // a symlink included, and never follows one.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .with_context(|| {
                format!("[workload.seed] {inside:?}: creating {}", target.display())
            })?;
        out.write_all(&bytes)?;
        out.sync_all()?;
        std::os::unix::fs::fchown(&out, Some(uid), Some(gid))?;
    }
    Ok(workload.seed.len())
}

/// A regular file of at most [`MAX_SEED_BYTES`].
fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    anyhow::ensure!(meta.is_file(), "not a regular file");
    let mut bytes = Vec::new();
    file.take(MAX_SEED_BYTES + 1).read_to_end(&mut bytes)?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_SEED_BYTES,
        "larger than {} KiB: a seed is configuration, not data",
        MAX_SEED_BYTES >> 10
    );
    Ok(bytes)
}
