//! The lease: one holder at a time, taken by compare-and-swap.

use std::time::Duration;

use hardshell_state::{Holder, StateError, StateSync};

use crate::on_each_backend;
use crate::support::{Backend, Bucket, Machine};

on_each_backend!(
    a_second_holder_is_refused_while_the_lease_is_live,
    an_expired_lease_is_taken_and_its_old_holder_stops_writing,
    a_released_lease_is_taken_at_once,
    the_same_holder_retakes_its_lease_after_a_crash,
    the_sync_loop_publishes_changes_and_releases_on_stop,
    a_sync_loop_that_lost_its_lease_stops_and_says_to_whom,
);

async fn a_second_holder_is_refused_while_the_lease_is_live(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let first = Machine::new();
    let _held = first.sync(&bucket).await;

    let second = Machine::new();
    let mut sync = StateSync::open(bucket.scope(), second.holder.clone(), second.options())
        .await
        .unwrap();
    let refused = sync.take_lease().await.unwrap_err();
    let StateError::LeaseHeld { holder, .. } = &refused else {
        panic!("expected LeaseHeld, got {refused}");
    };
    assert_eq!(holder, first.holder.as_str());
    assert!(
        refused.to_string().contains(first.holder.as_str()),
        "{refused}"
    );
    // Without the lease nothing is written.
    second.write("f", b"x");
    assert!(matches!(sync.sync_once().await, Err(StateError::NoLease)));
    assert!(matches!(
        sync.restore_if_needed().await,
        Err(StateError::NoLease)
    ));
}

async fn an_expired_lease_is_taken_and_its_old_holder_stops_writing(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let old = Machine::new();
    let mut options = old.options();
    // A lease that is expired as soon as it is written: no waiting in the test.
    options.lease_ttl = Duration::ZERO;
    let mut stale = old.sync_with(&bucket, options).await;

    let new = Machine::new();
    let mut sync = new.sync(&bucket).await;
    new.write("f", b"new");
    sync.restore_if_needed().await.unwrap();

    old.write("f", b"old");
    let refused = stale.sync_once().await.unwrap_err();
    let StateError::LeaseLost { holder } = &refused else {
        panic!("expected LeaseLost, got {refused}");
    };
    assert_eq!(holder, new.holder.as_str());
}

async fn a_released_lease_is_taken_at_once(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let first = Machine::new();
    first.sync(&bucket).await.release().await.unwrap();
    let second = Machine::new();
    second.sync(&bucket).await;
    let listing = hardshell_state::operator::list(&bucket.scope())
        .await
        .unwrap();
    assert_eq!(listing.lease.unwrap().holder, second.holder.as_str());
}

async fn the_same_holder_retakes_its_lease_after_a_crash(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let data = tempfile::tempdir().unwrap();
    let holder_file = data.path().join("holder");
    let machine = Machine::new();
    let holder = Holder::load_or_create(&holder_file).unwrap();
    // The id is stable: the same file gives the same holder.
    assert_eq!(Holder::load_or_create(&holder_file).unwrap(), holder);
    let crashed = StateSync::open(bucket.scope(), holder.clone(), machine.options())
        .await
        .unwrap();
    let mut crashed = crashed;
    crashed.take_lease().await.unwrap();
    drop(crashed); // no release, as after kill -9

    let mut restarted = StateSync::open(bucket.scope(), holder, machine.options())
        .await
        .unwrap();
    restarted.take_lease().await.unwrap();
}

async fn the_sync_loop_publishes_changes_and_releases_on_stop(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let machine = Machine::new();
    let mut sync = machine.sync(&bucket).await;
    sync.restore_if_needed().await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sync.run(async {
        let _ = stopped.await;
    }));
    machine.write("sessions/live.jsonl", b"written while running");
    let scope = bucket.scope();
    loop {
        let listing = hardshell_state::operator::list(&scope).await.unwrap();
        if listing.current.is_some_and(|c| c.files == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Written just before the stop: the final sync keeps it.
    machine.write("sessions/last.jsonl", b"the last words");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    let listing = hardshell_state::operator::list(&scope).await.unwrap();
    assert!(listing.lease.is_some_and(|l| l.released));
    assert_eq!(listing.current.unwrap().files, 2);
}

async fn a_sync_loop_that_lost_its_lease_stops_and_says_to_whom(backend: Backend) {
    let bucket = Bucket::new(backend).await;
    let paused = Machine::new();
    let mut options = paused.options();
    // Expired as soon as written: as if this machine had been paused past it.
    options.lease_ttl = Duration::ZERO;
    let mut sync = paused.sync_with(&bucket, options).await;
    sync.restore_if_needed().await.unwrap();
    let running = tokio::spawn(sync.run(std::future::pending()));

    let other = Machine::new();
    other.sync(&bucket).await;
    let stopped = running.await.unwrap().unwrap_err();
    let StateError::LeaseLost { holder } = &stopped else {
        panic!("expected LeaseLost, got {stopped}");
    };
    assert_eq!(holder, other.holder.as_str());
}
