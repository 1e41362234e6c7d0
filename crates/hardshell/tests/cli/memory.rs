//! `hardshell memory`: the owner reads and edits the agent's notes.

use std::os::unix::fs::PermissionsExt;

use hardshell_testkit::instance::Instance;

/// An editor: a shell script with `body`, where `$1` is the file.
fn editor(hs: &Instance, name: &str, body: &str) -> String {
    let path = hs.path(name);
    std::fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn edit(hs: &Instance, note: &str, editor: &str) -> hardshell_testkit::instance::Run {
    let output = hs
        .command(&["memory", "edit", note])
        .env("VISUAL", editor)
        .env("TMPDIR", hs.path(""))
        .env("HS_BIN", env!("CARGO_BIN_EXE_hardshell"))
        .output()
        .unwrap();
    hardshell_testkit::instance::Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn audited_changes(hs: &Instance) -> Vec<serde_json::Value> {
    let verify = hs.run(&["audit", "verify"]).ok();
    let log = verify
        .stdout
        .lines()
        .find(|l| l.starts_with("cli-"))
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    hs.run(&["audit", "tail", "--log", &log])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].clone())
        .filter(|e| e["type"] == "memory_note_changed")
        .collect()
}

#[test]
fn the_owner_writes_lists_shows_edits_and_deletes_notes() {
    let hs = Instance::initialised(crate::HARDSHELL);
    assert!(
        hs.run(&["memory", "list"])
            .ok()
            .stdout
            .contains("no memory notes yet")
    );

    let text = "---\ntitle: Coffee order\ntags: coffee\n---\n\nTwo flat whites, oat milk.\n";
    hs.run_with_stdin(&["memory", "write", "coffee-order"], text.as_bytes())
        .ok();
    let listed = hs.run(&["memory", "list"]).ok().stdout;
    assert!(listed.contains("coffee-order"), "{listed}");
    assert!(
        listed.contains("Coffee order") && listed.contains("[coffee]"),
        "{listed}"
    );
    assert_eq!(
        hs.run(&["memory", "show", "coffee-order"]).ok().stdout,
        text
    );

    // Stored sealed, like everything else: the text is nowhere in plaintext.
    assert!(
        !hs.all_file_bytes()
            .iter()
            .any(|(_, bytes)| hardshell_testkit::instance::contains(bytes, b"flat whites")),
        "a note is on disk in plaintext"
    );

    let sed = editor(&hs, "ed.sh", "sed -i 's/flat whites/espressos/' \"$1\"");
    let run = edit(&hs, "coffee-order", &sed);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        hs.run(&["memory", "show", "coffee-order"])
            .ok()
            .stdout
            .contains("Two espressos, oat milk.")
    );

    // An editor that changes nothing writes nothing.
    let run = edit(&hs, "coffee-order", &editor(&hs, "noop.sh", "true"));
    assert!(run.stdout.contains("no change"), "{}", run.stdout);

    hs.run(&["memory", "delete", "coffee-order"]).ok();
    assert!(
        hs.run(&["memory", "list"])
            .ok()
            .stdout
            .contains("no memory notes yet")
    );

    let changes = audited_changes(&hs);
    let kinds: Vec<(&str, &str)> = changes
        .iter()
        .map(|e| (e["note"].as_str().unwrap(), e["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("coffee-order", "written"),
            ("coffee-order", "written"),
            ("coffee-order", "deleted")
        ]
    );
    assert!(
        !serde_json::to_string(&changes)
            .unwrap()
            .contains("oat milk")
    );
}

#[test]
fn an_edit_that_races_a_change_is_kept_and_not_written() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.run_with_stdin(&["memory", "write", "plans"], b"# Plans\n\nRead a book.\n")
        .ok();
    // While the editor is open, the note changes underneath it.
    let racing = editor(
        &hs,
        "race.sh",
        "printf '# Plans\\n\\nRead two books.\\n' | \"$HS_BIN\" memory write plans\n\
         printf '# Plans\\n\\nWatch a film.\\n' > \"$1\"",
    );
    let run = edit(&hs, "plans", &racing);
    assert_eq!(run.status.code(), Some(1), "{}", run.stdout);
    assert!(
        run.stderr.contains("changed while you edited it"),
        "{}",
        run.stderr
    );
    assert!(
        hs.run(&["memory", "show", "plans"])
            .ok()
            .stdout
            .contains("Read two books."),
        "the other change was overwritten"
    );
    // The owner's text is on disk, private, at the path the error names.
    let kept = run
        .stderr
        .split("kept at ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(kept).unwrap(),
        "# Plans\n\nWatch a film.\n"
    );
    let mode = std::fs::metadata(kept).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(std::path::Path::new(kept).parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
}

#[test]
fn bad_names_missing_notes_and_failed_editors_change_nothing() {
    let hs = Instance::initialised(crate::HARDSHELL);
    hs.run_with_stdin(&["memory", "write", "keep"], b"keep me\n")
        .ok();
    for bad in ["../tokens/x", "UPPER", "a/b", "x.md", "x--y"] {
        let line = hs
            .run_with_stdin(&["memory", "write", bad], b"text")
            .failed_with_one_line();
        assert!(line.contains("not a note name"), "{bad}: {line}");
        hs.run(&["memory", "show", bad]).failed_with_one_line();
        hs.run(&["memory", "delete", bad]).failed_with_one_line();
    }
    let line = hs.run(&["memory", "show", "nope"]).failed_with_one_line();
    assert!(line.contains("no note named \"nope\""), "{line}");
    hs.run(&["memory", "delete", "nope"]).failed_with_one_line();
    let line = hs
        .run_with_stdin(&["memory", "write", "keep"], b"  \n")
        .failed_with_one_line();
    assert!(line.contains("empty"), "{line}");

    // The editor changes the text and then fails (vim's :cq): nothing is written.
    let failing = editor(&hs, "fail.sh", "echo changed > \"$1\"\nexit 3");
    let run = edit(&hs, "keep", &failing);
    assert_eq!(run.status.code(), Some(1));
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(hs.run(&["memory", "show", "keep"]).ok().stdout, "keep me\n");
    assert_eq!(audited_changes(&hs).len(), 1, "only the first write");
}

#[test]
fn a_note_the_agent_wrote_cannot_drive_the_owners_terminal() {
    let hs = Instance::initialised(crate::HARDSHELL);
    // What a compromised agent could store: a title that recolours and
    // retitles, a body that turns echo off and reorders what is shown.
    let text = "---\ntitle: Plan\u{1b}[31m\u{1b}]0;owned\u{7}\ntags: a\u{1b}[8m\n---\n\n\
                keep\tthis\n\u{1b}[8msecret\u{9b}2J \u{202e}gpj.exe\n";
    hs.run_with_stdin(&["memory", "write", "plan"], text.as_bytes())
        .ok();
    let listed = hs.run(&["memory", "list"]).ok().stdout;
    let shown = hs.run(&["memory", "show", "plan"]).ok().stdout;
    for output in [&listed, &shown] {
        assert!(
            !output
                .chars()
                .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{202e}'),
            "{output:?}"
        );
    }
    assert!(listed.contains("Plan\\u{1b}[31m"), "{listed}");
    assert!(shown.contains("keep\tthis\n\\u{1b}[8msecret"), "{shown}");
    assert!(shown.contains("\\u{202e}gpj.exe"), "{shown}");
}
