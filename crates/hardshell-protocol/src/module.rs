//! The agent's call of a module's tool, through the edge
//! ([`ModuleCallRequest`]), answered with a [`ModuleAnswer`]. The lines
//! between the edge and a module's host process, that answer among them,
//! are `hardshell-module-wire`'s, re-exported here for the agent's end.

use serde::{Deserialize, Serialize};

pub use hardshell_module_wire::{
    MAX_MODULE_ANSWER_BYTES, MAX_MODULE_ANSWER_LINE_BYTES, MAX_MODULE_ARGUMENTS_BYTES,
    MAX_MODULE_CALL_LINE_BYTES, MAX_MODULE_TOOL_BYTES, MODULE_HOST_READY, ModuleAnswer, ModuleCall,
    ModuleFailure,
};

/// The agent's call of a module's tool (`POST /modules/v1/call`), answered
/// with a [`ModuleAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleCallRequest {
    pub session: String,
    pub module: String,
    pub tool: String,
    /// A JSON object.
    pub arguments: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pinned;

    #[test]
    fn a_module_call_request_keeps_its_wire_shape() {
        pinned::<ModuleCallRequest>(
            r#"{"session":"web-abc","module":"web-search","tool":"search","arguments":{"q":"rust"}}"#,
        );
        let extra = r#"{"session":"web-abc","module":"m","tool":"t","arguments":{},"as":"owner"}"#;
        assert!(serde_json::from_str::<ModuleCallRequest>(extra).is_err());
    }
}
