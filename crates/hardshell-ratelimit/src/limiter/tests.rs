use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use super::*;

fn limiter(per_minute: u32, burst: u32, max_keys: usize) -> Limiter<String> {
    Limiter::new(
        Quota::new(per_minute, burst).unwrap(),
        NonZeroUsize::new(max_keys).unwrap(),
    )
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn an_exhausted_key_does_not_limit_another_key() {
    let limiter = limiter(60, 2, 100);
    let alice = "alice".to_owned();
    let bob = "bob".to_owned();
    assert!(limiter.check(&alice, secs(0)).is_allowed());
    assert!(limiter.check(&alice, secs(0)).is_allowed());
    assert!(!limiter.check(&alice, secs(0)).is_allowed());
    assert_eq!(
        limiter.check(&bob, secs(0)),
        Decision::Allow { remaining: 1 }
    );
}

#[test]
fn a_flood_of_distinct_keys_stays_within_max_keys() {
    let limiter = limiter(60, 5, 1000);
    for i in 0..100_000u64 {
        limiter.check(&format!("10.0.{}.{}", i / 256, i % 256), secs(0));
        assert!(limiter.len() <= 1000);
    }
    assert_eq!(limiter.len(), 1000);
}

#[test]
fn new_keys_are_denied_while_every_remembered_key_is_still_limited() {
    // One shard, one slot: the simplest full limiter.
    let limiter = limiter(60, 1, 1);
    assert!(limiter.check(&"first".to_owned(), secs(0)).is_allowed());
    let decision = limiter.check(&"second".to_owned(), Duration::from_millis(400));
    assert_eq!(
        decision,
        Decision::Deny {
            retry_after: Duration::from_millis(600)
        }
    );
    assert_eq!(limiter.len(), 1);
}

#[test]
fn spent_keys_make_room_for_new_ones() {
    let limiter = limiter(60, 1, 1);
    assert!(limiter.check(&"first".to_owned(), secs(0)).is_allowed());
    // After one interval "first" is spent and carries no state.
    assert!(limiter.check(&"second".to_owned(), secs(1)).is_allowed());
    assert_eq!(limiter.len(), 1);
}

#[test]
fn a_flood_of_new_keys_cannot_reset_a_limited_key() {
    let limiter = limiter(1, 1, 16);
    let victim_of_reset = "attacker-main".to_owned();
    assert!(limiter.check(&victim_of_reset, secs(0)).is_allowed());
    assert!(!limiter.check(&victim_of_reset, secs(1)).is_allowed());
    for i in 0..10_000 {
        limiter.check(&format!("sybil-{i}"), secs(1));
    }
    assert!(
        !limiter.check(&victim_of_reset, secs(2)).is_allowed(),
        "the limited key was forgotten under a flood"
    );
    assert!(limiter.check(&victim_of_reset, secs(60)).is_allowed());
}

#[test]
fn evict_expired_drops_only_spent_keys() {
    let limiter = limiter(60, 10, 100);
    for i in 0..10 {
        limiter.check(&format!("quiet-{i}"), secs(0));
    }
    let busy = "busy".to_owned();
    for _ in 0..10 {
        limiter.check(&busy, secs(0));
    }
    // The quiet keys are spent after one interval, the busy one after ten.
    assert_eq!(limiter.evict_expired(secs(1)), 10);
    assert_eq!(limiter.len(), 1);
    // One interval refilled one request, and its state survived the sweep.
    assert_eq!(
        limiter.check(&busy, secs(1)),
        Decision::Allow { remaining: 0 }
    );
    assert!(!limiter.check(&busy, secs(1)).is_allowed());
    assert_eq!(limiter.evict_expired(secs(10)), 0);
    assert_eq!(limiter.evict_expired(secs(11)), 1);
    assert!(limiter.is_empty());
}

#[test]
fn one_key_shared_by_threads_gets_exactly_its_burst() {
    let limiter = Arc::new(limiter(60, 50, 100));
    let key = "shared".to_owned();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            let key = key.clone();
            std::thread::spawn(move || {
                (0..20)
                    .filter(|_| limiter.check(&key, secs(0)).is_allowed())
                    .count()
            })
        })
        .collect();
    let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(allowed, 50);
}

#[test]
fn debug_output_names_no_keys() {
    let limiter = limiter(60, 1, 4);
    limiter.check(&"198.51.100.7".to_owned(), secs(0));
    let shown = format!("{limiter:?}");
    assert!(!shown.contains("198.51.100.7"), "{shown}");
}

#[test]
fn peek_does_not_charge() {
    let limiter = Limiter::new(Quota::new(60, 2).unwrap(), NonZeroUsize::new(8).unwrap());
    let now = Duration::from_secs(100);
    for _ in 0..10 {
        assert!(limiter.peek(&"k", now).is_allowed());
    }
    assert!(limiter.check(&"k", now).is_allowed());
    assert!(limiter.check(&"k", now).is_allowed());
    assert!(!limiter.peek(&"k", now).is_allowed());
    assert!(!limiter.check(&"k", now).is_allowed());
}
