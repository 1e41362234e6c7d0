//! The `exec` tool's shells under each approval mode: listed commands
//! run, the rest are asked about, refused or not offered.

use super::*;

const EXEC_ASK: &str = "[agent]\nturn_timeout_secs = 30\n[llm]\nchain = []\n\
    [exec]\napproval = \"ask\"\nallow = [\"ls\", \"cat\", \"echo\", \"sleep\"]\n\
    timeout_secs = 4\napproval_timeout_secs = 3\n\
    [shell]\nworkspace_mb = 16\nworkspace_inodes = 1024\n";

#[test]
fn exec_runs_listed_commands_in_their_own_shell_and_asks_about_the_rest() {
    let hs = instance(EXEC_ASK);
    let token = token(&hs);
    let running = Running::start(&hs);
    let session = new_session(&running, &token);

    // Listed programs run at once, in the session's own workspace.
    let answer = run(&hs, &session, "echo hello > note.txt; cat note.txt; ls");
    let report = ran(&answer);
    assert_eq!(report["exit_code"], 0, "{answer}");
    assert_eq!(report["stdout"], "hello\nnote.txt\n", "{answer}");
    let on_host = hs.path(&format!("data/workspaces/{session}/note.txt"));
    assert_eq!(std::fs::read_to_string(on_host).unwrap(), "hello\n");

    // The workspace is a volume of its own ([shell] workspace_mb = 16): the
    // command that once filled the disk holding data/ stops at it.
    let answer = run(&hs, &session, "cat /dev/zero > z0; cat /dev/zero > z1");
    let stderr = ran(&answer)["stderr"].as_str().unwrap().to_owned();
    assert!(stderr.contains("No space left on device"), "{answer}");
    let workspace = hs.path(&format!("data/workspaces/{session}"));
    let written: u64 = ["z0", "z1"]
        .iter()
        .map(|name| std::fs::metadata(workspace.join(name)).unwrap().len())
        .sum();
    assert!(written <= 16 << 20, "{written} bytes in a 16 MiB workspace");
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        std::fs::metadata(&workspace).unwrap().dev(),
        std::fs::metadata(hs.path("data/workspaces")).unwrap().dev(),
        "the workspace is not a mount of its own"
    );
    let answer = run(&hs, &session, "cat /dev/null > z0; cat /dev/null > z1");
    assert_eq!(ran(&answer)["exit_code"], 0, "{answer}");

    // No network: not even the edge, on the host's loopback (Landlock
    // refuses the connect before the empty network namespace could).
    let port = running.addr.rsplit(':').next().unwrap().to_owned();
    let answer = run(&hs, &session, &format!("cat < /dev/tcp/127.0.0.1/{port}"));
    let report = ran(&answer);
    assert_ne!(report["exit_code"], 0, "{answer}");
    assert!(
        report["stderr"]
            .as_str()
            .unwrap()
            .contains("connect: Permission denied"),
        "{answer}"
    );

    // Anything else waits for the owner; approved, it runs in its shell.
    let approval = pending(&run(
        &hs,
        &session,
        "id -u; grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status",
    ));
    let waiter = {
        let socket = socket(&hs);
        let approval = approval.clone();
        std::thread::spawn(move || wait(&socket, &approval))
    };
    std::thread::sleep(Duration::from_millis(200));
    // Another principal cannot answer it, nor see the question.
    let other = hs
        .run(&["token", "create", "--name", "other", "--scope", "chat"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(reply(&running, &other, &session, &approval, true), 404);
    assert_eq!(reply(&running, &token, &session, &approval, true), 204);
    assert_eq!(reply(&running, &token, &session, &approval, false), 404);
    let answer = waiter.join().unwrap();
    let report = ran(&answer);
    let stdout = report["stdout"].as_str().unwrap();
    assert!(stdout.starts_with("1000\n"), "{answer}");
    assert!(stdout.contains("NoNewPrivs:\t1"), "{answer}");
    assert!(stdout.contains("Seccomp:\t2"), "{answer}");
    assert!(stdout.contains("CapEff:\t0000000000000000"), "{answer}");

    // Refused: it does not run.
    let approval = pending(&run(&hs, &session, "touch refused.txt"));
    assert_eq!(reply(&running, &token, &session, &approval, false), 204);
    let refused = wait(&socket(&hs), &approval);
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        !hs.path(&format!("data/workspaces/{session}/refused.txt"))
            .exists()
    );

    // Unanswered: refused when the question expires.
    let approval = pending(&run(&hs, &session, "touch late.txt"));
    let expired = wait(&socket(&hs), &approval);
    assert!(
        expired["reason"]
            .as_str()
            .unwrap()
            .contains("nobody answered within 3 s"),
        "{expired}"
    );
    assert_eq!(reply(&running, &token, &session, &approval, true), 404);

    // A command past its time is killed with its whole shell.
    let started = Instant::now();
    let answer = run(&hs, &session, "sleep 60 & sleep 60");
    let report = ran(&answer);
    assert_eq!(report["ended"], "timeout", "{answer}");
    assert!(started.elapsed() < Duration::from_secs(30));

    // A process flood is held at the process limit, and the report says so
    // (however it then ended: on its own, as `pids`, or at the wall clock).
    // The shell that starts it waits, so it is still there when the limit
    // is met: a classic `:(){ :|:& };:` returns at once, and the shell's end
    // may kill the bomb before it reaches the limit on a busy machine.
    let approval = pending(&run(
        &hs,
        &session,
        "for i in $(seq 1000); do sleep 30 & done; wait",
    ));
    assert_eq!(reply(&running, &token, &session, &approval, true), 204);
    let answer = wait(&socket(&hs), &approval);
    let report = ran(&answer);
    assert_eq!(report["pids_limit_hit"], true, "{answer}");
    assert!(
        ["pids", "timeout"].contains(&report["ended"].as_str().unwrap()),
        "{answer}"
    );

    // Sessions of the OpenAI API have nobody to ask.
    let answer = run(&hs, "api-0a1b2c3d-00112233445566778899aabb", "id");
    assert_eq!(answer["status"], "refused", "{answer}");
    running.stop();

    // Every decision is on record, and no command's text is.
    let records = hs.run(&["audit", "tail"]).ok().stdout;
    for needed in [
        "\"decision\":\"allowed\"",
        "\"decision\":\"asked\"",
        "\"decision\":\"approved\"",
        "\"reason\":\"owner_refused\"",
        "\"reason\":\"unanswered\"",
        "\"ended\":\"timeout\"",
        "\"pids_limit_hit\":true",
    ] {
        assert!(records.contains(needed), "{needed} not in the audit log");
    }
    for text in [
        "note.txt",
        "NoNewPrivs",
        "refused.txt",
        "late.txt",
        "sleep 60",
    ] {
        assert!(!records.contains(text), "{text:?} reached the audit log");
    }
}

#[test]
fn a_planted_git_config_runs_nothing_because_home_is_not_the_workspace() {
    let hs = instance(
        "[agent]\nturn_timeout_secs = 60\n[llm]\nchain = []\n[exec]\napproval = \"ask\"\n\
         allow = [\"echo\", \"cat\", \"git\"]\ntimeout_secs = 20\napproval_timeout_secs = 20\n",
    );
    let token = token(&hs);
    let running = Running::start(&hs);
    let session = new_session(&running, &token);
    // A listed command plants a git config where HOME used to point: an
    // alias and an fsmonitor hook, both of which run commands.
    let plant = "echo '[alias]' > .gitconfig; \
                 echo '  x = !echo alias > /workspace/pwned-alias' >> .gitconfig; \
                 echo '[core]' >> .gitconfig; \
                 echo '  fsmonitor = echo hook > /workspace/pwned-hook' >> .gitconfig; \
                 cat .gitconfig";
    let answer = run(&hs, &session, plant);
    assert!(
        ran(&answer)["stdout"]
            .as_str()
            .unwrap()
            .contains("fsmonitor"),
        "{answer}"
    );

    // Listed, git is asked about all the same.
    let approval = pending(&run(&hs, &session, "git status"));
    assert_eq!(reply(&running, &token, &session, &approval, false), 204);
    assert_eq!(wait(&socket(&hs), &approval)["status"], "refused");

    // Approved, the real git runs, and reads no config from the workspace.
    let approval = pending(&run(
        &hs,
        &session,
        "echo \"home=$HOME\"; git --version; git x; \
         git init -q /tmp/repo && git -C /tmp/repo status --short; echo done",
    ));
    assert_eq!(reply(&running, &token, &session, &approval, true), 204);
    let answer = wait(&socket(&hs), &approval);
    running.stop();
    for planted in ["pwned-alias", "pwned-hook"] {
        let path = hs.path(&format!("data/workspaces/{session}/{planted}"));
        assert!(
            !path.exists(),
            "the planted config ran: {planted}: {answer}"
        );
    }
    // And it was the real git that ran, in a HOME of its own.
    let stdout = ran(&answer)["stdout"].as_str().unwrap().to_owned();
    assert!(stdout.starts_with("home=/tmp\ngit version "), "{answer}");
    assert!(stdout.ends_with("done\n"), "{answer}");
}

#[test]
fn allowlist_refuses_what_is_not_listed_and_deny_offers_no_tool() {
    let hs = instance(
        "[agent]\n[llm]\nchain = []\n[exec]\napproval = \"allowlist\"\nallow = [\"echo\"]\n",
    );
    let running = Running::start(&hs);
    let token = token(&hs);
    let session = new_session(&running, &token);
    let answer = run(&hs, &session, "echo ok; id");
    assert_eq!(answer["status"], "refused", "{answer}");
    assert!(
        answer["reason"].as_str().unwrap().contains("`id`"),
        "{answer}"
    );
    assert_eq!(ran(&run(&hs, &session, "echo ok"))["stdout"], "ok\n");
    running.stop();

    let hs = instance("[agent]\n[llm]\nchain = []\n[exec]\napproval = \"deny\"\n");
    let running = Running::start(&hs);
    let (status, _) = control(
        &socket(&hs),
        "/exec/v1/run",
        &serde_json::json!({ "session": "web-0a1b2c3d-00", "command": "echo" }),
    );
    assert_eq!(status, 404);
    running.stop();
}

fn pending(answer: &serde_json::Value) -> String {
    assert_eq!(answer["status"], "pending", "{answer}");
    answer["approval"].as_str().unwrap().to_owned()
}
