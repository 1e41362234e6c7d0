//! `kill -9` of a syncing process loses nothing it had synced: this test
//! binary runs itself as the child (`sync_child`, ignored in normal runs),
//! which syncs until it is killed.

use std::process::{Command, Stdio};
use std::time::Duration;

use hardshell_state::{Holder, Prepared, StateError, StateSync};
use hardshell_storage::{LocalOptions, Location, MasterKey};

use crate::on_each_backend;
use crate::support::{Backend, Bucket, Machine, files};

on_each_backend!(a_killed_sync_loses_nothing_it_synced);

const CHILD: &str = "HARDSHELL_STATE_TEST_CHILD";

async fn a_killed_sync_loses_nothing_it_synced(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "crash::sync_child", "--ignored", "--nocapture"])
        .env(CHILD, machine.data.path())
        .env("HS_CHILD_MASTER", machine_key(&bucket))
        .stdout(Stdio::null());
    match &bucket.location {
        Location::Local(options) => {
            command.env("HS_CHILD_OBJECTS", &options.objects);
            command.env("HS_CHILD_LOCKS", &options.locks);
        }
        Location::S3(options) => {
            command.env("HS_CHILD_PREFIX", options.prefix.as_ref().unwrap().as_str());
        }
        Location::Remote(_) => unreachable!(),
    }
    let mut child = Killed(command.spawn().unwrap());
    let child = &mut child.0;
    let scope = bucket.scope();

    // Wait until the child holds the lease, then write while it runs.
    while hardshell_state::operator::list(&scope)
        .await
        .unwrap()
        .lease
        .is_none()
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    machine.write("sessions/a.jsonl", b"first exchange");
    machine.write("credentials/channel.json", b"paired");
    loop {
        let listing = hardshell_state::operator::list(&scope).await.unwrap();
        if listing.current.is_some_and(|c| c.files == 2) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child exited early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no final sync, no release
    child.wait().unwrap();

    // Its lease outlives it: another machine is refused ...
    let other = Machine::new();
    let mut refused = StateSync::open(scope.clone(), other.holder.clone(), other.options())
        .await
        .unwrap();
    assert!(matches!(
        refused.take_lease().await,
        Err(StateError::LeaseHeld { .. })
    ));
    // ... but the same data directory on a fresh disk re-takes it and restores.
    let replacement = Machine::same_holder_as(&machine);
    let mut sync = replacement.sync(&bucket).await;
    // One generation or two, depending on whether a scan fell between the writes.
    let prepared = sync.restore_if_needed().await.unwrap();
    assert!(
        matches!(prepared, Prepared::Restored { files: 2, .. }),
        "{prepared:?}"
    );
    assert_eq!(files(&replacement.dir()), files(&machine.dir()));
}

/// The child, killed and reaped however the test ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn machine_key(bucket: &Bucket) -> String {
    bucket.master.to_hex().to_string()
}

/// The child: syncs the machine directory named by its environment forever.
#[tokio::test]
#[ignore = "the child process of a_killed_sync_loses_nothing_it_synced"]
async fn sync_child() {
    // Run by hand (`--ignored`) it has nothing to do.
    let Some(data) = std::env::var_os(CHILD).map(std::path::PathBuf::from) else {
        return;
    };
    let master = MasterKey::from_hex(&std::env::var("HS_CHILD_MASTER").unwrap()).unwrap();
    let location = match std::env::var_os("HS_CHILD_OBJECTS") {
        Some(objects) => Location::Local(LocalOptions {
            objects: objects.into(),
            locks: std::env::var_os("HS_CHILD_LOCKS").unwrap().into(),
        }),
        None => {
            let prefix = std::env::var("HS_CHILD_PREFIX").unwrap();
            crate::support::seaweedfs_location(&prefix)
        }
    };
    let bucket = Bucket::open(location, master).await;
    let machine = Machine {
        holder: Holder::load_or_create(&data.join("holder")).unwrap(),
        data: tempfile::TempDir::new().unwrap(),
    };
    let mut options = machine.options();
    options.dir = data.join("state");
    options.record = data.join("state.record");
    let mut sync = StateSync::open(bucket.scope(), machine.holder.clone(), options)
        .await
        .unwrap();
    sync.take_lease().await.unwrap();
    sync.restore_if_needed().await.unwrap();
    sync.run(std::future::pending()).await.unwrap();
}
