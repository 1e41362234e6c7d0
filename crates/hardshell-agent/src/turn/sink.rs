//! Where a turn's events go while it runs.

use hardshell_protocol::TurnEvent;

/// Where a turn's events go. `emit` must not block: a client that has gone away
/// or reads slowly must not stall the turn, whose reply is stored either way.
pub trait TurnSink: Send {
    fn emit(&mut self, event: TurnEvent);
}

impl TurnSink for Vec<TurnEvent> {
    fn emit(&mut self, event: TurnEvent) {
        self.push(event);
    }
}

impl TurnSink for tokio::sync::mpsc::UnboundedSender<TurnEvent> {
    fn emit(&mut self, event: TurnEvent) {
        // A closed channel means the client left; the turn finishes and is stored.
        let _ = self.send(event);
    }
}

/// A sink that holds what is emitted until [`Held::open`]: a turn asks the
/// model while its user message is being stored, and the client hears
/// nothing of the reply before `Accepted`, which comes only once the message
/// is durable. Shared by the two (`&Held` is the sink), so the store can open
/// it while the model call holds it.
pub(super) struct Held<'a> {
    inner: std::sync::Mutex<HeldInner<'a>>,
}

struct HeldInner<'a> {
    sink: &'a mut dyn TurnSink,
    open: bool,
    held: Vec<TurnEvent>,
}

impl<'a> Held<'a> {
    pub(super) fn new(sink: &'a mut dyn TurnSink) -> Self {
        Self {
            inner: std::sync::Mutex::new(HeldInner {
                sink,
                open: false,
                held: Vec::new(),
            }),
        }
    }

    /// The user message is stored as `seq`: `Accepted`, then what was held,
    /// then everything as it comes.
    pub(super) fn open(&self, seq: u64) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.sink.emit(TurnEvent::Accepted { seq });
        for event in inner.held.drain(..) {
            inner.sink.emit(event);
        }
        inner.open = true;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HeldInner<'a>> {
        // Events are pushed whole: a panic elsewhere leaves a valid list.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TurnSink for &Held<'_> {
    fn emit(&mut self, event: TurnEvent) {
        let mut inner = self.lock();
        if inner.open {
            inner.sink.emit(event);
        } else {
            inner.held.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(text: &str) -> TurnEvent {
        TurnEvent::TextDelta { text: text.into() }
    }

    #[test]
    fn nothing_passes_before_accepted_and_nothing_held_is_lost_or_reordered() {
        let mut seen: Vec<TurnEvent> = Vec::new();
        {
            let held = Held::new(&mut seen);
            let mut sink = &held;
            sink.emit(delta("a"));
            sink.emit(delta("b"));
            held.open(7);
            sink.emit(delta("c"));
        }
        assert_eq!(
            seen,
            [
                TurnEvent::Accepted { seq: 7 },
                delta("a"),
                delta("b"),
                delta("c")
            ]
        );
        // Never opened (the store failed): nothing at all reaches the client.
        let mut seen: Vec<TurnEvent> = Vec::new();
        {
            let held = Held::new(&mut seen);
            let mut sink = &held;
            sink.emit(delta("a"));
        }
        assert!(seen.is_empty());
    }
}
