//! `[exec]`: the agent's `exec` tool, which runs a command in a fresh shell
//! (sandbox) over the session's workspace, and who decides whether it may.

use serde::{Deserialize, Serialize};

mod runs_programs;

/// `[exec]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exec {
    /// Who decides whether a command runs:
    /// - `"deny"`: the agent has no `exec` tool;
    /// - `"allowlist"`: a command runs if every program in it is in `allow`
    ///   (after parsing it: `ls; curl x` is two commands, and `curl` is not
    ///   `ls`); anything else is refused;
    /// - `"ask"`: allowed commands run, and the owner is asked about the rest,
    ///   in the chat page or `hardshell chat`.
    pub approval: Approval,
    /// Programs a command may run without asking. A program that can run
    /// other programs (shells, `env`, `xargs`, `find`, interpreters, `git`,
    /// `make`, `npm`, `cargo`… see [`runs_programs`]) is asked about even when
    /// listed, and listing it is warned about.
    pub allow: Vec<String>,
    /// Seconds a command may run before its whole shell is killed.
    pub timeout_secs: u64,
    /// Seconds a command waits for the owner's answer before it is refused.
    pub approval_timeout_secs: u64,
    /// Output kept from a command (standard output and error each), in bytes.
    pub max_output_bytes: usize,
    /// Memory the command's shell may use, in MiB.
    pub memory_mb: u64,
    /// Processes and threads the command's shell may have at once.
    pub max_pids: u64,
    /// The largest file, in MiB, the agent may share from its workspace
    /// (`send_file`) or a chat may put into it: both are held in the edge's
    /// memory whole.
    pub max_file_mb: u64,
}

/// `[exec] approval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// No `exec` tool.
    Deny,
    /// Allowed commands run; the rest are refused.
    Allowlist,
    /// Allowed commands run; the owner is asked about the rest.
    Ask,
}

impl Default for Exec {
    fn default() -> Self {
        Self {
            approval: Approval::Ask,
            allow: [
                "ls", "cat", "head", "tail", "wc", "grep", "sort", "uniq", "cut", "tr", "echo",
                "pwd", "date", "diff", "stat", "file", "du", "mkdir", "touch",
            ]
            .map(str::to_owned)
            .to_vec(),
            timeout_secs: 60,
            approval_timeout_secs: 180,
            max_output_bytes: 64 * 1024,
            memory_mb: 512,
            max_pids: 128,
            max_file_mb: 20,
        }
    }
}

/// Why `program` (a name or a path, as a command names it) can run other
/// programs, if it is one that can: it then always needs the owner.
pub fn runs_programs(program: &str) -> Option<&'static str> {
    let names = candidate_names(program);
    runs_programs::ALWAYS
        .iter()
        .find(|(name, _)| names.contains(name))
        .map(|(_, reason)| *reason)
}

/// The options that make `program` run other programs (any argument starting
/// with one of them), and why, for a program that is safe without them.
pub fn options_that_run_programs(program: &str) -> Option<(&'static [&'static str], &'static str)> {
    let names = candidate_names(program);
    runs_programs::UNLESS_OPTIONS
        .iter()
        .find(|(name, _, _)| names.contains(name))
        .map(|(_, options, reason)| (*options, *reason))
}

/// The names `program` is known by: as written, its file name, and that
/// without a version suffix (`/usr/bin/python3.12`: `python`).
fn candidate_names(program: &str) -> [&str; 3] {
    let file = program.rsplit('/').next().unwrap_or(program);
    let unversioned = file.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
    let unversioned = if unversioned.is_empty() {
        file
    } else {
        unversioned
    };
    [program, file, unversioned]
}

impl Exec {
    /// `max_file_mb` in bytes.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_mb.saturating_mul(1 << 20)
    }

    /// Programs in `allow` that can run other programs, and why: they are
    /// asked about anyway, and listing them is worth a warning. (`sort`,
    /// safe but for one option, is not warned about: only that option is
    /// asked about.)
    pub fn listed_programs_that_run_programs(&self) -> Vec<(&str, &'static str)> {
        self.allow
            .iter()
            .filter_map(|program| runs_programs(program).map(|reason| (program.as_str(), reason)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::runs_programs::{ALWAYS, UNLESS_OPTIONS};
    use super::*;

    #[test]
    fn the_table_names_programs_once_each_with_a_reason() {
        let mut seen = std::collections::BTreeSet::new();
        let names = ALWAYS.iter().map(|(name, reason)| (*name, *reason)).chain(
            UNLESS_OPTIONS
                .iter()
                .map(|(name, _, reason)| (*name, *reason)),
        );
        for (name, reason) in names {
            assert!(
                crate::is_program_name(name),
                "{name:?} is not a program name"
            );
            assert!(!name.contains('/'), "{name:?}: a file name, not a path");
            assert!(seen.insert(name), "{name:?} is listed twice");
            assert!(!reason.trim().is_empty(), "{name:?} has no reason");
        }
        // No entry is shadowed by an earlier one its lookup also finds.
        for (i, (name, _)) in ALWAYS.iter().enumerate() {
            let names = candidate_names(name);
            let first = ALWAYS.iter().position(|(n, _)| names.contains(n));
            assert_eq!(first, Some(i), "{name:?} is found as another entry");
        }
        for (name, options, _) in UNLESS_OPTIONS {
            assert!(!options.is_empty(), "{name:?} lists no options");
            assert!(
                options.iter().all(|o| o.starts_with('-')),
                "{name:?}: {options:?}"
            );
        }
    }

    #[test]
    fn programs_are_known_by_path_and_version_too() {
        for program in [
            "git",
            "/usr/bin/git",
            "python3",
            "/usr/bin/python3.12",
            "gcc-12",
        ] {
            assert!(runs_programs(program).is_some(), "{program}");
        }
        assert!(options_that_run_programs("/usr/bin/sort").is_some());
        // Found missing in review; the loader is named by its path.
        for program in ["rg", "split"] {
            assert!(options_that_run_programs(program).is_some(), "{program}");
        }
        for program in [
            "fd",
            "socat",
            "nc",
            "ldd",
            "setpriv",
            "runuser",
            "prlimit",
            "view",
            "vimdiff",
            "/lib64/ld-linux-x86-64.so.2",
        ] {
            assert!(runs_programs(program).is_some(), "{program}");
        }
        for program in ["ls", "cat", "gitk2x", "sorted", "/usr/bin/ls"] {
            assert!(runs_programs(program).is_none(), "{program}");
        }
    }

    #[test]
    fn the_default_allow_list_needs_no_warning_but_listing_git_does() {
        let defaults = Exec::default();
        assert!(defaults.listed_programs_that_run_programs().is_empty());
        let with_git = Exec {
            allow: vec!["ls".into(), "git".into(), "/usr/bin/make".into()],
            ..Exec::default()
        };
        let warned: Vec<_> = with_git
            .listed_programs_that_run_programs()
            .into_iter()
            .map(|(program, _)| program)
            .collect();
        assert_eq!(warned, ["git", "/usr/bin/make"]);
    }
}
