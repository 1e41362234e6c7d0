"""Attacks from inside a shell, one per case: each prints `<case>: denied <ERRNO>`
when the kernel refused it, or `<case>: ALLOWED` when it went through.
Run as `python3 probe.py CASE...` (or `all`); adversarial.rs checks each line.

Raw system calls through ctypes, numbered for x86_64, so that what is tested is
the call itself and not a library's idea of it.
"""

import ctypes
import errno
import os
import socket
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

SYS = {
    "ptrace": 101, "mount": 165, "umount2": 166, "unshare": 272, "setns": 308,
    "clone": 56, "process_vm_readv": 310, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "io_uring_setup": 425, "keyctl": 250, "add_key": 248,
    "memfd_create": 319, "execveat": 322, "kexec_load": 246, "reboot": 169,
    "init_module": 175, "open_by_handle_at": 304, "pivot_root": 155,
    "fsopen": 430, "open_tree": 428, "clone3": 435,
    # Past the reviewed line (463): Linux 6.15's open_tree_attr.
    "open_tree_attr": 467,
    # x86_64's x32 ABI: any call with bit 30 set (here getpid).
    "x32_getpid": 0x40000000 | 39,
}

CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
SIGCHLD = 17


def call(name, *args):
    """The raw syscall; returns (result, errno)."""
    ctypes.set_errno(0)
    converted = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result = libc.syscall(SYS[name], *converted)
    return result, ctypes.get_errno()


def outcome(case, result, err, child_exits=False):
    if result == 0 and child_exits:
        os._exit(0)  # a clone that went through: the child must not go on
    if result < 0:
        print(f"{case}: denied {errno.errorcode.get(err, err)}")
    else:
        print(f"{case}: ALLOWED")


def sys_case(case, name, *args, child_exits=False):
    result, err = call(name, *args)
    outcome(case, result, err, child_exits)


def socket_case(case, family, kind, proto=0):
    try:
        s = socket.socket(family, kind, proto)
    except OSError as e:
        print(f"{case}: denied {errno.errorcode.get(e.errno, e.errno)}")
        return
    s.close()
    print(f"{case}: ALLOWED")


def tiocsti():
    # On standard input (not a terminal here): seccomp answers EPERM before
    # the tty layer could answer ENOTTY.
    char = ctypes.c_char(b"x")
    ctypes.set_errno(0)
    result = libc.ioctl(0, 0x5412, ctypes.byref(char))
    outcome("tiocsti", result, ctypes.get_errno())


def setns():
    try:
        fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    except OSError as e:
        print(f"setns: denied {errno.errorcode.get(e.errno, e.errno)}")
        return
    ctypes.set_errno(0)
    result = libc.syscall(SYS["setns"], fd, 0)
    outcome("setns", result, ctypes.get_errno())


def fileless_exec():
    result, err = call("memfd_create", b"payload", 0)
    if result < 0:
        print(f"memfd_create: denied {errno.errorcode.get(err, err)}")
    else:
        print("memfd_create: ALLOWED")
    # execveat(AT_FDCWD, "", ..., AT_EMPTY_PATH) with nothing to run: EPERM
    # from seccomp, where the kernel would answer ENOENT.
    sys_case("execveat", "execveat", -100, b"/bin/true", None, None, 0)


def tcp_bind_loopback():
    # The shell's own loopback, an unprivileged port: nothing but Landlock
    # stops this.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
    except OSError as e:
        print(f"tcp_bind_loopback: denied {errno.errorcode.get(e.errno, e.errno)}")
        return
    finally:
        s.close()
    print("tcp_bind_loopback: ALLOWED")


def signal_outside():
    # pid 1 is the reaper: same uid, no capabilities; only Landlock's signal
    # scope keeps the workload from signalling it.
    try:
        os.kill(1, 0)
    except OSError as e:
        print(f"signal_outside: denied {errno.errorcode.get(e.errno, e.errno)}")
        return
    print("signal_outside: ALLOWED")


def fd_flood():
    held = []
    try:
        while True:
            held.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        print(f"fd_flood: denied {errno.errorcode.get(e.errno, e.errno)} after {len(held)}")


def dns():
    try:
        socket.getaddrinfo("example.com", 443)
    except OSError as e:
        print(f"dns: denied {type(e).__name__}")
        return
    print("dns: ALLOWED")


CASES = {
    "mount": lambda: sys_case("mount", "mount", b"none", b"/tmp", b"tmpfs", 0, None),
    "umount": lambda: sys_case("umount", "umount2", b"/proc", 2),
    "pivot_root": lambda: sys_case("pivot_root", "pivot_root", b"/tmp", b"/tmp"),
    "fsopen": lambda: sys_case("fsopen", "fsopen", b"tmpfs", 0),
    "open_tree": lambda: sys_case("open_tree", "open_tree", -100, b"/", 1),
    "unshare_user": lambda: sys_case("unshare_user", "unshare", CLONE_NEWUSER),
    "unshare_mount": lambda: sys_case("unshare_mount", "unshare", CLONE_NEWNS),
    "clone_newuser": lambda: sys_case("clone_newuser", "clone", CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0, child_exits=True),
    "clone_newnet": lambda: sys_case("clone_newnet", "clone", CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0, child_exits=True),
    "clone3": lambda: sys_case("clone3", "clone3", None, 0),
    # Flags 0 and no attributes: an O_PATH descriptor, were it let through.
    "open_tree_attr": lambda: sys_case("open_tree_attr", "open_tree_attr", -100, b"/", 0, None, 0),
    "x32": lambda: sys_case("x32", "x32_getpid"),
    "setns": setns,
    "ptrace": lambda: sys_case("ptrace", "ptrace", 16, 1, 0, 0),
    "process_vm_readv": lambda: sys_case("process_vm_readv", "process_vm_readv", 1, None, 0, None, 0, 0),
    "bpf": lambda: sys_case("bpf", "bpf", 5, None, 0),
    "perf_event_open": lambda: sys_case("perf_event_open", "perf_event_open", None, 0, -1, -1, 0),
    "userfaultfd": lambda: sys_case("userfaultfd", "userfaultfd", 0),
    "io_uring": lambda: sys_case("io_uring", "io_uring_setup", 1, ctypes.create_string_buffer(120)),
    "keyctl": lambda: sys_case("keyctl", "keyctl", 0, -3, 0),
    "add_key": lambda: sys_case("add_key", "add_key", b"user", b"x", b"y", 1, -3),
    "fileless_exec": fileless_exec,
    "tiocsti": tiocsti,
    "vsock": lambda: socket_case("vsock", 40, socket.SOCK_STREAM),
    "packet": lambda: socket_case("packet", 17, socket.SOCK_RAW),
    "packet_dgram": lambda: socket_case("packet_dgram", 17, socket.SOCK_DGRAM),
    "netlink_audit": lambda: socket_case("netlink_audit", 16, socket.SOCK_DGRAM, 9),
    "netlink_route": lambda: socket_case("netlink_route", 16, socket.SOCK_DGRAM, 0),
    "raw_icmp": lambda: socket_case("raw_icmp", socket.AF_INET, socket.SOCK_RAW, 1),
    "kexec": lambda: sys_case("kexec", "kexec_load", 0, 0, None, 0),
    "reboot": lambda: sys_case("reboot", "reboot", 0xfee1dead, 672274793, 0x4321fedc, None),
    "init_module": lambda: sys_case("init_module", "init_module", None, 0, b""),
    "open_by_handle_at": lambda: sys_case("open_by_handle_at", "open_by_handle_at", -100, None, 0),
    "tcp_bind_loopback": tcp_bind_loopback,
    "signal_outside": signal_outside,
    "fd_flood": fd_flood,
    "dns": dns,
}

if __name__ == "__main__":
    wanted = sys.argv[1:] or ["all"]
    for name in (CASES if wanted == ["all"] else wanted):
        CASES[name]()
    sys.stdout.flush()
