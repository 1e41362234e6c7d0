//! [`UsageLedger`]: tokens and cost per model and month, one storage object a month,
//! updated by compare-and-swap so that concurrent replies lose no count.
//!
//! The gateway charges each reply as it ends ([`UsageLedger::charge`]): the charge
//! counts at once (this ledger's [`UsageLedger::month`] and so the spend cap see
//! it) and is written with the others of the next [`CHARGE_WINDOW`], one write
//! for all of them. An agent's tool loop calls the model many times a turn, and
//! each write of the ledger is a durable, rollback-registered one (two writes,
//! each fsynced, on a local disk) that would otherwise compete with the turn's
//! own. What a crash can lose is the window's charges, as the audit log's
//! batch; a stop writes them ([`UsageLedger::write_charges`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_storage::{Modification, ObjectKey, Scope};
use serde::{Deserialize, Serialize};

use super::{MicroUsd, PriceList, SpendError, cost};
use crate::types::{ModelRef, Usage};

/// One month of usage, as stored at `usage/YYYY-MM`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthUsage {
    /// `YYYY-MM`, in UTC (providers bill and reset limits by UTC months).
    pub month: String,
    pub models: BTreeMap<ModelRef, ModelUsage>,
    /// The sum of the models' costs.
    pub cost: MicroUsd,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsage {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: MicroUsd,
}

/// How long a charge waits to be written with the ones after it.
pub const CHARGE_WINDOW: Duration = Duration::from_millis(500);

/// The longest wait between tries while writes fail: the wait doubles from
/// [`CHARGE_WINDOW`] after each failure, so storage that is down for an hour
/// costs a hundred or so logged errors, not one every window.
pub const RETRY_WAIT_MAX: Duration = Duration::from_secs(30);

/// Clones share their charges not yet written.
#[derive(Debug, Clone)]
pub struct UsageLedger {
    scope: Scope,
    prices: PriceList,
    charges: Arc<Mutex<Charges>>,
    /// Held alone by the write of charges under way, and shared by readings
    /// of the month (which go on side by side, as the cap's checks of calls
    /// at once do), so that no reading sees a batch twice (stored and still
    /// waiting) or not at all (taken from the waiting, not yet stored).
    writing: Arc<tokio::sync::RwLock<()>>,
}

/// Usage charged but not yet in storage, by month and model.
#[derive(Debug, Default)]
struct Charges {
    waiting: BTreeMap<String, BTreeMap<ModelRef, ModelUsage>>,
    /// Whether a write of the waiting charges is scheduled.
    scheduled: bool,
    /// After a failed write: how long the next failure makes the one after
    /// wait, and when the next may start. A success clears it.
    backoff: Option<Backoff>,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    wait: Duration,
    not_before: tokio::time::Instant,
}

impl UsageLedger {
    /// A ledger kept in `scope` (the edge gives it one of its own).
    pub fn new(scope: Scope, prices: PriceList) -> Self {
        Self {
            scope,
            prices,
            charges: Arc::default(),
            writing: Arc::default(),
        }
    }

    /// Charges one reply's usage to `now`'s month and returns what it cost. It
    /// counts at once and is stored within [`CHARGE_WINDOW`] with the other
    /// charges of that window, by a task this spawns (call it within a Tokio
    /// runtime); a failed write is logged and tried again a window later.
    pub fn charge(&self, model: &ModelRef, usage: Usage, now: DateTime<Utc>) -> MicroUsd {
        let charged = cost(&usage, &self.prices.price_of(model));
        let schedule = {
            let mut charges = self.lock_charges();
            let entry = charges
                .waiting
                .entry(month_of(now))
                .or_default()
                .entry(model.clone())
                .or_default();
            absorb(entry, &one_reply(usage, charged));
            !std::mem::replace(&mut charges.scheduled, true)
        };
        if schedule {
            let ledger = self.clone();
            tokio::spawn(async move { ledger.write_after_window().await });
        }
        charged
    }

    /// The scheduled write: a window after the first charge it takes, later
    /// while writes fail (each failure doubles the wait, up to
    /// [`RETRY_WAIT_MAX`]), and again until one succeeds (or another write is
    /// scheduled, which takes the charges over).
    async fn write_after_window(self) {
        tokio::time::sleep(CHARGE_WINDOW).await;
        loop {
            let not_before = self.lock_charges().backoff.map(|b| b.not_before);
            if let Some(not_before) = not_before {
                tokio::time::sleep_until(not_before).await;
            }
            let Err(e) = self.write_charges().await else {
                return;
            };
            let retry_in = self.lock_charges().backoff.map_or(Duration::ZERO, |b| {
                b.not_before
                    .saturating_duration_since(tokio::time::Instant::now())
            });
            tracing::error!(
                error = %e,
                retry_in_ms = retry_in.as_millis(),
                "writing model usage to the ledger failed; trying again"
            );
            if std::mem::replace(&mut self.lock_charges().scheduled, true) {
                return;
            }
        }
    }

    /// Stores every charge not yet stored, now: one compare-and-swap per
    /// month. A month that cannot be written waits for the next write (the
    /// others are stored all the same), and the first such error is returned.
    pub async fn write_charges(&self) -> Result<(), SpendError> {
        let _writing = self.writing.write().await;
        let batch = {
            let mut charges = self.lock_charges();
            charges.scheduled = false;
            std::mem::take(&mut charges.waiting)
        };
        let mut failed = Ok(());
        for (month, models) in batch {
            if let Err(e) = self.add_to_month(&month, &models).await {
                let mut charges = self.lock_charges();
                let waiting = charges.waiting.entry(month).or_default();
                for (model, usage) in models {
                    absorb(waiting.entry(model).or_default(), &usage);
                }
                if failed.is_ok() {
                    failed = Err(e);
                }
            }
        }
        let mut charges = self.lock_charges();
        charges.backoff = match (&failed, charges.backoff) {
            (Ok(()), _) => None,
            (Err(_), None) => Some(Backoff {
                wait: CHARGE_WINDOW * 2,
                not_before: tokio::time::Instant::now() + CHARGE_WINDOW,
            }),
            (Err(_), Some(last)) => Some(Backoff {
                wait: (last.wait * 2).min(RETRY_WAIT_MAX),
                not_before: tokio::time::Instant::now() + last.wait,
            }),
        };
        drop(charges);
        failed
    }

    /// Adds `models`' usage to `month`'s stored totals, by compare-and-swap.
    async fn add_to_month(
        &self,
        month: &str,
        models: &BTreeMap<ModelRef, ModelUsage>,
    ) -> Result<(), SpendError> {
        let key = key_of(month)?;
        self.scope
            .modify(&key, |current| {
                let mut totals = match current {
                    Some(bytes) => parse(&key, bytes)?,
                    None => MonthUsage {
                        month: month.to_owned(),
                        ..MonthUsage::default()
                    },
                };
                merge(&mut totals, models);
                let bytes = serde_json::to_vec(&totals).map_err(|e| SpendError::Corrupt {
                    key: key.to_string(),
                    detail: e.to_string(),
                })?;
                Ok(Modification::Write(bytes, ()))
            })
            .await
    }

    fn lock_charges(&self) -> std::sync::MutexGuard<'_, Charges> {
        self.charges.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn prices(&self) -> &PriceList {
        &self.prices
    }

    /// The usage of `now`'s month so far (empty when nothing was recorded):
    /// what is stored, and what this ledger (or a clone) charged that is not.
    pub async fn month(&self, now: DateTime<Utc>) -> Result<MonthUsage, SpendError> {
        let month = month_of(now);
        let key = key_of(&month)?;
        // No write of charges between reading the stored totals and the
        // charges not in them.
        let _reading = self.writing.read().await;
        let mut totals = match self.scope.get(&key).await? {
            Some(stored) => parse(&key, &stored.value)?,
            None => MonthUsage {
                month: month.clone(),
                ..MonthUsage::default()
            },
        };
        if let Some(models) = self.lock_charges().waiting.get(&month) {
            merge(&mut totals, models);
        }
        Ok(totals)
    }
}

/// One reply's usage, costing `charged`.
fn one_reply(usage: Usage, charged: MicroUsd) -> ModelUsage {
    ModelUsage {
        requests: 1,
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cost: charged,
    }
}

/// Adds `more` to `entry`.
fn absorb(entry: &mut ModelUsage, more: &ModelUsage) {
    entry.requests = entry.requests.saturating_add(more.requests);
    entry.input_tokens = entry.input_tokens.saturating_add(more.input_tokens);
    entry.output_tokens = entry.output_tokens.saturating_add(more.output_tokens);
    entry.cost = entry.cost.saturating_add(more.cost);
}

/// Adds the usage of several models to a month's totals.
fn merge(totals: &mut MonthUsage, models: &BTreeMap<ModelRef, ModelUsage>) {
    for (model, usage) in models {
        absorb(totals.models.entry(model.clone()).or_default(), usage);
        totals.cost = totals.cost.saturating_add(usage.cost);
    }
}

fn month_of(now: DateTime<Utc>) -> String {
    now.format("%Y-%m").to_string()
}

fn key_of(month: &str) -> Result<ObjectKey, SpendError> {
    Ok(ObjectKey::parse(&format!("usage/{month}"))
        .map_err(hardshell_storage::StorageError::from)?)
}

fn parse(key: &ObjectKey, bytes: &[u8]) -> Result<MonthUsage, SpendError> {
    serde_json::from_slice(bytes).map_err(|e| SpendError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })
}
