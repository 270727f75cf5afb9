use crate::wire::EventSeq;
use crate::wire::SessionEvent;
use crate::wire::Timestamp;

/// One atomic append to a session's log.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendParams {
    /// The seq of the log's last event as the caller saw it (0 when empty);
    /// the append fails with [`StoreError::Conflict`] if the log moved on.
    pub expected_last_seq: EventSeq,
    /// Events to append, with seqs `expected_last_seq + 1 ..`.
    pub events: Vec<SessionEvent>,
    /// Ids of earlier queued user events whose `processed_at` becomes
    /// `processed_at`, in the same transaction.
    pub mark_processed: Vec<String>,
    /// The time written by `mark_processed`.
    pub processed_at: Timestamp,
}

/// Why an event-store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended first; reload and retry.
    #[error("log conflict: expected last seq {expected}, found {actual}")]
    Conflict {
        /// What the caller expected.
        expected: EventSeq,
        /// The log's actual last seq.
        actual: EventSeq,
    },
    /// The backend failed; the whole step may be retried later.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

/// A session's append-only event log.
#[expect(
    async_fn_in_trait,
    reason = "core's ports are deliberately not Send (Durable Object futures are !Send)"
)]
pub trait EventStore {
    /// Appends events atomically if the log is still at `expected_last_seq`.
    async fn append(&self, params: AppendParams) -> Result<(), StoreError>;
    /// Up to `limit` events with seq greater than `after`, in order, with
    /// their current `processed_at`.
    async fn load(&self, after: EventSeq, limit: usize) -> Result<Vec<SessionEvent>, StoreError>;
    /// The seq of the last event (0 when empty). Cheap: polled while streaming
    /// to notice interrupts.
    async fn head(&self) -> Result<EventSeq, StoreError>;
}
