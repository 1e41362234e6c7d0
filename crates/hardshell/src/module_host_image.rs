//! The module host program (`hardshell-module-host`), carried inside this
//! binary: built with it (build.rs), written out by the edge for the module
//! shells (`hardshell_shells::ModuleShells`). Its bytes are mapped with the
//! rest of this binary but never read unless a module runs, so they cost a
//! process at rest no memory.

/// The program's image, as built with this binary.
pub static MODULE_HOST_IMAGE: &[u8] = include_bytes!(env!("HARDSHELL_MODULE_HOST_IMAGE"));
