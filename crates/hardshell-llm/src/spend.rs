//! Money: prices per million tokens, the cost of a reply, a monthly usage ledger in
//! storage, and the monthly spend cap.
//!
//! Amounts are integer micro-dollars ([`MicroUsd`]): prices come from the config as
//! decimal dollars and are converted once, so sums of many small costs do not drift
//! the way floating-point sums do.

mod ledger;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use hardshell_storage::StorageError;
use serde::{Deserialize, Serialize};

pub use ledger::{CHARGE_WINDOW, ModelUsage, MonthUsage, RETRY_WAIT_MAX, UsageLedger};

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

    /// The most a call may cost: `request_bytes` of prompt at 4 bytes a token
    /// (the estimate a reply without a usage report is charged) and
    /// `max_tokens` of reply.
    pub fn most(&self, request_bytes: usize, max_tokens: u64) -> MicroUsd {
        let input_tokens = u64::try_from(request_bytes)
            .unwrap_or(u64::MAX)
            .div_ceil(crate::meter::ESTIMATE_BYTES_PER_TOKEN);
        cost(
            &Usage {
                input_tokens,
                output_tokens: max_tokens,
            },
            self,
        )
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
///
/// A call's cost is known only once it ends, so each paid call reserves an
/// estimate of its most when it starts (see [`Price::most`]) and holds the
/// [`Reservation`] until its cost is recorded: calls running at once count
/// against the cap together, and none starts that could pass it.
#[derive(Debug, Clone)]
pub struct SpendCap {
    ledger: UsageLedger,
    monthly: MicroUsd,
    /// What the calls under way have reserved, shared by every clone.
    reserved: Arc<Mutex<MicroUsd>>,
}

impl SpendCap {
    pub fn new(ledger: UsageLedger, monthly: MicroUsd) -> Self {
        Self {
            ledger,
            monthly,
            reserved: Arc::default(),
        }
    }

    /// Whether `model` may be called at `now` with nothing reserved for it:
    /// [`SpendCap::reserve`] with an estimate of zero.
    pub async fn allows(&self, model: &ModelRef, now: DateTime<Utc>) -> Result<(), SpendError> {
        self.reserve(model, MicroUsd::ZERO, now).await.map(drop)
    }

    /// Reserves `estimate` for a call of `model` at `now`: free models always
    /// may be called (and reserve nothing); a paid one while this month's
    /// spend plus what other calls reserved is under the cap and leaves room
    /// for `estimate`. When the ledger cannot be read, the answer is no.
    pub async fn reserve(
        &self,
        model: &ModelRef,
        estimate: MicroUsd,
        now: DateTime<Utc>,
    ) -> Result<Reservation, SpendError> {
        if !self.ledger.prices().price_of(model).is_paid() {
            return Ok(Reservation {
                reserved: self.reserved.clone(),
                amount: MicroUsd::ZERO,
            });
        }
        let month = self.ledger.month(now).await?;
        let mut reserved = self
            .reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let committed = month.cost.saturating_add(*reserved);
        if committed >= self.monthly {
            return Err(SpendError::CapReached {
                month: month.month,
                spent: month.cost,
                cap: self.monthly,
            });
        }
        if committed.saturating_add(estimate) > self.monthly {
            return Err(SpendError::NoRoom {
                month: month.month,
                spent: month.cost,
                reserved: *reserved,
                estimate,
                cap: self.monthly,
            });
        }
        *reserved = reserved.saturating_add(estimate);
        Ok(Reservation {
            reserved: self.reserved.clone(),
            amount: estimate,
        })
    }
}

/// What one call reserved against the cap; given back when dropped, which
/// its holder does once the call's cost is in the ledger.
#[derive(Debug)]
pub struct Reservation {
    reserved: Arc<Mutex<MicroUsd>>,
    amount: MicroUsd,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut reserved = self
            .reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *reserved = MicroUsd(reserved.0.saturating_sub(self.amount.0));
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

    #[error(
        "a call could pass the monthly spend cap: {spent} spent and {reserved} reserved of {cap} in {month}, and it may cost {estimate}"
    )]
    NoRoom {
        month: String,
        spent: MicroUsd,
        reserved: MicroUsd,
        estimate: MicroUsd,
        cap: MicroUsd,
    },

    #[error("usage ledger: {0}")]
    Storage(#[from] StorageError),

    #[error("usage ledger {key} cannot be read: {detail}")]
    Corrupt { key: String, detail: String },
}

#[cfg(test)]
mod tests;
