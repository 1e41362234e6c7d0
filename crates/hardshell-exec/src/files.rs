//! Files across a session's workspace boundary: a chat's attachment put in
//! (a deposit, at `/workspace/inbox/<name>`), and a file the agent shares
//! out (`send_file`), kept by the edge for the session's owner to download.
//!
//! What this module fixes, whatever shell does the writing and reading: a
//! file's name from outside is cleaned here ([`safe_file_name`]) before any
//! shell sees it; a deposit or a shared file is at most `[exec]
//! max_file_mb`; the files kept for download are bounded in number per
//! session and in bytes overall ([`SharedFiles`]), the oldest dropped.
//! The walk on disk that never follows what a shell planted is the tool
//! shell's (`hardshell_shells`).

mod service;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::tool_shell::ToolShellError;

/// Where a deposited file goes, under the workspace.
pub const INBOX: &str = "inbox";

/// Where a session's workspace is in its shells: the agent's paths start so.
pub const WORKSPACE: &str = "/workspace";

/// The longest name a deposit is given, in bytes (a numbered one included).
pub const MAX_NAME_BYTES: usize = 80;

/// An extension longer than this is not kept apart when a name is cut: it
/// is more likely a long name with a dot in it.
const MAX_EXTENSION_BYTES: usize = 16;

/// Files kept for download per session; a newer one drops the oldest.
pub const SHARED_PER_SESSION: usize = 8;

/// How many times `max_file_mb` all sessions' kept files may add up to.
pub const SHARED_TOTAL_FILES: u64 = 4;

/// `name`, from a chat platform (hostile), as a file name that is safe to
/// write and to show: its last path component (after the last `/` or `\`),
/// every character but ASCII letters, digits, `.`, `_` and `-` turned into
/// `_`, no leading dot (so never `.`, `..` or a hidden file), at most
/// [`MAX_NAME_BYTES`] keeping its extension, and `file` if nothing is left.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        return "file".to_owned();
    }
    fitted(cleaned, "")
}

/// `name` (cleaned: ASCII only) with `suffix` put before its extension,
/// the stem cut so the whole is at most [`MAX_NAME_BYTES`]: `report.pdf`
/// with `-2` is `report-2.pdf`.
pub fn numbered(name: &str, suffix: &str) -> String {
    fitted(name, suffix)
}

fn fitted(name: &str, suffix: &str) -> String {
    let (stem, extension) = split_extension(name);
    let room = MAX_NAME_BYTES.saturating_sub(extension.len() + suffix.len());
    // Cleaned names are ASCII, so any byte is a character boundary; a name
    // that is not is cut at the boundary below, never in a character.
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let stem = &stem[..cut];
    let stem = if stem.is_empty() { "file" } else { stem };
    format!("{stem}{suffix}{extension}")
}

/// `("report", ".pdf")`; no extension when the dot is the first byte or the
/// extension is too long to be one.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES => name.split_at(dot),
        _ => (name, ""),
    }
}

/// A file to put into a session's workspace inbox.
#[derive(Clone)]
pub struct Deposit {
    /// A checked session id (see [`crate::is_session_id`]).
    pub session: String,
    /// Already cleaned ([`safe_file_name`]); numbered by the shell if taken.
    pub name: String,
    pub bytes: Bytes,
}

impl std::fmt::Debug for Deposit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The content is a person's: its size only.
        f.debug_struct("Deposit")
            .field("session", &self.session)
            .field("name", &self.name)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// A file of a session's workspace the agent asks to share.
#[derive(Debug, Clone)]
pub struct Take {
    pub session: String,
    /// As the agent's commands see it: `/workspace/...`.
    pub path: String,
    /// Larger is refused, also when the file grows while it is read.
    pub max_bytes: u64,
}

/// A file read out of a workspace.
#[derive(Clone)]
pub struct TakenFile {
    /// Its last component, cleaned ([`safe_file_name`]).
    pub name: String,
    pub bytes: Bytes,
}

impl std::fmt::Debug for TakenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TakenFile")
            .field("name", &self.name)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// Why a file was not put in or shared: the step that refused or failed.
/// The agent (for a share) or the person who sent it (a deposit) is told
/// this text; a path in it is the agent's own.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the session id is not valid")]
    SessionId,
    #[error("{size} bytes is more than [exec] max_file_mb allows ({max} bytes)")]
    TooLarge { size: u64, max: u64 },
    #[error("{path:?} is not in the workspace: give a path under /workspace/")]
    OutsideWorkspace { path: String },
    #[error("{path:?} leaves the workspace")]
    LeavesWorkspace { path: String },
    #[error("{path:?} is or goes through a symbolic link; give the file's own path")]
    Symlink { path: String },
    #[error("{path:?} does not exist")]
    NotFound { path: String },
    #[error("{path:?} is not a regular file")]
    NotAFile { path: String },
    #[error(
        "/workspace/inbox is not a directory (a command put something else there); move it away and send the file again"
    )]
    InboxNotDirectory,
    #[error(
        "the workspace is full (its size or file count, [shell] workspace_mb and workspace_inodes); nothing was kept"
    )]
    WorkspaceFull,
    #[error("every name from {name:?} to its -{last} is taken in /workspace/inbox")]
    NamesTaken { name: String, last: u32 },
    #[error("the system's random number source failed")]
    NoRandomness,
    #[error("the workspace: {step}: {source}")]
    Io {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Shell(#[from] ToolShellError),
}

/// A file the agent shared, as its session's clients are told of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFileInfo {
    /// Random: whoever knows it (and owns the session) may download it.
    pub id: String,
    pub name: String,
    pub size: u64,
}

/// One kept file.
struct Kept {
    session: String,
    id: String,
    name: String,
    bytes: Bytes,
}

/// The files the agent shared, kept for download: at most
/// [`SHARED_PER_SESSION`] a session and `total_bytes` in all, the oldest
/// dropped first. In memory only: an edge that restarts forgets them.
pub(crate) struct SharedFiles {
    total_bytes: u64,
    kept: VecDeque<Kept>,
}

impl SharedFiles {
    pub(crate) fn new(total_bytes: u64) -> Self {
        Self {
            total_bytes,
            kept: VecDeque::new(),
        }
    }

    /// Keeps `bytes` as `session`'s file `id`, dropping the oldest files
    /// until the bounds hold again.
    pub(crate) fn keep(&mut self, session: &str, id: String, name: String, bytes: Bytes) {
        let in_session = self.kept.iter().filter(|k| k.session == session).count();
        if in_session >= SHARED_PER_SESSION
            && let Some(oldest) = self.kept.iter().position(|k| k.session == session)
        {
            self.kept.remove(oldest);
        }
        self.kept.push_back(Kept {
            session: session.to_owned(),
            id,
            name,
            bytes,
        });
        while self.bytes() > self.total_bytes && self.kept.len() > 1 {
            self.kept.pop_front();
        }
    }

    /// `session`'s file `id`: its name and bytes.
    pub(crate) fn get(&self, session: &str, id: &str) -> Option<(String, Bytes)> {
        self.kept
            .iter()
            .find(|k| k.session == session && k.id == id)
            .map(|k| (k.name.clone(), k.bytes.clone()))
    }

    fn bytes(&self) -> u64 {
        self.kept.iter().map(|k| k.bytes.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platforms_name_is_cut_to_its_last_component_and_safe_characters() {
        for (given, safe) in [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\me\\photo 1.JPG", "photo_1.JPG"),
            ("a/b\\c.txt", "c.txt"),
            ("dir/", "file"),
            ("", "file"),
            (".", "file"),
            ("..", "file"),
            (".bashrc", "bashrc"),
            ("...hidden.tar.gz", "hidden.tar.gz"),
            ("name;rm -rf ~.sh", "name_rm_-rf__.sh"),
            ("über\u{202e}gnp.exe", "_ber_gnp.exe"),
            ("nul\0byte", "nul_byte"),
            ("$(id)`x`", "__id__x_"),
        ] {
            assert_eq!(safe_file_name(given), safe, "{given:?}");
        }
    }

    #[test]
    fn a_long_name_is_cut_to_80_bytes_keeping_its_extension() {
        let long = format!("{}.pdf", "a".repeat(300));
        let safe = safe_file_name(&long);
        assert_eq!(safe.len(), MAX_NAME_BYTES);
        assert!(safe.ends_with("a.pdf"), "{safe}");
        // Multi-byte characters count as one `_` each, before the cut.
        let wide = "é".repeat(200);
        assert_eq!(safe_file_name(&wide), "_".repeat(MAX_NAME_BYTES));
        // An "extension" longer than an extension is part of the name.
        let dotted = format!("x.{}", "b".repeat(100));
        assert_eq!(safe_file_name(&dotted).len(), MAX_NAME_BYTES);
        assert!(safe_file_name(&dotted).starts_with("x.b"));
    }

    #[test]
    fn a_numbered_name_goes_before_the_extension_and_stays_within_80_bytes() {
        assert_eq!(numbered("report.pdf", "-2"), "report-2.pdf");
        assert_eq!(numbered("README", "-3"), "README-3");
        assert_eq!(numbered("archive.tar.gz", "-2"), "archive.tar-2.gz");
        let long = safe_file_name(&format!("{}.pdf", "a".repeat(300)));
        let again = numbered(&long, "-12");
        assert_eq!(again.len(), MAX_NAME_BYTES);
        assert!(again.ends_with("a-12.pdf"), "{again}");
    }

    #[test]
    fn kept_files_are_bounded_per_session_and_in_bytes_oldest_first() {
        let mut files = SharedFiles::new(100);
        let file = |n: usize| Bytes::from(vec![b'x'; n]);
        for n in 0..SHARED_PER_SESSION + 2 {
            files.keep("s-1", format!("id-{n}"), format!("f{n}"), file(1));
        }
        assert!(files.get("s-1", "id-0").is_none(), "the oldest went first");
        assert!(files.get("s-1", "id-1").is_none());
        assert!(files.get("s-1", "id-2").is_some());
        // Another session's files are not dropped for this one's count,
        // only for the bytes all share.
        files.keep("s-2", "other".into(), "o".into(), file(1));
        assert_eq!(files.get("s-2", "other").unwrap().0, "o");
        assert!(files.get("s-1", "other").is_none(), "another session's");
        files.keep("s-3", "big".into(), "b".into(), file(95));
        assert!(files.bytes() <= 100, "{}", files.bytes());
        assert!(files.get("s-3", "big").is_some(), "the newest stays");
        assert!(files.get("s-1", "id-2").is_none(), "the oldest made room");
    }
}
