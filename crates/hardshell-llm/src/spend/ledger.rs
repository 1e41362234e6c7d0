//! [`UsageLedger`]: tokens and cost per model and month, one storage object a month,
//! updated by compare-and-swap so that concurrent replies lose no count.

use std::collections::BTreeMap;

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

#[derive(Debug, Clone)]
pub struct UsageLedger {
    scope: Scope,
    prices: PriceList,
}

impl UsageLedger {
    /// A ledger kept in `scope` (the edge gives it one of its own).
    pub fn new(scope: Scope, prices: PriceList) -> Self {
        Self { scope, prices }
    }

    pub fn prices(&self) -> &PriceList {
        &self.prices
    }

    /// Adds one reply's usage to `now`'s month and returns what it cost.
    pub async fn record(
        &self,
        model: &ModelRef,
        usage: Usage,
        now: DateTime<Utc>,
    ) -> Result<MicroUsd, SpendError> {
        let month = month_of(now);
        let key = key_of(&month)?;
        let charged = cost(&usage, &self.prices.price_of(model));
        self.scope
            .modify(&key, |current| {
                let mut totals = match current {
                    Some(bytes) => parse(&key, bytes)?,
                    None => MonthUsage {
                        month: month.clone(),
                        ..MonthUsage::default()
                    },
                };
                let entry = totals.models.entry(model.clone()).or_default();
                entry.requests = entry.requests.saturating_add(1);
                entry.input_tokens = entry.input_tokens.saturating_add(usage.input_tokens);
                entry.output_tokens = entry.output_tokens.saturating_add(usage.output_tokens);
                entry.cost = entry.cost.saturating_add(charged);
                totals.cost = totals.cost.saturating_add(charged);
                let bytes = serde_json::to_vec(&totals).map_err(|e| SpendError::Corrupt {
                    key: key.to_string(),
                    detail: e.to_string(),
                })?;
                Ok(Modification::Write(bytes, charged))
            })
            .await
    }

    /// The usage of `now`'s month so far (empty when nothing was recorded).
    pub async fn month(&self, now: DateTime<Utc>) -> Result<MonthUsage, SpendError> {
        let month = month_of(now);
        let key = key_of(&month)?;
        match self.scope.get(&key).await? {
            Some(stored) => parse(&key, &stored.value),
            None => Ok(MonthUsage {
                month,
                ..MonthUsage::default()
            }),
        }
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
