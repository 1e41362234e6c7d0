//! The request as it leaves: origin-form, the `Host` the policy checked,
//! hop-by-hop headers dropped, and placeholders swapped for values where
//! the route and the bindings allow (path, query, headers, body).

use bytes::Bytes;
use http::Request;

use super::{Broker, websocket};
use crate::host::Host;
use crate::policy::Route;
use crate::secrets::{NamedSecret, Place, swap_for_route};

impl Broker {
    /// The request to send: origin-form, placeholders swapped as the route's
    /// rule has it, and the values swapped in; `Err` where a placeholder may
    /// not be swapped. `tls`: it leaves in TLS (443 is the default port).
    /// `window`: the body is the first part of a longer one, which may end
    /// inside a character.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn swap(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
        host: &Host,
        port: u16,
        route: &Route,
        tls: bool,
        window: bool,
    ) -> Result<Swapped, Unsendable> {
        // Every value swapped in, as it is looked up: the answer is read
        // for these.
        let swapped_in = std::cell::RefCell::new(Vec::<NamedSecret>::new());
        let value = |name: &str| {
            let value = (self.secret)(name)?;
            let mut swapped_in = swapped_in.borrow_mut();
            if !swapped_in.iter().any(|known| known.name() == name) {
                swapped_in.push(NamedSecret::new(name, value.clone().into_bytes()));
            }
            Some(value)
        };
        // A destination a secret is bound to can hand its value back in
        // any answer, not only to a request that carried it: a shell may
        // store a placeholder there (a note, swapped on the way in) and
        // read it back later with a request that swaps nothing. Every
        // answer from it is read for the values bound to it.
        if matches!(route.placeholders, crate::policy::Placeholders::Bound) {
            for (name, binding) in &self.bindings {
                if binding.hosts.iter().any(|pattern| pattern.matches(host)) {
                    value(name);
                }
            }
        }
        // A model route leaves placeholders as text but for its key header.
        let swap = |text: &str, place| {
            swap_for_route(
                text,
                host,
                place,
                &route.placeholders,
                &self.bindings,
                value,
            )
        };
        let misdirected = |e: crate::secrets::Misdirected| Unsendable::Misdirected(e.name);
        // The path too: Telegram's bot token is a path segment.
        let path = swap(parts.uri.path(), Place::Path).map_err(misdirected)?;
        let query = match parts.uri.query() {
            Some(query) => Some(swap(query, Place::Query).map_err(misdirected)?),
            None => None,
        };
        let target = match query {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        // The Host the destination sees is the host the policy checked: a
        // shell's own Host header could name another site behind the same
        // address (a CDN's), which the route never allowed.
        let default_port = if tls { 443 } else { 80 };
        let authority = if port == default_port {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let mut builder = Request::builder()
            .method(parts.method.clone())
            .uri(target)
            .header(http::header::HOST, authority);
        // A WebSocket keeps its upgrade (and only that: its other hop-by-hop
        // headers stop here as any request's).
        if websocket::asks_websocket(parts) {
            builder = builder
                .header(http::header::CONNECTION, "upgrade")
                .header(http::header::UPGRADE, "websocket");
        }
        let mut headers = Vec::new();
        for (name, header) in &parts.headers {
            // Hop-by-hop and proxy headers stop here, and the shell's Host;
            // so does the body's framing, which the swap and a tap change.
            if matches!(
                name.as_str(),
                "host"
                    | "content-length"
                    | "transfer-encoding"
                    | "proxy-authorization"
                    | "proxy-connection"
                    | "connection"
                    | "keep-alive"
                    | "te"
                    | "upgrade"
                    // No compression agreed: the scan reads frames as sent.
                    | "sec-websocket-extensions"
            ) {
                continue;
            }
            let text = header
                .to_str()
                .map_err(|_| Unsendable::Invalid("a header that is not text".into()))?;
            let swapped = swap(text, Place::Header(name.as_str())).map_err(misdirected)?;
            headers.push((name, swapped));
        }
        let text = if window {
            text_head(body)
        } else {
            std::str::from_utf8(body).ok().map(|text| (text, &[][..]))
        };
        let body = match text {
            Some((text, tail)) => {
                let mut swapped = swap(text, Place::Body).map_err(misdirected)?.into_bytes();
                swapped.extend_from_slice(tail);
                Bytes::from(swapped)
            }
            // A binary body carries no placeholder the broker would swap.
            None => body.clone(),
        };
        let values = swapped_in.into_inner();
        for (name, header) in headers {
            // An answer to a request carrying a secret is read for the
            // secret, which a compressed one would hide.
            if !values.is_empty() && name == http::header::ACCEPT_ENCODING {
                continue;
            }
            builder = builder.header(name, header);
        }
        let request = builder
            .body(body)
            .map_err(|e| Unsendable::Invalid(format!("rebuilding the request: {e}")))?;
        Ok(Swapped { request, values })
    }
}

/// A request ready to leave (its body, or the window of a longer one), and
/// the secret values swapped into it.
pub(super) struct Swapped {
    pub(super) request: Request<Bytes>,
    pub(super) values: Vec<NamedSecret>,
}

/// `bytes` as text, if they are: all of them, or all but an unfinished
/// character at the end (a window's edge may cut one), which is given
/// apart.
pub(super) fn text_head(bytes: &[u8]) -> Option<(&str, &[u8])> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some((text, &[])),
        Err(e) if e.error_len().is_none() => {
            let (text, tail) = bytes.split_at(e.valid_up_to());
            Some((std::str::from_utf8(text).ok()?, tail))
        }
        Err(_) => None,
    }
}

/// Why a plain-HTTP request was not sent.
pub(super) enum Unsendable {
    /// A placeholder for a secret not bound here (its name).
    Misdirected(String),
    /// The request cannot be forwarded as it is.
    Invalid(String),
}
