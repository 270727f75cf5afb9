use openma_core::wire::Agent;
use openma_core::wire::ApiErrorEnvelope;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Environment;
use openma_core::wire::Event;
use openma_core::wire::EventPayload;
use openma_core::wire::Page;
use openma_core::wire::PageCursor;
use openma_core::wire::Session;
use openma_core::wire::SessionStatus;
use openma_core::wire::StopReason;
use openma_core::wire::event::EVENT_TYPES;
use openma_core::wire::event_id;
use openma_core::wire::ids;
use openma_core::wire::page::Order;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::json;

// Parses `value`, re-serializes it, and checks nothing was lost or renamed.
fn round_trip<T: DeserializeOwned + Serialize>(value: &Value) -> T {
    let parsed: T =
        serde_json::from_value(value.clone()).unwrap_or_else(|err| panic!("{err}: {value}"));
    let reserialized = serde_json::to_value(&parsed).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(&reserialized, value);
    parsed
}

fn agent_json() -> Value {
    json!({
        "id": "agent_011CZkYpogX7uDKUyvBTophP",
        "type": "agent",
        "name": "Coding Assistant",
        "description": "Writes code",
        "system": "You are a helpful coding agent.",
        "version": 2,
        "created_at": "2026-04-03T18:24:10.412Z",
        "updated_at": "2026-04-03T18:30:00.000Z",
        "archived_at": null,
        "model": {"id": "claude-sonnet-4-6", "speed": "standard", "effort": {"type": "high"}},
        "tools": [
            {"type": "agent_toolset_20260401",
             "default_config": {"enabled": true, "permission_policy": {"type": "always_allow"}},
             "configs": [
                {"name": "bash", "type": "bash", "enabled": true, "permission_policy": {"type": "always_ask"}},
                {"name": "web_fetch", "type": "web_fetch", "enabled": false, "permission_policy": {"type": "always_allow"}, "allowed_domains": ["docs.rs"], "max_content_tokens": 1000}
             ]},
            {"type": "mcp_toolset", "mcp_server_name": "github",
             "default_config": {"enabled": true, "permission_policy": {"type": "always_ask"}},
             "configs": [{"name": "create_issue", "enabled": true, "permission_policy": {"type": "always_allow"}}]},
            {"type": "custom", "name": "get_weather", "description": "Weather by city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
        ],
        "mcp_servers": [{"type": "url", "name": "github", "url": "https://api.githubcopilot.com/mcp/"}],
        "skills": [{"type": "anthropic", "skill_id": "xlsx", "version": "latest"}],
        "metadata": {"team": "infra"},
        "execution_identity": {"type": "service_account"}
    })
}

#[test]
fn agent_round_trips() {
    let agent: Agent = round_trip(&agent_json());
    assert_eq!(agent.version, 2);
    assert!(ids::has_prefix(&agent.id, ids::AGENT_PREFIX));
}

#[test]
fn bare_model_strings_and_effort_levels_are_accepted() {
    let mut value = agent_json();
    value["model"] = json!("claude-opus-4-7");
    let agent: Agent = serde_json::from_value(value).unwrap();
    assert_eq!(
        serde_json::to_value(&agent.model).unwrap(),
        json!({"id": "claude-opus-4-7"})
    );
    let model: openma_core::wire::ModelConfig =
        serde_json::from_value(json!({"id": "m", "effort": "low"})).unwrap();
    assert_eq!(
        serde_json::to_value(model).unwrap(),
        json!({"id": "m", "effort": {"type": "low"}})
    );
}

#[test]
fn environment_round_trips() {
    let env: Environment = round_trip(&json!({
        "id": "env_01",
        "type": "environment",
        "name": "python-data",
        "description": null,
        "metadata": {},
        "config": {"type": "cloud",
                   "networking": {"type": "limited", "allowed_hosts": ["pypi.org"], "allow_mcp_servers": false, "allow_package_managers": true},
                   "packages": {"apt": [], "cargo": [], "gem": [], "go": [], "npm": [], "pip": ["pandas"]}},
        "created_at": "2026-04-03T18:24:10.412Z",
        "updated_at": "2026-04-03T18:24:10.412Z",
        "archived_at": null
    }));
    assert_eq!(env.name, "python-data");
    let self_hosted: Environment = round_trip(&json!({
        "id": "env_02", "type": "environment", "name": "mine", "description": null, "metadata": {},
        "config": {"type": "self_hosted"}, "created_at": "2026-04-03T18:24:10.412Z", "updated_at": "2026-04-03T18:24:10.412Z", "archived_at": null
    }));
    assert!(matches!(
        self_hosted.config,
        openma_core::wire::environment::EnvironmentConfig::SelfHosted
    ));
}

#[test]
fn session_round_trips() {
    let mut agent = agent_json();
    let agent_obj = agent.as_object_mut().unwrap();
    for key in ["created_at", "updated_at", "archived_at", "metadata"] {
        agent_obj.remove(key);
    }
    let session: Session = round_trip(&json!({
        "id": "sesn_011CZkZAtmR3yMPDzynEDxu7",
        "type": "session",
        "title": "Fix the build",
        "status": "idle",
        "environment_id": "env_01",
        "agent": agent,
        "resources": [{"type": "file", "id": "sesrsc_1", "file_id": "file_1", "mount_path": "/mnt/session/uploads/file_1",
                       "created_at": "2026-04-03T18:24:10.412Z", "updated_at": "2026-04-03T18:24:10.412Z"}],
        "vault_ids": ["vlt_1"],
        "metadata": {},
        "created_at": "2026-04-03T18:24:10.412Z",
        "updated_at": "2026-04-03T18:24:10.412Z",
        "archived_at": null,
        "usage": {"input_tokens": 120, "output_tokens": 30, "cache_read_input_tokens": 0,
                  "cache_creation": {"ephemeral_5m_input_tokens": 90}},
        "stats": {"active_seconds": 4.5, "duration_seconds": 60.0},
        "outcome_evaluations": []
    }));
    assert_eq!(session.status, SessionStatus::Idle);
    for status in ["idle", "running", "rescheduling", "terminated"] {
        let parsed: SessionStatus = serde_json::from_value(json!(status)).unwrap();
        assert_eq!(serde_json::to_value(parsed).unwrap(), json!(status));
    }
}

#[test]
fn persisted_events_round_trip() {
    let events = [
        json!({"id": "sevt_1", "processed_at": null, "type": "user.message", "content": [{"type": "text", "text": "hi"},
               {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
               {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}, "title": "T"}]}),
        json!({"id": "sevt_2", "processed_at": "2026-04-03T18:24:11.000Z", "type": "session.status_running"}),
        json!({"id": "sevt_3", "processed_at": "2026-04-03T18:24:11.000Z", "type": "span.model_request_start"}),
        json!({"id": "sevt_4", "processed_at": "2026-04-03T18:24:12.000Z", "type": "agent.thinking"}),
        json!({"id": "sevt_5", "processed_at": "2026-04-03T18:24:12.000Z", "type": "agent.tool_use", "name": "bash",
               "input": {"command": "ls"}, "evaluated_permission": "allow", "evaluation": {"type": "always_allow"}}),
        json!({"id": "sevt_6", "processed_at": "2026-04-03T18:24:12.000Z", "type": "span.model_request_end",
               "model_request_start_id": "sevt_3", "is_error": false,
               "model_usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}),
        json!({"id": "sevt_7", "processed_at": "2026-04-03T18:24:13.000Z", "type": "agent.tool_result", "tool_use_id": "sevt_5",
               "content": [{"type": "text", "text": "a.txt"}], "is_error": false}),
        json!({"id": "sevt_8", "processed_at": "2026-04-03T18:24:14.000Z", "type": "agent.custom_tool_use", "name": "get_weather", "input": {"city": "Paris"}}),
        json!({"id": "sevt_9", "processed_at": "2026-04-03T18:24:14.000Z", "type": "session.status_idle",
               "stop_reason": {"type": "requires_action", "event_ids": ["sevt_8"]}}),
        json!({"id": "sevt_10", "processed_at": "2026-04-03T18:24:15.000Z", "type": "user.custom_tool_result",
               "custom_tool_use_id": "sevt_8", "content": [{"type": "text", "text": "sunny"}]}),
        json!({"id": "sevt_11", "processed_at": null, "type": "user.tool_confirmation", "tool_use_id": "sevt_5", "result": "deny", "deny_message": "no"}),
        json!({"id": "sevt_12", "processed_at": "2026-04-03T18:24:16.000Z", "type": "session.error",
               "error": {"type": "mcp_connection_failed_error", "message": "down", "retry_status": {"type": "retrying"}, "mcp_server_name": "github"}}),
        json!({"id": "sevt_13", "processed_at": "2026-04-03T18:24:16.000Z", "type": "session.status_rescheduled"}),
        json!({"id": "sevt_14", "processed_at": "2026-04-03T18:24:17.000Z", "type": "agent.message",
               "content": [{"type": "text", "text": "done"}, {"type": "redacted"}]}),
        json!({"id": "sevt_15", "processed_at": "2026-04-03T18:24:17.000Z", "type": "session.status_idle",
               "stop_reason": {"type": "refusal"}, "stop_details": {"type": "refusal", "category": "cyber"}}),
        json!({"id": "sevt_16", "processed_at": "2026-04-03T18:24:18.000Z", "type": "system.message", "content": [{"type": "text", "text": "be brief"}]}),
        json!({"id": "sevt_17", "processed_at": "2026-04-03T18:24:18.000Z", "type": "session.usage", "usage": {"input_tokens": 1}}),
        json!({"id": "sevt_18", "processed_at": "2026-04-03T18:24:18.000Z", "type": "user.interrupt", "session_thread_id": "sthr_1"}),
        json!({"id": "sevt_19", "processed_at": "2026-04-03T18:24:18.000Z", "type": "agent.mcp_tool_use", "mcp_server_name": "github",
               "name": "create_issue", "input": {}, "evaluated_permission": "ask",
               "evaluation": {"type": "auto", "evaluated_permission": {"type": "ask", "reason_code": "indeterminate"}}}),
        json!({"id": "sevt_20", "processed_at": "2026-04-03T18:24:19.000Z", "type": "session.status_terminated"}),
    ];
    for value in &events {
        let event: Event = round_trip(value);
        assert_eq!(event.type_name(), value["type"].as_str().unwrap());
        assert!(EVENT_TYPES.contains(&event.type_name()));
    }
    let idle: Event = serde_json::from_value(events[8].clone()).unwrap();
    let EventPayload::SessionStatusIdle(idle) = idle.payload else {
        panic!("not idle")
    };
    assert_eq!(
        idle.stop_reason,
        StopReason::RequiresAction {
            event_ids: vec!["sevt_8".into()]
        }
    );
}

#[test]
fn unknown_fields_from_newer_versions_are_tolerated() {
    let event: Event = serde_json::from_value(json!({
        "id": "sevt_1", "processed_at": "2026-04-03T18:24:11.000Z", "type": "agent.message",
        "content": [{"type": "text", "text": "hi", "citations": []}], "brand_new_field": {"x": 1}
    }))
    .unwrap();
    assert_eq!(event.type_name(), "agent.message");
    let mut agent = agent_json();
    agent["future"] = json!(true);
    assert!(serde_json::from_value::<Agent>(agent).is_ok());
    let error: openma_core::wire::SessionError = serde_json::from_value(
        json!({"type": "some_future_error", "message": "m", "retry_status": {"type": "terminal"}}),
    )
    .unwrap();
    assert_eq!(
        error.kind,
        openma_core::wire::SessionErrorType::UnknownError
    );
}

#[test]
fn error_envelope_matches_the_api() {
    let envelope = ApiErrorEnvelope::new(
        ApiErrorType::InvalidRequestError,
        "environment is archived",
        "req_011CR",
    )
    .with_error_code("environment_archived");
    assert_eq!(
        serde_json::to_value(&envelope).unwrap(),
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "environment is archived",
               "details": {"error_code": "environment_archived"}}, "request_id": "req_011CR"})
    );
    let _: ApiErrorEnvelope = round_trip(
        &json!({"type": "error", "error": {"type": "not_found_error", "message": "nope"}, "request_id": "req_1"}),
    );
    assert_eq!(ApiErrorType::OverloadedError.status(), 529);
    assert_eq!(ApiErrorType::RateLimitError.status(), 429);
    assert!(!ApiErrorType::ConflictError.should_retry());
}

#[test]
fn pages_and_cursors_are_opaque_and_order_bound() {
    let cursor = PageCursor {
        order: Order::Asc,
        after: "42".into(),
    };
    let encoded = cursor.encode();
    assert!(encoded.starts_with("page_"));
    assert_eq!(PageCursor::decode(&encoded, Order::Asc).unwrap(), cursor);
    assert_eq!(
        PageCursor::decode(&encoded, Order::Desc).unwrap_err().path,
        "page"
    );
    assert!(PageCursor::decode("page_zz", Order::Asc).is_err());
    let page = Page {
        data: vec![1, 2],
        next_page: Some(encoded),
        prev_page: None,
    };
    let value = serde_json::to_value(&page).unwrap();
    assert!(
        value.get("prev_page").is_none(),
        "prev_page is absent outside sessions"
    );
    let sessions_page = Page::<u8> {
        data: vec![],
        next_page: None,
        prev_page: Some(None),
    };
    assert_eq!(
        serde_json::to_value(sessions_page).unwrap(),
        json!({"data": [], "next_page": null, "prev_page": null})
    );
}

#[test]
fn event_ids_derive_from_the_session_and_seq() {
    assert_eq!(event_id("sesn_abc", 7), "sevt_abc_000007");
    assert!(ids::has_prefix(&event_id("sesn_abc", 7), ids::EVENT_PREFIX));
    assert!(!ids::has_prefix("sevt_", ids::EVENT_PREFIX));
}
