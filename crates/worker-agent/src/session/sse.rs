//! Server-sent events exactly as the official SDKs parse them: every frame
//! has an `event:` line; persisted events also carry `id: <seq>`.

use openma_core::wire::SessionEvent;
use openma_core::wire::StreamPreview;

/// A persisted event.
pub(crate) fn event_frame(record: &SessionEvent) -> String {
    let data = serde_json::to_string(&record.event).unwrap_or_else(|_| "{}".to_owned());
    format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        record.seq,
        record.event.type_name()
    )
}

/// A stream-only preview (`event_start` / `event_delta`).
pub(crate) fn preview_frame(preview: &StreamPreview) -> Option<String> {
    let data = serde_json::to_string(preview).ok()?;
    let name = match preview {
        StreamPreview::EventStart { .. } => "event_start",
        StreamPreview::EventDelta { .. } => "event_delta",
        _ => return None,
    };
    Some(format!("event: {name}\ndata: {data}\n\n"))
}

/// Joins frames into chunks of about `max_bytes` (a frame is never split).
pub(crate) fn batch(frames: Vec<String>, max_bytes: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut chunk = String::new();
    for frame in frames {
        if !chunk.is_empty() && chunk.len() + frame.len() > max_bytes {
            chunks.push(std::mem::take(&mut chunk));
        }
        chunk.push_str(&frame);
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

/// A heartbeat the SDKs skip.
pub(crate) const PING: &str = "event: ping\ndata: {}\n\n";

#[cfg(test)]
mod tests {
    use super::*;
    use openma_core::wire::Event;
    use openma_core::wire::event::EventPayload;
    use openma_core::wire::event::SessionStatusRunningEvent;

    #[test]
    fn batches_keep_frames_whole_and_in_order() {
        let frames: Vec<String> = (0..5).map(|i| format!("data: {i}\n\n")).collect();
        let chunks = batch(frames.clone(), 20);
        assert_eq!(
            chunks,
            vec![
                "data: 0\n\ndata: 1\n\n",
                "data: 2\n\ndata: 3\n\n",
                "data: 4\n\n"
            ]
        );
        assert_eq!(chunks.concat(), frames.concat());
        // A frame larger than the limit is a chunk of its own.
        assert_eq!(
            batch(vec!["x".repeat(30), "y".into()], 20),
            vec!["x".repeat(30), "y".into()]
        );
        assert!(batch(Vec::new(), 20).is_empty());
    }

    #[test]
    fn persisted_frames_carry_id_event_and_data() {
        let record = SessionEvent {
            seq: 7,
            event: Event {
                id: "sevt_x_7".into(),
                processed_at: None,
                payload: EventPayload::SessionStatusRunning(SessionStatusRunningEvent {}),
            },
        };
        let frame = event_frame(&record);
        assert!(
            frame.starts_with("id: 7\nevent: session.status_running\ndata: {"),
            "{frame}"
        );
        assert!(frame.ends_with("}\n\n"));
        assert!(frame.contains("\"type\":\"session.status_running\""));
    }
}
