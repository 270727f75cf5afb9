//! Stream-only previews (`event_start`, `event_delta`): never persisted,
//! sent only on stream connections that opt in with `event_deltas[]`.

use serde::Deserialize;
use serde::Serialize;

use super::content::ContentBlock;

/// A preview frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamPreview {
    /// An event is being produced; at most one per event id per connection.
    EventStart {
        /// The event being previewed.
        event: PreviewedEvent,
    },
    /// A piece of the event's content; pieces of one `(event_id, index)`
    /// concatenate to a prefix of the final content.
    EventDelta {
        /// The previewed event's id.
        event_id: String,
        /// The piece.
        delta: ContentDelta,
    },
}

/// `{"type":"agent.message","id":"sevt_..."}` inside `event_start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewedEvent {
    /// `agent.message` or `agent.thinking`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The id the final event will carry.
    pub id: String,
}

/// `{"type":"content_delta","index":0,"content":{"type":"text","text":"..."}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "content_delta")]
pub struct ContentDelta {
    /// Index of the content block within the event.
    pub index: u32,
    /// The piece of content.
    pub content: ContentBlock,
}
