//! The part of the fold a reader of the session needs: status, usage, time
//! spent running and the last seq. It is small and changes only with the
//! events it folds, so a store keeps it beside the log, written with each
//! append, and a read of the session never replays the log.

use serde::Deserialize;
use serde::Serialize;

use crate::wire::EventPayload;
use crate::wire::EventSeq;
use crate::wire::SessionEvent;
use crate::wire::SessionStatus;
use crate::wire::SessionUsage;
use crate::wire::Timestamp;

/// Status, usage and running time, folded from the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Seq of the last applied event (0 for an empty log).
    pub last_seq: EventSeq,
    /// Current status.
    pub status: SessionStatus,
    /// Cumulative usage.
    pub usage: SessionUsage,
    /// Milliseconds spent running, up to the last status change.
    pub active_ms: u64,
    /// When the turn in progress started running, if one is.
    #[serde(default)]
    pub running_since: Option<Timestamp>,
}

impl Default for SessionSummary {
    fn default() -> Self {
        Self {
            last_seq: 0,
            status: SessionStatus::Idle,
            usage: SessionUsage::default(),
            active_ms: 0,
            running_since: None,
        }
    }
}

impl SessionSummary {
    /// Folds one event.
    pub fn apply(&mut self, record: &SessionEvent) {
        self.last_seq = record.seq;
        let event = &record.event;
        match &event.payload {
            EventPayload::SessionStatusRunning(_) => {
                self.status = SessionStatus::Running;
                self.running_since = event.processed_at;
            }
            EventPayload::SessionStatusIdle(_) => {
                self.stop_running(event.processed_at);
                self.status = SessionStatus::Idle;
            }
            EventPayload::SessionStatusRescheduled(_) => self.status = SessionStatus::Rescheduling,
            EventPayload::SessionStatusTerminated(_) => {
                self.stop_running(event.processed_at);
                self.status = SessionStatus::Terminated;
            }
            EventPayload::SpanModelRequestStart(_)
                if self.status == SessionStatus::Rescheduling =>
            {
                self.status = SessionStatus::Running;
            }
            EventPayload::SpanModelRequestEnd(end) => self.usage.add(&end.model_usage),
            _ => {}
        }
    }

    /// Whether the session is at rest (idle or terminated): nothing it
    /// reports changes until something new is appended.
    #[must_use]
    pub fn at_rest(&self) -> bool {
        matches!(self.status, SessionStatus::Idle | SessionStatus::Terminated)
    }

    /// Milliseconds spent running up to `now` (counting a turn in progress).
    #[must_use]
    pub fn active_ms_at(&self, now: Timestamp) -> u64 {
        self.active_ms
            + self
                .running_since
                .map_or(0, |since| now.millis_since(since))
    }

    /// The session's cumulative usage as the API reports it, with `active_seconds`.
    #[must_use]
    pub fn usage_at(&self, now: Timestamp) -> SessionUsage {
        let mut usage = self.usage.clone();
        usage.active_seconds = Some(self.active_ms_at(now) as f64 / 1000.0);
        usage
    }

    fn stop_running(&mut self, at: Option<Timestamp>) {
        if let (Some(since), Some(at)) = (self.running_since.take(), at) {
            self.active_ms += at.millis_since(since);
        }
    }
}
