//! The official Python SDK (`anthropic==2.17.0`), unchanged, drives a whole
//! session against the platform and the mock model.

use openma_e2e::MockModel;
use openma_e2e::Reply;
use serde_json::Value;
use serde_json::json;

use super::sessions::start;

#[test]
fn python_sdk_drives_a_session() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_1",
        "bash",
        json!({"command": "echo listed-by-sdk"}),
    ));
    mock.push(Reply::text("The workspace is listed."));
    let platform = start(&mock);
    let stdout = openma_e2e::python::run_script(&platform, platform.api_key(), "sessions.py", &[])
        .unwrap_or_else(|err| panic!("{err:#}\n--- platform ---\n{}", platform.output()));
    let summary: Value = openma_e2e::python::summary(&stdout).unwrap();
    assert_eq!(summary["sdk_version"], "2.17.0");
    assert_eq!(summary["reply"], "The workspace is listed.");
    assert!(
        summary["tool_output"]
            .as_str()
            .unwrap()
            .contains("listed-by-sdk"),
        "{summary:#}"
    );
    let streamed: Vec<&str> = summary["streamed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for expected in [
        "user.message",
        "session.status_running",
        "agent.tool_use",
        "agent.tool_result",
        "event_start",
        "event_delta",
        "agent.message",
        "session.status_idle",
    ] {
        assert!(
            streamed.contains(&expected),
            "{expected} missing from {streamed:?}"
        );
    }
    assert_eq!(summary["first_page_size"], 3);
    assert_eq!(summary["has_next_page"], true);
    let persisted: Vec<&str> = streamed
        .iter()
        .copied()
        .filter(|t| !t.starts_with("event_"))
        .collect();
    let listed: Vec<&str> = summary["listed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        listed, persisted,
        "the SDK's paginated listing matches the stream"
    );
    assert_eq!(summary["status"], "idle");
    assert_eq!(summary["input_tokens"], 20);
    assert_eq!(summary["updated_title"], "renamed");
    assert_eq!(
        summary["updated_metadata"],
        json!({"origin": "sdk", "added": "yes"})
    );
    assert_eq!(summary["agent_version"], 2);
    assert_eq!(summary["pinned_version"], 1);
    assert_eq!(summary["latest_version"], 2);
    assert_eq!(summary["latest_system"], "Be very brief.");
    assert_eq!(summary["listed_sessions"], true);
    assert_eq!(summary["archived"], true);
    assert_eq!(summary["deleted_type"], "session_deleted");
    assert_eq!(summary["deleted_status"], 404);
}
