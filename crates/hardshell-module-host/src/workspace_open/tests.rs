use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use super::*;

fn request(
    path_flags: PathFlags,
    open_flags: OpenFlags,
    flags: DescriptorFlags,
    perms: FsPerms,
) -> Result<OpenRequest, ErrorCode> {
    OpenRequest::from_wasi(path_flags, open_flags, flags, perms)
}

#[test]
fn a_descriptor_reads_unless_opened_for_writing_only() {
    let read = request(
        PathFlags::SYMLINK_FOLLOW,
        OpenFlags::empty(),
        DescriptorFlags::empty(),
        FsPerms::ReadOnly,
    )
    .expect("a plain open");
    assert_eq!(read.flags, OFlags::RDONLY);
    assert_eq!(read.mode, OpenMode::READ);

    let write = request(
        PathFlags::SYMLINK_FOLLOW,
        OpenFlags::CREATE | OpenFlags::TRUNCATE,
        DescriptorFlags::WRITE,
        FsPerms::ReadWrite,
    )
    .expect("a write");
    assert_eq!(write.flags, OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC);
    assert_eq!(write.mode, OpenMode::WRITE);

    let both = request(
        PathFlags::empty(),
        OpenFlags::empty(),
        DescriptorFlags::READ | DescriptorFlags::WRITE,
        FsPerms::ReadWrite,
    )
    .expect("read and write");
    assert_eq!(both.flags, OFlags::RDWR | OFlags::NOFOLLOW);
    assert_eq!(both.mode, OpenMode::READ | OpenMode::WRITE);
}

#[test]
fn a_read_only_workspace_refuses_every_write_before_the_os_is_asked() {
    for (open_flags, flags) in [
        (OpenFlags::empty(), DescriptorFlags::WRITE),
        (OpenFlags::CREATE, DescriptorFlags::READ),
        (OpenFlags::TRUNCATE, DescriptorFlags::READ),
        (
            OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
            DescriptorFlags::empty(),
        ),
    ] {
        assert_eq!(
            request(PathFlags::empty(), open_flags, flags, FsPerms::ReadOnly),
            Err(ErrorCode::NotPermitted),
            "{open_flags:?} {flags:?}"
        );
    }
}

#[test]
fn flags_wasi_refuses_are_refused() {
    let directory_created = request(
        PathFlags::empty(),
        OpenFlags::DIRECTORY | OpenFlags::CREATE,
        DescriptorFlags::empty(),
        FsPerms::ReadWrite,
    );
    assert_eq!(directory_created, Err(ErrorCode::Invalid));
    let synced = request(
        PathFlags::empty(),
        OpenFlags::empty(),
        DescriptorFlags::READ | DescriptorFlags::DATA_INTEGRITY_SYNC,
        FsPerms::ReadWrite,
    );
    assert_eq!(synced, Err(ErrorCode::Unsupported));
    let directory = request(
        PathFlags::empty(),
        OpenFlags::DIRECTORY,
        DescriptorFlags::READ,
        FsPerms::ReadOnly,
    )
    .expect("a directory");
    assert!(directory.flags.contains(OFlags::DIRECTORY));
}

/// Runs `open_beneath` on a thread of its own and fails the test, rather
/// than hanging it, if the open waits.
fn open_promptly(directory: &Path, path: &str, flags: OFlags) -> Result<Opened, ErrorCode> {
    let directory = std::fs::File::open(directory).expect("open the directory");
    let path = path.to_string();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(open_beneath(&directory, &path, flags));
    });
    receiver
        .recv_timeout(Duration::from_secs(5))
        .expect("the open must not wait")
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn a_fifo_is_refused_at_once_for_reading_and_for_writing() {
    let workspace = tempfile::tempdir().expect("tempdir");
    mkfifo(&workspace.path().join("fifo"));
    // Read, or read and write, the FIFO opens at once and is then refused
    // for what it is; write only, the kernel finds no reader (ENXIO).
    for flags in [
        OFlags::RDONLY,
        OFlags::RDWR,
        OFlags::WRONLY,
        OFlags::WRONLY | OFlags::CREATE,
    ] {
        let opened = open_promptly(workspace.path(), "fifo", flags);
        assert_eq!(opened.err(), Some(ErrorCode::NotPermitted), "{flags:?}");
    }
    // The refused opens left no reader behind: a writer finds none.
    let writer = rustix::fs::open(
        workspace.path().join("fifo"),
        OFlags::WRONLY | OFlags::NONBLOCK,
        Mode::empty(),
    );
    assert_eq!(writer.err(), Some(rustix::io::Errno::NXIO));
}

#[test]
fn regular_files_and_directories_open_and_block_as_usual() {
    let workspace = tempfile::tempdir().expect("tempdir");
    std::fs::write(workspace.path().join("file"), "content").expect("write");
    std::fs::create_dir(workspace.path().join("directory")).expect("mkdir");
    let Ok(Opened::File(file)) = open_promptly(workspace.path(), "file", OFlags::RDONLY) else {
        panic!("the regular file opens as a file");
    };
    let flags = rustix::fs::fcntl_getfl(&file).expect("flags");
    assert!(!flags.contains(OFlags::NONBLOCK), "{flags:?}");
    let opened = open_promptly(workspace.path(), "directory", OFlags::RDONLY);
    assert!(matches!(opened, Ok(Opened::Directory(_))), "{opened:?}");
    let opened = open_promptly(workspace.path(), "file", OFlags::DIRECTORY);
    assert_eq!(opened.err(), Some(ErrorCode::NotDirectory));
}

#[test]
fn nothing_above_the_workspace_opens() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("secret"), "owner's").expect("write");
    let workspace = tempfile::tempdir().expect("tempdir");
    let climb = Path::new("..")
        .join(outside.path().file_name().expect("a name"))
        .join("secret");
    std::os::unix::fs::symlink(
        outside.path().join("secret"),
        workspace.path().join("absolute"),
    )
    .expect("symlink");
    std::os::unix::fs::symlink(&climb, workspace.path().join("relative")).expect("symlink");
    let climb = climb.to_str().expect("utf-8").to_string();
    for path in [climb.as_str(), "absolute", "relative", "/etc/passwd"] {
        let opened = open_promptly(workspace.path(), path, OFlags::RDONLY);
        assert_eq!(opened.err(), Some(ErrorCode::NotPermitted), "{path}");
    }
    // A link that stays inside is followed when asked, and is not otherwise.
    std::fs::write(workspace.path().join("file"), "content").expect("write");
    std::os::unix::fs::symlink("file", workspace.path().join("inside")).expect("symlink");
    let opened = open_promptly(workspace.path(), "inside", OFlags::RDONLY);
    assert!(matches!(opened, Ok(Opened::File(_))), "{opened:?}");
    let opened = open_promptly(
        workspace.path(),
        "inside",
        OFlags::RDONLY | OFlags::NOFOLLOW,
    );
    assert_eq!(opened.err(), Some(ErrorCode::Loop));
}

#[test]
fn open_at_is_replaced_only_where_wasi_linked_it() {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let engine = wasmtime::Engine::new(&config).expect("an engine");
    // Without WASI's own open-at there is nothing to replace: refused, so
    // a version wasmtime-wasi stopped linking cannot go unnoticed.
    let mut bare = Linker::<CallState>::new(&engine);
    let error = replace_open_at(&mut bare).expect_err("nothing to replace");
    assert!(error.to_string().contains(FILESYSTEM_TYPES), "{error}");
    let mut linker = Linker::<CallState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("WASI links");
    replace_open_at(&mut linker).expect("WASI's open-at is replaced");
}
