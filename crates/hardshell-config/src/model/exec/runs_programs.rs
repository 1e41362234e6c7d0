//! Programs that can run other programs (or any code) given the right
//! arguments, environment or files: listed in `[exec] allow`, they would let
//! an unasked command run anything in its shell. The edge asks about every
//! command that uses one of them even when it is listed (or refuses it, in
//! `allowlist` mode), and the config loader warns about listing them.
//!
//! A data table, one reason per entry; the tests check that every name is a
//! program name, none is listed twice, and the default `allow` has none.
//! Names are matched on the program's file name with a version suffix cut
//! (`/usr/bin/python3.12` is `python`).

/// Programs that always need the owner, with why.
pub(super) const ALWAYS: &[(&str, &str)] = &[
    // Shells and the builtins that run their arguments as commands.
    ("sh", "a shell: runs any command given"),
    ("bash", "a shell: runs any command given"),
    ("dash", "a shell: runs any command given"),
    ("zsh", "a shell: runs any command given"),
    ("ksh", "a shell: runs any command given"),
    ("mksh", "a shell: runs any command given"),
    ("fish", "a shell: runs any command given"),
    ("csh", "a shell: runs any command given"),
    ("tcsh", "a shell: runs any command given"),
    ("busybox", "contains a shell and every applet"),
    ("eval", "runs its arguments as a command"),
    ("exec", "runs its arguments as a program"),
    ("source", "runs a file as shell commands"),
    ("command", "runs its arguments as a program"),
    ("builtin", "runs its arguments as a builtin (eval, source)"),
    (
        "trap",
        "runs its argument as a command when a signal or exit comes",
    ),
    // Wrappers that run the program named in their arguments.
    ("env", "runs the program named in its arguments"),
    ("xargs", "runs the program named in its arguments"),
    ("find", "-exec, -execdir, -ok run programs"),
    ("nice", "runs the program named in its arguments"),
    ("nohup", "runs the program named in its arguments"),
    ("timeout", "runs the program named in its arguments"),
    ("time", "runs the program named in its arguments"),
    ("stdbuf", "runs the program named in its arguments"),
    ("setsid", "runs the program named in its arguments"),
    ("ionice", "runs the program named in its arguments"),
    ("taskset", "runs the program named in its arguments"),
    ("chrt", "runs the program named in its arguments"),
    ("flock", "runs the program named in its arguments"),
    ("watch", "runs its arguments as a shell command"),
    ("parallel", "runs its arguments as commands"),
    ("run-parts", "runs every program in a directory"),
    ("script", "runs a shell or the command given with -c"),
    ("unshare", "runs the program named in its arguments"),
    ("nsenter", "runs the program named in its arguments"),
    ("chroot", "runs the program named in its arguments"),
    ("sudo", "runs the program named in its arguments"),
    ("su", "runs a shell or the command given with -c"),
    ("doas", "runs the program named in its arguments"),
    ("strace", "runs the program named in its arguments"),
    ("ltrace", "runs the program named in its arguments"),
    ("gdb", "runs programs, and shell commands from its scripts"),
    ("valgrind", "runs the program named in its arguments"),
    ("expect", "a Tcl interpreter that runs programs"),
    // Interpreters: run any code, including code that starts programs.
    ("python", "an interpreter: runs any code given"),
    ("perl", "an interpreter: runs any code given"),
    ("ruby", "an interpreter: runs any code given"),
    ("node", "an interpreter: runs any code given"),
    ("nodejs", "an interpreter: runs any code given"),
    ("deno", "an interpreter: runs any code given"),
    (
        "bun",
        "an interpreter and package runner: runs any code given",
    ),
    ("php", "an interpreter: runs any code given"),
    ("lua", "an interpreter: runs any code given"),
    ("tclsh", "an interpreter: runs any code given"),
    ("Rscript", "an interpreter: runs any code given"),
    ("julia", "an interpreter: runs any code given"),
    ("java", "runs any class from its class path"),
    ("awk", "system() and pipes to commands run programs"),
    ("gawk", "system() and pipes to commands run programs"),
    ("mawk", "system() and pipes to commands run programs"),
    ("nawk", "system() and pipes to commands run programs"),
    ("sed", "GNU sed's e command and s///e run commands"),
    ("m4", "syscmd and esyscmd run commands"),
    ("dc", "! runs a shell command"),
    ("sqlite3", ".shell and .system run commands"),
    ("psql", "\\! runs a shell command"),
    ("mysql", "system runs a shell command"),
    ("gnuplot", "system and ! run commands"),
    // Version control, build and package tools: they run hooks, aliases,
    // build scripts and config read from the workspace.
    (
        "git",
        "aliases (-c alias.x='!cmd'), hooks, core.fsmonitor, core.pager and more run commands, from config in the repository or the command line",
    ),
    (
        "hg",
        "hooks and aliases in the repository's config run commands",
    ),
    ("make", "runs the recipes of the Makefile in the workspace"),
    (
        "cmake",
        "runs commands from the CMakeLists.txt in the workspace",
    ),
    ("ninja", "runs the commands of build.ninja in the workspace"),
    (
        "meson",
        "runs commands from the meson.build in the workspace",
    ),
    ("npm", "runs package scripts and install hooks"),
    ("npx", "runs packages' programs"),
    ("yarn", "runs package scripts and install hooks"),
    ("pnpm", "runs package scripts and install hooks"),
    (
        "cargo",
        "runs build scripts, and config and aliases from the workspace",
    ),
    ("rustc", "-C linker= and plugins run programs"),
    (
        "go",
        "go run and go generate run programs; go.mod toolchains",
    ),
    ("pip", "installing runs the package's setup code"),
    ("pipx", "runs packages' programs"),
    ("uv", "runs programs and packages' setup code"),
    ("poetry", "runs scripts and packages' setup code"),
    ("gem", "installing runs extensions' build code"),
    ("bundle", "runs the Gemfile in the workspace, and programs"),
    ("rake", "runs the Rakefile in the workspace"),
    (
        "mvn",
        "runs plugins configured in the pom.xml in the workspace",
    ),
    ("gradle", "runs the build script in the workspace"),
    ("ant", "runs the build.xml in the workspace"),
    (
        "composer",
        "runs scripts from composer.json in the workspace",
    ),
    ("dotnet", "runs builds and programs from the workspace"),
    ("cc", "-wrapper and plugins run programs"),
    ("gcc", "-wrapper and plugins run programs"),
    ("g++", "-wrapper and plugins run programs"),
    ("c++", "-wrapper and plugins run programs"),
    ("clang", "plugins and -fuse-ld run programs"),
    ("patch", "ed-style patches run ed, which runs commands"),
    // Archivers and tools with an option naming a program.
    (
        "tar",
        "--to-command, --use-compress-program, -I and --checkpoint-action run programs",
    ),
    ("zip", "-TT names a program to test with"),
    ("rsync", "-e and --rsync-path run programs"),
    (
        "ssh",
        "ProxyCommand, LocalCommand and -o options run commands",
    ),
    ("scp", "-S and ssh's options run programs"),
    ("sftp", "-S and ssh's options run programs"),
    ("wget", "--use-askpass runs a program"),
    ("less", "! runs commands, and LESSOPEN a preprocessor"),
    ("more", "! runs commands"),
    ("man", "runs its pager and preprocessors, which can be set"),
    ("vi", "! and :! run commands"),
    ("vim", "! and :! run commands"),
    ("nvim", "! and :! run commands"),
    ("emacs", "runs any Lisp, which runs programs"),
    ("ed", "! runs commands"),
    ("tmux", "runs commands"),
    ("screen", "runs commands"),
    ("docker", "runs containers and commands"),
    ("podman", "runs containers and commands"),
    (
        "kubectl",
        "exec credential plugins and plugins run programs",
    ),
    ("systemd-run", "runs the program named in its arguments"),
    // More wrappers, found missing in review: each runs the program (or
    // command) its arguments name.
    ("setpriv", "runs the program named in its arguments"),
    ("runuser", "runs a shell or the command given with -c"),
    ("prlimit", "runs the program named in its arguments"),
    ("sg", "runs the command given as a shell command"),
    ("newgrp", "runs a shell"),
    ("pkexec", "runs the program named in its arguments"),
    ("capsh", "runs a shell or the command given with -c"),
    ("numactl", "runs the program named in its arguments"),
    ("cpulimit", "runs the program named in its arguments"),
    ("faketime", "runs the program named in its arguments"),
    ("fakeroot", "runs the program named in its arguments"),
    ("proot", "runs the program named in its arguments"),
    ("firejail", "runs the program named in its arguments"),
    ("bwrap", "runs the program named in its arguments"),
    ("entr", "runs the command named in its arguments on changes"),
    ("rlwrap", "runs the program named in its arguments"),
    ("ssh-agent", "runs the program named in its arguments"),
    (
        "dbus-run-session",
        "runs the program named in its arguments",
    ),
    ("xvfb-run", "runs the program named in its arguments"),
    ("catchsegv", "runs the program named in its arguments"),
    (
        "ldd",
        "may run the program it inspects (its loader, or the program itself)",
    ),
    (
        "ld-linux-x86-64.so",
        "the dynamic loader: runs the program named in its arguments",
    ),
    (
        "ld-linux-aarch64.so",
        "the dynamic loader: runs the program named in its arguments",
    ),
    ("fd", "-x and -X run a program for what it finds"),
    ("fdfind", "-x and -X run a program for what it finds"),
    ("socat", "EXEC: and SYSTEM: addresses run programs"),
    ("nc", "-e and -c run programs"),
    ("ncat", "-e and -c run programs"),
    ("netcat", "-e and -c run programs"),
    ("view", "vim: ! and :! run commands"),
    ("vimdiff", "vim: ! and :! run commands"),
    (
        "rvim",
        "vim: :! is refused, but Lua, Python and Perl interfaces run code",
    ),
    ("ex", "vim: ! and :! run commands"),
    ("gvim", "vim: ! and :! run commands"),
];

/// Programs safe to list unless one of these options is given, with why.
/// A command that uses one of them with any argument that is not plain text
/// (quoted, escaped, expanded, a glob that a planted file name could turn
/// into the option) is asked about too.
pub(super) const UNLESS_OPTIONS: &[(&str, &[&str], &str)] = &[
    (
        "sort",
        // `--compress-program` and every abbreviation GNU getopt accepts for
        // it (`--co…`; no other option of sort starts so).
        &["--co"],
        "--compress-program runs a program on its temporary files",
    ),
    (
        "split",
        // `--filter` and its abbreviations (no other option starts `--f`).
        &["--f"],
        "--filter runs a shell command for each piece",
    ),
    (
        "rg",
        // `--pre` (and `--pre-glob`, harmless, asked about too).
        &["--pre"],
        "--pre runs a program on every file searched",
    ),
];
