use super::{DENY_LIST, FIRST_UNREVIEWED, SYSCALLS, filters, parse, unreviewed_guard};

#[test]
fn the_shipped_list_parses_and_builds_filters() {
    let entries = parse(DENY_LIST).unwrap();
    assert!(entries.len() > 50, "{}", entries.len());
    assert!(entries.iter().all(|e| !e.reason.is_empty()));
    let programs = filters(&entries).unwrap();
    // EPERM for most, ENOSYS for clone3.
    assert_eq!(programs.len(), 2);
}

#[test]
fn every_call_the_issue_names_is_on_the_list() {
    let entries = parse(DENY_LIST).unwrap();
    let listed = |name: &str| entries.iter().any(|e| e.syscall == name);
    for name in [
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "keyctl",
        "add_key",
        "request_key",
        "mount",
        "umount2",
        "fsopen",
        "open_tree",
        "move_mount",
        "setns",
        "unshare",
        "clone",
        "clone3",
        "memfd_create",
        "execveat",
        "ioctl",
        "socket",
        "init_module",
        "finit_module",
        "kexec_load",
        "kexec_file_load",
        "reboot",
    ] {
        assert!(listed(name), "{name} is not denied");
    }
    let socket_domains: Vec<u64> = entries
        .iter()
        .filter(|e| e.syscall == "socket")
        .flat_map(|e| e.conditions.iter())
        .filter(|c| c.arg == 0 && c.equal && c.mask.is_none())
        .map(|c| c.value)
        .collect();
    for domain in [libc::AF_VSOCK, libc::AF_PACKET, libc::AF_NETLINK] {
        assert!(socket_domains.contains(&(domain as u64)), "{domain}");
    }
}

#[test]
fn unknown_calls_names_and_duplicates_are_refused() {
    for (text, why) in [
        ("not_a_syscall : no such call\n", "unknown system call"),
        ("ptrace : one\nptrace : two\n", "listed twice"),
        (
            "socket arg0 == AF_VSOCK : a\nsocket arg0 == AF_VSOCK : b\n",
            "listed twice",
        ),
        ("socket arg0 == AF_NOPE : a\n", "unknown name"),
        ("socket arg9 == 1 : a\n", "arg0..arg5"),
        ("ptrace\n", "expected"),
        ("ptrace :  \n", "expected"),
        ("clone3 => EWHAT : a\n", "unknown errno"),
        ("socket arg0 ~ 1 : a\n", "not a condition"),
    ] {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(why), "{text:?}: {error}");
        assert!(error.contains("line"), "{error}");
    }
    // The same call with different conditions is two entries, not a duplicate.
    let two = parse("socket arg0 == AF_VSOCK : a\nsocket arg0 == AF_PACKET : b\n").unwrap();
    assert_eq!(two.len(), 2);
}

#[test]
fn every_listed_call_is_below_the_unreviewed_line_and_the_guard_answers_enosys_from_it() {
    for (name, number) in SYSCALLS {
        assert!(
            *number < i64::from(FIRST_UNREVIEWED),
            "{name} ({number}) is past the line it was reviewed against"
        );
    }
    let guard = unreviewed_guard();
    assert_eq!(guard.len(), 4);
    // nr >= FIRST_UNREVIEWED: ERRNO(ENOSYS); else allow.
    assert_eq!((guard[1].code, guard[1].k), (0x35, FIRST_UNREVIEWED));
    assert_eq!(guard[2].k, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
    assert_eq!(guard[3].k, libc::SECCOMP_RET_ALLOW);
}
