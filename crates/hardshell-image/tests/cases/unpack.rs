//! Hostile layers against the unpacker: each is refused, or does exactly the
//! safe thing, and nothing lands outside the root.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use hardshell_image::Owner;
use hardshell_image::unpack::{RootRecord, UnpackError, UnpackLimits, UnpackReport, Unpacker};
use tar::EntryType;

use crate::support::layer::Layer;

fn owner() -> Owner {
    // As root, prove ownership is mapped to ids other than our own.
    let current = Owner::current();
    if current.uid == 0 {
        Owner {
            uid: 4242,
            gid: 4343,
        }
    } else {
        current
    }
}

fn unpack_with(
    root: &Path,
    limits: UnpackLimits,
    layers: &[Vec<u8>],
) -> Result<UnpackReport, UnpackError> {
    std::fs::create_dir(root).unwrap();
    let mut unpacker = Unpacker::new(root, owner(), limits)?;
    for layer in layers {
        unpacker.apply_layer(|| Ok(layer.as_slice()))?;
    }
    Ok(unpacker.finish()?.0)
}

fn unpack(root: &Path, layers: &[Vec<u8>]) -> Result<UnpackReport, UnpackError> {
    unpack_with(root, UnpackLimits::default(), layers)
}

#[test]
fn dot_dot_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layer = Layer::new()
        .dir("a", 0o755)
        .file("a/../../escaped", 0o644, b"x")
        .tar();
    let err = unpack(&dir.path().join("root"), &[layer]).unwrap_err();
    assert!(matches!(err, UnpackError::Traversal(_)), "{err}");
    assert!(!dir.path().join("escaped").exists());
}

#[test]
fn an_absolute_path_names_the_images_root_never_the_hosts() {
    // umoci writes `/`, `/etc/`, `/etc/hostname`: the image's root, as every
    // image tool reads it.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let layer = Layer::new()
        .dir("/", 0o755)
        .dir("/etc", 0o755)
        .file("/etc/hostname", 0o644, b"from-the-image")
        .tar();
    unpack(&root, &[layer]).unwrap();
    assert_eq!(
        std::fs::read(root.join("etc/hostname")).unwrap(),
        b"from-the-image"
    );
    assert_ne!(
        std::fs::read("/etc/hostname").unwrap_or_default(),
        b"from-the-image"
    );
    // A path naming a host directory lands beneath the root.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("abs");
    let root = dir.path().join("root");
    let layer = Layer::new()
        .file(target.to_str().unwrap(), 0o644, b"x")
        .tar();
    unpack(&root, &[layer]).unwrap();
    assert!(!target.exists());
    let inside = root.join(target.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(inside).unwrap(), b"x");
}

#[test]
fn write_through_a_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    // Out of the root…
    let layer = Layer::new()
        .symlink("etc", outside.to_str().unwrap())
        .file("etc/passwd", 0o644, b"owned")
        .tar();
    let err = unpack(&dir.path().join("root1"), &[layer]).unwrap_err();
    assert!(matches!(err, UnpackError::ThroughSymlink(_)), "{err}");
    assert!(!outside.join("passwd").exists());
    // …and within it, across layers: the parent must be a real directory.
    let lower = Layer::new()
        .dir("real", 0o755)
        .symlink("alias", "real")
        .tar();
    let upper = Layer::new().file("alias/file", 0o644, b"x").tar();
    let err = unpack(&dir.path().join("root2"), &[lower, upper]).unwrap_err();
    assert!(matches!(err, UnpackError::ThroughSymlink(_)), "{err}");
    assert!(!dir.path().join("root2/real/file").exists());
}

#[test]
fn a_file_over_a_symlink_replaces_the_link_not_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("victim");
    std::fs::write(&outside, b"original").unwrap();
    let lower = Layer::new()
        .symlink("link", outside.to_str().unwrap())
        .tar();
    let upper = Layer::new().file("link", 0o644, b"new").tar();
    let root = dir.path().join("root");
    unpack(&root, &[lower, upper]).unwrap();
    assert_eq!(std::fs::read(&outside).unwrap(), b"original");
    assert_eq!(std::fs::read(root.join("link")).unwrap(), b"new");
}

#[test]
fn symlinks_are_kept_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let layer = Layer::new()
        .symlink("sh", "/bin/busybox")
        .symlink("up", "../../../etc")
        .tar();
    unpack(&root, &[layer]).unwrap();
    assert_eq!(
        std::fs::read_link(root.join("sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert_eq!(
        std::fs::read_link(root.join("up")).unwrap(),
        Path::new("../../../etc")
    );
    let meta = std::fs::symlink_metadata(root.join("sh")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (owner().uid, owner().gid));
}

#[test]
fn hard_link_outside_or_to_nothing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"host secret").unwrap();
    for (i, target) in [
        secret.to_str().unwrap(),
        "../secret",
        "missing",
        "dir",
        "via/file",
    ]
    .into_iter()
    .enumerate()
    {
        let layer = Layer::new()
            .dir("dir", 0o755)
            .dir("real", 0o755)
            .file("real/file", 0o644, b"x")
            .symlink("via", "real")
            .hard_link("stolen", target)
            .tar();
        let root = dir.path().join(format!("root{i}"));
        let err = unpack(&root, &[layer]).unwrap_err();
        assert!(
            matches!(err, UnpackError::HardLink { .. }),
            "{target}: {err}"
        );
        assert!(!root.join("stolen").exists());
    }
    assert_eq!(std::fs::metadata(&secret).unwrap().nlink(), 1);
}

#[test]
fn hard_link_to_a_file_in_the_root_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let layer = Layer::new()
        .dir("bin", 0o755)
        .file("bin/busybox", 0o755, b"bb")
        .hard_link("bin/sh", "bin/busybox")
        .tar();
    unpack(&root, &[layer]).unwrap();
    let a = std::fs::metadata(root.join("bin/busybox")).unwrap();
    let b = std::fs::metadata(root.join("bin/sh")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
}

#[test]
fn device_nodes_and_fifos_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let layer = Layer::new()
        .dir("dev", 0o755)
        .device("dev/sda", EntryType::Block)
        .device("dev/mem", EntryType::Char)
        .device("dev/fifo", EntryType::Fifo)
        .tar();
    let report = unpack(&root, &[layer]).unwrap();
    assert_eq!(report.skipped_special, 3);
    assert_eq!(std::fs::read_dir(root.join("dev")).unwrap().count(), 0);
}

#[test]
fn set_id_and_sticky_bits_and_write_bits_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let layer = Layer::new()
        .dir("tmp", 0o1777)
        .file("su", 0o4755, b"x")
        .file("sg", 0o2711, b"x")
        .file("w", 0o666, b"x")
        .tar();
    unpack(&root, &[layer]).unwrap();
    let mode = |p: &str| hardshell_testkit::permission_bits(&root.join(p));
    assert_eq!(mode("su"), 0o555);
    assert_eq!(mode("sg"), 0o511);
    assert_eq!(mode("w"), 0o444);
    assert_eq!(mode("tmp"), 0o555);
    let meta = std::fs::metadata(root.join("su")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (owner().uid, owner().gid));
}

#[test]
fn huge_file_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut layer = Layer::new();
    for i in 0..101 {
        layer.file(&format!("f{i}"), 0o644, b"");
    }
    let limits = UnpackLimits {
        max_entries: 100,
        ..UnpackLimits::default()
    };
    let err = unpack_with(&dir.path().join("root"), limits, &[layer.tar()]).unwrap_err();
    assert!(matches!(err, UnpackError::TooManyEntries(100)), "{err}");
}

#[test]
fn oversized_file_and_oversized_image_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let limits = UnpackLimits {
        max_file_bytes: 10,
        max_total_bytes: 15,
        ..UnpackLimits::default()
    };
    let big = Layer::new().file("big", 0o644, &[0u8; 11]).tar();
    let err = unpack_with(&dir.path().join("root1"), limits, &[big]).unwrap_err();
    assert!(matches!(err, UnpackError::FileTooLarge { .. }), "{err}");
    let many = Layer::new()
        .file("a", 0o644, &[0u8; 10])
        .file("b", 0o644, &[0u8; 10])
        .tar();
    let err = unpack_with(&dir.path().join("root2"), limits, &[many]).unwrap_err();
    assert!(matches!(err, UnpackError::TooLarge(15)), "{err}");
}

#[test]
fn whiteout_removes_the_lower_entry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let lower = Layer::new()
        .dir("etc", 0o755)
        .file("etc/keep", 0o644, b"k")
        .file("etc/gone", 0o644, b"g")
        .dir("etc/sub", 0o755)
        .file("etc/sub/x", 0o644, b"x")
        .tar();
    let upper = Layer::new()
        .file("etc/.wh.gone", 0o644, b"")
        .file("etc/.wh.sub", 0o644, b"")
        .tar();
    unpack(&root, &[lower, upper]).unwrap();
    assert!(root.join("etc/keep").exists());
    assert!(!root.join("etc/gone").exists());
    assert!(!root.join("etc/sub").exists());
    assert!(!root.join("etc/.wh.gone").exists());
}

#[test]
fn whiteout_cannot_name_the_parent() {
    let dir = tempfile::tempdir().unwrap();
    let layer = Layer::new()
        .dir("a", 0o755)
        .file("a/.wh..", 0o644, b"")
        .tar();
    let err = unpack(&dir.path().join("root"), &[layer]).unwrap_err();
    assert!(matches!(err, UnpackError::Whiteout(_)), "{err}");
}

#[test]
fn opaque_directory_hides_lower_entries_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let lower = Layer::new()
        .dir("app", 0o755)
        .file("app/old", 0o644, b"o")
        .file("other", 0o644, b"k")
        .tar();
    let upper = Layer::new()
        .dir("app", 0o755)
        .file("app/new", 0o644, b"n")
        .file("app/.wh..wh..opq", 0o644, b"")
        .tar();
    unpack(&root, &[lower, upper]).unwrap();
    assert!(!root.join("app/old").exists());
    assert_eq!(std::fs::read(root.join("app/new")).unwrap(), b"n");
    assert!(root.join("other").exists());
    assert!(!root.join("app/.wh..wh..opq").exists());
}

#[test]
fn record_detects_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let mut unpacker = Unpacker::new(&root, owner(), UnpackLimits::default()).unwrap();
    let layer = Layer::new()
        .dir("bin", 0o755)
        .file("bin/app", 0o755, b"v1")
        .tar();
    unpacker.apply_layer(|| Ok(layer.as_slice())).unwrap();
    let (_, record) = unpacker.finish().unwrap();
    let fd = std::fs::File::open(&root).unwrap();
    assert_eq!(
        record.differences(&RootRecord::of(&fd).unwrap()),
        Vec::<String>::new()
    );
    std::fs::write(root.join("bin/app"), b"v2").unwrap();
    assert_eq!(
        record.differences(&RootRecord::of(&fd).unwrap()),
        ["bin/app"]
    );
}

#[test]
fn oversized_long_name_header_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    // A GNU long-name entry the tar reader would hold in memory whole.
    let name = vec![b'a'; (hardshell_image::unpack::MAX_EXTENSION_BYTES + 1) as usize];
    let layer = Layer::new()
        .extension(EntryType::GNULongName, &name)
        .file("f", 0o644, b"x")
        .tar();
    let err = unpack(&dir.path().join("root"), &[layer]).unwrap_err();
    assert!(
        matches!(err, UnpackError::ExtensionTooLarge { .. }),
        "{err}"
    );
    assert!(!dir.path().join("root/f").exists());
}
