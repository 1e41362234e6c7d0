//! The agent's own shell: its model calls through its broker with the key
//! nowhere in the shell, a fresh shell after kill -9, its socket directory.

use super::*;

#[test]
fn the_agents_model_calls_go_through_its_broker_and_nothing_in_its_shell_holds_the_key() {
    let key = env("HARDSHELL_TEST_LLM_KEY");
    let model_url = url::Url::parse(&env("HARDSHELL_TEST_LLM_URL")).unwrap();
    let hs = instance(&local_model(
        "[exec]\napproval = \"allowlist\"\nallow = [\"cat\"]\n",
    ));
    let token = token(&hs);
    let running = Running::start(&hs);
    let pid = wait_for_agent(&running, 1, None);
    let session = new_session(&running, &token);

    // The model server refuses requests without its key: a reply means the
    // broker put the key where the agent put its placeholder.
    let events = turn(&running, &token, &session, "Say hello.");
    let reply = reply_text(&events);
    assert!(!reply.trim().is_empty(), "no reply: {events:?}");
    assert!(events.iter().all(|(kind, _)| kind != "error"), "{events:?}");
    // And the call was the agent shell's egress, decided by its broker.
    eventually(10, "the agent's egress is audited", || {
        audit_records(&hs).iter().any(|r| {
            let event = &r["event"];
            event["type"] == "egress_decided"
                && event["shell"] == "agent"
                && event["decision"] == "allowed"
                && event["host"] == model_url.host_str().unwrap()
                && event["port"] == model_url.port().unwrap()
        })
    });

    // No process in the shell has the key: not in its environment, its
    // arguments, a file it has mapped, or anywhere in its memory; nor is it
    // in any file the shell can see of its own.
    let init = shell_of(pid, running.child.id());
    let processes = shell_processes(init);
    assert!(processes.contains(&pid), "{processes:?}");
    for process in &processes {
        for what in ["environ", "cmdline"] {
            let text = std::fs::read(format!("/proc/{process}/{what}")).unwrap();
            assert!(
                !text.windows(key.len()).any(|w| w == key.as_bytes()),
                "the key is in /proc/{process}/{what}"
            );
        }
        let maps = std::fs::read_to_string(format!("/proc/{process}/maps")).unwrap();
        let mut read = std::collections::BTreeSet::new();
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let range = fields.next().unwrap();
            let Some(path) = fields.nth(4).filter(|p| p.starts_with('/')) else {
                continue;
            };
            if !read.insert(path.to_owned()) {
                continue;
            }
            // Through map_files, the file the mapping holds whatever its
            // path means now (init maps the host's path, then pivots away);
            // every one is read: one that cannot be would pass unseen.
            let mapped = format!("/proc/{process}/map_files/{range}");
            let contents =
                std::fs::read(&mapped).unwrap_or_else(|e| panic!("{path} ({mapped}): {e}"));
            assert!(
                !contents.windows(key.len()).any(|w| w == key.as_bytes()),
                "the key is in {path}, mapped by {process}"
            );
        }
        assert!(
            !in_memory(*process, key.as_bytes()),
            "the key is in the memory of {process}"
        );
    }
    // Should the key reach a workspace some other way, a command does not
    // show it: it came from the environment, not the secret store, and is
    // redacted all the same, by its placeholder's name.
    std::fs::create_dir_all(hs.path(&format!("data/workspaces/{session}"))).unwrap();
    std::fs::write(
        hs.path(&format!("data/workspaces/{session}/key.txt")),
        format!("key={key}\n"),
    )
    .unwrap();
    let answer = run(&hs, &session, "cat key.txt");
    assert_eq!(
        ran(&answer)["stdout"],
        "key=[redacted:LLM_LOCAL]\n",
        "{answer}"
    );
    // The search can find what is there: the agent holds the placeholder.
    assert!(
        in_memory(pid, b"hs-secret:LLM_LOCAL"),
        "the placeholder is not in the agent's memory"
    );
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    for dir in ["workspace", "run/hardshell", "tmp"] {
        for (path, contents) in files_under(&root.join(dir)) {
            assert!(
                !contents.windows(key.len()).any(|w| w == key.as_bytes()),
                "the key is in {}",
                path.display()
            );
        }
    }
    running.stop();
}

#[test]
fn the_agent_runs_in_a_shell_and_comes_back_in_a_fresh_one() {
    let hs = instance("[agent]\n[llm]\nchain = []\n");
    let token = token(&hs);
    let running = Running::start(&hs);
    let pid = wait_for_agent(&running, 1, None);

    // Every layer, seen from the host.
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(pid, "Seccomp"), "2");
    for caps in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(pid, caps), "0000000000000000", "{caps}");
    }
    let uid = status_field(pid, "Uid");
    assert!(
        uid.split_whitespace().all(|id| id != "0"),
        "the agent runs as host root: {uid}"
    );
    for kind in ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"] {
        assert_ne!(namespace(pid, kind), namespace("self", kind), "{kind}");
    }
    // The shell's init and its reaper run the small init program `up` wrote
    // into its data directory, not this whole binary (which maps it twice for
    // a few hundred lines of work); the agent is the binary.
    use std::os::unix::fs::MetadataExt as _;
    let init_program = hs
        .dir
        .path()
        .join("data/run/init/shell-init")
        .canonicalize()
        .unwrap();
    let reaper = parent_of(pid);
    let init = shell_of(pid, running.child.id());
    assert_ne!(reaper, init, "the agent's parent is the shell's reaper");
    for process in [init, reaper] {
        assert_eq!(
            std::fs::read_link(format!("/proc/{process}/exe")).unwrap(),
            init_program,
            "process {process} of the shell"
        );
    }
    let exe = std::fs::metadata(format!("/proc/{pid}/exe")).unwrap();
    let binary = std::fs::metadata(crate::HARDSHELL).unwrap();
    assert_eq!(
        (exe.dev(), exe.ino()),
        (binary.dev(), binary.ino()),
        "the agent is the hardshell binary"
    );
    // Its root holds the system, the workspace and its sockets; not the host's
    // files, not this instance's config, master key or storage.
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    assert!(root.join("usr/bin").is_dir());
    assert!(root.join("workspace").is_dir());
    assert!(!root.join("root").exists());
    assert!(!root.join(hs.dir.path().strip_prefix("/").unwrap()).exists());
    let listing: Vec<_> = std::fs::read_dir(root.join("run/hardshell"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(listing.contains(&"edge.sock".to_owned()), "{listing:?}");

    // Killed, it is restarted in a new shell, and the conversation goes on.
    let session = new_session(&running, &token);
    let first = turn(&running, &token, &session, "hello");
    assert_eq!(first[0].0, "accepted", "{first:?}");
    let shell = shell_of(pid, running.child.id());
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let again = wait_for_agent(&running, 2, Some(pid));
    // A new shell: a new init process under the edge. (Namespace inode
    // numbers cannot tell: a freed namespace's number is reused.)
    assert_ne!(
        shell_of(again, running.child.id()),
        shell,
        "the same shell was reused"
    );
    let second = turn(&running, &token, &session, "are you back?");
    assert_eq!(second[0].0, "accepted", "{second:?}");
    let history: serde_json::Value = http()
        .get(running.url(&format!("/api/sessions/{session}")))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let users = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message"]["role"] == "user")
        .count();
    assert_eq!(users, 2, "{history}");
    let up = running.child.id();
    running.stop();
    std::thread::sleep(Duration::from_millis(500));
    let survivors: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid == again || descends_from(*pid, up))
        .filter(|pid| std::fs::metadata(format!("/proc/{pid}")).is_ok())
        .collect();
    assert!(survivors.is_empty(), "outlived the edge: {survivors:?}");
}

#[test]
fn the_agents_socket_directory_is_the_edges_and_read_only_in_its_shell() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let hs = instance("[agent]\n[llm]\nchain = []\n");
    let token = token(&hs);
    let running = Running::start(&hs);
    let pid = wait_for_agent(&running, 1, None);

    // The directory the shell sees at /run/hardshell is the edge's: the
    // shell's host id can enter it (the others' x bit), and write nothing
    // in it. (Before, it was the shell's own: an agent could replace the
    // sockets in it, or plant a symlink the edge would connect through.)
    let dir = hs.path("data/run/agent");
    let meta = std::fs::symlink_metadata(&dir).unwrap();
    assert!(meta.is_dir());
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    assert_eq!(meta.mode() & 0o7777, 0o711);
    let (uid, _) = hardshell_sandbox::host_ids();
    assert_ne!(uid, 0);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["broker.sock", "edge.sock"], "{dir:?}");
    // The sockets are the shell's to connect to, and only theirs.
    for name in &names {
        let socket = std::fs::symlink_metadata(dir.join(name)).unwrap();
        assert_eq!(socket.uid(), uid, "{name}");
        assert_eq!(socket.mode() & 0o777, 0o600, "{name}");
    }
    // And in the shell it is mounted read-only, so not even its root could.
    let inside = PathBuf::from(format!("/proc/{pid}/root/run/hardshell"));
    let error = std::fs::write(inside.join("planted"), b"x").unwrap_err();
    assert_eq!(error.raw_os_error(), Some(nix::libc::EROFS), "{error}");
    let mut listing: Vec<_> = std::fs::read_dir(&inside)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    listing.sort();
    assert_eq!(listing, ["broker.sock", "edge.sock"]);

    // The agent's own socket is named by no path in the shell: the edge
    // made it in a directory only the edge can enter, and passed the agent
    // the descriptor. Its chat still reaches the agent.
    let edge_dir = std::fs::symlink_metadata(hs.path("data/run/edge")).unwrap();
    assert_eq!((edge_dir.uid(), edge_dir.mode() & 0o7777), (0, 0o700));
    let socket = std::fs::symlink_metadata(hs.path("data/run/edge/agent.sock")).unwrap();
    assert_eq!(socket.permissions().mode() & 0o777, 0o600);
    let session = new_session(&running, &token);
    let answered = turn(&running, &token, &session, "hello");
    assert_eq!(answered[0].0, "accepted", "{answered:?}");

    // Its output is a pipe the edge reads, not the terminal (here: the
    // pipe) `hardshell up` writes its own log to.
    let up_stderr = std::fs::read_link(format!("/proc/{}/fd/2", running.child.id())).unwrap();
    for fd in [1, 2] {
        let agent = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert!(agent.to_string_lossy().starts_with("pipe:"), "{agent:?}");
        assert_ne!(
            agent, up_stderr,
            "the agent writes to up's own standard error"
        );
    }
    running.stop();
}
