//! `hardshell state ls|snapshot|restore` on an initialised instance, its
//! state pushed the way `up` will push it (the library, same paths).

use std::os::unix::fs::MetadataExt as _;

use hardshell_state::{Holder, LocalPaths, Owner, StateSync, SyncOptions};
use hardshell_storage::ObjectKey;
use hardshell_testkit::instance::Instance;

async fn workload_sync(hs: &Instance, holder: Option<Holder>) -> StateSync {
    let data = hs.path("data");
    let store = hs.local_store().await;
    let scope = store
        .root()
        .scope(&ObjectKey::parse("workload/workload").unwrap())
        .unwrap();
    let paths = LocalPaths::for_workload(&data, "workload");
    let holder = match holder {
        Some(holder) => holder,
        None => Holder::load_or_create(&paths.holder).unwrap(),
    };
    let options = SyncOptions::new(paths.dir, paths.record, Owner::current());
    let mut sync = StateSync::open(scope, holder, options).await.unwrap();
    sync.take_lease().await.unwrap();
    sync
}

fn state_file(hs: &Instance, name: &str) -> std::path::PathBuf {
    hs.path("data/workloads/workload/state").join(name)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_lists_snapshots_and_restores_workload_state() {
    let hs = Instance::initialised(crate::HARDSHELL);
    assert!(
        hs.run(&["state", "ls"])
            .ok()
            .stdout
            .contains("no state stored yet")
    );

    std::fs::create_dir_all(state_file(&hs, "")).unwrap();
    std::fs::write(state_file(&hs, "openclaw.json"), "{\"v\":1}").unwrap();
    let mut sync = workload_sync(&hs, None).await;
    sync.restore_if_needed().await.unwrap();
    sync.release().await.unwrap();

    let listed = hs.run(&["state", "ls"]).ok().stdout;
    assert!(listed.contains("current: generation 1"), "{listed}");
    assert!(listed.contains("lease: free (released by"), "{listed}");
    let snapshot = hs.run(&["state", "snapshot", "before-upgrade"]).ok().stdout;
    assert!(
        snapshot.contains("snapshot before-upgrade of generation 1"),
        "{snapshot}"
    );
    let refused = hs
        .run(&["state", "snapshot", "../lease"])
        .failed_with_one_line();
    assert!(refused.contains("lease"), "{refused}");

    std::fs::write(state_file(&hs, "openclaw.json"), "{\"v\":2}").unwrap();
    let mut sync = workload_sync(&hs, None).await;
    sync.sync_once().await.unwrap();
    sync.release().await.unwrap();

    let restored = hs.run(&["state", "restore", "before-upgrade"]).ok().stdout;
    assert!(restored.contains("restored generation 3"), "{restored}");
    assert_eq!(
        std::fs::read_to_string(state_file(&hs, "openclaw.json")).unwrap(),
        "{\"v\":1}"
    );
    let owner = std::fs::metadata(state_file(&hs, "openclaw.json")).unwrap();
    assert_eq!(owner.uid(), Owner::current().uid);
    let listed = hs.run(&["state", "ls"]).ok().stdout;
    assert!(
        listed.contains("restore of snapshot before-upgrade"),
        "{listed}"
    );

    // Both changes are on record, the refused name nowhere.
    let verify = hs.run(&["audit", "verify"]).ok().stdout;
    let log = verify
        .lines()
        .find_map(|line| line.split(':').next().filter(|id| id.starts_with("cli-")))
        .unwrap_or_else(|| panic!("no command line log: {verify}"))
        .to_owned();
    let audit = hs.run(&["audit", "tail", "--log", &log]).ok().stdout;
    let record = |kind: &str| {
        audit
            .lines()
            .find(|line| line.contains(&format!("\"type\":\"{kind}\"")))
            .unwrap_or_else(|| panic!("no {kind}: {audit}"))
            .to_owned()
    };
    let snapshotted = record("workload_state_snapshotted");
    assert!(
        snapshotted.contains(
            r#""workload":"workload","snapshot":"before-upgrade","generation":1,"files":1,"actor":null"#
        ),
        "{snapshotted}"
    );
    let restored = record("workload_state_restored");
    assert!(
        restored.contains(
            r#""workload":"workload","snapshot":"before-upgrade","generation":3,"files":1,"set_aside":null,"actor":null"#
        ),
        "{restored}"
    );
    assert_eq!(
        audit.matches("workload_state_snapshotted").count(),
        1,
        "{audit}"
    );
    assert!(!audit.contains("../lease"), "{audit}");

    // Unsynced local changes, then a restore of the current generation: the
    // changes are kept as a snapshot, whose name is on record.
    std::fs::write(state_file(&hs, "openclaw.json"), "{\"v\":4}").unwrap();
    let restored = hs.run(&["state", "restore"]).ok().stdout;
    assert!(
        restored.contains("kept as snapshot set-aside-"),
        "{restored}"
    );
    let audit = hs.run(&["audit", "tail", "--log", &log]).ok().stdout;
    let set_aside = audit
        .lines()
        .filter(|line| line.contains("\"type\":\"workload_state_restored\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no second restore: {audit}"));
    assert!(
        set_aside
            .contains(r#""snapshot":null,"generation":3,"files":null,"set_aside":"set-aside-"#),
        "{set_aside}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_is_refused_while_another_machine_holds_the_lease() {
    let hs = Instance::initialised(crate::HARDSHELL);
    std::fs::create_dir_all(state_file(&hs, "")).unwrap();
    std::fs::write(state_file(&hs, "f"), "x").unwrap();
    let other = Holder::parse("other-machine-0123").unwrap();
    let mut held = workload_sync(&hs, Some(other)).await;
    held.restore_if_needed().await.unwrap();

    let refused = hs.run(&["state", "restore"]).failed_with_one_line();
    assert!(refused.contains("other-machine-0123"), "{refused}");
    assert!(refused.contains("stop `hardshell up`"), "{refused}");
    let listed = hs.run(&["state", "ls"]).ok().stdout;
    assert!(
        listed.contains("lease: held by other-machine-0123 until"),
        "{listed}"
    );
}
