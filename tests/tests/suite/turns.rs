//! The client-facing flows of a turn: custom tools, confirmations,
//! interrupts, and model errors.

use std::time::Duration;

use openma_e2e::Api;
use openma_e2e::Frame;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;
use super::sessions::find_file;
use super::sessions::start;

fn names(frames: &[Frame]) -> Vec<&str> {
    frames.iter().map(|f| f.event.as_str()).collect()
}

fn last<'a>(frames: &'a [Frame], event: &str) -> &'a Value {
    &frames
        .iter()
        .rev()
        .find(|f| f.event == event)
        .expect(event)
        .data
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_tool_round_trip() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_w",
        "get_weather",
        json!({"city": "Paris"}),
    ));
    mock.push(Reply::text("It is 18C in Paris."));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let mut spec = agent("custom");
    spec["tools"] = json!([{
        "type": "custom",
        "name": "get_weather",
        "description": "Current weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }]);
    let session = api.session_with_agent(spec).await.unwrap();
    let id = session["id"].as_str().unwrap();
    let mut stream = api.stream(id, None, "").await.unwrap();
    api.send_message(id, "Weather in Paris?").await.unwrap();

    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let tool_use = last(&frames, "agent.custom_tool_use");
    assert_eq!(tool_use["name"], "get_weather");
    assert_eq!(tool_use["input"], json!({"city": "Paris"}));
    let idle = last(&frames, "session.status_idle");
    assert_eq!(idle["stop_reason"]["type"], "requires_action");
    assert_eq!(idle["stop_reason"]["event_ids"], json!([tool_use["id"]]));

    api.send(
        id,
        json!([{"type": "user.custom_tool_result", "custom_tool_use_id": tool_use["id"],
                "content": [{"type": "text", "text": "18C and sunny"}]}]),
    )
    .await
    .unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    assert_eq!(
        last(&frames, "session.status_idle")["stop_reason"]["type"],
        "end_turn"
    );
    assert_eq!(
        last(&frames, "agent.message")["content"][0]["text"],
        "It is 18C in Paris."
    );
    let second = &mock.requests()[1];
    assert!(second.body.to_string().contains("18C and sunny"));

    // A result for a tool use nobody is waiting on is refused, naming the field.
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/v1/sessions/{id}/events"),
            Some(json!({"events": [{"type": "user.custom_tool_result", "custom_tool_use_id": "sevt_nope", "content": []}]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("custom_tool_use_id"),
        "{body:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn always_ask_waits_for_confirmation_then_runs_or_refuses() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_a",
        "bash",
        json!({"command": "touch allowed.txt && echo allowed"}),
    ));
    mock.push(Reply::text("Done."));
    mock.push(Reply::tool_use(
        "toolu_d",
        "bash",
        json!({"command": "touch denied.txt"}),
    ));
    mock.push(Reply::text("Understood."));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let mut spec = agent("asker");
    spec["tools"] = json!([{
        "type": "agent_toolset_20260401",
        "default_config": {"permission_policy": {"type": "always_ask"}},
    }]);
    let session = api.session_with_agent(spec).await.unwrap();
    let id = session["id"].as_str().unwrap();
    let mut stream = api.stream(id, None, "").await.unwrap();

    // Allow.
    api.send_message(id, "Touch a file").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let tool_use = last(&frames, "agent.tool_use").clone();
    assert_eq!(tool_use["evaluated_permission"], "ask");
    assert_eq!(tool_use["evaluation"]["type"], "always_ask");
    let idle = last(&frames, "session.status_idle");
    assert_eq!(idle["stop_reason"]["type"], "requires_action");
    assert_eq!(idle["stop_reason"]["event_ids"], json!([tool_use["id"]]));
    assert!(
        !names(&frames).contains(&"agent.tool_result"),
        "nothing runs before the answer"
    );
    api.send(id, json!([{"type": "user.tool_confirmation", "tool_use_id": tool_use["id"], "result": "allow"}]))
        .await
        .unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let result = last(&frames, "agent.tool_result");
    assert_eq!(result["tool_use_id"], tool_use["id"]);
    assert!(result["content"].to_string().contains("allowed"));
    assert_eq!(
        last(&frames, "session.status_idle")["stop_reason"]["type"],
        "end_turn"
    );
    assert!(find_file(&platform.state_dir().join("sandbox"), "allowed.txt").is_some());

    // Deny, with a message the model receives.
    api.send_message(id, "Touch another").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let tool_use = last(&frames, "agent.tool_use").clone();
    api.send(
        id,
        json!([{"type": "user.tool_confirmation", "tool_use_id": tool_use["id"], "result": "deny",
                "deny_message": "not in this directory"}]),
    )
    .await
    .unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let result = last(&frames, "agent.tool_result");
    assert_eq!(result["is_error"], true);
    assert!(
        result["content"]
            .to_string()
            .contains("not in this directory"),
        "{result:#}"
    );
    assert!(
        find_file(&platform.state_dir().join("sandbox"), "denied.txt").is_none(),
        "a denied command never runs"
    );
    let requests = mock.requests();
    assert!(
        requests[3]
            .body
            .to_string()
            .contains("not in this directory")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_ends_the_turn_while_the_model_streams() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::Slow {
        message: Message::new().text("This is a long answer that streams slowly, word after word."),
        delay: Duration::from_millis(250),
    });
    mock.push(Reply::text("Back again."));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let session = api.session_with_agent(agent("interrupted")).await.unwrap();
    let id = session["id"].as_str().unwrap();
    let mut stream = api.stream(id, None, "").await.unwrap();
    api.send_message(id, "Talk for a while").await.unwrap();
    stream
        .until("span.model_request_start", WAIT)
        .await
        .unwrap();
    // The span is recorded before the request leaves (the provider is
    // chosen in between): interrupt once the model is streaming.
    let deadline = std::time::Instant::now() + WAIT;
    while mock.requests().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the model was never called"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    api.send(id, json!([{"type": "user.interrupt"}]))
        .await
        .unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    assert_eq!(
        last(&frames, "session.status_idle")["stop_reason"]["type"],
        "end_turn"
    );
    assert!(
        !names(&frames).contains(&"agent.message"),
        "{:?}",
        names(&frames)
    );

    // The session takes the next message normally.
    api.send_message(id, "Again").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    assert_eq!(
        last(&frames, "agent.message")["content"][0]["text"],
        "Back again."
    );
}

fn retrying(mock: &MockModel) -> Platform {
    Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("MODEL_RETRY_BASE_MS", "20")
        .env("MODEL_MAX_ATTEMPTS", "3")
        .start()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_model_errors_are_retried_and_exhaustion_is_reported() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::error(529, "overloaded_error"));
    mock.push(Reply::error(429, "rate_limit_error"));
    mock.push(Reply::text("Recovered."));
    let platform = retrying(&mock);
    let api = Api::new(&platform);
    let session = api.session_with_agent(agent("retrier")).await.unwrap();
    let id = session["id"].as_str().unwrap();
    let mut stream = api.stream(id, None, "").await.unwrap();
    api.send_message(id, "Try hard").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let errors: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.event == "session.error")
        .collect();
    assert_eq!(errors.len(), 2, "{:?}", names(&frames));
    assert_eq!(errors[0].data["error"]["type"], "model_overloaded_error");
    assert_eq!(errors[0].data["error"]["retry_status"]["type"], "retrying");
    assert_eq!(errors[1].data["error"]["type"], "model_rate_limited_error");
    assert_eq!(
        names(&frames)
            .iter()
            .filter(|n| **n == "session.status_rescheduled")
            .count(),
        2
    );
    assert_eq!(
        last(&frames, "agent.message")["content"][0]["text"],
        "Recovered."
    );
    assert_eq!(
        last(&frames, "session.status_idle")["stop_reason"]["type"],
        "end_turn"
    );

    // Every attempt fails: the turn ends with retries_exhausted.
    for _ in 0..3 {
        mock.push(Reply::error(500, "api_error"));
    }
    api.send_message(id, "Once more").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let last_error = last(&frames, "session.error");
    assert_eq!(
        last_error["error"]["retry_status"]["type"], "exhausted",
        "{last_error:#}"
    );
    assert_eq!(
        last(&frames, "session.status_idle")["stop_reason"]["type"],
        "retries_exhausted"
    );
    assert_eq!(mock.pending(), 0);
    assert_eq!(mock.requests().len(), 6);
}
