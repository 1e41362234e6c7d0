//! What the config alone says: how the edge is exposed, which dangerous
//! settings are on, and egress routes wider or blinder than they need be.

use hardshell_config::{Config, Egress, HostPattern};

use crate::{Finding, Severity};

/// The checks [`check`] runs.
pub const CHECKS: &[&str] = &[
    "edge.exposure",
    "edge.trusted-proxies",
    "access.login",
    "dangerous",
    "warnings",
    "egress.wildcards",
    "egress.raw-tunnels",
    "egress.unroutable-secrets",
    "exec.allow",
];

/// Every finding of the config `config`.
pub fn check(config: &Config) -> Vec<Finding> {
    let mut found = Vec::new();
    exposure(config, &mut found);
    for (key, consequence) in config.dangerous.enabled() {
        found.push(Finding::new(
            "dangerous",
            Severity::High,
            format!("{key} is on"),
            format!("{consequence}."),
            format!("remove `{}` from [dangerous] in hardshell.toml", leaf(key)),
        ));
    }
    let warnings = config
        .browser
        .warnings()
        .into_iter()
        .chain(config.channels.warnings())
        .chain(config.modules.warnings());
    for (key, consequence) in warnings {
        found.push(Finding::new(
            "warnings",
            Severity::Medium,
            format!("{key} is on"),
            format!("{consequence}."),
            format!("turn `{key}` off in hardshell.toml unless you need it"),
        ));
    }
    egress(&config.egress, &mut found);
    for (program, reason) in config.exec.listed_programs_that_run_programs() {
        found.push(Finding::new(
            "exec.allow",
            Severity::Low,
            format!("exec.allow lists {program}, which can run other programs ({reason})"),
            "Listing it does not let the agent run what it runs without asking: commands \
             using it are asked about all the same, so the entry only adds noise.",
            format!("remove {program} from exec.allow"),
        ));
    }
    found
}

/// Off loopback, the edge must be reachable only with a login, and its
/// traffic must be encrypted on the way.
fn exposure(config: &Config, found: &mut Vec<Finding>) {
    for proxy in &config.edge.trusted_proxies {
        let net = proxy.0;
        let widest = match net {
            ipnet::IpNet::V4(_) => 8,
            ipnet::IpNet::V6(_) => 16,
        };
        if net.prefix_len() < widest {
            found.push(Finding::new(
                "edge.trusted-proxies",
                Severity::High,
                format!("edge.trusted_proxies holds {net}"),
                "The edge believes X-Forwarded-For from every address in it: a client there \
                 names any address as its own, and the rate limits and address rules see the \
                 name.",
                "list only your proxies' addresses (a CDN's published ranges, or the reverse \
                 proxy's own address)",
            ));
        }
    }
    let listen = config.edge.listen;
    if listen.ip().is_loopback() {
        return;
    }
    if !config.access.has_login_method() {
        found.push(Finding::new(
            "access.login",
            Severity::High,
            format!("the edge listens on {listen} with no way to log in"),
            "Anyone who reaches the address can knock; only API tokens would be accepted, and \
             hardshell refuses to start like this.",
            "turn on [access.passkey] enabled = true, or configure [access.oidc] or \
             [access.cloudflare]",
        ));
    }
    if config.edge.tls.is_none() {
        found.push(Finding::new(
            "edge.exposure",
            Severity::Medium,
            format!("the edge listens on {listen} without TLS"),
            "TLS ends at the proxy in front (edge.trusted_proxies): the hop from the proxy to \
             the edge carries sessions and tokens in the clear.",
            "keep that hop on loopback or a private network only the proxy reaches (listen on \
             127.0.0.1 if the proxy runs on this machine), or set [edge.tls]",
        ));
    }
}

fn egress(egress: &Egress, found: &mut Vec<Finding>) {
    for route in &egress.routes {
        let ports = ports(&route.ports);
        for host in &route.hosts {
            if let HostPattern::Under(_) = host {
                found.push(Finding::new(
                    "egress.wildcards",
                    Severity::Medium,
                    format!("an egress route allows every name under {host} (port {ports})"),
                    "Code in a shell may reach any host there, including ones others control \
                     (user sites, buckets, tunnels), and send what it read to them.",
                    format!("list the exact names the agent needs in place of {host}"),
                ));
            }
        }
        if route.inspect == Some(false) {
            let hosts: Vec<String> = route.hosts.iter().map(ToString::to_string).collect();
            found.push(Finding::new(
                "egress.raw-tunnels",
                Severity::Medium,
                format!(
                    "the egress route to {} (port {ports}) is a raw tunnel (inspect = false)",
                    hosts.join(", ")
                ),
                "The broker sees a host and a port only: no leak scan of what leaves, no \
                 secret placeholders, no method or path rules.",
                "remove `inspect = false` unless the client there pins its certificates",
            ));
        }
    }
    for (name, binding) in &egress.secrets {
        for host in &binding.hosts {
            let routed = egress
                .routes
                .iter()
                .any(|route| route.hosts.iter().any(|allowed| allowed.overlaps(host)));
            if !routed {
                found.push(Finding::new(
                    "egress.unroutable-secrets",
                    Severity::Low,
                    format!("the secret {name} is bound to {host}, which no egress route allows"),
                    "A request there is refused before the secret is used: the binding does \
                     nothing, and may hide a host missing from the routes.",
                    format!(
                        "add a [[egress.routes]] entry for {host}, or remove it from \
                         [egress.secrets.{name}]"
                    ),
                ));
            }
        }
    }
}

/// `dangerous.storage_allow_http` without its table's name.
fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

fn ports(ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(ToString::to_string).collect();
    ports.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config as `hardshell.toml` would hold it; the model only, without
    /// the loader's refusals, so a check meets what the loader would let
    /// through and what it would not.
    fn config(text: &str) -> Config {
        toml::from_str(text).unwrap()
    }

    fn checks(found: &[Finding]) -> Vec<(&str, Severity)> {
        found.iter().map(|f| (f.check, f.severity)).collect()
    }

    #[test]
    fn the_default_config_has_no_finding() {
        assert_eq!(check(&config("")), []);
    }

    #[test]
    fn off_loopback_without_a_login_is_high_and_without_tls_medium() {
        // The passkey login is on by default: turned off, nothing is.
        let found = check(&config(
            "[edge]\nlisten = \"0.0.0.0:8787\"\n[access.passkey]\nenabled = false\n",
        ));
        assert_eq!(
            checks(&found),
            [
                ("access.login", Severity::High),
                ("edge.exposure", Severity::Medium)
            ]
        );
        assert!(found[0].what.contains("0.0.0.0:8787"), "{found:?}");
        // A login and TLS: nothing to say.
        let found = check(&config(
            "[edge]\nlisten = \"0.0.0.0:8787\"\n[edge.tls]\ncert = \"c\"\nkey = \"k\"\n\
             [access.passkey]\nenabled = true\n",
        ));
        assert_eq!(found, []);
    }

    #[test]
    fn a_trusted_proxy_range_as_wide_as_the_internet_is_high_and_a_cdns_is_not() {
        let found = check(&config(
            "[edge]\ntrusted_proxies = [\"0.0.0.0/0\", \"104.16.0.0/13\", \"10.0.0.0/8\", \"::/0\"]\n",
        ));
        let what: Vec<&str> = found.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "edge.trusted_proxies holds 0.0.0.0/0",
                "edge.trusted_proxies holds ::/0"
            ]
        );
        assert!(found.iter().all(|f| f.severity == Severity::High));
    }

    #[test]
    fn a_program_that_runs_programs_in_exec_allow_is_low() {
        let found = check(&config("[exec]\nallow = [\"ls\", \"xargs\"]\n"));
        assert_eq!(checks(&found), [("exec.allow", Severity::Low)]);
        assert!(
            found[0].what.starts_with("exec.allow lists xargs"),
            "{found:?}"
        );
    }

    #[test]
    fn each_dangerous_setting_is_high_and_names_its_key() {
        let found = check(&config(
            "[dangerous]\nunencrypted_storage = true\negress_internal = [\"10.0.0.0/8\"]\n",
        ));
        assert_eq!(
            checks(&found),
            [("dangerous", Severity::High), ("dangerous", Severity::High)]
        );
        assert_eq!(found[0].what, "dangerous.unencrypted_storage is on");
        assert_eq!(
            found[1].fix,
            "remove `egress_internal` from [dangerous] in hardshell.toml"
        );
    }

    #[test]
    fn wildcards_raw_tunnels_and_unroutable_secrets_are_found_and_exact_routes_are_not() {
        let found = check(&config(
            "[[egress.routes]]\nhosts = [\"api.github.com\", \"*.s3.example.com\"]\nports = [443]\n\
             [[egress.routes]]\nhosts = [\"pinned.example\"]\nports = [443]\ninspect = false\n\
             [[egress.routes]]\nhosts = [\"github.com\"]\nports = [22]\n\
             [egress.secrets.GH]\nhosts = [\"api.github.com\"]\n\
             [egress.secrets.OLD]\nhosts = [\"gone.example\"]\n",
        ));
        assert_eq!(
            checks(&found),
            [
                ("egress.wildcards", Severity::Medium),
                ("egress.raw-tunnels", Severity::Medium),
                ("egress.unroutable-secrets", Severity::Low)
            ]
        );
        assert!(found[0].what.contains("*.s3.example.com"), "{found:?}");
        assert!(found[1].what.contains("pinned.example"), "{found:?}");
        assert!(
            found[2].what.contains("OLD") && found[2].what.contains("gone.example"),
            "{found:?}"
        );
        // A secret bound under a suffix a route's exact host is in is routed.
        let found = check(&config(
            "[[egress.routes]]\nhosts = [\"api.example.com\"]\nports = [443]\n\
             [egress.secrets.K]\nhosts = [\"*.example.com\"]\n",
        ));
        assert_eq!(found, []);
    }
}
