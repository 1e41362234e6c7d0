//! The value types audit events are made of. Each one is narrow enough that it
//! cannot carry a request's credentials: no header values, no query strings, no
//! request paths (which hold pairing codes), only identifiers.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value was refused as an audit field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?} is not valid: {rule}")]
pub struct FieldError {
    pub field: &'static str,
    /// The refused text, cut to 64 characters.
    pub value: String,
    pub rule: &'static str,
}

fn refuse(field: &'static str, value: &str, rule: &'static str) -> FieldError {
    FieldError {
        field,
        value: value.chars().take(64).collect(),
        rule,
    }
}

/// Declares a `String` newtype accepted only when `$valid` holds, serialized as
/// a plain JSON string and checked again when read back.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $field:literal, $rule:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(text: &str) -> Result<Self, FieldError> {
                let valid: fn(&str) -> bool = $valid;
                if valid(text) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(refuse($field, text, $rule))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(text: String) -> Result<Self, FieldError> {
                Self::new(&text)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

fn is_identifier(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

checked_string!(
    /// The id the edge gave one request (also sent as `X-Request-Id`).
    RequestId,
    "request id",
    "1 to 64 characters from A-Z a-z 0-9 - _",
    is_identifier
);

checked_string!(
    /// An API token's public id. Never the token: the token is a credential, the id
    /// only names it in lists and revocations.
    TokenId,
    "token id",
    "1 to 64 characters from A-Z a-z 0-9 - _",
    is_identifier
);

checked_string!(
    /// An HTTP method such as `GET`.
    HttpMethod,
    "http method",
    "1 to 16 upper-case letters",
    |text| (1..=16).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_uppercase())
);

checked_string!(
    /// The route pattern the router matched, such as `/pair/{code}`, never the
    /// request's own path: paths and query strings can carry pairing codes and
    /// tokens, patterns are written in hardshell's code.
    Route,
    "route",
    "a pattern starting with '/', at most 128 characters from A-Z a-z 0-9 / _ . - { } *",
    |text| {
        text.starts_with('/')
            && text.len() <= 128
            && text.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-' | b'{' | b'}' | b'*')
            })
    }
);

checked_string!(
    /// One entry of the `[llm] chain`, `provider/model`, as configured. The
    /// edge records only entries of its own chain: what a shell reports is
    /// checked against it first.
    ChainModel,
    "chain model",
    "provider/model: a provider of 1 to 64 characters from a-z 0-9 - _, a model of 1 to 200 printable ASCII characters",
    |text| {
        text.split_once('/').is_some_and(|(provider, model)| {
            (1..=64).contains(&provider.len())
                && provider
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
                && (1..=200).contains(&model.len())
                && model.bytes().all(|b| b.is_ascii_graphic())
        })
    }
);

checked_string!(
    /// A workload's name or one of its state's snapshots, as the object
    /// store keys them (one key segment): hardshell's own names (`workload`,
    /// `set-aside-<time>-<holder>`) or the operator's, never a path from the
    /// workload's files.
    StateName,
    "state name",
    "1 to 128 characters from A-Z a-z 0-9 . _ -, not starting with '.'",
    |text| {
        (1..=128).contains(&text.len())
            && !text.starts_with('.')
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    }
);

checked_string!(
    /// A DevTools protocol method a browser client sent, such as
    /// `Page.navigate`, or `(invalid)` for a name that is not one: the client
    /// chose the text, so only a bounded name of protocol characters is kept.
    CdpMethod,
    "cdp method",
    "1 to 64 characters from A-Z a-z 0-9 ., or (invalid)",
    |text| text == CdpMethod::INVALID || is_cdp_method(text)
);

impl CdpMethod {
    /// What a record holds in place of a method name that is not one.
    pub const INVALID: &'static str = "(invalid)";

    /// `text` when it is a method name, else `(invalid)`: a refusal is
    /// recorded whatever the client sent as its name.
    pub fn or_invalid(text: &str) -> Self {
        if is_cdp_method(text) {
            Self(text.to_owned())
        } else {
            Self(Self::INVALID.to_owned())
        }
    }
}

fn is_cdp_method(text: &str) -> bool {
    (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
}

checked_string!(
    /// The host a browser was sent to: a lower-case DNS name or an IP
    /// address, never a path, query, port or user name. Taken from a URL a
    /// client asked for, so it is bounded and checked like any input.
    BrowserHost,
    "browser host",
    "a lower-case host name of 1 to 253 characters from a-z 0-9 . - _, or an IP address",
    |text| {
        text.parse::<std::net::IpAddr>().is_ok()
            || ((1..=253).contains(&text.len())
                && text
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')))
    }
);

/// Why a fallback chain moved on to its next model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchReason {
    Unreachable,
    TimedOut,
    RateLimited,
    Overloaded,
    ProviderFailed,
    CutShort,
    SpendCapReached,
}

/// Which key a rate limit counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitedBy {
    /// The authenticated principal.
    Principal,
    /// The client's network address.
    ClientAddress,
}

/// Timestamps in records: RFC 3339, UTC, microseconds, `Z`. One fixed form, so a
/// record's bytes are a function of its content.
pub(crate) mod rfc3339 {
    use super::*;

    pub fn format(time: &DateTime<Utc>) -> String {
        time.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// [`hardshell_secrets::SecretName`] as its plain name, checked again when read.
pub(crate) mod secret_name {
    use hardshell_secrets::SecretName;

    use super::*;

    pub fn serialize<S: Serializer>(name: &SecretName, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(name.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretName, D::Error> {
        let text = String::deserialize(d)?;
        SecretName::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_accept_plain_ids_only() {
        assert!(RequestId::new("01JD3X4-abc_9").is_ok());
        assert!(TokenId::new("tok_7f3a").is_ok());
        for bad in ["", "a b", "a=b", "Bearer x", &"a".repeat(65), "é"] {
            assert!(RequestId::new(bad).is_err(), "{bad:?}");
            assert!(TokenId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routes_refuse_query_strings_and_raw_paths_with_odd_characters() {
        assert!(Route::new("/pair/{code}").is_ok());
        assert!(Route::new("/v1/chat/completions").is_ok());
        for bad in [
            "/login?token=abc",
            "/cb#access_token=abc",
            "relative",
            "/a b",
            "/%2e%2e",
            "/x;jsessionid=1",
        ] {
            assert!(Route::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn http_methods_are_upper_case_words() {
        assert!(HttpMethod::new("GET").is_ok());
        for bad in ["", "get", "GET /", &"A".repeat(17)] {
            assert!(HttpMethod::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn state_names_are_one_key_segment() {
        assert!(StateName::new("workload").is_ok());
        assert!(StateName::new("set-aside-20261205T082149.123Z-host-0a1b").is_ok());
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "../lease",
            "a/b",
            "a b",
            "\u{1b}[31m",
            &"a".repeat(129),
        ] {
            assert!(StateName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cdp_methods_are_bounded_protocol_names() {
        assert_eq!(
            CdpMethod::new("Page.navigate").unwrap().as_str(),
            "Page.navigate"
        );
        assert!(CdpMethod::new("(invalid)").is_ok());
        for bad in [
            "",
            "Page.navigate\n",
            "Page navigate",
            "Pa\u{1b}[31m",
            &"A".repeat(65),
        ] {
            assert!(CdpMethod::new(bad).is_err(), "{bad:?}");
            assert_eq!(CdpMethod::or_invalid(bad).as_str(), "(invalid)");
        }
    }

    #[test]
    fn browser_hosts_are_names_or_addresses_only() {
        for good in ["example.com", "127.0.0.1", "::1", "xn--bcher-kva.example"] {
            assert!(BrowserHost::new(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "Example.com",
            "example.com/path",
            "example.com:8080",
            "user@example.com",
            "[::1]",
            "a b",
            &"a".repeat(254),
        ] {
            assert!(BrowserHost::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_refused_field_is_refused_when_read_back_too() {
        let err = serde_json::from_str::<Route>("\"/login?token=abc\"").unwrap_err();
        assert!(err.to_string().contains("route"), "{err}");
    }

    #[test]
    fn field_errors_name_the_field_and_cut_the_value() {
        let err = RequestId::new(&"x".repeat(200)).unwrap_err();
        assert_eq!(err.value.len(), 64);
        assert!(err.to_string().starts_with("request id"), "{err}");
    }
}
