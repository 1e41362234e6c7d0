//! `POST /agent/v1/switch`: the agent reports that its fallback chain moved
//! on, for the edge's audit log. The edge records it only if both models are
//! of the chain it configured, the first before the second.

use hardshell_llm::{ModelRef, SwitchReason};
use serde::{Deserialize, Serialize};

/// One move down the fallback chain. Fields are in the order the agent has
/// always sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchReport {
    pub from: ModelRef,
    /// A closed set: anything else is refused before it is read.
    pub reason: SwitchReason,
    pub to: ModelRef,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pinned;

    #[test]
    fn a_switch_report_keeps_its_wire_shape() {
        for reason in [
            "unreachable",
            "timed_out",
            "rate_limited",
            "overloaded",
            "provider_failed",
            "cut_short",
            "spend_cap_reached",
        ] {
            pinned::<SwitchReport>(&format!(
                r#"{{"from":"anthropic/claude-sonnet-4-5","reason":"{reason}","to":"local/smollm2"}}"#
            ));
        }
    }

    #[test]
    fn a_report_with_more_or_other_than_it_should_is_refused() {
        for bad in [
            r#"{"from":"a/b","reason":"overloaded","to":"c/d","note":"x"}"#,
            r#"{"from":"a/b","reason":"bored","to":"c/d"}"#,
            r#"{"from":"a b","reason":"overloaded","to":"c/d"}"#,
            r#"{"from":"a/b","reason":"overloaded"}"#,
        ] {
            assert!(serde_json::from_str::<SwitchReport>(bad).is_err(), "{bad}");
        }
    }
}
