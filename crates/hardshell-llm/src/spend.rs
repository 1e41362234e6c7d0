//! Money: prices per million tokens, the cost of a reply, a monthly usage ledger in
//! storage, and the monthly spend cap.
//!
//! Amounts are integer micro-dollars ([`MicroUsd`]): prices come from the config as
//! decimal dollars and are converted once, so sums of many small costs do not drift
//! the way floating-point sums do.

mod ledger;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use hardshell_storage::StorageError;
use serde::{Deserialize, Serialize};

pub use ledger::{ModelUsage, MonthUsage, UsageLedger};

use crate::types::{ModelRef, Usage};

/// An amount of US dollars in millionths of a dollar.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct MicroUsd(pub u64);

/// Largest dollar amount accepted from the config, for a price or a cap.
const MAX_USD: f64 = 1_000_000.0;

impl MicroUsd {
    pub const ZERO: MicroUsd = MicroUsd(0);

    /// Converts a dollar amount from the config, to the nearest micro-dollar.
    pub fn from_usd(usd: f64) -> Result<Self, SpendError> {
        let refuse = |reason| SpendError::Amount {
            value: usd.to_string(),
            reason,
        };
        if !usd.is_finite() || usd < 0.0 {
            return Err(refuse("must be a number of zero or more"));
        }
        if usd > MAX_USD {
            return Err(refuse("is more than a million dollars"));
        }
        // In range by the checks above: at most 10^12, exact in both types.
        Ok(MicroUsd((usd * 1_000_000.0).round() as u64))
    }

    pub fn saturating_add(self, other: MicroUsd) -> MicroUsd {
        MicroUsd(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for MicroUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// What a model charges per million tokens read and written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Price {
    pub input_per_mtok: MicroUsd,
    pub output_per_mtok: MicroUsd,
}

impl Price {
    /// A model that costs nothing, such as one served locally.
    pub const FREE: Price = Price {
        input_per_mtok: MicroUsd::ZERO,
        output_per_mtok: MicroUsd::ZERO,
    };

    /// A price from the config's dollars per million tokens.
    pub fn from_usd_per_mtok(input: f64, output: f64) -> Result<Self, SpendError> {
        Ok(Self {
            input_per_mtok: MicroUsd::from_usd(input)?,
            output_per_mtok: MicroUsd::from_usd(output)?,
        })
    }

    /// Whether using the model costs money, which puts it under the spend cap.
    pub fn is_paid(&self) -> bool {
        *self != Price::FREE
    }
}

/// The config form: `{ input_per_mtok = 3.0, output_per_mtok = 15.0 }`, in dollars.
impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Dollars {
            input_per_mtok: f64,
            output_per_mtok: f64,
        }
        let dollars = Dollars::deserialize(deserializer)?;
        Price::from_usd_per_mtok(dollars.input_per_mtok, dollars.output_per_mtok)
            .map_err(serde::de::Error::custom)
    }
}

/// What `usage` costs at `price`, rounded up to the next micro-dollar so that many
/// small replies are never counted as free.
pub fn cost(usage: &Usage, price: &Price) -> MicroUsd {
    let scaled = u128::from(usage.input_tokens) * u128::from(price.input_per_mtok.0)
        + u128::from(usage.output_tokens) * u128::from(price.output_per_mtok.0);
    let micro = scaled.div_ceil(1_000_000);
    MicroUsd(u64::try_from(micro).unwrap_or(u64::MAX))
}

/// Prices by model, with a default per provider; anything not listed is free.
#[derive(Debug, Clone, Default)]
pub struct PriceList {
    models: BTreeMap<ModelRef, Price>,
    providers: BTreeMap<String, Price>,
}

impl PriceList {
    pub fn new() -> Self {
        Self::default()
    }

    /// The price of one model.
    pub fn set_model(&mut self, model: ModelRef, price: Price) {
        self.models.insert(model, price);
    }

    /// The price of a provider's models that have none of their own.
    pub fn set_provider(&mut self, provider: impl Into<String>, price: Price) {
        self.providers.insert(provider.into(), price);
    }

    pub fn price_of(&self, model: &ModelRef) -> Price {
        self.listed(model).unwrap_or(Price::FREE)
    }

    /// The price the list gives `model` (its own, or its provider's), if
    /// any: `None` is the free of an unlisted model, which a keyed
    /// provider's model under a cap may not have.
    pub fn listed(&self, model: &ModelRef) -> Option<Price> {
        self.models
            .get(model)
            .or_else(|| self.providers.get(model.provider()))
            .copied()
    }
}

/// A monthly limit on the money paid models may cost, over all of them together.
#[derive(Debug, Clone)]
pub struct SpendCap {
    ledger: UsageLedger,
    monthly: MicroUsd,
}

impl SpendCap {
    pub fn new(ledger: UsageLedger, monthly: MicroUsd) -> Self {
        Self { ledger, monthly }
    }

    /// Whether `model` may be called at `now`: free models always may; paid ones
    /// while this month's spend is under the cap. The cap is checked before a call
    /// and the cost recorded after it, so the last call of a month can pass it by
    /// the cost of one reply. When the ledger cannot be read, the answer is no.
    pub async fn allows(&self, model: &ModelRef, now: DateTime<Utc>) -> Result<(), SpendError> {
        if !self.ledger.prices().price_of(model).is_paid() {
            return Ok(());
        }
        let month = self.ledger.month(now).await?;
        if month.cost >= self.monthly {
            return Err(SpendError::CapReached {
                month: month.month,
                spent: month.cost,
                cap: self.monthly,
            });
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpendError {
    #[error("amount {value} USD {reason}")]
    Amount { value: String, reason: &'static str },

    #[error("the monthly spend cap is reached: {spent} spent of {cap} in {month}")]
    CapReached {
        month: String,
        spent: MicroUsd,
        cap: MicroUsd,
    },

    #[error("usage ledger: {0}")]
    Storage(#[from] StorageError),

    #[error("usage ledger {key} cannot be read: {detail}")]
    Corrupt { key: String, detail: String },
}

#[cfg(test)]
mod tests;
