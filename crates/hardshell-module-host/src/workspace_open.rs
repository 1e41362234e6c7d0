//! How a module opens files in its workspace: only regular files and
//! directories, and never by waiting.
//!
//! The workspace is shared with the agent's exec shell, which is hostile. It
//! can `mkfifo` there; wasmtime-wasi opens with a plain `open(2)` on a
//! blocking-pool thread, and a FIFO opened for reading waits for a writer
//! forever. The call would end at its deadline, but the thread would stay
//! stuck, one more per call, until the pool ran dry. A file leased by the
//! shell (`F_SETLEASE`) holds an opener the same way, for the lease's break
//! time.
//!
//! So the host replaces WASI's `open-at` with [`open_at`]: it opens with
//! `O_NONBLOCK` (a FIFO or a leased file then answers at once), checks the
//! *opened descriptor*, so nothing can be swapped in after the check, and
//! refuses anything but a regular file or a directory. Paths resolve with
//! `openat2`'s `RESOLVE_BENEATH`, as wasmtime-wasi's own resolution does:
//! never above the workspace, by `..` or by a link.

use std::io;

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::OpenMode;
use wasmtime_wasi::filesystem::{Descriptor, Dir, File};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, ErrorCode, OpenFlags, PathFlags,
};

use crate::call_state::CallState;

/// The WASI interface whose `open-at` is replaced: the version wasmtime-wasi
/// 48 links. A component importing an older 0.2 version is linked to it too.
/// Should wasmtime-wasi move on, [`replace_open_at`] fails rather than put
/// the replacement beside an `open-at` components would still reach.
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";
const OPEN_AT: &str = "[method]descriptor.open-at";

/// How often an open is retried when `openat2` answers `EAGAIN`: it does
/// when a rename raced its `..` resolution, which a shell can cause at will,
/// so the retries are bounded.
const RACE_RETRIES: usize = 8;

/// Mode bits of a file a module creates, before the host's umask: what
/// `std::fs::OpenOptions` and wasmtime-wasi use.
const CREATED_FILE_MODE: u32 = 0o666;

/// Replaces the `open-at` that [`wasmtime_wasi::p2::add_to_linker_async`]
/// linked with [`open_at`]. Call it after that, before preparing components.
pub(crate) fn replace_open_at(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    // Defined once without shadowing, which must fail: that proves
    // wasmtime-wasi linked this very `open-at`, so the replacement below
    // takes its place instead of sitting beside it.
    let mut types = linker.instance(FILESYSTEM_TYPES)?;
    if types
        .func_wrap_async(OPEN_AT, open_at_host_function)
        .is_ok()
    {
        return Err(wasmtime::Error::msg(format!(
            "wasmtime-wasi does not link {FILESYSTEM_TYPES}, so its open-at cannot be replaced: \
             update FILESYSTEM_TYPES in workspace_open.rs to the version it links"
        )));
    }
    linker.allow_shadowing(true);
    let replaced = linker
        .instance(FILESYSTEM_TYPES)
        .and_then(|mut types| types.func_wrap_async(OPEN_AT, open_at_host_function));
    linker.allow_shadowing(false);
    replaced
}

type OpenAtParameters = (
    Resource<Descriptor>,
    PathFlags,
    String,
    OpenFlags,
    DescriptorFlags,
);
type OpenAtResult = (Result<Resource<Descriptor>, ErrorCode>,);

fn open_at_host_function(
    mut store: StoreContextMut<'_, CallState>,
    (parent, path_flags, path, open_flags, flags): OpenAtParameters,
) -> Box<dyn Future<Output = wasmtime::Result<OpenAtResult>> + Send + '_> {
    Box::new(async move {
        // A handle that is not in the table is the module's bug: a trap,
        // as wasmtime-wasi's own `open-at` makes it.
        let parent = match store.data_mut().table().get(&parent)? {
            Descriptor::Dir(directory) => directory.clone(),
            Descriptor::File(_) => return Ok((Err(ErrorCode::NotDirectory),)),
        };
        let opened = match open_at(&parent, path, path_flags, open_flags, flags).await {
            Ok(opened) => opened,
            Err(code) => return Ok((Err(code),)),
        };
        // A full table is a trap, as in wasmtime-wasi: the resource bound.
        let handle = store.data_mut().table().push(opened)?;
        Ok((Ok(handle),))
    })
}

/// Opens `path` below `parent` as WASI's `open-at` does, but only a regular
/// file or a directory, and without waiting on anything.
pub(crate) async fn open_at(
    parent: &Dir,
    path: String,
    path_flags: PathFlags,
    open_flags: OpenFlags,
    flags: DescriptorFlags,
) -> Result<Descriptor, ErrorCode> {
    let request = OpenRequest::from_wasi(path_flags, open_flags, flags, parent.perms)?;
    let directory = std::sync::Arc::clone(&parent.dir);
    let flags = request.flags;
    // Opening touches the disk: off the executor, as wasmtime-wasi does.
    // With O_NONBLOCK the thread comes back, whatever the path names.
    let opened = tokio::task::spawn_blocking(move || open_beneath(&directory, &path, flags))
        .await
        .map_err(|_| ErrorCode::Io)??;
    // wasmtime-wasi's Dir and File: the rest of WASI (reads, writes,
    // streams, directory listings) works on them as on its own.
    Ok(match opened {
        Opened::Directory(directory) => {
            Descriptor::Dir(Dir::new(directory, parent.perms, request.mode, false))
        }
        Opened::File(file) => Descriptor::File(File::new(file, parent.perms, request.mode, false)),
    })
}

/// What one `open-at` asks of the OS, read from its WASI flags under the
/// workspace's permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenRequest {
    flags: OFlags,
    mode: OpenMode,
}

impl OpenRequest {
    /// wasmtime-wasi's rules, in its order: a descriptor is always readable
    /// unless opened for writing only; creating or truncating writes; a
    /// read-only workspace refuses every write before the OS is asked.
    fn from_wasi(
        path_flags: PathFlags,
        open_flags: OpenFlags,
        flags: DescriptorFlags,
        perms: FsPerms,
    ) -> Result<Self, ErrorCode> {
        let mut os_flags = OFlags::empty();
        if open_flags.contains(OpenFlags::CREATE) {
            os_flags |= OFlags::CREATE;
            if open_flags.contains(OpenFlags::EXCLUSIVE) {
                os_flags |= OFlags::EXCL;
            }
        }
        if open_flags.contains(OpenFlags::TRUNCATE) {
            os_flags |= OFlags::TRUNC;
        }
        let writes = flags.contains(DescriptorFlags::WRITE)
            || open_flags.contains(OpenFlags::CREATE)
            || open_flags.contains(OpenFlags::TRUNCATE);
        let reads =
            flags.contains(DescriptorFlags::READ) || !flags.contains(DescriptorFlags::WRITE);
        let mut mode = OpenMode::empty();
        mode.set(OpenMode::READ, reads);
        mode.set(OpenMode::WRITE, writes);
        os_flags |= match (reads, writes) {
            (true, true) => OFlags::RDWR,
            (false, true) => OFlags::WRONLY,
            _ => OFlags::RDONLY,
        };
        if !path_flags.contains(PathFlags::SYMLINK_FOLLOW) {
            os_flags |= OFlags::NOFOLLOW;
        }
        if flags.contains(DescriptorFlags::FILE_INTEGRITY_SYNC)
            || flags.contains(DescriptorFlags::DATA_INTEGRITY_SYNC)
            || flags.contains(DescriptorFlags::REQUESTED_WRITE_SYNC)
        {
            return Err(ErrorCode::Unsupported);
        }
        if open_flags.contains(OpenFlags::DIRECTORY) {
            if open_flags.contains(OpenFlags::CREATE)
                || open_flags.contains(OpenFlags::EXCLUSIVE)
                || open_flags.contains(OpenFlags::TRUNCATE)
            {
                return Err(ErrorCode::Invalid);
            }
            // The kernel refuses what is not a directory before opening it.
            os_flags |= OFlags::DIRECTORY;
        }
        if perms.write_not_permitted() && writes {
            return Err(ErrorCode::NotPermitted);
        }
        Ok(Self {
            flags: os_flags,
            mode,
        })
    }
}

/// What [`open_beneath`] opened: the only two kinds a module may hold.
#[derive(Debug)]
enum Opened {
    File(std::fs::File),
    Directory(std::fs::File),
}

/// Opens `path` below `directory` with `flags`, never waiting: `O_NONBLOCK`
/// makes a FIFO without a peer, or a leased file, answer at once. The kind is
/// read from the descriptor itself, then `O_NONBLOCK` is cleared so reads
/// and writes of the regular file behave as WASI expects.
fn open_beneath(directory: &std::fs::File, path: &str, flags: OFlags) -> Result<Opened, ErrorCode> {
    let flags = flags | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    // openat2 refuses a mode unless it creates.
    let mode = if flags.contains(OFlags::CREATE) {
        Mode::from_raw_mode(CREATED_FILE_MODE)
    } else {
        Mode::empty()
    };
    let mut attempt = 0;
    let opened = loop {
        match rustix::fs::openat2(directory, path, flags, mode, resolve) {
            Err(rustix::io::Errno::AGAIN) if attempt < RACE_RETRIES => attempt += 1,
            other => break other.map_err(os_error)?,
        }
    };
    let kind = FileType::from_raw_mode(rustix::fs::fstat(&opened).map_err(os_error)?.st_mode);
    if !matches!(kind, FileType::RegularFile | FileType::Directory) {
        // Dropping `opened` closes it: a FIFO's writer never sees a reader.
        tracing::info!(
            ?kind,
            "module open refused: not a regular file or a directory"
        );
        return Err(ErrorCode::NotPermitted);
    }
    let opened_flags = rustix::fs::fcntl_getfl(&opened).map_err(os_error)?;
    rustix::fs::fcntl_setfl(&opened, opened_flags - OFlags::NONBLOCK).map_err(os_error)?;
    let file = std::fs::File::from(opened);
    Ok(match kind {
        FileType::Directory => Opened::Directory(file),
        _ => Opened::File(file),
    })
}

/// The WASI error for an OS error. A path that would leave the workspace
/// (`EXDEV` from `RESOLVE_BENEATH`) is "not permitted", as wasmtime-wasi's
/// own resolution names it; so is `ENXIO`, which only a special file gives
/// (a FIFO without a reader, a socket), as the refusal of one opened is.
fn os_error(errno: rustix::io::Errno) -> ErrorCode {
    match errno {
        rustix::io::Errno::XDEV | rustix::io::Errno::NXIO => ErrorCode::NotPermitted,
        other => ErrorCode::from(io::Error::from(other)),
    }
}

#[cfg(test)]
mod tests;
