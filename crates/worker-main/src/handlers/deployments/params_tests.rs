use serde_json::Value;
use serde_json::json;

use super::*;

fn body() -> Value {
    json!({
        "name": "nightly report",
        "agent": "agent_1",
        "environment_id": "env_1",
        "initial_events": [{"type": "user.message", "content": [{"type": "text", "text": "go"}]}],
    })
}

fn with(name: &str, value: Value) -> Value {
    let mut body = body();
    body[name] = value;
    body
}

fn message(body: &Value) -> String {
    create_params(body).unwrap_err().message
}

#[test]
fn a_minimal_deployment_pins_the_latest_agent_and_runs_by_hand() {
    let params = create_params(&body()).unwrap();
    assert_eq!(
        params.agent,
        AgentSpec {
            id: "agent_1".into(),
            version: None
        }
    );
    assert_eq!(params.schedule, None);
    assert!(params.vault_ids.is_empty() && params.resources.is_empty());
    assert_eq!(params.initial_events.len(), 1);
    let pinned = create_params(&with(
        "agent",
        json!({"type": "agent", "id": "agent_1", "version": 3}),
    ))
    .unwrap();
    assert_eq!(pinned.agent.version, Some(3));
}

#[test]
fn a_schedule_keeps_the_database_spelling_of_its_zone() {
    let params = create_params(&with(
        "schedule",
        json!({"type": "cron", "expression": " 0 9 * * 1-5 ", "timezone": "america/los_angeles"}),
    ))
    .unwrap();
    assert_eq!(
        params.schedule,
        Some(ScheduleSpec {
            expression: "0 9 * * 1-5".into(),
            timezone: "America/Los_Angeles".into()
        })
    );
}

#[test]
fn a_bad_schedule_names_the_field_at_fault() {
    let bad = |schedule: Value| message(&with("schedule", schedule));
    assert_eq!(
        bad(json!({"type": "cron", "expression": "61 * * * *", "timezone": "UTC"})),
        "schedule.expression: minute: 61 is out of range 0-59"
    );
    assert_eq!(
        bad(json!({"type": "cron", "expression": "* * * * 8", "timezone": "UTC"})),
        "schedule.expression: day-of-week: 8 is out of range 0-7"
    );
    assert!(
        bad(json!({"type": "cron", "expression": "* * * * *", "timezone": "Mars/Base"}))
            .starts_with("schedule.timezone: `Mars/Base` is not an IANA time zone")
    );
    assert_eq!(
        bad(json!({"expression": "* * * * *", "timezone": "UTC"})),
        "schedule.type: required: \"cron\""
    );
    assert_eq!(
        bad(json!({"type": "cron", "timezone": "UTC"})),
        "schedule.expression: required"
    );
    assert_eq!(
        bad(json!({"type": "cron", "expression": "* * * * *"})),
        "schedule.timezone: required"
    );
    assert_eq!(
        bad(json!({"type": "cron", "expression": "* * * * *", "timezone": "UTC", "jitter": 5})),
        "schedule.jitter: unknown field"
    );
}

#[test]
fn what_this_platform_cannot_honour_is_refused_as_not_supported() {
    assert!(
        message(&with(
            "budget",
            json!({"type": "limit", "max_list_cost": {"amount": "100", "currency": "USD"}})
        ))
        .starts_with("budget: not supported")
    );
    assert!(create_params(&with("budget", Value::Null)).is_ok());
    assert!(
        message(&with(
            "resources",
            json!([{"type": "github_repository", "url": "https://github.com/a/b"}])
        ))
        .starts_with("resources[0].type: github_repository resources are not supported")
    );
    assert!(
        message(&with(
            "initial_events",
            json!([{"type": "user.define_outcome", "description": "d",
                    "rubric": {"type": "text", "content": "r"}}])
        ))
        .starts_with("initial_events[0].type: user.define_outcome is not supported")
    );
}

#[test]
fn unknown_missing_or_malformed_fields_are_refused_by_name() {
    assert_eq!(message(&with("jitter", json!(1))), "jitter: unknown field");
    for name in ["agent", "environment_id", "initial_events", "name"] {
        let mut missing = body();
        missing.as_object_mut().unwrap().remove(name);
        assert_eq!(message(&missing), format!("{name}: required"));
    }
    let cases = [
        ("agent", json!(7)),
        ("agent", json!({"type": "agent_with_overrides", "id": "a"})),
        ("agent", json!({"id": "a", "version": 0})),
        ("agent", json!({"id": "a", "model": "m"})),
        ("name", json!("")),
        ("name", json!("x".repeat(257))),
        ("description", json!(5)),
        ("environment_id", json!("")),
        ("vault_ids", json!(vec!["v"; 51])),
        ("vault_ids", json!("vlt_1")),
        ("metadata", json!({"k": 1})),
        ("initial_events", json!([])),
        ("resources", json!([{"type": "file"}])),
        (
            "resources",
            json!([{"type": "file", "file_id": "file_1", "extra": true}]),
        ),
        ("resources", json!({"type": "file"})),
        ("schedule", json!("* * * * *")),
    ];
    for (name, value) in cases {
        let text = message(&with(name, value.clone()));
        assert!(text.starts_with(name), "{name} {value}: {text}");
    }
    assert_eq!(
        create_params(&json!([])).unwrap_err().message,
        "the body must be a JSON object"
    );
}

#[test]
fn resources_are_echoed_in_their_config_form() {
    let params = create_params(&with(
        "resources",
        json!([{"type": "file", "file_id": "file_1"},
               {"type": "memory_store", "memory_store_id": "memstore_1", "access": "read_only"}]),
    ))
    .unwrap();
    assert_eq!(
        params.resources,
        [
            json!({"type": "file", "file_id": "file_1", "mount_path": null}),
            json!({"type": "memory_store", "memory_store_id": "memstore_1",
                   "access": "read_only", "instructions": null}),
        ]
    );
}

#[test]
fn an_update_patches_what_it_names_and_clears_only_what_may_be_cleared() {
    let params = update_params(
        &json!({"description": "", "schedule": null, "vault_ids": null,
                                       "metadata": {"a": "1", "b": null}}),
    )
    .unwrap();
    assert_eq!(params.description, Some(None));
    assert_eq!(params.schedule, Some(None));
    assert_eq!(params.vault_ids, Some(Vec::new()));
    assert_eq!(
        params.metadata,
        Some([("a".into(), Some("1".into())), ("b".into(), None)].into())
    );
    assert_eq!(params.agent, None);
    assert_eq!(update_params(&json!({})).unwrap(), UpdateParams::default());
    for name in ["agent", "environment_id", "initial_events", "name"] {
        let err = update_params(&json!({ name: null })).unwrap_err().message;
        assert_eq!(err, format!("{name}: cannot be cleared"));
    }
    assert!(
        update_params(&json!({"budget": {"type": "limit"}}))
            .unwrap_err()
            .message
            .starts_with("budget: not supported")
    );
    assert_eq!(
        update_params(&json!({"status": "paused"}))
            .unwrap_err()
            .message,
        "status: unknown field"
    );
}
