//! Giving back the page-table entries of the program's own file pages once
//! start-up is over.
//!
//! The kernel maps a program's code as it runs, and each fault maps the
//! cached pages around the one touched too (fault-around, 64 KiB), so
//! starting up — parsing the configuration, opening storage, building TLS
//! and the routers — leaves most of a large binary's code mapped in the
//! process for good, though little of it runs again. Those pages are clean
//! copies of the file: dropping their entries costs nothing but a minor
//! fault when a page runs again, and pages no process maps any more are
//! the page cache's first to go when memory is short, where mapped code is
//! held on to. `hardshell up` and its agent call this once they serve.

use std::io;

/// What [`release_file_pages`] gave back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Mappings whose entries were dropped.
    pub mappings: usize,
    /// Their resident size before, in KiB.
    pub resident_kib: u64,
}

/// One mapping of `/proc/self/smaps`, with the fields the decision needs.
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    perms: String,
    path: String,
    rss_kib: u64,
    /// Pages of the mapping that are no longer the file's: for a private
    /// file mapping, the copies made on write. (`Private_Dirty` is no
    /// guide: it also counts page-cache pages not yet written back, such
    /// as those of a program the linker just wrote.)
    anonymous_kib: u64,
}

impl Mapping {
    /// Whether every page of the mapping is, and stays, the file's own
    /// bytes: a private, never-writable mapping of `program` with no page
    /// copied on write (relocated read-only data after start-up has copies,
    /// and is left alone).
    fn is_clean_file_copy_of(&self, program: &str) -> bool {
        self.path == program
            && self.perms.ends_with('p')
            && !self.perms.contains('w')
            && self.anonymous_kib == 0
    }
}

/// Drops this process's page-table entries for the clean pages of its own
/// program file (its code and read-only data), which stay in the page
/// cache: a page used again is mapped again by a minor fault.
pub fn release_file_pages() -> io::Result<Released> {
    let program = std::fs::read_link("/proc/self/exe")?;
    let program = program
        .to_str()
        .ok_or_else(|| io::Error::other("the program's path is not UTF-8"))?;
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = Released::default();
    for mapping in parse_smaps(&smaps) {
        if !mapping.is_clean_file_copy_of(program) || mapping.rss_kib == 0 {
            continue;
        }
        // SAFETY: the range is exactly one mapping the kernel reported for
        // this process: private, without write permission, backed by the
        // program file, and with no page copied on write, so each of its
        // pages holds the file's bytes. MADV_DONTNEED on a private file
        // mapping drops the entries, and the next access maps the file's
        // page again: no memory the program reads changes. hardshell never
        // makes its own code or read-only data writable, so no page becomes
        // a private copy between the reading of smaps and this call.
        let result = unsafe {
            libc::madvise(
                mapping.start as *mut libc::c_void,
                mapping.end - mapping.start,
                libc::MADV_DONTNEED,
            )
        };
        crate::check(result)?;
        released.mappings += 1;
        released.resident_kib += mapping.rss_kib;
    }
    Ok(released)
}

/// The mappings of a `/proc/PID/smaps` text; lines that do not parse are
/// skipped (a mapping without its fields is never released).
fn parse_smaps(text: &str) -> Vec<Mapping> {
    let mut mappings: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        if let Some(mapping) = parse_header(line) {
            mappings.push(mapping);
            continue;
        }
        let Some(current) = mappings.last_mut() else {
            continue;
        };
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kib = value
            .trim()
            .strip_suffix(" kB")
            .and_then(|n| n.trim().parse::<u64>().ok());
        let Some(kib) = kib else {
            continue;
        };
        match key {
            "Rss" => current.rss_kib = kib,
            "Anonymous" => current.anonymous_kib = kib,
            _ => {}
        }
    }
    mappings
}

/// `start-end perms offset dev inode [path]`; the fields default to a
/// mapping that is never released until its lines say otherwise.
fn parse_header(line: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, ' ');
    let range = fields.next()?;
    let perms = fields.next()?;
    let (_offset, _dev, _inode) = (fields.next()?, fields.next()?, fields.next()?);
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    if perms.len() != 4 || end <= start {
        return None;
    }
    Some(Mapping {
        start,
        end,
        perms: perms.to_owned(),
        path: fields.next().unwrap_or("").trim_start().to_owned(),
        rss_kib: 0,
        anonymous_kib: u64::MAX,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a1000000-55d0a1200000 r--p 00000000 fd:00 1234 /opt/hardshell/hardshell
Size:               2048 kB
Rss:                1616 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0a1200000-55d0a2800000 r-xp 00200000 fd:00 1234 /opt/hardshell/hardshell
Size:              22528 kB
Rss:               13732 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0a2800000-55d0a2880000 r--p 01800000 fd:00 1234 /opt/hardshell/hardshell
Rss:                 540 kB
Private_Dirty:       540 kB
Anonymous:           540 kB
55d0a2880000-55d0a2890000 rw-p 01880000 fd:00 1234 /opt/hardshell/hardshell
Rss:                  64 kB
Private_Dirty:        64 kB
Anonymous:            64 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:00 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 972 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 r-xp 00000000 fd:00 1234 /opt/hardshell/hardshell
Rss:                   4 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  12 kB
Private_Dirty:        12 kB
Anonymous:            12 kB
";

    #[test]
    fn only_clean_private_unwritable_mappings_of_the_program_are_released() {
        let program = "/opt/hardshell/hardshell";
        let chosen: Vec<(usize, u64)> = parse_smaps(SMAPS)
            .iter()
            .filter(|m| m.is_clean_file_copy_of(program))
            .map(|m| (m.start, m.rss_kib))
            .collect();
        // The read-only data and the code; not the relocated read-only data
        // (copied on write), the writable data, another file, a mapping
        // whose fields are missing, or the stack.
        assert_eq!(
            chosen,
            vec![(0x55d0_a100_0000, 1616), (0x55d0_a120_0000, 13732)]
        );
    }

    #[test]
    fn a_damaged_header_is_no_mapping() {
        assert!(parse_header("zz-10 r-xp 0 fd:00 1 /x").is_none());
        assert!(parse_header("20-10 r-xp 0 fd:00 1 /x").is_none());
        assert!(parse_header("10-20 r-x 0 fd:00 1 /x").is_none());
        assert!(parse_header("Rss: 4 kB").is_none());
    }

    /// Releasing in this very process: the code keeps running, and what
    /// was mapped of the test binary's file pages is mapped no more until
    /// it runs again.
    #[test]
    fn releasing_keeps_the_process_running_and_unmaps_its_file_pages() {
        let program = std::fs::read_link("/proc/self/exe").unwrap();
        let program = program.to_str().unwrap().to_owned();
        let resident = || -> u64 {
            parse_smaps(&std::fs::read_to_string("/proc/self/smaps").unwrap())
                .iter()
                .filter(|m| m.is_clean_file_copy_of(&program))
                .map(|m| m.rss_kib)
                .sum()
        };
        let before = resident();
        assert!(
            before > 0,
            "no clean file pages of the test binary are mapped"
        );
        let released = release_file_pages().unwrap();
        assert!(released.mappings >= 1);
        assert!(released.resident_kib > 0);
        let after = resident();
        assert!(
            after < before,
            "{after} KiB still mapped of the {before} KiB there were"
        );
        // Code and read-only data still work: format, parse, allocate.
        let text = format!("{:?}", parse_smaps(SMAPS));
        assert!(text.contains("hardshell"));
    }
}
