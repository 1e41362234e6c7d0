//! The shells' init program (`hardshell-sandbox`'s `shell-init`), carried
//! inside this binary: built with it (build.rs) and written out by `up`,
//! which starts every shell with it. The same code as `hardshell
//! shell-init`, in a program of under a megabyte, so a shell's init and
//! reaper do not map and relocate this whole binary.

/// The program's image, as built with this binary.
pub static SHELL_INIT_IMAGE: &[u8] = include_bytes!(env!("HARDSHELL_SHELL_INIT_IMAGE"));
