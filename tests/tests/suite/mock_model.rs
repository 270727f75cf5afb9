//! The mock model speaks the Messages API the way the real one does.

use openma_e2e::MockModel;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use serde_json::Value;
use serde_json::json;

fn request(stream: bool) -> Value {
    json!({
        "model": "claude-test",
        "max_tokens": 100,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    })
}

async fn post(mock: &MockModel, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("x-api-key", "sk-test")
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .expect("request")
}

/// Parses an SSE body into `(event, data)` frames.
fn frames(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let mut event = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            (event, serde_json::from_str(&data).expect("json data"))
        })
        .collect()
}

#[tokio::test]
async fn streams_text_and_tool_use_like_the_messages_api() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::Message(
        Message::new()
            .text("Hello there, friend")
            .tool_use("toolu_01", "bash", json!({"command": "ls -la"}))
            .usage(42, 7),
    ));
    let resp = post(&mock, &request(true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let frames = frames(&resp.text().await.unwrap());

    let names: Vec<&str> = frames.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    for (event, data) in &frames {
        assert_eq!(data["type"], event.as_str(), "event name matches data.type");
    }
    let text: String = frames
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "text_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Hello there, friend");
    let json_parts: String = frames
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json_parts).unwrap(),
        json!({"command": "ls -la"})
    );
    assert!(
        frames
            .iter()
            .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
            .count()
            > 1
    );
    let delta = frames.iter().find(|(e, _)| e == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta.1["usage"]["output_tokens"], 7);
    assert_eq!(frames[0].1["message"]["usage"]["input_tokens"], 42);

    let recorded = mock.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].header("x-api-key"), Some("sk-test"));
    assert_eq!(recorded[0].body["model"], "claude-test");
    assert_eq!(mock.pending(), 0);
}

#[tokio::test]
async fn answers_non_streaming_requests_with_a_whole_message() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::text("plain"));
    let body: Value = post(&mock, &request(false)).await.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"], json!([{"type": "text", "text": "plain"}]));
    assert_eq!(body["stop_reason"], "end_turn");
}

#[tokio::test]
async fn scripted_errors_use_the_error_envelope_and_retry_after() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::error(429, "rate_limit_error"));
    mock.push(Reply::error(529, "overloaded_error"));
    let resp = post(&mock, &request(true)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    let resp = post(&mock, &request(true)).await;
    assert_eq!(resp.status().as_u16(), 529);

    // With nothing scripted, the mock says so instead of inventing a reply.
    let resp = post(&mock, &request(true)).await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no scripted reply")
    );
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn broken_and_failing_streams_stop_mid_message() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::Broken {
        message: Message::new().text("this will be cut off"),
        after: 3,
    });
    mock.push(Reply::StreamError {
        message: Message::new().text("this fails"),
        after: 2,
        error_type: "overloaded_error".into(),
    });
    let resp = post(&mock, &request(true)).await;
    assert!(
        resp.text().await.is_err(),
        "a cut stream is a transport error"
    );

    let body = post(&mock, &request(true)).await.text().await.unwrap();
    let frames = frames(&body);
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[2].0, "error");
    assert_eq!(frames[2].1["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn rejects_requests_the_real_api_would_reject() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::text("unused"));
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("anthropic-version", "2023-06-01")
        .json(&request(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        mock.pending(),
        1,
        "a rejected request consumes no scripted reply"
    );
}
