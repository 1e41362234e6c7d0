//! The request target, checked before anything is matched against it: exactly
//! one valid `Host` (RFC 9112 §3.2), and a path with one meaning.
//!
//! The edge matches the path as it arrived, byte for byte; the upstream may
//! decode percent escapes, merge slashes, resolve dot segments or fold case
//! before it routes. A path that another parser could read as a different path
//! (`//admin`, `/x/../admin`, `/%61dmin`, `/admin%2Ftokens`) would let the two
//! disagree about which resource is meant, so those spellings are refused here,
//! and `routes.rs` refuses to proxy a path whose decoded first segment is one the
//! edge owns.

use http::header::HOST;
use http::uri::Authority;
use http::{HeaderMap, Uri, Version};

/// Why the target was refused; every one is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetRefusal {
    /// No `Host` on an HTTP/1.1 request.
    MissingHost,
    /// More than one `Host` line.
    DuplicateHost,
    /// A `Host` that is not `host[:port]`, or that differs from the authority
    /// of an absolute-form target.
    BadHost,
    /// `//`, a `.` or `..` segment, a backslash, or an escaped `/`, `\`, `.`,
    /// `%` or NUL: a path another parser may read differently.
    AmbiguousPath,
}

impl TargetRefusal {
    pub fn body(self) -> &'static str {
        match self {
            TargetRefusal::MissingHost => "a Host header is required\n",
            TargetRefusal::DuplicateHost => "more than one Host header\n",
            TargetRefusal::BadHost => "invalid Host header\n",
            TargetRefusal::AmbiguousPath => "ambiguous request path\n",
        }
    }
}

/// Checks `Host` and the path; pure, so it can be fuzzed.
pub(crate) fn check(version: Version, uri: &Uri, headers: &HeaderMap) -> Result<(), TargetRefusal> {
    check_host(version, uri, headers)?;
    check_path(uri.path())
}

fn check_host(version: Version, uri: &Uri, headers: &HeaderMap) -> Result<(), TargetRefusal> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_10 || version == Version::HTTP_09 => {
            return Ok(());
        }
        (None, _) => return Err(TargetRefusal::MissingHost),
        (Some(_), Some(_)) => return Err(TargetRefusal::DuplicateHost),
        (Some(host), None) => host,
    };
    let authority = std::str::from_utf8(host.as_bytes())
        .ok()
        .filter(|text| !text.is_empty() && !text.contains('@'))
        .and_then(|text| text.parse::<Authority>().ok())
        // `Authority` accepts a port it cannot read as a number (and then has
        // none): host and port must account for the whole value.
        .filter(|authority| {
            let port = authority.port().map_or(0, |port| 1 + port.as_str().len());
            authority.host().len() + port == authority.as_str().len()
        })
        .ok_or(TargetRefusal::BadHost)?;
    match uri.authority() {
        Some(target) if !target.as_str().eq_ignore_ascii_case(authority.as_str()) => {
            Err(TargetRefusal::BadHost)
        }
        _ => Ok(()),
    }
}

/// Escapes that decode to a byte which changes how a path splits or resolves.
const AMBIGUOUS_ESCAPES: [&str; 5] = ["%2f", "%5c", "%2e", "%25", "%00"];

pub(crate) fn check_path(path: &str) -> Result<(), TargetRefusal> {
    // `*` (OPTIONS) and the like match no route; that is the match phase's 404.
    let Some(rest) = path.strip_prefix('/') else {
        return Ok(());
    };
    let lower = path.to_ascii_lowercase();
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    // An empty segment is allowed only last: a trailing slash.
    let odd_segment = segments.iter().enumerate().any(|(i, segment)| {
        *segment == "." || *segment == ".." || (segment.is_empty() && i < last)
    });
    let ambiguous = odd_segment
        || path.contains('\\')
        || AMBIGUOUS_ESCAPES
            .iter()
            .any(|escape| lower.contains(escape));
    if ambiguous {
        Err(TargetRefusal::AmbiguousPath)
    } else {
        Ok(())
    }
}

/// The first segment of a path as a lenient upstream would read it: percent
/// escapes decoded, matrix parameters (`;x=y`) cut, case folded. `None` when the
/// escapes do not decode to UTF-8 (the caller treats that as reserved).
pub(crate) fn first_segment(path: &str) -> Option<String> {
    let raw = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let decoded = percent_decode(raw)?;
    let segment = decoded.split(';').next().unwrap_or_default();
    Some(segment.to_lowercase())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let byte = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
