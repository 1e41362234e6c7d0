//! One module per command; `run` dispatches.

mod agent;
mod audit;
mod backup;
mod chat;
mod config;
mod device;
mod doctor;
mod egress;
mod image;
mod import;
mod init;
mod memory;
mod module;
mod pair;
mod provider;
mod secret;
mod service;
pub mod state;
mod token;
mod up;
mod usage;

use crate::cli::{Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(args) => init::run(&cli.global, &args).await,
        Command::Config(command) => config::run(&cli.global, &command).await,
        Command::Secret(command) => secret::run(&cli.global, &command).await,
        Command::Token(command) => token::run(&cli.global, &command).await,
        Command::Pair(command) => pair::run(&cli.global, &command).await,
        Command::Module(command) => module::run(&cli.global, &command).await,
        Command::Device(command) => device::run(&cli.global, &command).await,
        Command::Egress(command) => egress::run(&cli.global, &command).await,
        Command::Audit(command) => audit::run(&cli.global, &command).await,
        Command::Backup(command) => backup::run(&cli.global, &command).await,
        Command::Chat(args) => chat::run(&cli.global, &args).await,
        Command::Usage => usage::run(&cli.global).await,
        Command::Doctor(args) => doctor::run(&cli.global, &args).await,
        Command::Memory(command) => memory::run(&cli.global, &command).await,
        Command::State(command) => state::run(&cli.global, &command).await,
        Command::Image(command) => image::run(&cli.global, &command).await,
        Command::Up(args) if args.check => up::check(&cli.global).await,
        Command::Up(_) => up::run(&cli.global).await,
        Command::Service(command) => service::run(&cli.global, &command).await,
        Command::Import(args) => import::run(&args).await,
        Command::Agent(args) => agent::run(&args).await,
    }
}
