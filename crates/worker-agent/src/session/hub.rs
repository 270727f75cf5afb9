//! The session's live subscribers: every appended event goes to every open
//! stream; `agent.message` / `agent.thinking` previews go to the streams that
//! asked for them.

use std::cell::RefCell;
use std::collections::HashSet;

use futures_channel::mpsc::UnboundedReceiver;
use futures_channel::mpsc::UnboundedSender;
use futures_channel::mpsc::unbounded;
use openma_core::StepObserver;
use openma_core::wire::SessionEvent;
use openma_core::wire::StreamPreview;

use super::sse;

/// What a stream wants besides the persisted events.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interest {
    /// Event types to preview (`event_deltas[]`).
    pub(crate) deltas: HashSet<String>,
}

#[derive(Debug)]
struct Subscriber {
    tx: UnboundedSender<String>,
    interest: Interest,
    /// Previewed event ids this connection has seen an `event_start` for.
    started: HashSet<String>,
}

/// Open streams of one session.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    subscribers: RefCell<Vec<Subscriber>>,
}

impl Hub {
    /// Registers a stream; it receives every event published from now on.
    pub(crate) fn subscribe(&self, interest: Interest) -> UnboundedReceiver<String> {
        let (tx, rx) = unbounded();
        self.subscribers.borrow_mut().push(Subscriber {
            tx,
            interest,
            started: HashSet::new(),
        });
        rx
    }

    /// Sends persisted events to every stream, dropping closed ones.
    pub(crate) fn publish(&self, events: &[SessionEvent]) {
        if events.is_empty() {
            return;
        }
        let frames: Vec<String> = events.iter().map(sse::event_frame).collect();
        self.subscribers.borrow_mut().retain(|sub| {
            frames
                .iter()
                .all(|frame| sub.tx.unbounded_send(frame.clone()).is_ok())
        });
    }

    /// Ends every stream (the session was deleted).
    pub(crate) fn close_all(&self) {
        self.subscribers.borrow_mut().clear();
    }
}

impl StepObserver for Hub {
    fn preview(&self, preview: StreamPreview) {
        let mut subscribers = self.subscribers.borrow_mut();
        if subscribers.iter().all(|s| s.interest.deltas.is_empty()) {
            return;
        }
        let Some(frame) = sse::preview_frame(&preview) else {
            return;
        };
        for sub in subscribers.iter_mut() {
            let send = match &preview {
                StreamPreview::EventStart { event } => {
                    sub.interest.deltas.contains(&event.kind)
                        && sub.started.insert(event.id.clone())
                }
                // A delta only follows this connection's own event_start.
                StreamPreview::EventDelta { event_id, .. } => sub.started.contains(event_id),
                _ => false,
            };
            if send {
                let _ = sub.tx.unbounded_send(frame.clone());
            }
        }
    }
}
