//! Counting instead of recording: refused and anonymous requests past the first
//! few from one client in one window.
//!
//! Anyone can make the edge refuse a request, and each refusal was one record
//! (about 390 bytes): one address sending 20,000 a second filled the backlog,
//! and then the owner's own requests, which must be recorded to be served, were
//! refused. Now each (client, kind) gets `DETAILED_PER_WINDOW` full records per
//! window; the rest are counted, and the count is written as one
//! `requests_summarized` record when the window closes. Nothing is dropped
//! silently: every request is in a record or a count. Authenticated requests
//! that are allowed are never summarized.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hardshell_audit::event::{RequestsSummarized, SummarizedKind};
use hardshell_ratelimit::ClientKey;

/// Full records per client and kind in one window, before counting starts.
pub(crate) const DETAILED_PER_WINDOW: u64 = 20;
/// How long a window lasts; the background task closes one this often.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Clients kept apart in one window; more are counted together (client `None`),
/// so that a flood from many addresses cannot grow this map without bound.
const MAX_CLIENTS: usize = 10_000;

struct Tally {
    /// The first address seen under this key, shown in the summary.
    client: Option<IpAddr>,
    seen: u64,
    counted: u64,
}

struct Window {
    start: DateTime<Utc>,
    /// Keyed like the rate limits (an IPv6 /64 is one client): otherwise one
    /// /64 could take every place with addresses of its own.
    tallies: HashMap<(Option<ClientKey>, SummarizedKind), Tally>,
}

pub(crate) struct Summaries {
    window: Mutex<Window>,
}

/// What to do with one refused or anonymous request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Write its own record.
    Record,
    /// Counted; it will be in the window's summary.
    Counted,
}

impl Summaries {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            window: Mutex::new(Window {
                start: now,
                tallies: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // Counts stay consistent at every step; a panic elsewhere leaves them usable.
        self.window.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one request of `kind` from `client` and says whether it gets its
    /// own record.
    pub fn observe(&self, client: IpAddr, kind: SummarizedKind) -> Disposition {
        let window = &mut *self.lock();
        let keyed = ClientKey::from(client);
        let key = if window.tallies.len() < MAX_CLIENTS
            || window.tallies.contains_key(&(Some(keyed), kind))
        {
            (Some(keyed), kind)
        } else {
            (None, kind)
        };
        let tally = window.tallies.entry(key).or_insert(Tally {
            client: key.0.map(|_| client),
            seen: 0,
            counted: 0,
        });
        tally.seen += 1;
        // Requests counted together across clients never get their own record:
        // that is the flood this exists for.
        if key.0.is_some() && tally.seen <= DETAILED_PER_WINDOW {
            Disposition::Record
        } else {
            tally.counted += 1;
            Disposition::Counted
        }
    }

    /// Closes the window: one summary per (client, kind) with requests counted,
    /// and a fresh window from `now`.
    pub fn close(&self, now: DateTime<Utc>) -> Vec<RequestsSummarized> {
        let (start, tallies) = {
            let window = &mut *self.lock();
            let start = std::mem::replace(&mut window.start, now);
            (start, std::mem::take(&mut window.tallies))
        };
        let window_secs = u64::try_from((now - start).num_seconds()).unwrap_or(0);
        let mut summaries: Vec<RequestsSummarized> = tallies
            .into_iter()
            .filter(|(_, tally)| tally.counted > 0)
            .map(|((_, kind), tally)| RequestsSummarized {
                client: tally.client,
                kind,
                count: tally.counted,
                window_start: start,
                window_secs,
            })
            .collect();
        // One order for the same counts, so that the log reads the same.
        summaries.sort_by_key(|summary| (summary.client, summary.kind as u8));
        summaries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_one_ipv6_slash_64_are_one_client() {
        let start = Utc::now();
        let summaries = Summaries::new(start);
        // A new address of the same /64 for every request: still one client.
        let recorded = (0..100u16)
            .filter(|n| {
                let address = ip(&format!("2001:db8:1:2::{n:x}"));
                summaries.observe(address, SummarizedKind::RequestDenied) == Disposition::Record
            })
            .count();
        assert_eq!(recorded as u64, DETAILED_PER_WINDOW);
        let closed = summaries.close(start + chrono::Duration::seconds(60));
        assert_eq!(closed.len(), 1, "{closed:?}");
        assert_eq!(closed[0].count, 100 - DETAILED_PER_WINDOW);
        assert_eq!(closed[0].client, Some(ip("2001:db8:1:2::0")));
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn past_the_first_few_requests_are_counted_and_summarized() {
        let start = Utc::now();
        let summaries = Summaries::new(start);
        let flooder = ip("192.0.2.1");
        let dispositions: Vec<Disposition> = (0..1000)
            .map(|_| summaries.observe(flooder, SummarizedKind::CredentialRejected))
            .collect();
        let recorded = dispositions
            .iter()
            .filter(|d| **d == Disposition::Record)
            .count();
        assert_eq!(recorded as u64, DETAILED_PER_WINDOW);
        // Another client and another kind each get their own first records.
        assert_eq!(
            summaries.observe(ip("192.0.2.2"), SummarizedKind::CredentialRejected),
            Disposition::Record
        );
        assert_eq!(
            summaries.observe(flooder, SummarizedKind::RateLimited),
            Disposition::Record
        );
        let closed = summaries.close(start + chrono::Duration::seconds(60));
        assert_eq!(closed.len(), 1, "{closed:?}");
        assert_eq!(closed[0].client, Some(flooder));
        assert_eq!(closed[0].kind, SummarizedKind::CredentialRejected);
        assert_eq!(closed[0].count, 1000 - DETAILED_PER_WINDOW);
        assert_eq!(closed[0].window_secs, 60);
        // The next window starts afresh.
        assert_eq!(
            summaries.observe(flooder, SummarizedKind::CredentialRejected),
            Disposition::Record
        );
        assert!(summaries.close(Utc::now()).is_empty());
    }

    #[test]
    fn a_flood_from_many_clients_is_counted_together_not_dropped() {
        let start = Utc::now();
        let summaries = Summaries::new(start);
        let clients = MAX_CLIENTS as u32 + 500;
        for n in 0..clients {
            let client = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            summaries.observe(client, SummarizedKind::RequestDenied);
        }
        let closed = summaries.close(Utc::now());
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].client, None);
        assert_eq!(closed[0].count, 500);
    }
}
