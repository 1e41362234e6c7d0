//! Model providers as broker routes. The agent's shell reaches a provider the
//! way any shell reaches anything: plain HTTP through its broker. Each
//! provider in `[llm.providers]` becomes one route and one bound secret:
//!
//! - the route: the base URL's host and port, `POST` to the wire format's
//!   chat path only (`v1/messages` for Anthropic, `chat/completions` for
//!   OpenAI-compatible servers), TLS from the broker when the base URL is
//!   `https`; the address guard does not apply to an IPv4 address or
//!   `localhost` written in the base URL (a model server on this machine is a
//!   common setup), while a name is checked like any other, with
//!   `[dangerous] egress_internal` as the exceptions;
//! - the secret: the agent holds `hs-secret:LLM_<NAME>` as its key, which the
//!   broker swaps for the real one in the provider's key header only
//!   (`x-api-key` or `authorization`), and only on that provider's route.
//!   Every other placeholder in the agent's model traffic is text: the
//!   conversation quotes them (the exec tool's description, a command's
//!   output), and the model route neither swaps nor refuses them.
//!
//! [`LlmGateway`] is the routes' [`Tap`]: a request names a model of the
//! chain or is refused (403, `x-hardshell-refusal: model`); the monthly spend
//! cap is enforced before a request leaves, each paid call reserving the most
//! it may cost until its cost is recorded (one that does not fit gets 402
//! with `x-hardshell-refusal: budget`), streamed OpenAI-style requests always
//! ask for usage, and usage is metered from the provider's own answer as it is
//! relayed, recorded in the ledger even if the agent stops reading. A
//! provider that reports none is charged at an estimate from the bytes (4 per
//! token). A provider's answer that echoes the key has it turned back into
//! the placeholder by the broker.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::Utc;
use futures::future::BoxFuture;
use hardshell_broker::host::{Host, HostPattern};
use hardshell_broker::policy::{KeyHeader, Placeholders, Route};
use hardshell_broker::proxy::{Admitted, Meter, Refused, Tap};
use hardshell_broker::secrets::{NamedSecret, PREFIX};
use hardshell_llm::{
    Metered, MicroUsd, ModelRef, ProviderKind, Reservation, SpendCap, SpendError, UsageLedger,
    UsageMeter,
};
use http::StatusCode;
use http::header::HeaderValue;
use url::Url;
use zeroize::Zeroizing;

/// One provider as the broker reaches it.
pub struct ProviderRoute {
    pub kind: ProviderKind,
    pub base_url: Url,
    /// Swapped in on the way out; never shown to the workload.
    pub key: Option<Zeroizing<String>>,
    /// The models of `[llm] chain` this provider serves, exactly as the
    /// chain spells them: a request naming any other is refused, so the
    /// agent cannot pick a model the operator did not (an unpriced one
    /// would not count against the cap).
    pub models: Vec<String>,
}

impl std::fmt::Debug for ProviderRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRoute")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url.as_str())
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("models", &self.models)
            .finish()
    }
}

/// The model providers, their usage ledger and the spend cap.
#[derive(Debug)]
pub struct LlmGateway {
    providers: BTreeMap<String, ProviderRoute>,
    ledger: UsageLedger,
    cap: Option<SpendCap>,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmGatewayError {
    #[error("model provider {name}: {why}")]
    Provider { name: String, why: String },
    #[error(
        "model {model} has no price in [[llm.prices]]: its provider has a key, so it is taken \
         for a paid service, and under monthly_cap_usd a paid model without a price would be \
         free; give it a price (0 if it really is free)"
    )]
    Unpriced { model: String },
}

/// What the agent is given for one provider: where to send its requests
/// (through the broker) and the placeholder it sends as its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProvider {
    pub base_url: String,
    pub key: Option<String>,
}

impl LlmGateway {
    /// Refuses a base URL the broker could not route: a scheme other than
    /// HTTP(S), credentials, a query, or a host that is not a name or IPv4
    /// address; and, with a cap, a model of a provider with a key (a paid
    /// service) that has no price.
    pub fn new(
        providers: BTreeMap<String, ProviderRoute>,
        ledger: UsageLedger,
        cap: Option<SpendCap>,
    ) -> Result<Self, LlmGatewayError> {
        let mut placeholders: BTreeMap<String, &str> = BTreeMap::new();
        let mut endpoints: BTreeMap<_, Vec<&ProviderRoute>> = BTreeMap::new();
        for (name, route) in &providers {
            let why = |why: &str| LlmGatewayError::Provider {
                name: name.clone(),
                why: why.to_owned(),
            };
            let url = &route.base_url;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(why("the base URL's scheme must be http or https"));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(why("credentials in the base URL are refused"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(why("a query or fragment in the base URL is refused"));
            }
            host_of(url).map_err(|e| why(&e.to_string()))?;
            // `my-p` and `my_p` would share LLM_MY_P: one key's binding
            // would replace the other's.
            let secret = secret_name(name).map_err(|e| why(&e.to_string()))?;
            if let Some(other) = placeholders.insert(secret.clone(), name) {
                return Err(why(&format!(
                    "its placeholder {PREFIX}{secret} is provider {other}'s too; rename one"
                )));
            }
            endpoints.entry(endpoint(route)).or_default().push(route);
            if cap.is_some() && route.key.is_some() {
                for model in &route.models {
                    let model = ModelRef::parse(&format!("{name}/{model}"))
                        .map_err(|e| why(&e.to_string()))?;
                    if ledger.prices().listed(&model).is_none() {
                        return Err(LlmGatewayError::Unpriced {
                            model: model.to_string(),
                        });
                    }
                }
            }
        }
        // A request is metered and capped as the provider whose key
        // placeholder it carries; providers sharing an endpoint are told
        // apart only that way, so each of them needs a key.
        for (name, route) in &providers {
            let sharing = &endpoints[&endpoint(route)];
            if sharing.len() > 1 && sharing.iter().any(|r| r.key.is_none()) {
                return Err(LlmGatewayError::Provider {
                    name: name.clone(),
                    why: "another provider has the same endpoint (host, port and path), and \
                          providers sharing one are told apart by their keys: give each a key"
                        .into(),
                });
            }
        }
        Ok(Self {
            providers,
            ledger,
            cap,
        })
    }

    /// Each provider's key, named by its placeholder (`LLM_<NAME>`): values
    /// the edge holds that must not leave a shell or show in a command's
    /// output, whichever way the config gave them (store or environment).
    pub(crate) fn key_values(&self) -> Vec<NamedSecret> {
        self.providers
            .iter()
            .filter_map(|(name, route)| {
                let key = route.key.as_ref()?;
                Some(NamedSecret::new(
                    secret_name(name).ok()?,
                    key.as_bytes().to_vec(),
                ))
            })
            .collect()
    }

    /// The usage ledger, for `hardshell usage`.
    pub fn ledger(&self) -> &UsageLedger {
        &self.ledger
    }

    /// What the agent uses for provider `name`.
    pub fn agent_provider(&self, name: &str) -> Option<AgentProvider> {
        let route = self.providers.get(name)?;
        let mut url = route.base_url.clone();
        // The agent speaks plain HTTP to its broker, which speaks TLS on.
        if url.scheme() == "https" {
            let port = url.port_or_known_default();
            url.set_scheme("http").ok()?;
            if port == Some(443) {
                url.set_port(None).ok()?;
            } else {
                url.set_port(port).ok()?;
            }
        }
        Some(AgentProvider {
            base_url: url.as_str().trim_end_matches('/').to_owned(),
            key: route
                .key
                .as_ref()
                .and_then(|_| secret_name(name).ok())
                .map(|secret| format!("{PREFIX}{secret}")),
        })
    }

    /// The broker's routes for the providers, and the values of their keys
    /// by placeholder name.
    pub(crate) fn routes(&self) -> Result<Routes, LlmGatewayError> {
        let mut routes = Routes::default();
        for (name, provider) in &self.providers {
            let why = |why: String| LlmGatewayError::Provider {
                name: name.clone(),
                why,
            };
            let url = &provider.base_url;
            let host = host_of(url).map_err(|e| why(e.to_string()))?;
            let port = url
                .port_or_known_default()
                .ok_or_else(|| why("the base URL has no port".into()))?;
            let base = url.path().trim_end_matches('/');
            routes.routes.push(Route {
                hosts: vec![HostPattern::Exact(host.clone())],
                any_host: false,
                ports: vec![port],
                methods: Some(vec!["POST".into()]),
                path_prefixes: None,
                // The chat path exactly: beneath it are other calls.
                paths: Some(vec![format!("{base}/{}", chat_path(provider.kind))]),
                tls: url.scheme() == "https",
                // The agent's model client speaks plain HTTP to its broker
                // (the route originates TLS); it never tunnels.
                inspect: false,
                // The operator wrote this address down: a model server on
                // this machine or network is a common, deliberate setup. A
                // name is resolved, so it gets the guard like any other.
                internal: matches!(url.host(), Some(url::Host::Ipv4(_)))
                    || host.as_str() == "localhost",
                tag: Some(name.clone()),
                placeholders: self.placeholders(provider),
            });
            if let Some(key) = &provider.key {
                routes.keys.insert(
                    secret_name(name).map_err(|e| why(e.to_string()))?,
                    key.clone(),
                );
            }
        }
        Ok(routes)
    }

    /// How a provider's route treats placeholders: as text, but in the key
    /// header, where the key of this provider (and of those sharing its
    /// endpoint, whose requests take the same route) is swapped.
    fn placeholders(&self, provider: &ProviderRoute) -> Placeholders {
        let secrets: Vec<String> = self
            .providers
            .iter()
            .filter(|(_, other)| other.key.is_some() && endpoint(other) == endpoint(provider))
            .filter_map(|(name, _)| secret_name(name).ok())
            .collect();
        let header = match provider.kind {
            ProviderKind::Anthropic => "x-api-key",
            ProviderKind::OpenAi => "authorization",
        };
        Placeholders::Inert {
            key: (!secrets.is_empty()).then(|| KeyHeader {
                header: header.into(),
                secrets,
            }),
        }
    }
}

/// See [`LlmGateway::routes`].
#[derive(Default)]
pub(crate) struct Routes {
    pub routes: Vec<Route>,
    pub keys: BTreeMap<String, Zeroizing<String>>,
}

/// Where a provider's requests go: host, port and chat path.
fn endpoint(route: &ProviderRoute) -> (String, Option<u16>, String) {
    let url = &route.base_url;
    (
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default(),
        format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            chat_path(route.kind)
        ),
    )
}

/// Why a provider's base URL has no host the broker can route to.
#[derive(Debug, thiserror::Error)]
enum BaseUrlHostError {
    #[error("an IPv6 address as the base URL's host is not supported; use a name")]
    Ipv6,
    #[error("the base URL has no host")]
    Missing,
    #[error("{0}")]
    Parse(#[from] hardshell_broker::host::HostError),
}

fn host_of(url: &Url) -> Result<Host, BaseUrlHostError> {
    let text = match url.host() {
        Some(url::Host::Domain(name)) => name.to_owned(),
        Some(url::Host::Ipv4(address)) => address.to_string(),
        Some(url::Host::Ipv6(_)) => return Err(BaseUrlHostError::Ipv6),
        None => return Err(BaseUrlHostError::Missing),
    };
    Ok(Host::parse(&text)?)
}

/// Why a provider's name cannot be made its key's placeholder name.
#[derive(Debug, thiserror::Error)]
enum PlaceholderNameError {
    #[error("the name {provider:?} cannot be a placeholder")]
    Character { provider: String },
    #[error("the name {provider:?} is too long for a placeholder")]
    TooLong { provider: String },
}

/// `LLM_<NAME>`: the provider's name in placeholder form (upper case, `-`
/// and `.` as `_`).
fn secret_name(provider: &str) -> Result<String, PlaceholderNameError> {
    let mut name = String::from("LLM_");
    for c in provider.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' => name.push(c.to_ascii_uppercase()),
            '-' | '.' => name.push('_'),
            _ => {
                return Err(PlaceholderNameError::Character {
                    provider: provider.to_owned(),
                });
            }
        }
    }
    if !hardshell_secrets::SecretName::is_valid(&name) {
        return Err(PlaceholderNameError::TooLong {
            provider: provider.to_owned(),
        });
    }
    Ok(name)
}

fn chat_path(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Anthropic => "v1/messages",
        ProviderKind::OpenAi => "chat/completions",
    }
}

/// A refusal in the provider's error shape, its message recorded as the
/// reason.
fn refusal(status: StatusCode, kind: &'static str, message: &str) -> Refused {
    let body = serde_json::json!({ "error": { "type": kind, "message": message } });
    let mut response = http::Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert("x-hardshell-refusal", HeaderValue::from_static(kind));
    Refused {
        response,
        reason: format!("model route: {message}"),
    }
}

/// The gateway as the broker's tap; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct ModelTap {
    kinds: BTreeMap<String, ProviderKind>,
    /// Each provider's models in the chain: the only ones it is asked for.
    models: BTreeMap<String, Vec<String>>,
    /// Each provider's endpoint, and the provider each key placeholder names.
    endpoints: BTreeMap<String, (String, Option<u16>, String)>,
    by_secret: BTreeMap<String, String>,
    ledger: UsageLedger,
    cap: Option<SpendCap>,
}

impl LlmGateway {
    pub(crate) fn tap(&self) -> ModelTap {
        ModelTap {
            kinds: self
                .providers
                .iter()
                .map(|(name, route)| (name.clone(), route.kind))
                .collect(),
            models: self
                .providers
                .iter()
                .map(|(name, route)| (name.clone(), route.models.clone()))
                .collect(),
            endpoints: self
                .providers
                .iter()
                .map(|(name, route)| (name.clone(), endpoint(route)))
                .collect(),
            by_secret: self
                .providers
                .keys()
                .filter_map(|name| Some((secret_name(name).ok()?, name.clone())))
                .collect(),
            ledger: self.ledger.clone(),
            cap: self.cap.clone(),
        }
    }
}

impl Tap for ModelTap {
    fn admit(
        &self,
        tag: &str,
        request: &http::request::Parts,
        body: Bytes,
    ) -> BoxFuture<'static, Result<Admitted, Refused>> {
        let this = self.clone();
        let name = self.provider(tag, request);
        Box::pin(async move { this.admit_one(name, body).await })
    }
}

impl ModelTap {
    /// The provider a request is for: its route's, or, where providers share
    /// the endpoint, the one whose key placeholder the request carries (the
    /// broker swaps only that provider's key into it).
    fn provider(&self, tag: &str, request: &http::request::Parts) -> String {
        let carried = ["authorization", "x-api-key"]
            .iter()
            .filter_map(|header| request.headers.get(*header)?.to_str().ok())
            .flat_map(hardshell_broker::secrets::placeholder_names)
            .filter_map(|secret| self.by_secret.get(secret))
            .find(|provider| self.endpoints.get(*provider) == self.endpoints.get(tag));
        carried.cloned().unwrap_or_else(|| tag.to_owned())
    }
}

impl ModelTap {
    async fn admit_one(self, name: String, body: Bytes) -> Result<Admitted, Refused> {
        let bad = |message: &str| refusal(StatusCode::BAD_REQUEST, "request", message);
        let Some(kind) = self.kinds.get(&name).copied() else {
            return Err(bad("no such provider"));
        };
        let Ok(serde_json::Value::Object(mut json)) = serde_json::from_slice(&body) else {
            return Err(bad("the request is not a JSON object"));
        };
        let asked = json
            .get("model")
            .and_then(|m| m.as_str())
            .ok_or_else(|| bad("the request names no model"))?;
        // Exactly as the chain spells it: another spelling or a dated
        // variant may be another price, or none.
        if !self
            .models
            .get(&name)
            .is_some_and(|m| m.iter().any(|m| m == asked))
        {
            return Err(refusal(
                StatusCode::FORBIDDEN,
                "model",
                "the request names a model that is not in the chain",
            ));
        }
        let model = ModelRef::parse(&format!("{name}/{asked}"))
            .map_err(|_| bad("the request names no model"))?;
        // One reply per call: OpenAI's `n` asks for several, each billed,
        // and what a call reserves against the cap counts one. The agent
        // never asks for more.
        if json.get("n").is_some_and(|n| n.as_u64() != Some(1)) {
            return Err(bad("a model route allows one reply per call (n = 1)"));
        }
        // OpenAI-style servers report a stream's usage only when asked; the
        // workload does not get to choose whether it is metered.
        if kind == ProviderKind::OpenAi
            && json.get("stream").and_then(|s| s.as_bool()) == Some(true)
        {
            json.insert(
                "stream_options".to_owned(),
                serde_json::json!({ "include_usage": true }),
            );
        }
        // Sent as checked, never as the agent's bytes: those may give a key
        // twice (`"model"`, `"max_tokens"`), and the check read the last
        // where a provider may read the first.
        drop(body);
        let body = Bytes::from(
            serde_json::to_vec(&json).map_err(|_| bad("the request cannot be re-encoded"))?,
        );
        let request_bytes = body.len();
        let reservation = match &self.cap {
            Some(cap) => {
                let price = self.ledger.prices().price_of(&model);
                // A paid call reserves the most it may cost, which needs
                // the reply's limit: without one it could be any size.
                let max_tokens = ["max_tokens", "max_completion_tokens"]
                    .iter()
                    .filter_map(|field| json.get(*field)?.as_u64())
                    .max();
                let most = match max_tokens {
                    Some(max_tokens) => price.most(request_bytes, max_tokens),
                    None if price.is_paid() => {
                        return Err(bad(
                            "a paid model's request under the spend cap must set max_tokens",
                        ));
                    }
                    None => MicroUsd::ZERO,
                };
                match cap.reserve(&model, most, Utc::now()).await {
                    Ok(reservation) => Some(reservation),
                    Err(e @ (SpendError::CapReached { .. } | SpendError::NoRoom { .. })) => {
                        tracing::warn!(model = %model, "refused: {e}");
                        return Err(refusal(
                            StatusCode::PAYMENT_REQUIRED,
                            "budget",
                            &e.to_string(),
                        ));
                    }
                    Err(e) => {
                        // Unknown spend means no paid call: fail closed.
                        tracing::error!(error = %e, "reading the usage ledger failed");
                        return Err(refusal(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "ledger",
                            "the usage ledger cannot be read",
                        ));
                    }
                }
            }
            None => None,
        };
        Ok(Admitted {
            body,
            meter: Box::new(UsageTap {
                meter: UsageMeter::new(kind),
                ledger: self.ledger,
                model,
                request_bytes,
                reservation,
            }),
        })
    }
}

/// Meters one answer and records it when it ends.
struct UsageTap {
    meter: UsageMeter,
    ledger: UsageLedger,
    model: ModelRef,
    request_bytes: usize,
    /// Given back once the cost is in the ledger, so the call counts against
    /// the cap all the while.
    reservation: Option<Reservation>,
}

impl Meter for UsageTap {
    fn feed(&mut self, chunk: &[u8]) {
        self.meter.feed(chunk);
    }

    fn finish(self: Box<Self>, status: StatusCode) {
        // A provider's refusal is not a reply the provider charges for.
        if !status.is_success() {
            return;
        }
        let UsageTap {
            meter,
            ledger,
            model,
            request_bytes,
            reservation,
        } = *self;
        // A reply the provider did not meter is charged at an estimate: an
        // unmetered reply must not be a free one under the cap.
        let Metered { usage, estimated } = meter.finish_or_estimate(request_bytes);
        // Counted at once (the cap sees it), stored with the next window's
        // charges; the reservation it replaces is given back.
        let cost = ledger.charge(&model, usage, Utc::now());
        drop(reservation);
        tracing::info!(model = %model, input = usage.input_tokens, output = usage.output_tokens, estimated, %cost, "model usage");
    }
}
