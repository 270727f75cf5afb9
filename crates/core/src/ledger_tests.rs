use serde_json::json;

use super::UsageCounts;
use super::UsageGroupBy;
use super::UsageQuery;
use super::UsageTotals;
use super::contribution;
use super::utc_day;
use crate::SessionSummary;
use crate::wire::Event;
use crate::wire::SessionEvent;
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

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn turn() -> Vec<SessionEvent> {
    log(&[
        json!({"id": "e1", "processed_at": "2026-12-07T23:59:58.000Z", "type": "user.message", "content": [{"type": "text", "text": "hi"}]}),
        json!({"id": "e2", "processed_at": "2026-12-07T23:59:58.000Z", "type": "span.model_request_start"}),
        json!({"id": "e3", "processed_at": "2026-12-07T23:59:59.000Z", "type": "agent.tool_use", "name": "bash", "input": {"command": "ls"}}),
        json!({"id": "e4", "processed_at": "2026-12-07T23:59:59.000Z", "type": "span.model_request_end", "model_request_start_id": "e2",
               "model_usage": {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 1}}),
        json!({"id": "e5", "processed_at": "2026-12-08T00:00:01.250Z", "type": "agent.tool_result", "tool_use_id": "e3", "content": []}),
        json!({"id": "e6", "processed_at": "2026-12-08T00:00:01.250Z", "type": "span.model_request_start"}),
        json!({"id": "e7", "processed_at": "2026-12-08T00:00:02.000Z", "type": "span.model_request_end", "model_request_start_id": "e6",
               "is_error": true, "model_usage": {"input_tokens": 11, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 4}}),
        json!({"id": "e8", "processed_at": "2026-12-08T00:00:03.000Z", "type": "agent.mcp_tool_result", "mcp_tool_use_id": "e9", "content": []}),
        json!({"id": "e10", "processed_at": "2026-12-08T00:00:04.000Z", "type": "session.status_idle", "stop_reason": {"type": "end_turn"}}),
    ])
}

#[test]
fn model_requests_and_tool_calls_count_at_their_ending_events() {
    let events = turn();
    let started = |id: &str| (id == "e3").then(|| at("2026-12-07T23:59:59.000Z"));
    let found: Vec<_> = events
        .iter()
        .filter_map(|e| contribution(e, started))
        .collect();
    let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["e4", "e5", "e7", "e8"]);
    let contributing: Vec<&str> = events
        .iter()
        .filter(|e| super::contributes(&e.event.payload))
        .map(|e| e.event.id.as_str())
        .collect();
    assert_eq!(contributing, ids);
    assert_eq!(
        found[0].counts,
        UsageCounts {
            input_tokens: 7,
            output_tokens: 3,
            cache_read_input_tokens: 2,
            cache_creation_input_tokens: 1,
            model_requests: 1,
            ..UsageCounts::default()
        }
    );
    assert_eq!(found[0].day(), "2026-12-07");
    // The tool call held the sandbox across midnight; it counts on the day
    // of its result.
    assert_eq!(found[1].counts.tool_calls, 1);
    assert_eq!(found[1].counts.sandbox_ms, 2_250);
    assert_eq!(found[1].day(), "2026-12-08");
    // A failed request counts too, as the session's usage does.
    assert_eq!(found[2].counts.model_requests, 1);
    assert_eq!(found[2].counts.cache_creation_input_tokens, 4);
    // An MCP call is a tool call that holds no sandbox.
    assert_eq!(found[3].counts.tool_calls, 1);
    assert_eq!(found[3].counts.sandbox_ms, 0);
}

#[test]
fn a_tool_call_whose_start_is_unknown_counts_without_sandbox_time() {
    let events = turn();
    let result = contribution(&events[4], |_| None).unwrap();
    assert_eq!(result.counts.tool_calls, 1);
    assert_eq!(result.counts.sandbox_ms, 0);
}

#[test]
fn the_ledger_of_a_log_equals_the_usage_its_summary_folds() {
    let events = turn();
    let mut summary = SessionSummary::default();
    let mut totals = UsageCounts::default();
    for record in &events {
        summary.apply(record);
        if let Some(found) = contribution(record, |_| None) {
            totals.add(&found.counts);
        }
    }
    let usage = summary.usage;
    assert_eq!(usage.input_tokens, Some(totals.input_tokens));
    assert_eq!(usage.output_tokens, Some(totals.output_tokens));
    assert_eq!(
        usage.cache_read_input_tokens,
        Some(totals.cache_read_input_tokens)
    );
    assert_eq!(
        usage
            .cache_creation
            .and_then(|c| c.ephemeral_5m_input_tokens),
        Some(totals.cache_creation_input_tokens)
    );
    assert_eq!(totals.model_requests, 2);
}

#[test]
fn totals_show_sandbox_time_in_seconds() {
    let counts = UsageCounts {
        tool_calls: 2,
        sandbox_ms: 1_234,
        ..UsageCounts::default()
    };
    let shown = serde_json::to_value(UsageTotals::from(&counts)).unwrap();
    assert_eq!(
        shown,
        json!({"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0,
               "cache_creation_input_tokens": 0, "model_requests": 0, "tool_calls": 2,
               "sandbox_seconds": 1.234})
    );
}

#[test]
fn days_are_utc() {
    assert_eq!(utc_day(at("2026-12-07T23:59:59.999Z")), "2026-12-07");
    assert_eq!(utc_day(at("2026-12-08T01:00:00+02:00")), "2026-12-07");
}

#[test]
fn a_report_covers_every_day_that_overlaps_its_bounds() {
    let query = UsageQuery::from_pairs(&[
        ("starting_at", "2026-12-07T10:00:00Z"),
        ("ending_at", "2026-12-09T00:00:00Z"),
    ])
    .unwrap();
    assert_eq!(query.first_day().as_deref(), Some("2026-12-07"));
    assert_eq!(query.end_day().as_deref(), Some("2026-12-09"));
    let query = UsageQuery::from_pairs(&[("ending_at", "2026-12-09T00:00:00.001Z")]).unwrap();
    assert_eq!(query.first_day(), None);
    assert_eq!(query.end_day().as_deref(), Some("2026-12-10"));
    // The last day there is has no day after it.
    let query = UsageQuery::from_pairs(&[("ending_at", "9999-12-31T12:00:00Z")]).unwrap();
    assert_eq!(query.end_day(), None);
    let query = UsageQuery::from_pairs(&[("starting_at", "0000-01-01T00:00:00Z")]).unwrap();
    assert_eq!(query.first_day().as_deref(), Some("0000-01-01"));
    let query = UsageQuery::from_pairs::<&str, &str>(&[]).unwrap();
    assert_eq!(query.group_by, UsageGroupBy::Day);
    assert_eq!((query.first_day(), query.end_day()), (None, None));
}

#[test]
fn report_queries_parse_their_parameters_and_refuse_anything_else() {
    let query = UsageQuery::from_pairs(&[
        ("group_by", "model"),
        ("tenant_id", "tenant_1"),
        ("beta", "true"),
    ])
    .unwrap();
    assert_eq!(query.group_by, UsageGroupBy::Model);
    assert_eq!(query.group_by.column(), "model");
    assert_eq!(query.tenant_id.as_deref(), Some("tenant_1"));
    assert_eq!(
        UsageQuery::from_pairs(&[("group_by", "agent")])
            .unwrap()
            .group_by
            .column(),
        "agent_id"
    );
    for (pairs, path) in [
        (vec![("group_by", "week")], "group_by"),
        (vec![("starting_at", "yesterday")], "starting_at"),
        (vec![("ending_at", "")], "ending_at"),
        (vec![("limit", "10")], "limit"),
        (vec![("group_by", "day"), ("group_by", "model")], "group_by"),
        (vec![("tenant_id", "")], "tenant_id"),
        (vec![("beta", "yes")], "beta"),
        (
            vec![("starting_at", "0000-01-01T00:00:00+01:00")],
            "starting_at",
        ),
        (
            vec![("ending_at", "9999-12-31T23:00:00-02:00")],
            "ending_at",
        ),
        (
            vec![
                ("starting_at", "2026-12-08T00:00:00Z"),
                ("ending_at", "2026-12-08T00:00:00Z"),
            ],
            "ending_at",
        ),
    ] {
        let err = UsageQuery::from_pairs(&pairs).unwrap_err();
        assert_eq!(err.path, path, "{pairs:?}: {err}");
    }
}
