//! The mock OpenAI-compatible server speaks Chat Completions the way the real
//! API does; the mock Anthropic server rejects keys and lists its model.

use openma_e2e::MockModel;
use openma_e2e::MockOpenAi;
use openma_e2e::OpenAiReply;
use openma_e2e::Reply;
use serde_json::Value;
use serde_json::json;

fn request(stream: bool, include_usage: bool) -> Value {
    let mut body = json!({
        "model": "gpt-test",
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    });
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

async fn post_with_key(mock: &MockOpenAi, key: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", mock.base_url()))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn post(mock: &MockOpenAi, body: &Value) -> reqwest::Response {
    post_with_key(mock, "sk-test", body).await
}

async fn list_models(base_url: &str, auth: (&str, &str)) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base_url}/v1/models"))
        .header(auth.0, auth.1)
        .send()
        .await
        .expect("request")
}

/// Parses an SSE body into its `data` payloads; `[DONE]` must come last and
/// only once, and is left out.
fn chunks(body: &str) -> Vec<Value> {
    let data: Vec<&str> = body
        .split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| frame.strip_prefix("data: ").expect("a data frame"))
        .collect();
    let (last, rest) = data.split_last().expect("frames");
    assert_eq!(*last, "[DONE]", "the stream ends with [DONE]");
    rest.iter()
        .map(|d| serde_json::from_str(d).expect("json data"))
        .collect()
}

/// Checks the fields every chunk has, and returns the choice-bearing chunks.
fn choice_chunks(chunks: &[Value]) -> Vec<&Value> {
    let id = &chunks[0]["id"];
    assert!(id.as_str().unwrap().starts_with("chatcmpl-mock-"));
    for chunk in chunks {
        assert_eq!(&chunk["id"], id);
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert!(chunk["created"].is_u64());
        assert_eq!(chunk["model"], "gpt-test", "the request's model is echoed");
        assert!(chunk["choices"].is_array());
    }
    let first = &chunks[0]["choices"][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["delta"], json!({"role": "assistant", "content": ""}));
    assert_eq!(first["finish_reason"], Value::Null);
    chunks
        .iter()
        .filter(|c| !c["choices"].as_array().unwrap().is_empty())
        .collect()
}

#[tokio::test]
async fn streams_text_as_chat_completion_chunks() {
    let mock = MockOpenAi::start().unwrap();
    mock.push(OpenAiReply::text("Hello there, friend"));
    let resp = post(&mock, &request(true, false)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let chunks = chunks(&resp.text().await.unwrap());
    let with_choices = choice_chunks(&chunks);
    assert_eq!(with_choices.len(), chunks.len(), "no usage chunk unasked");
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));

    let content: Vec<&str> = with_choices[1..with_choices.len() - 1]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert!((2..=3).contains(&content.len()), "{content:?}");
    assert_eq!(content.concat(), "Hello there, friend");
    let last = &with_choices[with_choices.len() - 1]["choices"][0];
    assert_eq!(last["delta"], json!({}));
    assert_eq!(last["finish_reason"], "stop");
    assert_eq!(mock.pending(), 0);
}

#[tokio::test]
async fn reports_usage_last_only_when_asked() {
    let mock = MockOpenAi::start().unwrap();
    mock.push(OpenAiReply::text("hi"));
    let resp = post(&mock, &request(true, true)).await;
    assert_eq!(resp.status(), 200);
    let chunks = chunks(&resp.text().await.unwrap());
    let with_choices = choice_chunks(&chunks);
    assert_eq!(with_choices.len(), chunks.len() - 1);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 2}})
    );
    for chunk in &chunks[..chunks.len() - 1] {
        assert_eq!(chunk["usage"], Value::Null);
    }
    let finish = chunks[chunks.len() - 2]["choices"][0]["finish_reason"].clone();
    assert_eq!(finish, "stop");
}

#[tokio::test]
async fn streams_a_tool_call_in_argument_fragments() {
    let mock = MockOpenAi::start().unwrap();
    let input = json!({"command": "ls -la", "timeout": 30});
    mock.push(OpenAiReply::tool_call("call_01", "bash", input.clone()));
    let resp = post(&mock, &request(true, true)).await;
    assert_eq!(resp.status(), 200);
    let chunks = chunks(&resp.text().await.unwrap());
    let with_choices = choice_chunks(&chunks);

    let start = &with_choices[1]["choices"][0]["delta"]["tool_calls"];
    assert_eq!(
        start,
        &json!([{"index": 0, "id": "call_01", "type": "function",
            "function": {"name": "bash", "arguments": ""}}])
    );
    let fragments: Vec<&str> = with_choices[2..with_choices.len() - 1]
        .iter()
        .map(|c| {
            let call = &c["choices"][0]["delta"]["tool_calls"][0];
            assert_eq!(call["index"], 0);
            assert!(call.get("id").is_none());
            call["function"]["arguments"].as_str().unwrap()
        })
        .collect();
    assert!((2..=3).contains(&fragments.len()), "{fragments:?}");
    assert!(
        fragments
            .iter()
            .all(|f| serde_json::from_str::<Value>(f).is_err()),
        "no fragment is the whole input"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&fragments.concat()).unwrap(),
        input
    );
    let last = &with_choices[with_choices.len() - 1]["choices"][0];
    assert_eq!(last["finish_reason"], "tool_calls");
    assert!(chunks.last().unwrap()["usage"].is_object());
}

#[tokio::test]
async fn scripted_errors_use_openai_error_bodies_and_unscripted_requests_fail() {
    let mock = MockOpenAi::start().unwrap();
    mock.push(OpenAiReply::error(429, "rate_limit_exceeded"));
    mock.push(OpenAiReply::error(503, "overloaded"));
    let resp = post(&mock, &request(true, true)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(body["error"]["message"].is_string());
    assert!(body["error"]["type"].is_string());
    let resp = post(&mock, &request(true, true)).await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    assert_eq!(body["error"]["type"], "server_error");

    // With nothing scripted, the mock says so instead of inventing a reply.
    let resp = post(&mock, &request(true, true)).await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "no scripted reply", "type": "server_error", "code": null}})
    );
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn non_streaming_requests_are_refused() {
    let mock = MockOpenAi::start().unwrap();
    mock.push(OpenAiReply::text("unused"));
    let resp = post(&mock, &request(false, false)).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stream")
    );
    assert_eq!(mock.pending(), 1, "a refused request consumes no reply");
}

#[tokio::test]
async fn rejected_keys_get_401_on_both_routes_and_are_recorded() {
    let mock = MockOpenAi::start().unwrap();
    mock.reject_key("sk-bad");
    mock.push(OpenAiReply::text("for the good key"));
    let invalid = json!({"error": {"message": "Incorrect API key provided",
        "type": "invalid_request_error", "code": "invalid_api_key"}});

    let resp = post_with_key(&mock, "sk-bad", &request(true, true)).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap(), invalid);
    assert_eq!(mock.pending(), 1, "a rejected request consumes no reply");
    let resp = list_models(&mock.base_url(), ("authorization", "Bearer sk-bad")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap(), invalid);

    // Another key still works.
    let resp = post_with_key(&mock, "sk-good", &request(true, true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.pending(), 0);

    let recorded = mock.requests();
    let seen: Vec<(&str, Option<&str>)> = recorded
        .iter()
        .map(|r| (r.path.as_str(), r.header("authorization")))
        .collect();
    assert_eq!(
        seen,
        [
            ("/v1/chat/completions", Some("Bearer sk-bad")),
            ("/v1/models", Some("Bearer sk-bad")),
            ("/v1/chat/completions", Some("Bearer sk-good")),
        ]
    );
}

#[tokio::test]
async fn lists_its_model_and_records_every_request() {
    let mock = MockOpenAi::start().unwrap();
    let resp = list_models(&mock.base_url(), ("authorization", "Bearer sk-test")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"object": "list", "data": [{"id": "gpt-test", "object": "model",
            "created": 1_767_225_600, "owned_by": "mock"}]})
    );

    mock.push(OpenAiReply::text("ok"));
    let body = request(true, true);
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", mock.base_url()))
        .bearer_auth("sk-test")
        .header("X-Custom-Header", "Custom-Value")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();

    let recorded = mock.requests();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].path, "/v1/models");
    assert_eq!(recorded[0].body, Value::Null);
    assert_eq!(recorded[1].path, "/v1/chat/completions");
    assert_eq!(recorded[1].body, body);
    assert_eq!(recorded[1].header("authorization"), Some("Bearer sk-test"));
    assert!(
        recorded[1]
            .headers
            .contains(&("x-custom-header".to_owned(), "Custom-Value".to_owned())),
        "header names are recorded in lower case: {:?}",
        recorded[1].headers
    );
    assert_eq!(recorded[1].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn mock_model_rejects_keys_and_lists_its_model() {
    let mock = MockModel::start().unwrap();
    mock.reject_key("sk-ant-bad");
    mock.push(Reply::text("for the good key"));
    let invalid = json!({"type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"}});
    let messages = |key: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/v1/messages", mock.base_url()))
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .json(
                &json!({"model": "claude-test", "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": "hi"}]}),
            )
            .send()
    };

    let resp = messages("sk-ant-bad").await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap(), invalid);
    assert_eq!(mock.pending(), 1, "a rejected request consumes no reply");
    let resp = list_models(&mock.base_url(), ("x-api-key", "sk-ant-bad")).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap(), invalid);

    let resp = list_models(&mock.base_url(), ("x-api-key", "sk-ant-good")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"data": [{"type": "model", "id": "claude-test-model",
            "display_name": "Test model", "created_at": "2026-01-01T00:00:00Z"}],
            "has_more": false, "first_id": "claude-test-model",
            "last_id": "claude-test-model"})
    );
    assert_eq!(mock.pending(), 1, "listing models consumes no reply");

    let resp = messages("sk-ant-good").await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    assert_eq!(mock.pending(), 0);

    let recorded = mock.requests();
    let seen: Vec<(&str, Option<&str>)> = recorded
        .iter()
        .map(|r| (r.path.as_str(), r.header("x-api-key")))
        .collect();
    assert_eq!(
        seen,
        [
            ("/v1/messages", Some("sk-ant-bad")),
            ("/v1/models", Some("sk-ant-bad")),
            ("/v1/models", Some("sk-ant-good")),
            ("/v1/messages", Some("sk-ant-good")),
        ]
    );
    assert_eq!(recorded[1].body, Value::Null);
    assert_eq!(mock.served(), 1);
}
