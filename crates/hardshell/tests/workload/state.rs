//! The workload's state directory in the object store (a real SeaweedFS,
//! started by scripts/test): synced while it runs, kept across `kill -9`,
//! restored into a fresh data directory on the same bucket, and never owned
//! by two machines at once.

use std::time::{Duration, Instant};

use hardshell_testkit::instance::Instance;

use crate::{answered, image, instance, start, stop, token};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with scripts/test, which starts SeaweedFS")
    })
}

/// `hs` on the shared bucket under `prefix`, its credentials as secrets.
pub(crate) fn on_bucket(hs: &Instance, prefix: &str) {
    hs.run_with_stdin(
        &["secret", "put", "S3_ACCESS_KEY_ID"],
        env("HARDSHELL_TEST_SEAWEEDFS_KEY_ID").as_bytes(),
    )
    .ok();
    hs.run_with_stdin(
        &["secret", "put", "S3_SECRET_ACCESS_KEY"],
        env("HARDSHELL_TEST_SEAWEEDFS_SECRET").as_bytes(),
    )
    .ok();
    let endpoint = env("HARDSHELL_TEST_SEAWEEDFS");
    hs.edit_config(|text| {
        text.replace("backend = \"file\"", "backend = \"s3\"")
            .replace(
                "# [storage.s3]\n",
                &format!(
                    "[storage.s3]\nendpoint = \"{endpoint}\"\nbucket = \"hardshell-test\"\n\
                 path_style = true\nprefix = \"{prefix}\"\n\
                 access_key_id = \"secret:S3_ACCESS_KEY_ID\"\n\
                 secret_access_key = \"secret:S3_SECRET_ACCESS_KEY\"\n"
                ),
            )
    });
}

/// Another machine: a fresh data directory holding only what an operator
/// moves (the master key and the secret store), on the same bucket.
pub(crate) fn another_machine(from: &Instance, image: &str) -> Instance {
    let hs = instance(image, "");
    let data = hs.path("data");
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(from.path("data/master.key"), data.join("master.key")).unwrap();
    copy_tree(&from.path("data/secrets"), &data.join("secrets"));
    hs.edit_config(|_| std::fs::read_to_string(from.path("hardshell.toml")).unwrap());
    hs
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Waits until the bucket's current generation holds the note (the state
/// sync publishes within seconds of a write): `hardshell state ls` lists it
/// with its file count (the FILES column, after the generation and time).
pub(crate) fn synced(hs: &Instance) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listing = hs.run(&["state", "ls"]).ok().stdout;
        let current = listing
            .lines()
            .find_map(|line| line.strip_prefix("current: generation "))
            .map(str::trim);
        let files = current.and_then(|generation| {
            listing.lines().find_map(|line| {
                (line.get(..10).map(str::trim) == Some(generation))
                    .then(|| line.get(38..45).map(str::trim))
                    .flatten()
                    .and_then(|files| files.parse::<u64>().ok())
            })
        });
        if files.is_some_and(|files| files >= 1) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the note was not synced:\n{listing}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn state_survives_kill_9_moves_to_a_fresh_data_directory_and_has_one_owner_at_a_time() {
    let (_dir, scratch) = image::scratch();
    let image = image::build(&scratch);
    let prefix = format!("workload-{}", std::process::id());
    let first = instance(&image, "");
    on_bucket(&first, &prefix);
    let token = token(&first);
    let up = start(&first);
    assert_eq!(answered(&up, &token, "/cgi-bin/note"), "none\n");
    assert_eq!(
        answered(&up, &token, "/cgi-bin/note?kept-across-machines"),
        "kept-across-machines\n"
    );
    synced(&first);
    // The admin page shows the image it runs, that it is ready, and the
    // state it synced, held under this machine's lease.
    let admin = first
        .run(&["token", "create", "--name", "page", "--scope", "admin"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let (status, body) = super::get(
        &up.addr,
        "localhost:8787",
        "/admin/parts",
        &[format!("Authorization: Bearer {admin}")],
    );
    assert_eq!(status, 200, "{body}");
    let parts: serde_json::Value = serde_json::from_str(&body).unwrap();
    let workload = parts["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|part| part["name"] == "workload")
        .unwrap_or_else(|| panic!("{parts}"))["status"]
        .clone();
    assert!(
        workload["image"]["reference"]
            .as_str()
            .is_some_and(|reference| !reference.is_empty()),
        "{workload}"
    );
    assert!(workload["image"]["pinned"].is_boolean(), "{workload}");
    assert!(
        workload["image"]["digest"]
            .as_str()
            .is_some_and(|digest| digest.starts_with("sha256:")),
        "{workload}"
    );
    assert_eq!(workload["health"], "ready", "{workload}");
    assert!(
        workload["state"]["current"]["generation"].as_u64().unwrap() >= 1,
        "{workload}"
    );
    assert!(
        workload["state"]["current"]["files"].as_u64().unwrap() >= 1,
        "{workload}"
    );
    assert!(
        workload["state"]["lease"]["holder"].is_string(),
        "{workload}"
    );
    // The edge dies without a word: the lease stays, the state is stored.
    up.kill9();

    // Another machine on the bucket cannot take the state while the lease
    // of the first is live.
    let second = another_machine(&first, &image);
    let refused = second.run(&["up"]);
    assert!(!refused.status.success());
    let last = refused.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("lease"), "{}", refused.stderr);
    // What it mounted before the lease refused it went with it: left on the
    // host, it would be copied into every shell started meanwhile.
    for dir in ["workspace", "state"] {
        let dir = second.path(&format!("data/workloads/workload/{dir}"));
        assert!(
            !crate::is_mount_point(&dir),
            "{} is still mounted",
            dir.display()
        );
    }

    // The first machine takes its own lease back; nothing synced was lost.
    let up = start(&first);
    assert_eq!(
        answered(&up, &token, "/cgi-bin/note"),
        "kept-across-machines\n"
    );
    // A clean stop syncs one last time and releases the lease.
    stop(up);

    // The second machine, with a fresh data directory, gets it all back.
    let token = super::token(&second);
    let up = start(&second);
    assert_eq!(
        answered(&up, &token, "/cgi-bin/note"),
        "kept-across-machines\n"
    );
    stop(up);
}

/// The workload's processes on the host: the shells' user's, running busybox.
fn workload_pids() -> Vec<i32> {
    let (uid, _) = hardshell_sandbox::host_ids();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            status.lines().any(|line| {
                line.strip_prefix("Uid:")
                    .is_some_and(|ids| ids.split_whitespace().next() == Some(&uid.to_string()))
            }) && String::from_utf8_lossy(&cmdline).contains("httpd")
        })
        .collect()
}

#[test]
fn a_workload_killed_is_started_again_in_a_fresh_shell_with_its_state() {
    let (_dir, scratch) = image::scratch();
    let hs = instance(&image::build(&scratch), "");
    let token = token(&hs);
    let up = start(&hs);
    assert_eq!(
        answered(&up, &token, "/cgi-bin/note?before-the-kill"),
        "before-the-kill\n"
    );
    let killed = workload_pids();
    assert!(!killed.is_empty());
    for pid in &killed {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    // The supervisor starts it again (after its first backoff); the state
    // directory is the same.
    assert_eq!(answered(&up, &token, "/cgi-bin/note"), "before-the-kill\n");
    assert!(workload_pids().iter().all(|pid| !killed.contains(pid)));
    stop(up);
}

/// The instance's audit log as `audit tail` prints it, once it holds a
/// record of `kind` (the edge's log is flushed every second).
fn audited(hs: &Instance, kind: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let audit = hs.run(&["audit", "tail"]).ok().stdout;
        if let Some(line) = audit
            .lines()
            .find(|line| line.contains(&format!("\"type\":\"{kind}\"")))
        {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no {kind} recorded: {audit}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Another holder writes the workload's lease over the running edge's, as a
/// second machine would once this one's had expired (the local store, opened
/// with the instance's master key).
fn take_the_lease(hs: &Instance) {
    use hardshell_storage::ObjectKey;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = hs.local_store().await;
        let scope = store
            .root()
            .scope(&ObjectKey::parse("workload/workload").unwrap())
            .unwrap();
        let key = ObjectKey::parse("lease").unwrap();
        let held = scope
            .get(&key)
            .await
            .unwrap()
            .expect("the edge holds the lease");
        let now = chrono::Utc::now();
        let theirs = hardshell_state::LeaseRecord {
            holder: "other-machine\u{1b}[31m".to_owned(),
            taken_at: now,
            expires_at: now + chrono::Duration::seconds(30),
            released: false,
        };
        scope
            .update(&key, &serde_json::to_vec(&theirs).unwrap(), &held.version)
            .await
            .unwrap();
    });
}

#[test]
fn the_state_prepared_at_start_and_a_lost_lease_are_on_record_and_the_lease_loss_stops_the_workload()
 {
    let (_dir, scratch) = image::scratch();
    let hs = instance(&image::build(&scratch), "");
    let token = token(&hs);
    let up = start(&hs);
    assert_eq!(answered(&up, &token, "/cgi-bin/note?noted"), "noted\n");
    let prepared = audited(&hs, "workload_state_prepared");
    assert!(
        prepared.contains(r#""workload":"workload","outcome":"fresh","generation":null"#),
        "{prepared}"
    );
    take_the_lease(&hs);
    let lost = audited(&hs, "workload_state_lost");
    assert!(
        lost.contains(r#""workload":"workload","cause":"lease_lost","generation":null"#),
        "{lost}"
    );
    // The holder that took it is another machine's word: not recorded.
    assert!(!lost.contains("other-machine"), "{lost}");
    // Stopped: the edge answers for it, the workload no longer does.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = crate::get(
            &up.addr,
            crate::WORK_HOST,
            "/index.html",
            &[crate::bearer(&token)],
        );
        if status != 200 {
            assert!(!body.contains("hello from the workload"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "the workload still answers");
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(up);
}
