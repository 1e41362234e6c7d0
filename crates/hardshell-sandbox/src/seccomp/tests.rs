use super::{DENY_LIST, filters, parse};

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
