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
