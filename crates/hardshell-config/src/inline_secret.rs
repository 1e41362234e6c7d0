//! Refuses configs that contain what looks like a credential.
//!
//! `hardshell.toml` is the kind of file people commit; the seed article's warning
//! ("never put these in wrangler.toml") is enforced here instead of trusted. A value
//! is suspicious if it carries a known credential prefix, is a JWT or a PEM private
//! key, is a URL with a password, or is a long, high-entropy token. Digests written
//! as `sha256:<hex>` are not credentials and pass.

/// A description of the credential `value` looks like, or `None`.
pub fn looks_like_credential(value: &str) -> Option<&'static str> {
    let value = value.trim();
    if let Some(kind) = known_prefix(value) {
        return Some(kind);
    }
    if value.contains("-----BEGIN") && value.contains("PRIVATE KEY") {
        return Some("a PEM private key");
    }
    if is_jwt(value) {
        return Some("a JSON Web Token");
    }
    if let Some(lower) = value.get(..7)
        && lower.eq_ignore_ascii_case("bearer ")
        && value.len() > 20
    {
        return Some("a bearer token");
    }
    if url_has_password(value) {
        return Some("a URL with a password in it");
    }
    if is_telegram_bot_token(value) {
        return Some("a Telegram bot token");
    }
    if is_digest(value) {
        return None;
    }
    if is_long_hex(value) {
        return Some("a long hex token");
    }
    if is_high_entropy_token(value) {
        return Some("a random token (long and high-entropy)");
    }
    None
}

const PREFIXES: &[(&str, &str)] = &[
    ("sk-ant-", "an Anthropic API key"),
    ("sk-proj-", "an OpenAI API key"),
    ("sk-or-", "an OpenRouter API key"),
    ("sk_live_", "a Stripe secret key"),
    ("sk_test_", "a Stripe secret key"),
    ("rk_live_", "a Stripe restricted key"),
    ("ghp_", "a GitHub token"),
    ("gho_", "a GitHub token"),
    ("ghu_", "a GitHub token"),
    ("ghs_", "a GitHub token"),
    ("ghr_", "a GitHub token"),
    ("github_pat_", "a GitHub token"),
    ("glpat-", "a GitLab token"),
    ("xoxb-", "a Slack token"),
    ("xoxp-", "a Slack token"),
    ("xoxa-", "a Slack token"),
    ("xapp-", "a Slack app token"),
    ("hf_", "a Hugging Face token"),
    ("npm_", "an npm token"),
    ("pypi-", "a PyPI token"),
    ("AIza", "a Google API key"),
    ("SG.", "a SendGrid key"),
    ("hs_tok_", "a hardshell API token"),
];

fn known_prefix(value: &str) -> Option<&'static str> {
    for (prefix, kind) in PREFIXES {
        if value.starts_with(prefix) && value.len() >= prefix.len() + 16 && !value.contains(' ') {
            return Some(kind);
        }
    }
    // OpenAI's older keys: "sk-" and 32+ token characters.
    if value.starts_with("sk-") && value.len() >= 35 && is_token_charset(value) {
        return Some("an OpenAI-style API key");
    }
    // AWS access key ids: AKIA/ASIA + 16 upper-case letters or digits.
    if value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && value[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Some("an AWS access key id");
    }
    None
}

fn is_token_charset(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'=' | b'.'))
}

fn is_jwt(value: &str) -> bool {
    let parts: Vec<&str> = value.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[1].starts_with("eyJ")
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn url_has_password(value: &str) -> bool {
    let Some((_, rest)) = value.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| {
        userinfo
            .split_once(':')
            .is_some_and(|(_, pass)| !pass.is_empty())
    })
}

fn is_telegram_bot_token(value: &str) -> bool {
    let Some((id, secret)) = value.split_once(':') else {
        return false;
    };
    (6..=12).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_digit())
        && secret.len() >= 30
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_digest(value: &str) -> bool {
    ["sha256:", "sha384:", "sha512:"].iter().any(|algorithm| {
        value
            .strip_prefix(algorithm)
            .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

fn is_long_hex(value: &str) -> bool {
    value.len() >= 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// At least 32 characters of token alphabet mixing upper case, lower case and
/// digits, with over 4.2 bits of entropy per character. Hex tops out at 4.0, so long
/// hex ids are handled above; names such as model ids (lower case, digits, dashes)
/// and paths do not mix all three classes.
fn is_high_entropy_token(value: &str) -> bool {
    value.len() >= 32
        && is_token_charset(value)
        && value.bytes().any(|b| b.is_ascii_digit())
        && value.bytes().any(|b| b.is_ascii_uppercase())
        && value.bytes().any(|b| b.is_ascii_lowercase())
        && shannon_entropy(value) > 4.2
}

fn shannon_entropy(value: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in value.bytes() {
        counts[usize::from(b)] += 1;
    }
    let len = value.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_credentials_are_recognised() {
        let cases = [
            (
                "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
                "Anthropic",
            ),
            ("sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "OpenAI"),
            ("sk-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd", "OpenAI"),
            ("ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "GitHub"),
            ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp", "Slack"),
            ("AKIAIOSFODNN7EXAMPLE", "AWS"),
            ("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1", "Telegram"),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
                "JSON Web Token",
            ),
            ("https://user:hunter2@example.com/x", "password"),
            ("-----BEGIN PRIVATE KEY-----\nMIIE", "PEM"),
            ("Bearer abcdefghijklmnopqrstuvwxyz", "bearer"),
            ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "random"),
            ("0123456789abcdef0123456789abcdef", "hex"),
        ];
        for (value, expected) in cases {
            let kind = looks_like_credential(value).unwrap_or_else(|| panic!("missed {value}"));
            assert!(kind.contains(expected), "{value}: {kind}");
        }
    }

    #[test]
    fn ordinary_settings_pass() {
        for value in [
            "127.0.0.1:8787",
            "https://abc123.r2.cloudflarestorage.com",
            "http://127.0.0.1:8333",
            "/var/lib/hardshell/data-2026-11-24",
            "hardshell-production-state-bucket",
            "secret:ANTHROPIC_API_KEY",
            "env:AWS_SECRET_ACCESS_KEY",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "anthropic/claude-sonnet-4-5-20250929",
            "openai/gpt-4o-2024-08-06-with-a-long-suffix",
            "HardshellProductionBucketForTheAgentState",
            "https://user@example.com/path",
            "us-east-1",
            "The quick brown fox jumps over the lazy dog",
            "sk-",
        ] {
            assert_eq!(looks_like_credential(value), None, "{value}");
        }
    }
}
