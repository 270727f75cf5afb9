//! Keeps a sweep or a restore of the object's storage apart from every
//! other request. A Durable Object runs one request at a time only between
//! awaits, and moving the storage to R2 and back awaits R2 and D1: a
//! request arriving meanwhile waits at the [`Gate`] until the move is done,
//! and a move starts only when no other request is in progress
//! ([`InFlight`]).

use std::cell::Cell;
use std::cell::RefCell;

use futures_channel::oneshot;

/// Open, or closed while the storage moves.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    closed: Cell<bool>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Gate {
    /// Returns once the gate is open.
    pub(crate) async fn pass(&self) {
        while self.closed.get() {
            let (tx, rx) = oneshot::channel();
            self.waiters.borrow_mut().push(tx);
            // A dropped sender also means the gate opened.
            let _ = rx.await;
        }
    }

    /// Closes the gate until the guard is dropped; `None` when it is
    /// already closed.
    pub(crate) fn close(&self) -> Option<Closed<'_>> {
        if self.closed.replace(true) {
            return None;
        }
        Some(Closed(self))
    }
}

/// The gate, closed; dropping it opens the gate and wakes the waiters.
#[derive(Debug)]
pub(crate) struct Closed<'a>(&'a Gate);

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        self.0.closed.set(false);
        for waiter in self.0.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }
}

/// How many requests (and alarms) the object is serving.
#[derive(Debug, Default)]
pub(crate) struct InFlight(Cell<u32>);

impl InFlight {
    /// Counts one until the guard is dropped.
    pub(crate) fn enter(&self) -> Serving<'_> {
        self.0.set(self.0.get().saturating_add(1));
        Serving(self)
    }

    /// How many are being served.
    pub(crate) fn count(&self) -> u32 {
        self.0.get()
    }
}

/// One request being served.
#[derive(Debug)]
pub(crate) struct Serving<'a>(&'a InFlight);

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.0.0.set(self.0.0.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use futures_util::FutureExt;

    use super::Gate;
    use super::InFlight;

    #[test]
    fn a_closed_gate_holds_requests_until_it_opens() {
        let gate = Rc::new(Gate::default());
        let closed = gate.close().unwrap();
        assert!(gate.close().is_none(), "closed once at a time");
        let mut waiting = Box::pin(gate.pass());
        assert!(waiting.as_mut().now_or_never().is_none());
        drop(closed);
        assert!(waiting.now_or_never().is_some());
        assert!(gate.pass().now_or_never().is_some());
    }

    #[test]
    fn in_flight_counts_what_is_being_served() {
        let in_flight = InFlight::default();
        let one = in_flight.enter();
        let two = in_flight.enter();
        assert_eq!(in_flight.count(), 2);
        drop(one);
        drop(two);
        assert_eq!(in_flight.count(), 0);
    }
}
