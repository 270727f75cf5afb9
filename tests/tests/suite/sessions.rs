//! Sessions through the public API: real SessionDO, real sandbox server,
//! the mock model.

use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use serde_json::Value;
use serde_json::json;

pub(super) const WAIT: Duration = Duration::from_secs(20);

pub(super) fn agent(name: &str) -> Value {
    json!({
        "name": name,
        "model": "claude-test-model",
        "system": "You are a test agent.",
        "tools": [{"type": "agent_toolset_20260401"}],
    })
}

pub(super) fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub(super) fn start(mock: &MockModel) -> Platform {
    Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .start()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_turn_streams_live_and_is_listed() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::Message(
        Message::new().text("Hello from the agent.").usage(21, 8),
    ));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let session = api.session_with_agent(agent("texter")).await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sesn_"));
    assert_eq!(session["status"], "idle");
    assert_eq!(session["type"], "session");

    let mut stream = api.stream(&id, None, "").await.unwrap();
    let started = Instant::now();
    let echoed = api.send_message(&id, "Say hello").await.unwrap();
    let echo = &echoed["data"][0];
    assert_eq!(echo["type"], "user.message");
    assert!(echo["id"].as_str().unwrap().starts_with("sevt_"));
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    eprintln!("text turn observed in {:?}", started.elapsed());

    let streamed: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(
        streamed,
        [
            "user.message",
            "session.status_running",
            "span.model_request_start",
            "agent.message",
            "span.model_request_end",
            "session.status_idle",
        ],
        "{frames:#?}"
    );
    let seqs: Vec<u64> = frames
        .iter()
        .map(|f| f.id.expect("every persisted frame has an id"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
    for frame in &frames {
        assert_eq!(frame.data["type"], frame.event.as_str());
    }
    let message = &frames[3].data;
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "Hello from the agent."}])
    );
    assert_eq!(frames[5].data["stop_reason"]["type"], "end_turn");
    assert_eq!(frames[4].data["model_usage"]["input_tokens"], 21);

    // The log lists the same events, in order, with the user message processed.
    let listed = api.events(&id).await.unwrap();
    assert_eq!(types(&listed), streamed);
    assert!(listed[0]["processed_at"].is_string(), "{:#}", listed[0]);
    let ids: Vec<&str> = listed.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let streamed_ids: Vec<&str> = frames
        .iter()
        .map(|f| f.data["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, streamed_ids);

    // The model saw the system prompt and the user's text, with our key.
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("x-api-key"),
        Some("sk-ant-test-not-a-real-key")
    );
    assert_eq!(requests[0].body["model"], "claude-test-model");
    assert!(requests[0].body.to_string().contains("Say hello"));
    assert!(
        requests[0].body["system"]
            .to_string()
            .contains("You are a test agent.")
    );

    let session = api
        .ok(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    assert_eq!(session["status"], "idle");
    assert_eq!(session["usage"]["input_tokens"], 21);
    assert_eq!(session["usage"]["output_tokens"], 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bash_turn_runs_in_the_sessions_workspace() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_1",
        "bash",
        json!({"command": "echo persisted > proof.txt && echo wrote"}),
    ));
    mock.push(Reply::tool_use(
        "toolu_2",
        "bash",
        json!({"command": "cat proof.txt"}),
    ));
    mock.push(Reply::text("The file says persisted."));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let session = api.session_with_agent(agent("basher")).await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();

    let mut stream = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "Write then read a file")
        .await
        .unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let results: Vec<&Value> = frames
        .iter()
        .filter(|f| f.event == "agent.tool_result")
        .map(|f| &f.data)
        .collect();
    assert_eq!(results.len(), 2, "{frames:#?}");
    let uses: Vec<&Value> = frames
        .iter()
        .filter(|f| f.event == "agent.tool_use")
        .map(|f| &f.data)
        .collect();
    assert_eq!(uses[0]["name"], "bash");
    assert_eq!(uses[0]["evaluated_permission"], "allow");
    assert_eq!(results[0]["tool_use_id"], uses[0]["id"]);
    assert!(
        results[0]["content"].to_string().contains("wrote"),
        "{:#}",
        results[0]
    );
    assert!(
        results[1]["content"].to_string().contains("persisted"),
        "{:#}",
        results[1]
    );
    assert_ne!(results[1]["is_error"], true);

    // The file is in this session's own directory of the sandbox's state.
    let found = find_file(&platform.state_dir().join("sandbox"), "proof.txt");
    let found = found.expect("proof.txt in the sandbox state");
    assert!(found.to_string_lossy().contains(&id), "{}", found.display());
    assert_eq!(std::fs::read_to_string(&found).unwrap(), "persisted\n");

    // The model got each result back as a tool_result for its tool_use id.
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    for (request, expected) in [(&requests[1], "wrote"), (&requests[2], "persisted")] {
        let messages = request.body["messages"].as_array().unwrap();
        let last = &messages[messages.len() - 1];
        let previous = &messages[messages.len() - 2];
        let result = last["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_result")
            .expect("a tool_result block");
        let tool_use = previous["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .expect("the tool_use it answers");
        assert_eq!(result["tool_use_id"], tool_use["id"]);
        assert!(result.to_string().contains(expected), "{result:#}");
    }
}

pub(super) fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}
