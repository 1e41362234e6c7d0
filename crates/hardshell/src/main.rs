//! The `hardshell` binary: parses the command line and hands each command to the
//! crates that do the work.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod context;
mod logging;
mod module_host_image;
mod readiness;
mod shell_init_image;
mod supervise;
mod terminal;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The shell's init program: single-threaded, so before anything starts a
    // thread (the runtime), and not a user-facing command.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "shell-init")
    {
        hardshell_sandbox::init::main();
    }
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// One line on standard error: the error and its causes, joined.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("hardshell: error: {error:#}");
    ExitCode::FAILURE
}
