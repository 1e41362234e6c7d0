//! The seccomp filter, built from the deny list in `seccomp.deny` (a data file,
//! so each entry carries its reason and review reads one list). The list is
//! checked when it is loaded: an unknown system call or name, or an entry
//! given twice, is an error, never skipped.

use std::collections::{BTreeMap, BTreeSet};

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

/// The shipped list.
pub(crate) const DENY_LIST: &str = include_str!("seccomp.deny");

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub syscall: String,
    pub conditions: Vec<Condition>,
    /// The errno returned.
    pub errno: u32,
    pub reason: String,
}

/// `(arg & mask) <op> value`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Condition {
    pub arg: u8,
    pub mask: Option<u64>,
    pub equal: bool,
    pub value: u64,
}

/// Names the list may use for values.
const NAMES: &[(&str, u64)] = &[
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER as u64),
    ("CLONE_NEWNS", libc::CLONE_NEWNS as u64),
    ("CLONE_NEWPID", libc::CLONE_NEWPID as u64),
    ("CLONE_NEWNET", libc::CLONE_NEWNET as u64),
    ("CLONE_NEWIPC", libc::CLONE_NEWIPC as u64),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS as u64),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP as u64),
    ("CLONE_NEWTIME", 0x80),
    ("AF_VSOCK", libc::AF_VSOCK as u64),
    ("AF_PACKET", libc::AF_PACKET as u64),
    ("AF_NETLINK", libc::AF_NETLINK as u64),
    ("NETLINK_ROUTE", libc::NETLINK_ROUTE as u64),
    ("SOCK_RAW", libc::SOCK_RAW as u64),
    ("TIOCSTI", libc::TIOCSTI),
    ("TIOCLINUX", libc::TIOCLINUX),
    ("PERSONALITY_QUERY", 0xffff_ffff),
];

const ERRNOS: &[(&str, u32)] = &[
    ("EPERM", libc::EPERM as u32),
    ("ENOSYS", libc::ENOSYS as u32),
];

/// The system call numbers the list may name, for this architecture.
fn sys_number(name: &str) -> i64 {
    SYSCALLS
        .iter()
        .find(|(known, _)| *known == name)
        .map_or(-1, |(_, number)| *number)
}

/// Every system call the list may name, with its number on this architecture.
#[cfg(target_arch = "x86_64")]
const SYSCALLS: &[(&str, i64)] = &[
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("clone", libc::SYS_clone),
    ("clone3", libc::SYS_clone3),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("open_tree", libc::SYS_open_tree),
    ("move_mount", libc::SYS_move_mount),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("kcmp", libc::SYS_kcmp),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("fanotify_init", libc::SYS_fanotify_init),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ("personality", libc::SYS_personality),
    ("uselib", libc::SYS_uselib),
    ("iopl", libc::SYS_iopl),
    ("ioperm", libc::SYS_ioperm),
    ("memfd_create", libc::SYS_memfd_create),
    ("execveat", libc::SYS_execveat),
    ("ioctl", libc::SYS_ioctl),
    ("socket", libc::SYS_socket),
    ("socketpair", libc::SYS_socketpair),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("quotactl", libc::SYS_quotactl),
    ("quotactl_fd", 443),
    ("syslog", libc::SYS_syslog),
];

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;

#[cfg(not(target_arch = "x86_64"))]
compile_error!("the shell's seccomp list names x86_64 system calls only so far");

/// Why the list was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListError {
    #[error("seccomp.deny line {line}: {why}")]
    Line { line: usize, why: String },
    #[error("seccomp.deny line {line}: {source}")]
    Condition {
        line: usize,
        #[source]
        source: ConditionError,
    },
}

/// Why an argument condition (`arg1 & 0x10 == 0x10`) was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConditionError {
    #[error("{word:?} is not arg0..arg5")]
    NotAnArgument { word: String },
    #[error("{text:?} is not a condition")]
    NotACondition { text: String },
    #[error("{text}: {source}")]
    Hex {
        text: String,
        #[source]
        source: std::num::ParseIntError,
    },
    #[error("unknown name {text}")]
    UnknownName { text: String },
}

/// Why a checked list did not compile to filters.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FilterError {
    #[error("{syscall}: {source}")]
    Condition {
        syscall: String,
        #[source]
        source: BackendError,
    },
    #[error(transparent)]
    Compile(#[from] BackendError),
}

/// Parses and checks a deny list.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, ListError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let bad = |why: String| ListError::Line { line: line_no, why };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (rule, reason) = line
            .split_once(" : ")
            .ok_or_else(|| bad("expected `<syscall> [conditions] : <reason>`".into()))?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(bad("no reason given".into()));
        }
        let (rule, errno) = match rule.split_once("=>") {
            Some((rule, errno)) => {
                let errno = errno.trim();
                let number = ERRNOS
                    .iter()
                    .find(|(name, _)| *name == errno)
                    .map(|(_, number)| *number)
                    .ok_or_else(|| bad(format!("unknown errno {errno}")))?;
                (rule, number)
            }
            None => (rule, libc::EPERM as u32),
        };
        let mut words = rule.split_whitespace();
        let syscall = words.next().ok_or_else(|| bad("no syscall".into()))?;
        if sys_number(syscall) < 0 {
            return Err(bad(format!("unknown system call {syscall}")));
        }
        let rest: Vec<&str> = words.collect();
        let mut conditions = Vec::new();
        if !rest.is_empty() {
            for part in rest.join(" ").split("&&") {
                conditions.push(
                    condition(part.trim()).map_err(|source| ListError::Condition {
                        line: line_no,
                        source,
                    })?,
                );
            }
        }
        conditions.sort();
        if !seen.insert((syscall.to_owned(), conditions.clone())) {
            return Err(bad(format!(
                "{syscall} is listed twice with the same conditions"
            )));
        }
        entries.push(Entry {
            syscall: syscall.to_owned(),
            conditions,
            errno,
            reason: reason.to_owned(),
        });
    }
    Ok(entries)
}

fn condition(text: &str) -> Result<Condition, ConditionError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let arg = |word: &str| -> Result<u8, ConditionError> {
        word.strip_prefix("arg")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n < 6)
            .ok_or_else(|| ConditionError::NotAnArgument {
                word: word.to_owned(),
            })
    };
    match words.as_slice() {
        [a, "==", v] => Ok(Condition {
            arg: arg(a)?,
            mask: None,
            equal: true,
            value: value(v)?,
        }),
        [a, "!=", v] => Ok(Condition {
            arg: arg(a)?,
            mask: None,
            equal: false,
            value: value(v)?,
        }),
        [a, "&", m, "==", v] => Ok(Condition {
            arg: arg(a)?,
            mask: Some(value(m)?),
            equal: true,
            value: value(v)?,
        }),
        [a, "&", v] => {
            let v = value(v)?;
            Ok(Condition {
                arg: arg(a)?,
                mask: Some(v),
                equal: true,
                value: v,
            })
        }
        _ => Err(ConditionError::NotACondition {
            text: text.to_owned(),
        }),
    }
}

fn value(text: &str) -> Result<u64, ConditionError> {
    if let Some(hex) = text.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).map_err(|source| ConditionError::Hex {
            text: text.to_owned(),
            source,
        });
    }
    if let Ok(number) = text.parse() {
        return Ok(number);
    }
    NAMES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, value)| *value)
        .ok_or_else(|| ConditionError::UnknownName {
            text: text.to_owned(),
        })
}

/// The filters for a list: one per errno, applied in order.
pub(crate) fn filters(entries: &[Entry]) -> Result<Vec<BpfProgram>, FilterError> {
    // Per errno, per syscall: `None` when refused whatever the arguments.
    let mut by_errno: BTreeMap<u32, BTreeMap<i64, Option<Vec<SeccompRule>>>> = BTreeMap::new();
    for entry in entries {
        let rules = by_errno
            .entry(entry.errno)
            .or_default()
            .entry(sys_number(&entry.syscall))
            .or_insert_with(|| Some(Vec::new()));
        if entry.conditions.is_empty() {
            *rules = None;
            continue;
        }
        let Some(rules) = rules else { continue };
        let conditions = entry
            .conditions
            .iter()
            .map(|c| {
                let op = match (c.mask, c.equal) {
                    (Some(mask), _) => SeccompCmpOp::MaskedEq(mask),
                    (None, true) => SeccompCmpOp::Eq,
                    (None, false) => SeccompCmpOp::Ne,
                };
                // Arguments compared here are ints (flags, domains, request
                // numbers): the low 32 bits are what the kernel reads.
                SeccompCondition::new(c.arg, SeccompCmpArgLen::Dword, op, c.value).map_err(
                    |source| FilterError::Condition {
                        syscall: entry.syscall.clone(),
                        source,
                    },
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        rules.push(SeccompRule::new(conditions)?);
    }
    by_errno
        .into_iter()
        .map(|(errno, rules)| {
            // seccompiler: an empty rule list matches the call whatever its arguments.
            let rules = rules
                .into_iter()
                .map(|(number, rules)| (number, rules.unwrap_or_default()))
                .collect();
            let filter = SeccompFilter::new(
                rules,
                SeccompAction::Allow,
                SeccompAction::Errno(errno),
                ARCH,
            )?;
            Ok(BpfProgram::try_from(filter)?)
        })
        .collect()
}

/// The first system call number the list was not reviewed against: one past
/// `mseal` (462, Linux 6.10). A deny list is blind to calls newer than itself.
pub(crate) const FIRST_UNREVIEWED: u32 = 463;

/// Every number from [`FIRST_UNREVIEWED`] up answers ENOSYS, as an older kernel
/// would: libc falls back, and a new kernel interface (6.15's
/// `open_tree_attr`, 467) is out of reach until someone reviews it and moves
/// the line. It also covers x86_64's x32 ABI, which accepts every call again
/// with bit 30 set in its number under the same audit arch, where a rule
/// keyed on `mount`'s number would not see x32 `mount`.
///
/// Hand-written: seccompiler matches exact numbers only and cannot express a
/// range. Four instructions; the architecture is checked by the list's own
/// programs, which kill a process calling through another ABI.
fn unreviewed_guard() -> BpfProgram {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const NR_OFFSET: u32 = 0; // offsetof(struct seccomp_data, nr)
    let enosys = libc::SECCOMP_RET_ERRNO | (libc::ENOSYS as u32 & libc::SECCOMP_RET_DATA);
    let insn = |code, jt, jf, k| seccompiler::sock_filter { code, jt, jf, k };
    vec![
        insn(LD_W_ABS, 0, 0, NR_OFFSET),
        insn(JGE_K, 0, 1, FIRST_UNREVIEWED),
        insn(RET_K, 0, 0, enosys),
        insn(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Installs the shipped list and the guard on the calling thread
/// (`no_new_privs` is set before, by the plan).
pub(crate) fn apply() -> std::io::Result<()> {
    let entries = parse(DENY_LIST).map_err(std::io::Error::other)?;
    let mut programs = filters(&entries).map_err(std::io::Error::other)?;
    programs.push(unreviewed_guard());
    for program in programs {
        seccompiler::apply_filter(&program).map_err(std::io::Error::other)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
