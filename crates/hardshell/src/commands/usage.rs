//! `hardshell usage`: this month's model usage and spend, by provider and model,
//! as the edge's model gateway metered it.

use chrono::Utc;
use hardshell_egress::Credentials;

use crate::cli::Global;
use crate::context;

pub async fn run(global: &Global) -> anyhow::Result<()> {
    let loaded = context::load_config(global)?;
    let master = hardshell_storage::MasterKey::load(&context::master_key_source(global, &loaded))?;
    let secrets = context::open_secrets(&loaded, &master).await?;
    // No shell runs: what is resolved here needs no leak scan.
    let mut credentials = Credentials::new(&loaded, &secrets);
    let store = context::open_state(&loaded, &master, &mut credentials).await?;
    let ledger = hardshell_egress::ledger(&loaded, &store)?;
    let month = ledger.month(Utc::now()).await?;
    println!("{}", month.month);
    if month.models.is_empty() {
        println!("  no model usage this month");
    } else {
        println!(
            "  {:40}  {:>8}  {:>12}  {:>12}  {:>12}",
            "MODEL", "REQUESTS", "INPUT", "OUTPUT", "COST"
        );
        for (model, usage) in &month.models {
            println!(
                "  {:40}  {:>8}  {:>12}  {:>12}  {:>12}",
                model.to_string(),
                usage.requests,
                usage.input_tokens,
                usage.output_tokens,
                usage.cost.to_string()
            );
        }
    }
    match loaded.config.llm.monthly_cap_usd {
        Some(cap) => {
            println!("  total {} of a ${cap:.2} monthly cap", month.cost);
            let cap = hardshell_llm::MicroUsd::from_usd(cap)?;
            if month.cost >= cap {
                println!("  cap reached: paid models are refused until the month ends");
            }
        }
        None => println!("  total {} (no monthly cap)", month.cost),
    }
    Ok(())
}
