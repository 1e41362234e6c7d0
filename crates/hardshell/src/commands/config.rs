//! `hardshell config check`: the file, the master key and the storage, end to end;
//! `hardshell config model` (`provider.rs`).

use crate::cli::{ConfigCommand, Global};
use crate::context;
use hardshell_egress::Credentials;

pub async fn run(global: &Global, command: &ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check => check(global).await,
        ConfigCommand::Model(args) => super::provider::config_model(global, args).await,
    }
}

async fn check(global: &Global) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let source = context::master_key_source(global, &loaded);
    let master = hardshell_storage::MasterKey::load(&source)?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let state = context::open_state(&loaded, &master, &mut credentials).await?;
    for (key, consequence) in loaded.config.dangerous.enabled() {
        println!("warning: {key} is on: {consequence}");
    }
    for (key, consequence) in loaded.config.browser.warnings() {
        println!("warning: {key} is on: {consequence}");
    }
    for (key, consequence) in loaded.config.channels.warnings() {
        println!("warning: {key}: {consequence}");
    }
    for (key, consequence) in loaded.config.modules.warnings() {
        println!("warning: {key} is on: {consequence}");
    }
    for (program, reason) in loaded.config.exec.listed_programs_that_run_programs() {
        println!(
            "warning: exec.allow lists {program:?}, which can run other programs ({reason}): \
             commands using it are asked about all the same"
        );
    }
    println!("ok: {}", loaded.path.display());
    println!("  master key  {} (from {source})", master.id());
    println!(
        "  storage     {} ({})",
        state.endpoint(),
        if state.is_encrypted() {
            "encrypted"
        } else {
            "NOT encrypted"
        }
    );
    println!("  listen      {}", loaded.config.edge.listen);
    if let Some(workload) = &loaded.config.workload {
        for line in workload.summary(&loaded.config.egress) {
            println!("  workload    {line}");
        }
    }
    // How each route leaves, defaults included: whether the broker reads it.
    let egress = &loaded.config.egress;
    for route in &egress.routes {
        let hosts: Vec<String> = route.hosts.iter().map(ToString::to_string).collect();
        let ports: Vec<String> = route.ports.iter().map(ToString::to_string).collect();
        let how = if egress.inspects(route) {
            "inspected: the broker ends TLS and reads every request"
        } else {
            "raw tunnel: host and port only"
        };
        println!(
            "  egress      {} port {}: {how}",
            hosts.join(", "),
            ports.join(", ")
        );
    }
    Ok(())
}
