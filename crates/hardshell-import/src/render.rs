//! Writing the [`Plan`] as a commented `hardshell.toml`, and the settings to
//! make in OpenClaw's own config. Strings are quoted by the `toml` crate, so
//! no value from the source can break out of its line.

use std::fmt::Write as _;

use crate::OPENCLAW_CONFIG_FILE;
use crate::map::{
    Bucket, OPENCLAW_STATE_DIR, OPENCLAW_USER_HEADER, Plan, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY,
};

fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| quote(item)).collect();
    format!("[{}]", quoted.join(", "))
}

pub(crate) fn config(plan: &Plan) -> String {
    let mut out = String::new();
    // `writeln!` into a String cannot fail; the results are ignored below.
    let _ = writeln!(
        out,
        "# Written by `hardshell import` from a Moltworker wrangler.toml.\n\
         # Everything not set here has hardshell's safe default: see `hardshell init`'s\n\
         # template for every key. The edge listens on loopback until [access] and\n\
         # [edge] say otherwise.\n"
    );
    if plan.ratelimit != (None, None) {
        let _ = writeln!(out, "[ratelimit]");
        if let Some(rpm) = plan.ratelimit.0 {
            let _ = writeln!(out, "requests_per_minute = {rpm}");
        }
        if let Some(burst) = plan.ratelimit.1 {
            let _ = writeln!(out, "burst = {burst}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "[workload]");
    let _ = writeln!(out, "image = {}", quote(&plan.image.to_string()));
    let _ = writeln!(out, "host = {}", quote(&plan.host));
    let _ = writeln!(out, "port = {}", plan.port);
    if let Some(memory) = plan.memory_mb {
        let _ = writeln!(out, "memory_mb = {memory}");
    }
    if let Some(max) = plan.max_instances {
        let _ = writeln!(out, "max_instances = {max}");
    }
    if plan.openclaw {
        let _ = writeln!(
            out,
            "health_path = \"/readyz\"\n\
             ready_timeout_secs = 120          # the gateway takes about 20 s\n\
             stop_grace_secs = 30              # it drains for minutes on SIGTERM otherwise\n\
             state_dir = {}\n\
             identity_header = {}  # OpenClaw's gateway.auth.trustedProxy.userHeader",
            quote(OPENCLAW_STATE_DIR),
            quote(OPENCLAW_USER_HEADER)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "[workload.env]");
    for secret in &plan.secrets {
        let _ = writeln!(
            out,
            "{} = {}",
            secret.name,
            quote(&format!("secret:{}", secret.name))
        );
    }
    if plan.openclaw {
        let _ = writeln!(
            out,
            "OPENCLAW_GATEWAY_PORT = {}",
            quote(&plan.port.to_string())
        );
    }
    for (name, value) in &plan.env {
        if plan.openclaw && name == "OPENCLAW_GATEWAY_PORT" {
            continue;
        }
        let _ = writeln!(out, "{} = {}", quote(name), quote(value));
    }
    let _ = writeln!(out);
    if plan.openclaw {
        let _ = writeln!(
            out,
            "# OpenClaw's own config, written beside this file; copied into its state\n\
             # directory on the first start only (never over state it has).\n\
             [workload.seed]\n{} = {}\n",
            quote(OPENCLAW_CONFIG_FILE),
            quote(OPENCLAW_CONFIG_FILE)
        );
    }
    for secret in &plan.secrets {
        let _ = writeln!(
            out,
            "[[egress.routes]]\nhosts = {}\nports = [443]\n",
            list(&secret.hosts)
        );
    }
    for secret in &plan.secrets {
        let _ = writeln!(
            out,
            "[egress.secrets.{}]\nhosts = {}\n",
            secret.name,
            list(&secret.hosts)
        );
    }
    if let Some(bucket) = &plan.storage {
        let _ = writeln!(out, "[storage]\nbackend = \"s3\"\n");
        write_bucket(&mut out, "storage.s3", bucket);
    }
    if let Some(bucket) = &plan.audit {
        write_bucket(&mut out, "audit.s3", bucket);
    }
    if plan.image.digest().is_none() {
        let _ = writeln!(
            out,
            "[dangerous]\n# --allow-unpinned: the registry decides what runs. Pin the image and remove this.\nunpinned_images = true"
        );
    }
    out
}

fn write_bucket(out: &mut String, table: &str, bucket: &Bucket) {
    let _ = writeln!(
        out,
        "[{table}]\nendpoint = {}\nbucket = {}\nregion = \"auto\"\naccess_key_id = \"secret:{R2_ACCESS_KEY_ID}\"\nsecret_access_key = \"secret:{R2_SECRET_ACCESS_KEY}\"\n",
        quote(&bucket.endpoint),
        quote(&bucket.name)
    );
}

/// The workload's forwarder to its broker, as its shell announces it in
/// `HTTP_PROXY` (hardshell-shells' `PROXY_PORT`).
const BROKER_PROXY: &str = "http://127.0.0.1:3128";

/// OpenClaw's own config, `openclaw.json`, as the OpenClaw test runs it: the
/// gateway on loopback in its shell, trusting only the edge (the forwarder
/// reaches it from 127.0.0.1, nothing else can) through the header the edge
/// fills and requiring the edge's signed identity beside it; its Control UI
/// on the workload's own origin; a browser the edge let in paired with
/// OpenClaw's default operator scopes (not admin): the edge's login is the
/// gate; every connection through its broker; the models the seed named.
/// `[workload.seed]` copies it into the state directory on the first start.
pub(crate) fn openclaw_config(plan: &Plan) -> Option<String> {
    if !plan.openclaw {
        return None;
    }
    let mut config = serde_json::json!({
        "gateway": {
            "mode": "local",
            "bind": "loopback",
            "port": plan.port,
            "trustedProxies": ["127.0.0.1"],
            "auth": {
                "mode": "trusted-proxy",
                "trustedProxy": {
                    "userHeader": OPENCLAW_USER_HEADER.to_ascii_lowercase(),
                    "requiredHeaders": ["x-hardshell-identity"],
                    "allowLoopback": true,
                    "deviceAutoApprove": { "enabled": true }
                }
            },
            "controlUi": { "allowedOrigins": [format!("https://{}", plan.host)] }
        },
        "proxy": { "enabled": true, "proxyUrl": BROKER_PROXY }
    });
    if let Some((primary, fallbacks)) = plan.models.split_first() {
        config["agents"] = serde_json::json!({
            "defaults": { "model": { "primary": primary, "fallbacks": fallbacks } }
        });
    }
    serde_json::to_string_pretty(&config).ok().map(|mut text| {
        text.push('\n');
        text
    })
}
