//! `current_time`: the time now, in UTC and in the owner's time zone.

use std::sync::Arc;

use chrono::SecondsFormat;
use hardshell_llm::ToolSpec;
use serde_json::json;

use crate::{Clock, OwnerTimeZone, Tool, ToolContext, ToolError, ToolOutput};

/// Tells the model the current time. See [`OwnerTimeZone`] for why the offset is
/// fixed.
pub struct CurrentTime {
    clock: Arc<dyn Clock>,
    time_zone: OwnerTimeZone,
}

impl CurrentTime {
    pub fn new(clock: Arc<dyn Clock>, time_zone: OwnerTimeZone) -> Self {
        Self { clock, time_zone }
    }
}

impl Tool for CurrentTime {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "current_time".to_owned(),
            description:
                "The current date and time, in UTC and in the owner's time zone (RFC 3339)."
                    .to_owned(),
            parameters: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        }
    }

    async fn call(
        &self,
        _arguments: serde_json::Value,
        _cx: &ToolContext,
    ) -> Result<ToolOutput, ToolError> {
        let now = self.clock.now();
        let local = self.time_zone.local(now);
        Ok(ToolOutput::json(&json!({
            "utc": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "local": local.to_rfc3339_opts(SecondsFormat::Secs, false),
            "weekday": local.format("%A").to_string(),
            "time_zone": self.time_zone.name(),
            "utc_offset": self.time_zone.offset().to_string(),
            "note": "the offset is fixed as configured; daylight saving time is not applied",
        })))
    }
}

impl std::fmt::Debug for CurrentTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentTime")
            .field("time_zone", &self.time_zone)
            .finish()
    }
}
