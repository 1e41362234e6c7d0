//! The tools every agent has: the time, and memory (save and search); and
//! `exec`, `send_file`, `browser` and the locked modules' tools, when the
//! edge offers them.

pub mod browser;
mod current_time;
mod exec;
mod memory_tools;
mod module_tool;
mod send_file;

use std::sync::Arc;

use crate::{Clock, Memory, OwnerTimeZone, ToolRegistry, ToolRegistryError};

pub use browser::{Browser, BrowserConnector, BrowserError, BrowserLimits, BrowserSocket};
pub use current_time::CurrentTime;
pub use exec::{CommandRunner, Exec, MAX_COMMAND_BYTES};
pub use memory_tools::{MemorySave, MemorySearch};
pub use module_tool::{MODULE_CLOSING, MODULE_OPENING, ModuleCaller, ModuleTool};
pub use send_file::{FileSender, SendFile};

/// Registers `current_time`, `memory_save` and `memory_search`.
pub fn register_builtin_tools(
    registry: &mut ToolRegistry,
    memory: &Memory,
    clock: Arc<dyn Clock>,
    time_zone: OwnerTimeZone,
) -> Result<(), ToolRegistryError> {
    registry.register(CurrentTime::new(clock, time_zone))?;
    registry.register(MemorySave::new(memory.clone()))?;
    registry.register(MemorySearch::new(memory.clone()))?;
    Ok(())
}
