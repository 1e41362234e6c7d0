//! An image's root as the shell's `/`, without writing the image.
//!
//! The image's directory is shared by every shell of that image, and is the
//! content-addressed copy of what its digest names: nothing may write it, not
//! even a mount point. Yet the shell mounts things where the image may have
//! nothing (`/workspace`, `/tmp`, `/proc`, `/dev`, the binds: the broker's
//! socket directory, a state directory the image does not have yet). So the
//! root is a read-only overlayfs of two lower layers and no upper one: on
//! top, a small tmpfs skeleton holding just those mount points (and their
//! parents), below it the image. Directories in both are merged, so the image
//! keeps everything it has; the overlay has no upper layer, so nothing in it
//! can be written. Overlayfs may be mounted in a user namespace since Linux
//! 5.11. The layers are given by descriptor (`/proc/self/fd/N`), so no path
//! of the host is looked up again.
//!
//! Where the image has something else at a mount point's path (a symlink, a
//! file where a directory must be), the shell does not start, and the error
//! names the path: the skeleton would hide it, and a symlink there would
//! have the mount land where the image chose.

use super::{Kind, NEW_ROOT, Opened, Sources, Syscall, fail, text};
use crate::{Layer, ShellError};

/// The mount points every shell has beyond its binds.
const ALWAYS: [&str; 4] = ["/workspace", "/tmp", "/dev", "/proc"];

/// Mounts the read-only overlay of the skeleton over `image` (opened from
/// `dir`) at the new root, the scratch tmpfs already there becoming the
/// skeleton.
pub(super) fn image_root(
    sys: &mut impl Syscall,
    dir: &std::path::Path,
    image: &Opened,
    sources: &Sources,
) -> Result<(), ShellError> {
    use hardshell_sandbox_sys as sys_;
    let mounts = Layer::Mounts;
    let Opened::Dir(image) = image else {
        return Err(ShellError::new(
            mounts,
            format!("the image root {} is not a directory", dir.display()),
        ));
    };
    let mut points: Vec<(String, bool)> = ALWAYS.iter().map(|p| ((*p).to_owned(), true)).collect();
    for (inside, opened, _) in &sources.binds {
        points.push((inside.clone(), matches!(opened, Opened::Dir(_))));
    }
    let dir = text(dir);
    // The image is looked at through its descriptor: by now its path on the
    // host may be covered (the scratch tmpfs is at the new root's path).
    let opened = format!("/proc/self/fd/{image}");
    for (inside, is_dir) in &points {
        check_in_image(sys, &opened, inside, *is_dir)?;
        let at = format!("{NEW_ROOT}{inside}");
        if *is_dir {
            sys.make_dir(&at)
        } else {
            sys.make_file(&at)
        }
        .map_err(fail(mounts, &format!("skeleton {inside}")))?;
    }
    let Opened::Dir(skeleton) = sys
        .open(NEW_ROOT, false)
        .map_err(fail(mounts, "skeleton"))?
    else {
        return Err(ShellError::new(mounts, "the skeleton is not a directory"));
    };
    // The first lower layer is the upper-most. No `upperdir`: read-only.
    let layers = format!("lowerdir=/proc/self/fd/{skeleton}:/proc/self/fd/{image}");
    sys.mount(
        Some("overlay"),
        NEW_ROOT,
        Some("overlay"),
        sys_::MS_RDONLY | sys_::MS_NOSUID | sys_::MS_NODEV,
        Some(&layers),
    )
    .map_err(fail(mounts, &format!("the image root {dir} (overlayfs)")))?;
    Ok(())
}

/// Every component of `inside` in the image (at `image`) is missing (the
/// skeleton makes it) or a directory, and the last is missing or of the
/// mount's kind.
fn check_in_image(
    sys: &mut impl Syscall,
    image: &str,
    inside: &str,
    is_dir: bool,
) -> Result<(), ShellError> {
    let mut at = image.to_owned();
    let components: Vec<&str> = inside.split('/').filter(|c| !c.is_empty()).collect();
    for (index, component) in components.iter().enumerate() {
        at.push('/');
        at.push_str(component);
        let last = index + 1 == components.len();
        let kind = sys
            .kind(&at)
            .map_err(fail(Layer::Mounts, &format!("the image's {inside}")))?;
        match kind {
            Kind::Missing => return Ok(()),
            Kind::Dir if !last || is_dir => {}
            Kind::File if last && !is_dir => {}
            other => {
                return Err(ShellError::new(
                    Layer::Mounts,
                    format!(
                        "cannot make the mount point {inside}: the image has {} at {}",
                        describe(&other),
                        &at[image.len()..]
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Missing => "nothing".into(),
        Kind::Dir => "a directory".into(),
        Kind::File => "a file".into(),
        Kind::Symlink(to) => format!("a symlink (to {})", to.display()),
    }
}
