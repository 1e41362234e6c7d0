//! The session's open pages, counted from the browser's own target events
//! (the proxy keeps target discovery on): pages a client creates and pages
//! the pages open themselves (`window.open`) alike. The browser may lie in
//! its events; the count bounds what the proxy keeps, not what it trusts.

use std::collections::HashSet;

use serde_json::{Map, Value};

/// Chromium's target ids are 32 hex digits; anything far longer is not one.
const MAX_TARGET_ID: usize = 128;

#[derive(Debug)]
pub(crate) struct Pages {
    open: HashSet<String>,
    opened: u32,
    max: usize,
}

/// What a target event asks of the proxy.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PageEvent {
    Nothing,
    /// A page past the limit: the proxy closes it.
    Close(String),
}

impl Pages {
    pub(crate) fn new(max: usize) -> Pages {
        Pages {
            open: HashSet::new(),
            opened: 0,
            max,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.open.len() >= self.max
    }

    /// Pages opened in the session so far.
    pub(crate) fn opened(&self) -> u32 {
        self.opened
    }

    /// Reads one browser-wide event (no `sessionId`).
    pub(crate) fn event(&mut self, method: &str, params: Option<&Map<String, Value>>) -> PageEvent {
        match method {
            "Target.targetCreated" => {
                let info = params.and_then(|p| p.get("targetInfo"));
                let is_page =
                    info.and_then(|i| i.get("type")).and_then(Value::as_str) == Some("page");
                match target_id(info.and_then(|i| i.get("targetId"))) {
                    Some(id) if is_page && !self.open.contains(id) => self.created(id),
                    _ => PageEvent::Nothing,
                }
            }
            "Target.targetDestroyed" => {
                if let Some(id) = target_id(params.and_then(|p| p.get("targetId"))) {
                    self.open.remove(id);
                }
                PageEvent::Nothing
            }
            _ => PageEvent::Nothing,
        }
    }

    fn created(&mut self, id: &str) -> PageEvent {
        self.opened = self.opened.saturating_add(1);
        if self.is_full() {
            return PageEvent::Close(id.to_owned());
        }
        self.open.insert(id.to_owned());
        PageEvent::Nothing
    }
}

fn target_id(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .filter(|id| (1..=MAX_TARGET_ID).contains(&id.len()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn created(pages: &mut Pages, id: &str, kind: &str) -> PageEvent {
        let params = json!({"targetInfo": {"targetId": id, "type": kind}});
        pages.event("Target.targetCreated", params.as_object())
    }

    #[test]
    fn a_page_past_the_limit_is_closed_and_a_closed_page_frees_its_place() {
        let mut pages = Pages::new(2);
        assert_eq!(created(&mut pages, "A", "page"), PageEvent::Nothing);
        assert_eq!(
            created(&mut pages, "W", "service_worker"),
            PageEvent::Nothing
        );
        assert_eq!(created(&mut pages, "B", "page"), PageEvent::Nothing);
        assert!(pages.is_full());
        assert_eq!(
            created(&mut pages, "C", "page"),
            PageEvent::Close("C".to_owned())
        );
        pages.event(
            "Target.targetDestroyed",
            json!({"targetId": "A"}).as_object(),
        );
        assert!(!pages.is_full());
        assert_eq!(created(&mut pages, "D", "page"), PageEvent::Nothing);
        assert_eq!(pages.opened(), 4);
    }

    #[test]
    fn a_repeated_or_oversized_target_is_not_counted() {
        let mut pages = Pages::new(1);
        created(&mut pages, "A", "page");
        assert_eq!(created(&mut pages, "A", "page"), PageEvent::Nothing);
        assert_eq!(
            created(&mut pages, &"x".repeat(129), "page"),
            PageEvent::Nothing
        );
        assert_eq!(pages.opened(), 1);
    }
}
