//! The shells' init program (`hardshell-sandbox`'s `shell-init`), carried
//! inside this binary: built with it (build.rs) and written out by `up`,
//! which starts every shell with it. The same code as `hardshell
//! shell-init`, in a program of under a megabyte, so a shell's init and
//! reaper do not map and relocate this whole binary.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};

use sha2::{Digest as _, Sha256};

/// The program's image, as built with this binary.
static SHELL_INIT_IMAGE: &[u8] = include_bytes!(env!("HARDSHELL_SHELL_INIT_IMAGE"));

/// Its SHA-256 (hex), as build.rs computed it.
const SHELL_INIT_SHA256: &str = env!("HARDSHELL_SHELL_INIT_IMAGE_SHA256");

/// Writes the image into `out` (new and empty). Copied from this binary's
/// file by the kernel, so the edge never reads the bytes through its own
/// mapping: read there, they would stay resident in the edge for its life
/// (0.8 MB, measured). The copy is checked against the image's SHA-256; if
/// the image cannot be found in the file or the copy does not match, it is
/// written from memory instead.
pub fn write_to(out: &mut File) -> io::Result<()> {
    match copy_from_exe(out) {
        Ok(()) => return Ok(()),
        Err(e) => tracing::warn!(
            error = %e,
            "copying the shells' init program from the hardshell binary; writing it from memory"
        ),
    }
    out.set_len(0)?;
    out.seek(SeekFrom::Start(0))?;
    out.write_all(SHELL_INIT_IMAGE)
}

fn copy_from_exe(out: &mut File) -> io::Result<()> {
    let offset = offset_in_exe()?;
    let mut exe = File::open("/proc/self/exe")?;
    exe.seek(SeekFrom::Start(offset))?;
    let length = SHELL_INIT_IMAGE.len() as u64;
    let copied = io::copy(&mut exe.take(length), out)?;
    if copied != length {
        return Err(io::Error::other(format!(
            "copied {copied} of {length} bytes"
        )));
    }
    // Read back from the written file, not from the carried bytes.
    out.seek(SeekFrom::Start(0))?;
    let mut digest = Sha256::new();
    io::copy(out, &mut digest)?;
    if format!("{:x}", digest.finalize()) != SHELL_INIT_SHA256 {
        return Err(io::Error::other("the copy's SHA-256 is not the image's"));
    }
    Ok(())
}

/// Where the image starts in this binary's file: the mapping of
/// `/proc/self/maps` that holds its address, that mapping's file offset
/// added. Only a mapping of this binary's own file (device and inode) counts;
/// the copy's SHA-256 is checked all the same.
fn offset_in_exe() -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    let address = SHELL_INIT_IMAGE.as_ptr() as usize;
    let end = address + SHELL_INIT_IMAGE.len();
    let exe = std::fs::metadata("/proc/self/exe")?;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let unreadable = || io::Error::other("/proc/self/maps does not read as expected");
    for line in maps.lines() {
        // start-end perms offset major:minor inode path
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [range, _, offset, device, inode, ..] = fields[..] else {
            return Err(unreadable());
        };
        let (start, stop) = range.split_once('-').ok_or_else(unreadable)?;
        let start = usize::from_str_radix(start, 16).map_err(|_| unreadable())?;
        let stop = usize::from_str_radix(stop, 16).map_err(|_| unreadable())?;
        if !(start <= address && end <= stop) {
            continue;
        }
        let (major, minor) = device.split_once(':').ok_or_else(unreadable)?;
        let device = (
            u32::from_str_radix(major, 16).ok(),
            u32::from_str_radix(minor, 16).ok(),
        );
        let exe_device = (
            Some(rustix::fs::major(exe.dev())),
            Some(rustix::fs::minor(exe.dev())),
        );
        if inode.parse::<u64>().ok() != Some(exe.ino()) || device != exe_device {
            return Err(io::Error::other(
                "the image is not in a mapping of the binary",
            ));
        }
        let offset = u64::from_str_radix(offset, 16).map_err(|_| unreadable())?;
        return Ok(offset + (address - start) as u64);
    }
    Err(io::Error::other("no mapping holds the image"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new, empty `shell-init` in a directory of its own, open to read and write.
    fn fresh_file() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.path().join("shell-init"))
            .unwrap();
        (dir, file)
    }

    #[test]
    fn the_copy_from_the_binary_is_the_image_and_checked() {
        let (dir, mut file) = fresh_file();
        let path = dir.path().join("shell-init");
        // The kernel's copy itself, not the fallback: it must succeed.
        copy_from_exe(&mut file).unwrap();
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), SHELL_INIT_IMAGE);
    }

    #[test]
    fn a_copy_that_reads_back_wrong_is_replaced_by_the_image() {
        // A file holding other bytes first: the kernel's copy lands after
        // them, the read-back's SHA-256 is not the image's, and write_to
        // writes the image from memory over the whole file.
        let (dir, mut file) = fresh_file();
        let path = dir.path().join("shell-init");
        file.write_all(b"not the image").unwrap();
        let refused = copy_from_exe(&mut file).unwrap_err();
        assert!(refused.to_string().contains("SHA-256"), "{refused}");
        file.seek(SeekFrom::Start(0)).unwrap();
        file.write_all(b"not the image").unwrap();
        write_to(&mut file).unwrap();
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), SHELL_INIT_IMAGE);
    }
}
