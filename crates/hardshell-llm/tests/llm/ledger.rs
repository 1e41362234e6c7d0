//! The usage ledger and spend cap on real storage: a local directory, and SeaweedFS
//! (an S3 server with atomic conditional writes) started by scripts/services.sh.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use hardshell_llm::{
    MicroUsd, ModelRef, ModelUsage, Price, PriceList, SpendCap, SpendError, Usage, UsageLedger,
};
use hardshell_storage::{
    Location, MasterKey, ObjectKey, RetryOptions, S3Credentials, S3Options, Scope, Sealing, Store,
};
use hardshell_testkit::TestStore;
use zeroize::Zeroizing;

use crate::support::required_env;

fn model(text: &str) -> ModelRef {
    ModelRef::parse(text).unwrap()
}

fn prices() -> PriceList {
    let mut prices = PriceList::new();
    prices.set_provider("anthropic", Price::from_usd_per_mtok(3.0, 15.0).unwrap());
    prices
}

fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 12, 0, 0).unwrap()
}

/// Charges one reply and stores it at once, as a stop of `up` does.
async fn charge_and_store(
    ledger: &UsageLedger,
    model: &ModelRef,
    usage: Usage,
    now: DateTime<Utc>,
) -> Result<MicroUsd, SpendError> {
    let charged = ledger.charge(model, usage, now);
    ledger.write_charges().await.map(|()| charged)
}

async fn local_scope() -> (Scope, TestStore) {
    let store = TestStore::new().await;
    (store.scope("llm"), store)
}

async fn seaweedfs_scope() -> Scope {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).unwrap();
    let prefix = format!("t-llm-{}", hex::encode(random));
    let options = S3Options {
        endpoint: Some(required_env("HARDSHELL_TEST_SEAWEEDFS")),
        bucket: "hardshell-test".into(),
        region: "us-east-1".into(),
        path_style: true,
        prefix: Some(ObjectKey::parse(&prefix).unwrap()),
        credentials: S3Credentials {
            access_key_id: Zeroizing::new(required_env("HARDSHELL_TEST_SEAWEEDFS_KEY_ID")),
            secret_access_key: Zeroizing::new(required_env("HARDSHELL_TEST_SEAWEEDFS_SECRET")),
        },
        allow_http: false,
        retry: RetryOptions::default(),
    };
    let store = Store::open(
        &Location::S3(options),
        Sealing::Envelope(MasterKey::generate().unwrap()),
    )
    .await
    .unwrap();
    store.root()
}

#[tokio::test]
async fn usage_is_kept_per_model_and_month() {
    let (scope, _dir) = local_scope().await;
    let ledger = UsageLedger::new(scope.clone(), prices());
    let claude = model("anthropic/claude-sonnet");
    let local = model("local/smollm2");
    let usage = Usage {
        input_tokens: 1_000,
        output_tokens: 200,
    };

    let cost = charge_and_store(&ledger, &claude, usage, at(2026, 11, 3))
        .await
        .unwrap();
    assert_eq!(cost, MicroUsd(6_000)); // 1000 × $3/M + 200 × $15/M
    charge_and_store(&ledger, &claude, usage, at(2026, 11, 30))
        .await
        .unwrap();
    assert_eq!(
        charge_and_store(&ledger, &local, usage, at(2026, 11, 4))
            .await
            .unwrap(),
        MicroUsd::ZERO
    );
    charge_and_store(&ledger, &claude, usage, at(2026, 12, 1))
        .await
        .unwrap();

    // Read back through a new ledger: the totals are in storage, not in memory.
    let november = UsageLedger::new(scope, prices())
        .month(at(2026, 11, 15))
        .await
        .unwrap();
    assert_eq!(november.month, "2026-11");
    assert_eq!(november.cost, MicroUsd(12_000));
    assert_eq!(
        november.models[&claude],
        ModelUsage {
            requests: 2,
            input_tokens: 2_000,
            output_tokens: 400,
            cost: MicroUsd(12_000)
        }
    );
    assert_eq!(november.models[&local].requests, 1);
    assert_eq!(november.models[&local].cost, MicroUsd::ZERO);
    let december = ledger.month(at(2026, 12, 31)).await.unwrap();
    assert_eq!(
        (december.month.as_str(), december.cost),
        ("2026-12", MicroUsd(6_000))
    );
    let empty = ledger.month(at(2027, 1, 1)).await.unwrap();
    assert!(empty.models.is_empty());
}

/// `writers` ledgers on one scope (replicas, or processes sharing a data
/// directory) each charge a reply and store it at the same moment: the
/// compare-and-swap loses no count.
async fn replicas_race(scope: Scope, writers: u64) {
    let claude = model("anthropic/claude-sonnet");
    let now = at(2026, 11, 10);
    let tasks: Vec<_> = (0..writers)
        .map(|n| {
            let (ledger, claude) = (UsageLedger::new(scope.clone(), prices()), claude.clone());
            tokio::spawn(async move {
                let usage = Usage {
                    input_tokens: 1_000 + n,
                    output_tokens: 100,
                };
                charge_and_store(&ledger, &claude, usage, now)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut charged = MicroUsd::ZERO;
    for task in tasks {
        charged = charged.saturating_add(task.await.unwrap());
    }

    let month = UsageLedger::new(scope, prices()).month(now).await.unwrap();
    let totals = month.models[&claude];
    assert_eq!(totals.requests, writers);
    assert_eq!(
        totals.input_tokens,
        (0..writers).map(|n| 1_000 + n).sum::<u64>()
    );
    assert_eq!(totals.output_tokens, 100 * writers);
    assert_eq!(totals.cost, charged);
    assert_eq!(month.cost, charged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_storing_at_once_lose_nothing_on_a_local_store() {
    let (scope, _dir) = local_scope().await;
    replicas_race(scope, 24).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_storing_at_once_lose_nothing_on_seaweedfs() {
    replicas_race(seaweedfs_scope().await, 8).await;
}

#[tokio::test]
async fn the_spend_cap_stops_paid_models_and_never_free_ones() {
    let (scope, _dir) = local_scope().await;
    let ledger = UsageLedger::new(scope, prices());
    let cap = SpendCap::new(ledger.clone(), MicroUsd::from_usd(1.0).unwrap());
    let claude = model("anthropic/claude-sonnet");
    let local = model("local/smollm2");
    let november = at(2026, 11, 20);

    // $0.90: under the cap.
    let usage = Usage {
        input_tokens: 300_000,
        output_tokens: 0,
    };
    charge_and_store(&ledger, &claude, usage, november)
        .await
        .unwrap();
    cap.allows(&claude, november).await.unwrap();

    // $0.18 more: $1.08 spent, over the cap of $1.
    let usage = Usage {
        input_tokens: 0,
        output_tokens: 12_000,
    };
    charge_and_store(&ledger, &claude, usage, november)
        .await
        .unwrap();
    match cap.allows(&claude, november).await {
        Err(SpendError::CapReached { month, spent, cap }) => {
            assert_eq!(month, "2026-11");
            assert_eq!(spent, MicroUsd(1_080_000));
            assert_eq!(cap, MicroUsd(1_000_000));
        }
        other => panic!("expected the cap to be reached, got {other:?}"),
    }
    // Free models go on; so does everything next month.
    cap.allows(&local, november).await.unwrap();
    cap.allows(&claude, at(2026, 12, 1)).await.unwrap();
}

#[tokio::test]
async fn an_unreadable_ledger_denies_paid_models() {
    let (scope, _dir) = local_scope().await;
    scope
        .put(&ObjectKey::parse("usage/2026-11").unwrap(), b"not json")
        .await
        .unwrap();
    let ledger = UsageLedger::new(scope, prices());
    let cap = SpendCap::new(ledger.clone(), MicroUsd::from_usd(100.0).unwrap());

    let result = cap
        .allows(&model("anthropic/claude-sonnet"), at(2026, 11, 2))
        .await;
    assert!(
        matches!(result, Err(SpendError::Corrupt { .. })),
        "{result:?}"
    );
    // Storing a charge refuses to overwrite what it cannot read.
    let usage = Usage {
        input_tokens: 1,
        output_tokens: 1,
    };
    let recorded = charge_and_store(
        &ledger,
        &model("anthropic/claude-sonnet"),
        usage,
        at(2026, 11, 2),
    )
    .await;
    assert!(
        matches!(recorded, Err(SpendError::Corrupt { .. })),
        "{recorded:?}"
    );
}

#[tokio::test]
async fn reservations_count_against_the_cap_until_given_back() {
    let (scope, _dir) = local_scope().await;
    let ledger = UsageLedger::new(scope, prices());
    let cap = SpendCap::new(ledger.clone(), MicroUsd::from_usd(1.0).unwrap());
    let claude = model("anthropic/claude-sonnet");
    let november = at(2026, 11, 20);
    let sixty_cents = MicroUsd::from_usd(0.6).unwrap();
    let first = cap.reserve(&claude, sixty_cents, november).await.unwrap();
    // A clone is the same cap: what one reserved, the other sees.
    let other = cap.clone();
    assert!(matches!(
        other.reserve(&claude, sixty_cents, november).await,
        Err(SpendError::NoRoom { .. })
    ));
    // Free models reserve nothing and are never refused.
    other
        .reserve(&model("local/smollm2"), sixty_cents, november)
        .await
        .unwrap();
    drop(first);
    other.reserve(&claude, sixty_cents, november).await.unwrap();
}

#[tokio::test]
async fn charges_count_at_once_and_are_stored_together_within_the_window() {
    let (scope, _dir) = local_scope().await;
    let ledger = UsageLedger::new(scope.clone(), prices());
    let cap = SpendCap::new(ledger.clone(), MicroUsd::from_usd(1.0).unwrap());
    let claude = model("anthropic/claude-sonnet");
    let november = at(2026, 11, 20);
    let key = ObjectKey::parse("usage/2026-11").unwrap();

    // $0.60, then $0.60: the cap sees both before anything is stored.
    let usage = Usage {
        input_tokens: 200_000,
        output_tokens: 0,
    };
    assert_eq!(ledger.charge(&claude, usage, november), MicroUsd(600_000));
    cap.allows(&claude, november).await.unwrap();
    ledger.charge(&claude, usage, november);
    assert!(matches!(
        cap.allows(&claude, november).await,
        Err(SpendError::CapReached {
            spent: MicroUsd(1_200_000),
            ..
        })
    ));
    assert!(scope.get(&key).await.unwrap().is_none());

    // Within the window both are in storage, in one write: the object's
    // first version holds them.
    let deadline = std::time::Instant::now() + hardshell_llm::CHARGE_WINDOW * 20;
    let stored = loop {
        if let Some(stored) = scope.get(&key).await.unwrap() {
            break stored;
        }
        assert!(std::time::Instant::now() < deadline, "never stored");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let month: serde_json::Value = serde_json::from_slice(&stored.value).unwrap();
    assert_eq!(month["cost"], 1_200_000);
    assert_eq!(month["models"]["anthropic/claude-sonnet"]["requests"], 2);
    // And counted once, not also as waiting.
    assert_eq!(
        ledger.month(november).await.unwrap().cost,
        MicroUsd(1_200_000)
    );
    let fresh = UsageLedger::new(scope, prices());
    assert_eq!(
        fresh.month(november).await.unwrap().cost,
        MicroUsd(1_200_000)
    );
}

/// A local scope whose November ledger (the returned key) holds what does
/// not parse, so every write of November's charges fails until it is gone.
async fn november_unreadable() -> (Scope, TestStore, ObjectKey) {
    let (scope, dir) = local_scope().await;
    let key = ObjectKey::parse("usage/2026-11").unwrap();
    scope.put(&key, b"not json").await.unwrap();
    (scope, dir, key)
}

/// One reply's usage: $0.006 at the test's Anthropic price.
fn reply_usage() -> Usage {
    Usage {
        input_tokens: 1_000,
        output_tokens: 200,
    }
}

#[tokio::test]
async fn charges_a_write_could_not_store_wait_for_the_next_and_are_not_lost() {
    let (scope, _dir, key) = november_unreadable().await;
    let ledger = UsageLedger::new(scope.clone(), prices());
    let (claude, usage) = (model("anthropic/claude-sonnet"), reply_usage());
    ledger.charge(&claude, usage, at(2026, 11, 2));
    ledger.charge(&claude, usage, at(2026, 12, 2));
    // November's object cannot be read, so it is not overwritten; December's
    // charge is stored all the same, and November's waits.
    let written = ledger.write_charges().await;
    assert!(
        matches!(written, Err(SpendError::Corrupt { .. })),
        "{written:?}"
    );
    assert_eq!(
        UsageLedger::new(scope.clone(), prices())
            .month(at(2026, 12, 5))
            .await
            .unwrap()
            .cost,
        MicroUsd(6_000)
    );
    // Once the object is readable again (the owner removed it), the next
    // write stores what waited: nothing was lost, nothing counted twice.
    scope.delete(&key).await.unwrap();
    ledger.write_charges().await.unwrap();
    let fresh = UsageLedger::new(scope, prices());
    let november = fresh.month(at(2026, 11, 9)).await.unwrap();
    assert_eq!(november.models[&claude].requests, 1);
    assert_eq!(november.cost, MicroUsd(6_000));
    assert_eq!(
        fresh.month(at(2026, 12, 9)).await.unwrap().cost,
        MicroUsd(6_000)
    );
}

/// Charges made while writes run, and the month read all the while: what it
/// reads only grows and never passes what was charged (a batch is not
/// counted twice while it is written, nor missed), and in the end storage
/// holds every charge once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn charges_made_during_writes_are_counted_once() {
    let (scope, _dir) = local_scope().await;
    let ledger = UsageLedger::new(scope.clone(), prices());
    let claude = model("anthropic/claude-sonnet");
    let now = at(2026, 11, 10);
    let usage = Usage {
        input_tokens: 1_000,
        output_tokens: 0,
    };
    let (tasks, each) = (4u64, 50u64);
    let chargers: Vec<_> = (0..tasks)
        .map(|_| {
            let (ledger, claude) = (ledger.clone(), claude.clone());
            tokio::spawn(async move {
                for _ in 0..each {
                    ledger.charge(&claude, usage, now);
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let writer = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                ledger.write_charges().await.unwrap();
            }
        })
    };
    let total = MicroUsd(3_000 * tasks * each);
    let mut last = MicroUsd::ZERO;
    while !(writer.is_finished() && chargers.iter().all(|c| c.is_finished())) {
        let seen = ledger.month(now).await.unwrap().cost;
        assert!(seen >= last, "the month went from {last} down to {seen}");
        assert!(
            seen <= total,
            "{seen} counted, more than the {total} charged"
        );
        last = seen;
    }
    writer.await.unwrap();
    for charger in chargers {
        charger.await.unwrap();
    }
    ledger.write_charges().await.unwrap();
    let stored = UsageLedger::new(scope, prices()).month(now).await.unwrap();
    assert_eq!(stored.cost, total);
    assert_eq!(stored.models[&claude].requests, tasks * each);
    assert_eq!(ledger.month(now).await.unwrap().cost, total);
}

/// Counts the error events logged while it is the thread's subscriber.
#[derive(Clone, Default)]
struct ErrorCount(Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ErrorCount {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl ErrorCount {
    fn get(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// While storage refuses the ledger, the scheduled write tries again after
/// 0.5 s, 1 s, 2 s, … (up to [`RETRY_WAIT_MAX`]), not every window: storage
/// that is down does not flood the log. Charges made meanwhile join the
/// waiting ones without starting the waits over, and once storage is back
/// the next try stores them all.
#[tokio::test]
async fn failed_writes_are_tried_again_less_and_less_often() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let errors = ErrorCount::default();
    let _logging =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let (scope, _dir, key) = november_unreadable().await;
    let ledger = UsageLedger::new(scope.clone(), prices());
    let (claude, usage) = (model("anthropic/claude-sonnet"), reply_usage());
    let november = at(2026, 11, 2);
    ledger.charge(&claude, usage, november);

    // Tries at about 0.5 s, 1 s, 2 s and 4 s after the charge: four in the
    // first 5.5 s, where one every window would be eleven. A charge every
    // 100 ms does not bring the tries closer together.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(5_500) {
        ledger.charge(&claude, usage, november);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let failures = errors.get();
    assert!(
        (2..=4).contains(&failures),
        "{failures} failed writes logged in 5.5 s"
    );

    // Storage back: the next try (in at most 4 s) stores every charge once.
    scope.delete(&key).await.unwrap();
    let charged = ledger.month(november).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stored = UsageLedger::new(scope.clone(), prices())
            .month(november)
            .await
            .unwrap();
        if stored.cost == charged.cost {
            assert_eq!(
                stored.models[&claude].requests,
                charged.models[&claude].requests
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never stored after storage came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
