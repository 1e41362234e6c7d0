//! Workspace volumes on the real kernel: a small tmpfs stands for the data
//! disk, as in the attack (`cat /dev/zero > z0` filled the disk that holds
//! `data/`). A shell's writes stop at its volume; the data disk keeps its room.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{Shell, policy, run};
use hardshell_sandbox::volume::{
    VolumeError, VolumeSize, Volumes, unmount_stale, unmount_stale_under,
};
use hardshell_sandbox::{Status, host_ids};
use hardshell_sandbox_sys as sys;

const MIB: u64 = 1 << 20;

/// A data directory on a tmpfs of its own, `size_mb` large, with the image
/// and workspace directories an edge would have.
struct DataDisk {
    _dir: tempfile::TempDir,
    data: PathBuf,
}

impl DataDisk {
    fn new(size_mb: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        sys::mount(
            Some("tmpfs"),
            data.to_str().unwrap(),
            Some("tmpfs"),
            sys::MS_NOSUID | sys::MS_NODEV,
            Some(&format!("size={size_mb}m,mode=0700")),
        )
        .expect("mounting a tmpfs for the data disk");
        std::fs::create_dir(data.join("workspaces")).unwrap();
        Self { _dir: dir, data }
    }

    fn images(&self) -> PathBuf {
        self.data.join("volumes")
    }

    fn workspace(&self, name: &str) -> PathBuf {
        self.data.join("workspaces").join(name)
    }

    fn free_bytes(&self) -> u64 {
        sys::block::free_space(self.data.to_str().unwrap())
            .unwrap()
            .0
    }

    fn volumes(&self, bytes: u64, inodes: u64) -> Volumes {
        Volumes::open(&self.images(), VolumeSize { bytes, inodes }).unwrap()
    }
}

impl Drop for DataDisk {
    fn drop(&mut self) {
        let _ = unmount_stale_under(&self.data.join("workspaces"));
        let _ = sys::umount2(self.data.to_str().unwrap(), sys::MNT_DETACH);
    }
}

fn shell_over(workspace: &Path) -> Shell {
    Shell {
        dir: tempfile::tempdir().unwrap(),
        workspace: workspace.to_owned(),
    }
}

fn is_mount_point(path: &Path) -> bool {
    std::fs::symlink_metadata(path).unwrap().dev()
        != std::fs::metadata(path.parent().unwrap()).unwrap().dev()
}

#[tokio::test]
async fn a_shell_filling_its_workspace_stops_at_the_volume_and_the_data_disk_keeps_its_room() {
    let disk = DataDisk::new(64);
    let free_before = disk.free_bytes();
    let volumes = disk.volumes(16 * MIB, 4096);
    let workspace = disk.workspace("s-fill");
    volumes.mount("s-fill", &workspace).unwrap();
    let shell = shell_over(&workspace);
    // The attack: zeros until the disk is full, twenty times over.
    let out = run(
        &policy(&shell),
        &[
            "/bin/sh",
            "-c",
            "for i in 0 1 2 3 4 5 6 7 8 9; do cat /dev/zero > z$i; done; echo written",
        ],
    )
    .await;
    assert_eq!(out.report.status, Status::Exited(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("No space left on device"),
        "{}",
        out.stderr
    );
    let used = free_before - disk.free_bytes();
    assert!(
        used <= 16 * MIB,
        "the data disk lost {used} bytes to a 16 MiB volume"
    );
    assert!(disk.free_bytes() >= 40 * MIB);
    // The edge's own files still fit.
    std::fs::write(disk.data.join("chat.json"), vec![b'x'; 1 << 20]).unwrap();
    volumes.unmount_all();
}

#[tokio::test]
async fn an_inode_flood_stops_at_the_volumes_inode_count() {
    let disk = DataDisk::new(64);
    let volumes = disk.volumes(16 * MIB, 1024);
    let workspace = disk.workspace("s-inodes");
    volumes.mount("s-inodes", &workspace).unwrap();
    let shell = shell_over(&workspace);
    let out = run(
        &policy(&shell),
        &[
            "/bin/sh",
            "-c",
            "seq 1 100000 | sed 's/^/f/' | xargs touch; ls | wc -l",
        ],
    )
    .await;
    assert!(
        out.stderr.contains("No space left on device"),
        "{}",
        out.stderr
    );
    let files: u64 = out.stdout.trim().parse().unwrap();
    assert!(files < 1024, "{files} files in a 1024-inode volume");
    // Nothing of the flood is on the data disk: its only new file is the image.
    let data_files = std::fs::read_dir(disk.images()).unwrap().count();
    assert_eq!(data_files, 1);
    volumes.unmount_all();
}

#[tokio::test]
async fn a_volume_keeps_its_files_across_shells_and_restarts() {
    let disk = DataDisk::new(64);
    let workspace = disk.workspace("s-keep");
    {
        let volumes = disk.volumes(16 * MIB, 1024);
        volumes.mount("s-keep", &workspace).unwrap();
        let out = run(
            &policy(&shell_over(&workspace)),
            &["/bin/sh", "-c", "echo kept > note"],
        )
        .await;
        assert_eq!(out.report.status, Status::Exited(0), "{}", out.stderr);
        assert_eq!(volumes.unmount_all(), 1);
    }
    assert!(!is_mount_point(&workspace));
    assert_eq!(std::fs::read_dir(&workspace).unwrap().count(), 0);
    let volumes = disk.volumes(16 * MIB, 1024);
    volumes.mount("s-keep", &workspace).unwrap();
    let out = run(&policy(&shell_over(&workspace)), &["/bin/cat", "note"]).await;
    assert_eq!(out.stdout, "kept\n", "{}", out.stderr);
    // The volume's root belongs to the shells' id, and holds only their files.
    assert_eq!(std::fs::metadata(&workspace).unwrap().uid(), host_ids().0);
    let names: Vec<_> = std::fs::read_dir(&workspace)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["note"]);
    volumes.unmount_all();
}

#[tokio::test]
async fn a_volume_left_mounted_by_a_killed_edge_is_detached_at_start_and_reused() {
    let disk = DataDisk::new(64);
    let workspace = disk.workspace("s-stale");
    let killed = disk.volumes(16 * MIB, 1024);
    killed.mount("s-stale", &workspace).unwrap();
    std::fs::write(workspace.join("note"), "from before").unwrap();
    // The killed edge never unmounts.
    std::mem::forget(killed);
    let volumes = disk.volumes(16 * MIB, 1024);
    let error = volumes.mount("s-stale", &workspace).unwrap_err();
    assert!(
        matches!(error, VolumeError::MountPoint { .. }),
        "a mount this edge did not make is not used: {error}"
    );
    assert_eq!(
        unmount_stale_under(&disk.data.join("workspaces")).unwrap(),
        1
    );
    assert!(!unmount_stale(&workspace).unwrap());
    volumes.mount("s-stale", &workspace).unwrap();
    assert_eq!(
        std::fs::read_to_string(workspace.join("note")).unwrap(),
        "from before"
    );
    volumes.unmount_all();
}

/// The loop devices `image` is attached to.
fn attached(image: &Path) -> Vec<String> {
    let image = image.canonicalize().unwrap();
    std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let backing = std::fs::read_to_string(entry.path().join("loop/backing_file")).ok()?;
            (Path::new(backing.trim_end()) == image)
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_shell_started_while_another_volume_was_mounted_does_not_hold_it() {
    // Another edge's volume, mounted on the host when a shell starts: the
    // shell copies the host's mount tree before it pivots away from it.
    let disk = DataDisk::new(64);
    let volumes = disk.volumes(16 * MIB, 1024);
    volumes
        .mount("s-other", &disk.workspace("s-other"))
        .unwrap();
    let shell = Shell::new();
    let started = shell.workspace.join("started");
    let policy = policy(&shell);
    let running =
        tokio::spawn(
            async move { run(&policy, &["/bin/sh", "-c", "touch started && sleep 10"]).await },
        );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Unmounted on the host while the shell runs: nothing of the shell
    // keeps its image attached. The device goes within a few seconds, not
    // at once: a shell another test starts meanwhile holds a copy of the
    // host's mounts until it pivots. This shell, holding one, would keep it
    // to its end, ten seconds after it started.
    assert_eq!(volumes.unmount_all(), 1);
    let image = disk.images().join("s-other.img");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut devices = attached(&image);
    while !devices.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        devices = attached(&image);
    }
    assert!(
        !running.is_finished(),
        "the shell ended before the check; it proves nothing"
    );
    assert!(
        devices.is_empty(),
        "still attached to {devices:?} while a shell ran"
    );
    let out = running.await.unwrap();
    assert_eq!(out.report.status, Status::Exited(0), "{}", out.stderr);
}

#[test]
fn volumes_dropped_without_an_unmount_leave_nothing_mounted() {
    // An edge whose start fails after mounting (a refused lease) returns
    // without its shutdown's unmount: the volume must not stay on the host.
    let disk = DataDisk::new(64);
    let workspace = disk.workspace("s-dropped");
    let volumes = disk.volumes(16 * MIB, 1024);
    volumes.mount("s-dropped", &workspace).unwrap();
    std::fs::write(workspace.join("note"), "kept").unwrap();
    assert!(is_mount_point(&workspace));
    drop(volumes);
    assert!(!is_mount_point(&workspace));
    // Its image is free at once: no loop device holds it.
    let devices = attached(&disk.images().join("s-dropped.img"));
    assert!(devices.is_empty(), "still attached to {devices:?}");
    let again = disk.volumes(16 * MIB, 1024);
    again.mount("s-dropped", &workspace).unwrap();
    assert_eq!(
        std::fs::read_to_string(workspace.join("note")).unwrap(),
        "kept"
    );
}

#[test]
fn an_image_in_use_is_never_mounted_twice() {
    let disk = DataDisk::new(64);
    let first = disk.volumes(16 * MIB, 1024);
    first.mount("s-twice", &disk.workspace("s-twice")).unwrap();
    // A process that copied the mount into a mount namespace of its own,
    // as a shell does at its start.
    let mut holder = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sleep", "300"])
        .spawn()
        .unwrap();
    let pid = holder.id();
    let own = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n"
        || std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
            .ok()
            .as_ref()
            == Some(&own)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "unshare never ran sleep"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Another edge over the same images, mounting elsewhere.
    let second = disk.volumes(16 * MIB, 1024);
    let elsewhere = disk.data.join("elsewhere");
    let error = second.mount("s-twice", &elsewhere).unwrap_err();
    holder.kill().unwrap();
    holder.wait().unwrap();
    let error = error.to_string();
    assert!(error.contains("still attached"), "{error}");
    // The refusal names the process of the other namespace.
    assert!(
        error.ends_with(&format!("; mounted where pid {pid} (sleep) runs")),
        "{error}"
    );
    assert!(!is_mount_point(&elsewhere));
    first.unmount_all();
}

#[test]
fn a_symlink_at_the_mount_point_is_refused() {
    let disk = DataDisk::new(64);
    let elsewhere = disk.data.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let workspace = disk.workspace("s-link");
    std::os::unix::fs::symlink(&elsewhere, &workspace).unwrap();
    let volumes = disk.volumes(16 * MIB, 1024);
    let error = volumes.mount("s-link", &workspace).unwrap_err();
    assert!(matches!(error, VolumeError::MountPoint { .. }), "{error}");
    assert!(!is_mount_point(&elsewhere), "the symlink was followed");
}

#[test]
fn an_image_replaced_by_a_symlink_is_refused_and_its_target_untouched() {
    let disk = DataDisk::new(64);
    let victim = disk.data.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let volumes = disk.volumes(16 * MIB, 1024);
    std::os::unix::fs::symlink(&victim, disk.images().join("s-img.img")).unwrap();
    let workspace = disk.workspace("s-img");
    let error = volumes.mount("s-img", &workspace).unwrap_err();
    assert!(matches!(error, VolumeError::Image { .. }), "{error}");
    assert!(error.to_string().contains("symlink"), "{error}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!is_mount_point(&workspace));
}

#[tokio::test]
async fn a_plain_workspace_from_an_older_version_moves_into_its_new_volume_once() {
    let disk = DataDisk::new(64);
    let workspace = disk.workspace("s-old");
    std::fs::create_dir_all(workspace.join("src")).unwrap();
    std::fs::write(workspace.join("src/notes.md"), "mine\n").unwrap();
    // Left by a shell: followed, it would copy the edge's files in.
    std::os::unix::fs::symlink("/etc/shadow", workspace.join("shadow")).unwrap();
    let volumes = disk.volumes(16 * MIB, 1024);
    volumes.mount("s-old", &workspace).unwrap();
    assert!(is_mount_point(&workspace));
    let out = run(
        &policy(&shell_over(&workspace)),
        &[
            "/bin/sh",
            "-c",
            "cat src/notes.md; readlink shadow; echo more >> src/notes.md",
        ],
    )
    .await;
    assert_eq!(out.stdout, "mine\n/etc/shadow\n", "{}", out.stderr);
    assert_eq!(out.report.status, Status::Exited(0), "{}", out.stderr);
    let aside = disk.data.join("workspaces/s-old.pre-volume");
    assert_eq!(
        std::fs::read_to_string(aside.join("src/notes.md")).unwrap(),
        "mine\n"
    );
    volumes.unmount_all();
}

#[test]
fn files_beside_an_existing_volume_are_refused_not_merged() {
    let disk = DataDisk::new(64);
    let workspace = disk.workspace("s-beside");
    let volumes = disk.volumes(16 * MIB, 1024);
    volumes.mount("s-beside", &workspace).unwrap();
    volumes.unmount_all();
    std::fs::write(workspace.join("stray"), "put here while stopped").unwrap();
    let error = volumes.mount("s-beside", &workspace).unwrap_err();
    assert!(matches!(error, VolumeError::OldWorkspace { .. }), "{error}");
    assert!(!is_mount_point(&workspace));
}

#[test]
fn a_plain_workspace_too_large_for_its_volume_is_left_as_it_was() {
    let disk = DataDisk::new(64);
    let workspace = disk.workspace("s-big");
    std::fs::create_dir(&workspace).unwrap();
    std::fs::write(workspace.join("big"), vec![7u8; 20 << 20]).unwrap();
    let volumes = disk.volumes(16 * MIB, 1024);
    let error = volumes.mount("s-big", &workspace).unwrap_err();
    assert!(matches!(error, VolumeError::Migrate { .. }), "{error}");
    assert!(!is_mount_point(&workspace));
    assert_eq!(
        std::fs::metadata(workspace.join("big")).unwrap().len(),
        20 << 20
    );
    assert!(!disk.images().join("s-big.img").exists());
    assert!(!disk.data.join("workspaces/s-big.pre-volume").exists());
}

#[test]
fn new_volumes_never_promise_more_than_the_data_disk_has() {
    let disk = DataDisk::new(64);
    // Each new one must leave room for all at full size, and one more size
    // for the edge's own files: 64 MiB holds two of 20.
    let volumes = disk.volumes(20 * MIB, 1024);
    volumes.mount("s-1", &disk.workspace("s-1")).unwrap();
    volumes.mount("s-2", &disk.workspace("s-2")).unwrap();
    let error = volumes.mount("s-3", &disk.workspace("s-3")).unwrap_err();
    assert!(matches!(error, VolumeError::NoRoom { .. }), "{error}");
    assert!(!disk.images().join("s-3.img").exists());
    volumes.unmount_all();
}

#[test]
fn volume_names_that_could_be_paths_are_refused() {
    let disk = DataDisk::new(16);
    let volumes = disk.volumes(8 * MIB, 256);
    for name in ["", "../x", "a/b", ".", "a b"] {
        let error = volumes.mount(name, &disk.workspace("x")).unwrap_err();
        assert!(matches!(error, VolumeError::Name(_)), "{name:?}: {error}");
    }
}

/// A workload's state volume beside the workspaces: the size it is mounted
/// with, not the workspaces', and counted by the same room check.
#[test]
fn a_volume_of_its_own_size_is_that_size_and_counted_with_the_others() {
    let disk = DataDisk::new(64);
    let volumes = disk.volumes(8 * MIB, 256);
    let state = disk.workspace("state");
    let size = VolumeSize {
        bytes: 24 * MIB,
        inodes: 512,
    };
    volumes.mount_sized("state", &state, size).unwrap();
    assert!(is_mount_point(&state));
    let (total, _) = sys::block::free_space(state.to_str().unwrap()).unwrap();
    assert!(
        total > 16 * MIB && total <= 24 * MIB,
        "{total} bytes free on a 24 MiB volume"
    );
    assert_eq!(
        std::fs::metadata(disk.images().join("state.img"))
            .unwrap()
            .len(),
        24 * MIB
    );
    // 64 MiB less 24 promised to the state leaves too little for another
    // 24 MiB volume and the edge's share, though an 8 MiB workspace fits.
    let error = volumes
        .mount_sized("state-2", &disk.workspace("state-2"), size)
        .unwrap_err();
    assert!(matches!(error, VolumeError::NoRoom { .. }), "{error}");
    volumes.mount("s-1", &disk.workspace("s-1")).unwrap();
    volumes.unmount_all();
    assert!(!is_mount_point(&state));
}
