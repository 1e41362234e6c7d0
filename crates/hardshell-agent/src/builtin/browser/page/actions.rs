//! What the model does on a page, the way a person would: the mouse at an
//! element's centre, text inserted into the focused field, a select's
//! option picked, the wheel, the history's previous entry, a screenshot.

use serde_json::{Value, json};

use super::Page;
use crate::builtin::browser::BrowserError;
use crate::builtin::browser::cdp::CdpError;

/// Picks the option whose value or text is the argument, as a person's
/// choice would, so the page's own listeners run. It answers one of a few
/// fixed words, the only thing read from it.
const SELECT_OPTION: &str = "function (wanted) {
  if (!(this instanceof HTMLSelectElement)) return 'not-a-select';
  const option = Array.from(this.options).find(
    o => o.value === wanted || o.label === wanted || o.text.trim() === wanted);
  if (!option) return 'no-option';
  this.value = option.value;
  this.dispatchEvent(new Event('input', { bubbles: true }));
  this.dispatchEvent(new Event('change', { bubbles: true }));
  return 'selected';
}";

/// How far one scroll goes, in CSS pixels: most of a screen.
const SCROLL_BY: f64 = 600.0;
/// Coordinates past this are not on any screen: a hostile browser's answer.
const MAX_COORDINATE: f64 = 1_000_000.0;

/// Which way to scroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
}

impl Page {
    /// Clicks element `[n]` at its centre, then waits for what it loads.
    pub async fn click(&mut self, n: usize) -> Result<(), BrowserError> {
        let node = self.element(n)?;
        self.call("DOM.scrollIntoViewIfNeeded", json!({"backendNodeId": node}))
            .await?;
        let quads = self
            .call("DOM.getContentQuads", json!({"backendNodeId": node}))
            .await?;
        let (x, y) = centre(&quads).ok_or(BrowserError::NotVisible { n })?;
        self.cdp.forget_events();
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await?;
        }
        self.settle().await
    }

    /// Types `text` into element `[n]`, and presses Enter if `submit`.
    pub async fn type_text(
        &mut self,
        n: usize,
        text: &str,
        submit: bool,
    ) -> Result<(), BrowserError> {
        let node = self.element(n)?;
        self.call("DOM.focus", json!({"backendNodeId": node}))
            .await?;
        self.call("Input.insertText", json!({"text": text})).await?;
        if submit {
            self.cdp.forget_events();
            for kind in ["keyDown", "keyUp"] {
                self.call(
                    "Input.dispatchKeyEvent",
                    json!({"type": kind, "key": "Enter", "code": "Enter",
                           "windowsVirtualKeyCode": 13, "text": "\r"}),
                )
                .await?;
            }
            self.settle().await?;
        }
        Ok(())
    }

    /// Picks `value` (an option's value or text) in the select `[n]`.
    pub async fn select(&mut self, n: usize, value: &str) -> Result<(), BrowserError> {
        const RESOLVE: &str = "DOM.resolveNode";
        let node = self.element(n)?;
        let resolved = self.call(RESOLVE, json!({"backendNodeId": node})).await?;
        let object = resolved
            .pointer("/object/objectId")
            .and_then(Value::as_str)
            .ok_or(CdpError::Malformed { method: RESOLVE })?
            .to_owned();
        self.cdp.forget_events();
        let answer = self
            .call(
                "Runtime.callFunctionOn",
                json!({"objectId": object, "functionDeclaration": SELECT_OPTION,
                       "arguments": [{"value": value}], "returnByValue": true}),
            )
            .await?;
        match answer.pointer("/result/value").and_then(Value::as_str) {
            Some("selected") => self.settle().await,
            Some("no-option") => Err(BrowserError::NoOption { n }),
            _ => Err(BrowserError::NotSelect { n }),
        }
    }

    /// Scrolls the page most of a screen `direction`.
    pub async fn scroll(&mut self, direction: Direction) -> Result<(), BrowserError> {
        let delta = match direction {
            Direction::Up => -SCROLL_BY,
            Direction::Down => SCROLL_BY,
        };
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseWheel", "x": 100, "y": 100, "deltaX": 0, "deltaY": delta}),
        )
        .await?;
        Ok(())
    }

    /// Goes to the previous page of the tab's history.
    pub async fn back(&mut self) -> Result<(), BrowserError> {
        const HISTORY: &str = "Page.getNavigationHistory";
        let history = self.call(HISTORY, json!({})).await?;
        let index = history
            .get("currentIndex")
            .and_then(Value::as_u64)
            .ok_or(CdpError::Malformed { method: HISTORY })?;
        // The first entry is the blank tab the page was opened from.
        let previous = index
            .checked_sub(1)
            .filter(|&i| i >= 1)
            .and_then(|i| history.get("entries")?.get(usize::try_from(i).ok()?))
            .ok_or(BrowserError::NoHistory)?;
        let entry = previous
            .get("id")
            .and_then(Value::as_i64)
            .ok_or(CdpError::Malformed { method: HISTORY })?;
        self.cdp.forget_events();
        self.call("Page.navigateToHistoryEntry", json!({"entryId": entry}))
            .await?;
        self.settle().await
    }

    /// Takes a screenshot (PNG). The image is the edge's to show the owner;
    /// it never goes to the model, so only whether one came is checked.
    pub async fn screenshot(&mut self) -> Result<(), BrowserError> {
        const METHOD: &str = "Page.captureScreenshot";
        let shot = self.call(METHOD, json!({"format": "png"})).await?;
        match shot.get("data").and_then(Value::as_str) {
            Some(data) if !data.is_empty() => Ok(()),
            _ => Err(CdpError::Malformed { method: METHOD }.into()),
        }
    }
}

/// The centre of the first well-formed quad of `DOM.getContentQuads`.
fn centre(answer: &Value) -> Option<(f64, f64)> {
    answer.get("quads")?.as_array()?.iter().find_map(|quad| {
        let points: Vec<f64> = quad.as_array()?.iter().filter_map(Value::as_f64).collect();
        if points.len() != 8
            || points
                .iter()
                .any(|p| !p.is_finite() || p.abs() > MAX_COORDINATE)
        {
            return None;
        }
        let x = (points[0] + points[2] + points[4] + points[6]) / 4.0;
        let y = (points[1] + points[3] + points[5] + points[7]) / 4.0;
        Some((x, y))
    })
}
