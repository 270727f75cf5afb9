use serde_json::json;

use super::UserEventParams;
use super::parse_send_params;

#[test]
fn parses_every_client_event_type() {
    let body = json!({"events": [
        {"type": "user.message", "content": [{"type": "text", "text": "hi"}], "future_field": 1},
        {"type": "user.interrupt"},
        {"type": "user.tool_confirmation", "tool_use_id": "sevt_1", "result": "deny", "deny_message": "no"},
        {"type": "user.custom_tool_result", "custom_tool_use_id": "sevt_2", "content": [{"type": "text", "text": "42"}]},
        {"type": "user.message", "content": [{"type": "text", "text": "and"}]},
        {"type": "system.message", "content": [{"type": "text", "text": "be brief"}]}
    ]});
    let parsed = parse_send_params(&body).unwrap();
    let types: Vec<_> = parsed
        .events
        .iter()
        .map(UserEventParams::type_name)
        .collect();
    assert_eq!(
        types,
        [
            "user.message",
            "user.interrupt",
            "user.tool_confirmation",
            "user.custom_tool_result",
            "user.message",
            "system.message"
        ]
    );
}

#[test]
fn validation_errors_name_the_field() {
    let cases = [
        (
            json!({"events": [{"type": "user.message", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": 5}]}]}),
            "events[0].content[1].text: expected a string",
        ),
        (json!({"events": "nope"}), "events: expected an array"),
        (json!({}), "events: is required"),
        (
            json!({"events": [{"type": "user.nope"}]}),
            "events[0].type: expected one of",
        ),
        (
            json!({"events": [{"type": "user.tool_confirmation", "tool_use_id": "x", "result": "allow", "deny_message": "m"}]}),
            "events[0].deny_message: only allowed when result is \"deny\"",
        ),
        (
            json!({"events": [{"type": "user.message", "content": [{"type": "image", "source": {"type": "url"}}]}]}),
            "events[0].content[0].source.url: is required",
        ),
        (
            json!({"events": [{"type": "user.custom_tool_result"}]}),
            "events[0].custom_tool_use_id: is required",
        ),
    ];
    for (body, expected) in cases {
        let err = parse_send_params(&body).unwrap_err().to_string();
        assert!(
            err.starts_with(expected),
            "{err} does not start with {expected}"
        );
    }
}

#[test]
fn system_message_must_be_last_and_follow_a_user_event() {
    let sys = json!({"type": "system.message", "content": [{"type": "text", "text": "s"}]});
    let msg = json!({"type": "user.message", "content": [{"type": "text", "text": "m"}]});
    let alone = parse_send_params(&json!({"events": [sys]})).unwrap_err();
    assert_eq!(alone.path, "events[0]");
    let not_last = parse_send_params(&json!({"events": [msg, sys, msg]})).unwrap_err();
    assert_eq!(not_last.path, "events[1]");
    let after_interrupt =
        parse_send_params(&json!({"events": [{"type": "user.interrupt"}, sys]})).unwrap_err();
    assert_eq!(after_interrupt.path, "events[1]");
    let empty = json!({"type": "system.message", "content": []});
    assert_eq!(
        parse_send_params(&json!({"events": [msg, empty]}))
            .unwrap_err()
            .path,
        "events[1].content"
    );
}

#[test]
fn accepts_documented_aliases() {
    let body = json!({"events": [{"type": "interrupt"}, {"type": "tool_confirmation", "tool_use_id": "t", "result": "deny", "message": "why"}]});
    let parsed = parse_send_params(&body).unwrap();
    match &parsed.events[1] {
        UserEventParams::UserToolConfirmation(confirmation) => {
            assert_eq!(confirmation.deny_message.as_deref(), Some("why"))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn initial_events_accept_only_messages_and_outcomes() {
    use super::parse_initial_events;
    let ok = json!([{"type": "user.message", "content": [{"type": "text", "text": "go"}]}]);
    assert_eq!(parse_initial_events(&ok).unwrap().len(), 1);
    let bad = json!([{"type": "user.message", "content": [{"type": "text", "text": "go"}]}, {"type": "user.interrupt"}]);
    assert_eq!(
        parse_initial_events(&bad).unwrap_err().path,
        "initial_events[1].type"
    );
    let too_many = serde_json::Value::Array(vec![ok[0].clone(); 51]);
    assert_eq!(
        parse_initial_events(&too_many).unwrap_err().path,
        "initial_events"
    );
}

fn text(kind: &str, text: &str) -> serde_json::Value {
    json!({"type": kind, "content": [{"type": "text", "text": text}]})
}

#[test]
fn a_deployment_starts_with_user_messages_and_at_most_one_system_message() {
    use super::parse_deployment_events;
    let events = json!([
        text("user.message", "one"),
        text("user.message", "two"),
        text("system.message", "be brief")
    ]);
    let parsed = parse_deployment_events(&events).unwrap();
    assert_eq!(parsed.len(), 3);
    assert_eq!(parsed[2].type_name(), "system.message");
    let message =
        |value: serde_json::Value| parse_deployment_events(&value).unwrap_err().to_string();
    assert_eq!(
        message(json!([])),
        "initial_events: expected at least 1 item(s)"
    );
    assert!(message(json!([text("system.message", "x")])).starts_with("initial_events[0]:"));
    assert!(
        message(json!([
            text("user.message", "x"),
            text("system.message", "y"),
            text("user.message", "z")
        ]))
        .starts_with("initial_events[1]: system.message must be the last event")
    );
    assert!(
        message(json!([{"type": "user.define_outcome", "description": "d", "rubric": {"type": "text", "content": "r"}}]))
            .starts_with("initial_events[0].type: user.define_outcome is not supported")
    );
    assert_eq!(
        message(
            json!([{"type": "user.message", "content": [{"type": "text", "text": "x"}], "extra": 1}])
        ),
        "initial_events[0].extra: unknown field"
    );
    assert!(message(json!([{"type": "user.interrupt"}])).starts_with("initial_events[0].type:"));
    let fifty_one: Vec<_> = (0..51)
        .map(|i| text("user.message", &i.to_string()))
        .collect();
    assert_eq!(
        message(json!(fifty_one)),
        "initial_events: at most 50 items"
    );
}

#[test]
fn the_platform_may_initialise_a_session_with_a_system_message() {
    use super::parse_init_events;
    use super::parse_initial_events;
    let events = json!([
        text("user.message", "hi"),
        text("system.message", "be brief")
    ]);
    assert_eq!(parse_init_events(&events).unwrap().len(), 2);
    // The public session create still refuses it.
    assert!(parse_initial_events(&events).is_err());
    assert!(parse_init_events(&json!([text("system.message", "alone")])).is_err());
}
