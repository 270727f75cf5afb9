use std::cell::Cell;
use std::cell::RefCell;
use std::rc::Rc;

use crate::ports::AppendParams;
use crate::ports::EventStore;
use crate::ports::StoreError;
use crate::wire::Event;
use crate::wire::EventPayload;
use crate::wire::EventSeq;
use crate::wire::SessionEvent;
use crate::wire::Timestamp;
use crate::wire::event_id;

/// How often each store method was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCalls {
    /// `append` calls (including failed ones).
    pub append: usize,
    /// `load` calls.
    pub load: usize,
    /// `head` calls.
    pub head: usize,
}

#[derive(Debug, Default)]
struct Inner {
    events: RefCell<Vec<SessionEvent>>,
    calls: Cell<StoreCalls>,
    appends_until_crash: Cell<Option<usize>>,
}

/// An in-memory [`EventStore`] that counts calls and can simulate a crash.
/// Clones share the log.
#[derive(Debug, Clone, Default)]
pub struct InMemoryEventStore(Rc<Inner>);

impl InMemoryEventStore {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the log.
    #[must_use]
    pub fn events(&self) -> Vec<SessionEvent> {
        self.0.events.borrow().clone()
    }

    /// The call counts so far.
    #[must_use]
    pub fn calls(&self) -> StoreCalls {
        self.0.calls.get()
    }

    /// After `appends` more successful appends, every append fails with
    /// `Unavailable` (the process "crashed"); `None` heals the store.
    pub fn crash_after_appends(&self, appends: Option<usize>) {
        self.0.appends_until_crash.set(appends);
    }

    /// Appends a queued user event directly, as a concurrent request would
    /// (e.g. an interrupt arriving while the harness streams).
    pub fn inject_user_event(&self, session_id: &str, payload: EventPayload) {
        let mut events = self.0.events.borrow_mut();
        let seq = events.last().map_or(0, |e| e.seq) + 1;
        events.push(SessionEvent {
            seq,
            event: Event {
                id: event_id(session_id, seq),
                processed_at: None,
                payload,
            },
        });
    }

    fn count(&self, update: impl FnOnce(&mut StoreCalls)) {
        let mut calls = self.0.calls.get();
        update(&mut calls);
        self.0.calls.set(calls);
    }
}

impl EventStore for InMemoryEventStore {
    async fn append(&self, params: AppendParams) -> Result<(), StoreError> {
        self.count(|c| c.append += 1);
        if let Some(left) = self.0.appends_until_crash.get() {
            if left == 0 {
                return Err(StoreError::Unavailable("simulated crash".into()));
            }
            self.0.appends_until_crash.set(Some(left - 1));
        }
        let mut events = self.0.events.borrow_mut();
        let actual = events.last().map_or(0, |e| e.seq);
        if actual != params.expected_last_seq {
            return Err(StoreError::Conflict {
                expected: params.expected_last_seq,
                actual,
            });
        }
        for (offset, event) in params.events.iter().enumerate() {
            if event.seq != actual + offset as EventSeq + 1 {
                return Err(StoreError::Unavailable(format!(
                    "non-contiguous seq {}",
                    event.seq
                )));
            }
        }
        mark(&mut events, &params.mark_processed, params.processed_at);
        events.extend(params.events);
        Ok(())
    }

    async fn load(&self, after: EventSeq, limit: usize) -> Result<Vec<SessionEvent>, StoreError> {
        self.count(|c| c.load += 1);
        Ok(self
            .0
            .events
            .borrow()
            .iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn head(&self) -> Result<EventSeq, StoreError> {
        self.count(|c| c.head += 1);
        Ok(self.0.events.borrow().last().map_or(0, |e| e.seq))
    }
}

fn mark(events: &mut [SessionEvent], ids: &[String], at: Timestamp) {
    for event in events.iter_mut().filter(|e| ids.contains(&e.event.id)) {
        event.event.processed_at.get_or_insert(at);
    }
}
