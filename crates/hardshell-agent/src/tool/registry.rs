//! The set of tools offered in a turn, and dispatch of the model's calls to them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use hardshell_llm::ToolSpec;

use super::{DynTool, Tool, ToolContext, ToolError, ToolOutput};

/// Longest tool name; what both Anthropic and OpenAI accept.
const MAX_NAME_LEN: usize = 64;

/// Tools by name, in the order they were registered (the order the model sees).
#[derive(Clone, Default)]
pub struct ToolRegistry {
    specs: Vec<ToolSpec>,
    tools: BTreeMap<String, Arc<dyn DynTool>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolRegistryError {
    #[error("tool name {name:?} is not 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ -")]
    InvalidName { name: String },
    #[error("a tool named {name:?} is already registered")]
    Duplicate { name: String },
}

/// Why a call could not be answered by a tool's result.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The model named a tool that is not offered.
    #[error("there is no tool named {name:?}; use one of the tools offered")]
    UnknownTool { name: String },
    /// The arguments are not a JSON object.
    #[error("the arguments for {tool} are not a JSON object: {reason}")]
    InvalidJson { tool: String, reason: String },
    /// The tool ran and failed.
    #[error(transparent)]
    Tool(#[from] ToolError),
}

impl ToolRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool under the name in its spec.
    pub fn register(&mut self, tool: impl Tool) -> Result<(), ToolRegistryError> {
        let spec = tool.spec();
        let name = spec.name.clone();
        let valid = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(ToolRegistryError::InvalidName {
                name: name.chars().take(MAX_NAME_LEN + 1).collect(),
            });
        }
        if self.tools.contains_key(&name) {
            return Err(ToolRegistryError::Duplicate { name });
        }
        self.tools.insert(name, Arc::new(tool));
        self.specs.push(spec);
        Ok(())
    }

    /// The specs to put in a request, in registration order.
    pub fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tools.contains_key(name)
    }

    /// Runs the tool `name` with the model's raw `arguments` text. An empty text
    /// counts as `{}`: some providers send that for tools without parameters.
    pub async fn dispatch(
        &self,
        name: &str,
        arguments: &str,
        cx: &ToolContext,
    ) -> Result<ToolOutput, DispatchError> {
        let tool = self
            .tools
            .get(name)
            .ok_or_else(|| DispatchError::UnknownTool {
                name: name.chars().take(MAX_NAME_LEN + 1).collect(),
            })?;
        let arguments = parse_object(name, arguments)?;
        Ok(tool.call_boxed(arguments, cx).await?)
    }
}

fn parse_object(tool: &str, arguments: &str) -> Result<serde_json::Value, DispatchError> {
    let invalid = |reason: String| DispatchError::InvalidJson {
        tool: tool.to_owned(),
        reason,
    };
    if arguments.trim().is_empty() {
        return Ok(serde_json::Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(other) => Err(invalid(format!("got {}", json_kind(&other)))),
        Err(e) => Err(invalid(e.to_string())),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolRegistry")
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Echo(&'static str);

    impl Tool for Echo {
        fn spec(&self) -> ToolSpec {
            ToolSpec {
                name: self.0.to_owned(),
                description: "echoes its arguments".to_owned(),
                parameters: json!({"type": "object"}),
            }
        }

        async fn call(
            &self,
            arguments: serde_json::Value,
            _cx: &ToolContext,
        ) -> Result<ToolOutput, ToolError> {
            Ok(ToolOutput::text(arguments.to_string()))
        }
    }

    fn cx() -> ToolContext {
        ToolContext::new(crate::SessionId::parse("web-test").unwrap(), 0)
    }

    #[test]
    fn tools_are_offered_in_registration_order() {
        let mut registry = ToolRegistry::new();
        registry.register(Echo("b")).unwrap();
        registry.register(Echo("a")).unwrap();
        let names: Vec<_> = registry.specs().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
    }

    #[test]
    fn duplicate_and_malformed_names_are_refused() {
        let mut registry = ToolRegistry::new();
        registry.register(Echo("echo")).unwrap();
        assert_eq!(
            registry.register(Echo("echo")),
            Err(ToolRegistryError::Duplicate {
                name: "echo".into()
            })
        );
        for bad in ["", "has space", "dot.ted", "ünï"] {
            assert!(
                matches!(
                    registry.register(Echo(bad)),
                    Err(ToolRegistryError::InvalidName { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn dispatch_runs_the_named_tool_with_an_object() {
        let mut registry = ToolRegistry::new();
        registry.register(Echo("echo")).unwrap();
        let out = registry
            .dispatch("echo", r#"{"a":1}"#, &cx())
            .await
            .unwrap();
        assert_eq!(out.content, r#"{"a":1}"#);
        let empty = registry.dispatch("echo", "  ", &cx()).await.unwrap();
        assert_eq!(empty.content, "{}");
    }

    #[tokio::test]
    async fn dispatch_refuses_unknown_tools_and_non_objects() {
        let mut registry = ToolRegistry::new();
        registry.register(Echo("echo")).unwrap();
        assert!(matches!(
            registry.dispatch("nope", "{}", &cx()).await,
            Err(DispatchError::UnknownTool { name }) if name == "nope"
        ));
        for bad in ["{", "[1]", "\"x\"", "null"] {
            assert!(
                matches!(
                    registry.dispatch("echo", bad, &cx()).await,
                    Err(DispatchError::InvalidJson { .. })
                ),
                "{bad}"
            );
        }
    }
}
