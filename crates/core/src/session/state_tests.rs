use serde_json::json;

use super::HistoryItem;
use super::SessionState;
use super::SessionSummary;
use crate::wire::Event;
use crate::wire::SessionEvent;
use crate::wire::SessionStatus;
use crate::wire::Timestamp;

fn log(values: &[serde_json::Value]) -> Vec<SessionEvent> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| SessionEvent {
            seq: i as u64 + 1,
            event: serde_json::from_value::<Event>(value.clone()).unwrap(),
        })
        .collect()
}

const T0: &str = "2026-04-01T12:00:00.000Z";
const T1: &str = "2026-04-01T12:00:02.500Z";

#[test]
fn queued_messages_join_the_history_only_at_the_running_that_consumes_them() {
    let events = log(&[
        json!({"id": "e1", "processed_at": null, "type": "user.message", "content": [{"type": "text", "text": "waiting"}]}),
    ]);
    let state = SessionState::replay("sesn_x", &events);
    assert_eq!(state.queued.len(), 1);
    assert!(state.history.is_empty());

    let events = log(&[
        json!({"id": "e1", "processed_at": T0, "type": "user.message", "content": [{"type": "text", "text": "hi"}]}),
        json!({"id": "e2", "processed_at": T0, "type": "session.status_running"}),
        json!({"id": "e3", "processed_at": T0, "type": "span.model_request_start"}),
        json!({"id": "e4", "processed_at": T1, "type": "agent.message", "content": [{"type": "text", "text": "yo"}]}),
        json!({"id": "e5", "processed_at": T1, "type": "span.model_request_end", "model_request_start_id": "e3",
               "model_usage": {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 1}}),
        json!({"id": "e6", "processed_at": T1, "type": "session.status_idle", "stop_reason": {"type": "end_turn"}}),
    ]);
    let state = SessionState::replay("sesn_x", &events);
    assert_eq!(state.summary.status, SessionStatus::Idle);
    assert_eq!(state.history.len(), 2);
    assert!(matches!(&state.history[0], HistoryItem::User { .. }));
    assert_eq!(state.summary.usage.input_tokens, Some(7));
    assert_eq!(state.summary.usage.cache_read_input_tokens, Some(2));
    assert_eq!(
        state
            .summary
            .usage
            .cache_creation
            .unwrap()
            .ephemeral_5m_input_tokens,
        Some(1)
    );
    assert_eq!(state.summary.active_ms, 2_500);
    assert_eq!(state.turn.model_requests, 1);
    assert_eq!(state.summary.last_seq, 6);
}

#[test]
fn the_summary_folded_alone_matches_the_full_fold_and_survives_storage() {
    let events = log(&[
        json!({"id": "e1", "processed_at": T0, "type": "user.message", "content": [{"type": "text", "text": "hi"}]}),
        json!({"id": "e2", "processed_at": T0, "type": "session.status_running"}),
        json!({"id": "e3", "processed_at": T0, "type": "span.model_request_start"}),
        json!({"id": "e4", "processed_at": T1, "type": "span.model_request_end", "model_request_start_id": "e3",
               "model_usage": {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}),
        json!({"id": "e5", "processed_at": T1, "type": "session.status_rescheduled"}),
        json!({"id": "e6", "processed_at": T1, "type": "span.model_request_start"}),
    ]);
    let mut summary = SessionSummary::default();
    for (i, event) in events.iter().enumerate() {
        summary.apply(event);
        let state = SessionState::replay("sesn_x", &events[..=i]);
        assert_eq!(summary, state.summary, "after event {}", i + 1);
        let stored: SessionSummary =
            serde_json::from_str(&serde_json::to_string(&summary).unwrap()).unwrap();
        assert_eq!(stored, summary);
    }
    // A turn in progress counts its running time up to the moment asked.
    assert_eq!(summary.status, SessionStatus::Running);
    assert!(!summary.at_rest());
    let later = Timestamp::parse_rfc3339(T1).unwrap().0 + 1_000;
    assert_eq!(summary.active_ms_at(Timestamp(later)), 3_500);
    assert_eq!(summary.usage_at(Timestamp(later)).active_seconds, Some(3.5));
}

#[test]
fn an_open_span_marks_a_model_call_to_reissue() {
    let events = log(&[
        json!({"id": "e1", "processed_at": T0, "type": "user.message", "content": [{"type": "text", "text": "hi"}]}),
        json!({"id": "e2", "processed_at": T0, "type": "session.status_running"}),
        json!({"id": "e3", "processed_at": T0, "type": "span.model_request_start"}),
    ]);
    let state = SessionState::replay("sesn_x", &events);
    assert_eq!(state.open_span.as_deref(), Some("e3"));
    assert_eq!(state.summary.status, SessionStatus::Running);
}

#[test]
fn a_turn_ending_with_open_calls_answers_them_in_the_history() {
    let events = log(&[
        json!({"id": "e1", "processed_at": T0, "type": "user.message", "content": [{"type": "text", "text": "hi"}]}),
        json!({"id": "e2", "processed_at": T0, "type": "session.status_running"}),
        json!({"id": "e3", "processed_at": T0, "type": "agent.custom_tool_use", "name": "x", "input": {}}),
        json!({"id": "e4", "processed_at": T0, "type": "session.status_idle", "stop_reason": {"type": "requires_action", "event_ids": ["e3"]}}),
        json!({"id": "e5", "processed_at": T1, "type": "user.interrupt"}),
        json!({"id": "e6", "processed_at": T1, "type": "session.status_idle", "stop_reason": {"type": "end_turn"}}),
    ]);
    let state = SessionState::replay("sesn_x", &events);
    assert!(
        matches!(state.history.last(), Some(HistoryItem::ToolResult { tool_use_id, is_error: true, .. }) if tool_use_id == "e3")
    );
    assert!(state.blocking_ids().is_empty());
    assert_eq!(
        Timestamp::parse_rfc3339(T1)
            .unwrap()
            .millis_since(Timestamp::parse_rfc3339(T0).unwrap()),
        2_500
    );
}
