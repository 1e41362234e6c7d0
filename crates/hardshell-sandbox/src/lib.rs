//! The shell: Linux kernel isolation for the agent and every tool run.
//! A [`ShellPolicy`] becomes one ordered plan of layers (see `plan`), applied by
//! the shell's init process; any layer that cannot be applied fails the start
//! with an error naming it. There is no best-effort mode.
