use std::collections::BTreeSet;

use super::{Vetting, is_plain_program, vet};

fn allow(programs: &[&str]) -> BTreeSet<String> {
    programs.iter().map(|p| (*p).to_string()).collect()
}

fn needs_approval(command: &str, allowed: &[&str]) -> String {
    match vet(command, &allow(allowed)) {
        Vetting::NeedsApproval(reason) | Vetting::RunsPrograms(reason) => reason,
        Vetting::Allowed => panic!("`{command}` was allowed"),
    }
}

fn runs_programs(command: &str, allowed: &[&str]) -> String {
    match vet(command, &allow(allowed)) {
        Vetting::RunsPrograms(reason) => reason,
        other => panic!("`{command}`: {other:?}"),
    }
}

#[test]
fn listed_programs_that_run_programs_are_asked_about_all_the_same() {
    let allowed = [
        "ls",
        "git",
        "make",
        "npm",
        "cargo",
        "env",
        "python3",
        "/usr/bin/git",
    ];
    for (command, culprit) in [
        ("git status", "git"),
        ("git -c alias.x='!id > pwned' x", "git"),
        ("ls && git log", "git"),
        ("/usr/bin/git status", "/usr/bin/git"),
        ("make", "make"),
        ("npm install", "npm"),
        ("cargo build", "cargo"),
        ("env", "env"),
        ("ls | python3 -c 1", "python3"),
    ] {
        let reason = runs_programs(command, &allowed);
        assert!(
            reason.contains(&format!("`{culprit}` can run other programs")),
            "{command}: {reason}"
        );
    }
    // The deny path's allow path: listed programs that run nothing still run.
    assert_eq!(vet("ls -la", &allow(&allowed)), Vetting::Allowed);
}

#[test]
fn sort_runs_unasked_only_without_an_option_that_runs_programs() {
    let allowed = ["sort", "ls", "cat"];
    for command in [
        "sort notes.txt",
        "sort -r -k2 -t, a.csv > out",
        "cat a | sort -u",
        "sort --check a",
    ] {
        assert_eq!(
            vet(command, &allow(&allowed)),
            Vetting::Allowed,
            "{command}"
        );
    }
    for command in [
        "sort -S 1b --compress-program=sh input",
        "sort --compress-prog=sh input",
        "sort --co=sh input",
        // What could become the option: quoted, escaped, a glob matching a
        // planted file named `--compress-program=sh`, braces.
        "sort '--compress-program=sh' input",
        "sort \\--compress-program=sh input",
        "sort -- -* input",
        "sort --c{o,x}mpress-program=sh input",
        "ls | sort $'\\x2d-compress-program=sh'",
    ] {
        let reason = runs_programs(command, &allowed);
        assert!(
            reason.contains("`sort` is given an argument"),
            "{command}: {reason}"
        );
    }
}

#[test]
fn commands_running_only_listed_programs_are_allowed() {
    let allowed = ["ls", "cat", "grep", "head", "wc"];
    for command in [
        "ls",
        "ls -la /workspace",
        "cat notes.md | grep -i todo | head -n 5",
        "ls && wc -l notes.md || cat README",
        "ls; cat a.txt",
        "cat 'a file with spaces' > out.txt 2>&1",
        "grep -r 'x$' .",
        "ls *.md",
    ] {
        assert_eq!(
            vet(command, &allow(&allowed)),
            Vetting::Allowed,
            "{command}"
        );
    }
}

#[test]
fn every_program_in_the_command_is_vetted_not_just_the_first() {
    let allowed = ["ls", "cat"];
    for (command, culprit) in [
        ("ls; curl x", "curl"),
        ("ls && rm -rf .", "rm"),
        ("ls || python3 -c 1", "python3"),
        ("cat a | sh", "sh"),
        ("ls\nwget evil", "wget"),
        ("ls & nc -l 1", "nc"),
    ] {
        let reason = needs_approval(command, &allowed);
        assert!(reason.contains(culprit), "{command}: {reason}");
    }
    // A prefix of an allowed name is a different program.
    assert!(needs_approval("lsblk", &allowed).contains("lsblk"));
    assert!(needs_approval("/usr/bin/ls", &allowed).contains("/usr/bin/ls"));
}

#[test]
fn whatever_vetting_cannot_see_through_goes_to_the_owner() {
    let allowed = ["ls", "cat", "echo"];
    for (command, reason) in [
        ("ls $(curl x)", "command substitution"),
        ("echo `id`", "command substitution"),
        ("cat <(curl x)", "process substitution"),
        ("echo ${X:-$(id)}", "command substitution"),
        ("echo ${PATH/x/y}", "parameter expansion"),
        ("echo $((1+2))", "arithmetic"),
        ("if true; then ls; fi", "compound"),
        ("(ls)", "compound"),
        ("{ ls; }", "compound"),
        ("for f in *; do cat $f; done", "compound"),
        ("f() { ls; }", "function"),
        ("PATH=/tmp ls", "sets variables"),
        ("$PROG -x", "not a plain name"),
        ("l's' -la", "not a plain name"),
        ("ls 'unterminated", "does not parse"),
    ] {
        let got = needs_approval(command, &allowed);
        assert!(got.contains(reason), "{command}: {got}");
    }
}

#[test]
fn an_empty_allow_list_allows_nothing_but_a_bare_redirection() {
    assert!(needs_approval("ls", &[]).contains("ls"));
    // No program runs at all: nothing to ask about.
    assert_eq!(vet("> empty.txt", &allow(&[])), Vetting::Allowed);
}

#[test]
fn plain_program_names() {
    for name in [
        "ls",
        "python3",
        "g++",
        "x86_64-linux-gnu-gcc",
        "/usr/bin/env",
        "a.out",
    ] {
        assert!(is_plain_program(name), "{name}");
    }
    for name in [
        "",
        ".",
        "..",
        "-rf",
        "./run",
        "../x",
        "/usr/../bin/sh",
        "a b",
        "$X",
        "l*",
        "~/bin",
        "/",
        "a/b",
    ] {
        assert!(!is_plain_program(name), "{name:?}");
    }
}

#[test]
fn deeply_nested_commands_are_not_parsed_and_need_approval() {
    let allowed = allow(&["ls"]);
    for (open, close) in [("(", ")"), ("{ ", "; }"), ("if true; then ", "; fi")] {
        let command = format!("{}ls{}", open.repeat(5000), close.repeat(5000));
        let Vetting::NeedsApproval(reason) = vet(&command, &allowed) else {
            panic!("a nested command was allowed");
        };
        assert!(!reason.is_empty());
    }
    // Long flat lists are parsed (and vetted) without trouble.
    for command in [
        "ls; ".repeat(1500),
        "ls | ".repeat(1500) + "ls",
        "ls && ".repeat(1000) + "ls",
    ] {
        assert_eq!(
            vet(&command, &allowed),
            Vetting::Allowed,
            "{}",
            &command[..20]
        );
    }
    assert!(matches!(
        vet(&"ls ".repeat(3000), &allowed),
        Vetting::NeedsApproval(_)
    ));
}
