//! Bring your own model key: a tenant's turns go to its own providers
//! (Anthropic or OpenAI-compatible), chosen for every model call, and the
//! keys show nowhere.

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::MockOpenAi;
use openma_e2e::OpenAiReply;
use openma_e2e::Platform;
use openma_e2e::Reply;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;

const OWN_KEY: &str = "sk-ant-tenant-own-key-0001";
const ROTATED_KEY: &str = "sk-ant-tenant-rotated-0002";
const OPENAI_KEY: &str = "sk-openai-tenant-key-0003";

/// A tenant of `platform`, and its client.
async fn tenant(platform: &Platform, name: &str) -> Api {
    let operator = Api::new(platform);
    let tenant = operator
        .ok(Method::POST, "/v1/tenants", Some(json!({"name": name})))
        .await
        .unwrap();
    Api::with_key(platform, tenant["api_key"]["key"].as_str().unwrap())
}

/// Sends `text` and waits for the turn to end; returns its events.
async fn turn(api: &Api, session: &str, text: &str) -> Vec<Value> {
    let mut stream = api.stream(session, None, "").await.unwrap();
    api.send_message(session, text).await.unwrap();
    stream
        .until("session.status_idle", WAIT)
        .await
        .unwrap()
        .into_iter()
        .map(|frame| frame.data)
        .collect()
}

/// `POST /v1/model_providers/{id}/validate`; the provider it answers.
async fn validate(api: &Api, id: &str) -> Value {
    api.ok(
        Method::POST,
        &format!("/v1/model_providers/{id}/validate"),
        None,
    )
    .await
    .unwrap()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Fails if any of `keys` appears in `text`.
fn assert_no_key(text: &str, keys: &[&str], what: &str) {
    for key in keys {
        assert!(!text.contains(key), "{what} shows a key");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_own_anthropic_key_carries_its_turns_rotates_and_is_never_shown() {
    let mock = MockModel::start().unwrap();
    // The deployment's key is for tenant `default` only, as by default.
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("PLATFORM_MODEL_KEY_FOR_TENANTS", "")
        .start()
        .unwrap();
    let api = tenant(&platform, "byok").await;
    let session = api.session_with_agent(agent("byok")).await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let mut shown = Vec::new();

    // No provider, and the deployment's key is the default tenant's only:
    // the turn ends with an error that says what to do.
    let events = turn(&api, &id, "hello?").await;
    let errors = of_type(&events, "session.error");
    assert_eq!(errors.len(), 1, "{events:#?}");
    let message = errors[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no model provider is configured")
            && message.contains("/v1/model_providers"),
        "{message}"
    );
    assert!(mock.requests().is_empty(), "the operator's key was spent");

    // The tenant's own Anthropic key, its default provider.
    let provider = api
        .ok(
            Method::POST,
            "/v1/model_providers",
            Some(
                json!({"type": "anthropic", "name": "ours", "api_key": OWN_KEY,
                        "base_url": mock.base_url(), "default": true}),
            ),
        )
        .await
        .unwrap();
    shown.push(provider.to_string());
    assert_eq!(provider["type"], "model_provider");
    assert_eq!(provider["provider_type"], "anthropic");
    assert_eq!(provider["key_hint"], "0001");
    assert_eq!(provider["status"], "unverified");
    assert_eq!(provider["default"], true);
    let provider_id = provider["id"].as_str().unwrap().to_owned();

    mock.push(Reply::text("On the tenant's key."));
    let events = turn(&api, &id, "hello").await;
    assert_eq!(of_type(&events, "agent.message").len(), 1, "{events:#?}");
    let requests = mock.requests();
    let calls: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/v1/messages")
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].header("x-api-key"), Some(OWN_KEY));

    // The smallest real call checks the key.
    let validated = validate(&api, &provider_id).await;
    shown.push(validated.to_string());
    assert_eq!(validated["status"], "valid", "{validated:#}");
    assert!(validated["last_validated_at"].is_string());

    // A replaced key carries the next call of the same session.
    let rotated = api
        .ok(
            Method::POST,
            &format!("/v1/model_providers/{provider_id}"),
            Some(json!({"api_key": ROTATED_KEY})),
        )
        .await
        .unwrap();
    shown.push(rotated.to_string());
    assert_eq!(rotated["key_hint"], "0002");
    assert_eq!(rotated["status"], "unverified");
    mock.push(Reply::text("On the new key."));
    turn(&api, &id, "again").await;
    let last = mock
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/messages")
        .unwrap();
    assert_eq!(last.header("x-api-key"), Some(ROTATED_KEY));

    // A key the provider refuses marks it invalid and ends the turn with an
    // error that names the provider.
    mock.reject_key(ROTATED_KEY);
    let events = turn(&api, &id, "and now?").await;
    let errors = of_type(&events, "session.error");
    assert_eq!(errors.len(), 1, "{events:#?}");
    let message = errors[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&provider_id) && message.contains("ours"),
        "{message}"
    );
    let refused = api
        .ok(
            Method::GET,
            &format!("/v1/model_providers/{provider_id}"),
            None,
        )
        .await
        .unwrap();
    shown.push(refused.to_string());
    assert_eq!(refused["status"], "invalid", "{refused:#}");

    // The keys show in no answer, no event and no log line.
    let listed = api
        .ok(Method::GET, "/v1/model_providers", None)
        .await
        .unwrap();
    shown.push(listed.to_string());
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let events = api.events(&id).await.unwrap();
    let keys = [OWN_KEY, ROTATED_KEY];
    assert_no_key(&shown.join("\n"), &keys, "an API answer");
    assert_no_key(
        &serde_json::to_string(&events).unwrap(),
        &keys,
        "the event log",
    );
    assert_no_key(&platform.output(), &keys, "the platform's logs");

    // Another tenant sees none of it.
    let other = tenant(&platform, "other").await;
    let (status, _) = other
        .call(
            Method::GET,
            &format!("/v1/model_providers/{provider_id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404);

    // Deleting the provider leaves the tenant without one again.
    api.ok(
        Method::DELETE,
        &format!("/v1/model_providers/{provider_id}"),
        None,
    )
    .await
    .unwrap();
    let events = turn(&api, &id, "still there?").await;
    assert_eq!(of_type(&events, "session.error").len(), 1, "{events:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_openai_compatible_provider_runs_text_and_tool_turns() {
    let anthropic = MockModel::start().unwrap();
    let openai = MockOpenAi::start().unwrap();
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &anthropic.base_url())
        .start()
        .unwrap();
    let api = tenant(&platform, "open").await;
    let provider = api
        .ok(
            Method::POST,
            "/v1/model_providers",
            Some(
                json!({"type": "openai_compatible", "name": "compatible", "api_key": OPENAI_KEY,
                        "base_url": openai.base_url(), "models": ["gpt-test"]}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(provider["models"], json!(["gpt-test"]));
    assert_eq!(provider["default"], false);
    let provider_id = provider["id"].as_str().unwrap().to_owned();
    let mut gpt = agent("gpt");
    gpt["model"] = json!("gpt-test");
    let session = api.session_with_agent(gpt).await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();

    // A text turn.
    openai.push(OpenAiReply::text("Hello from a compatible server."));
    let events = turn(&api, &id, "hi").await;
    let messages = of_type(&events, "agent.message");
    assert_eq!(messages.len(), 1, "{events:#?}");
    assert_eq!(
        messages[0]["content"][0]["text"],
        "Hello from a compatible server."
    );

    // A bash tool turn: the call, its result, and the model's answer.
    openai.push(OpenAiReply::tool_call(
        "call_1",
        "bash",
        json!({"command": "echo from-the-sandbox"}),
    ));
    openai.push(OpenAiReply::text("The command printed it."));
    let events = turn(&api, &id, "run something").await;
    let results = of_type(&events, "agent.tool_result");
    assert_eq!(results.len(), 1, "{events:#?}");
    assert!(
        results[0].to_string().contains("from-the-sandbox"),
        "{events:#?}"
    );
    assert_eq!(of_type(&events, "agent.message").len(), 1, "{events:#?}");

    let calls: Vec<_> = openai
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .collect();
    assert_eq!(calls.len(), 3);
    for call in &calls {
        assert_eq!(
            call.header("authorization"),
            Some(format!("Bearer {OPENAI_KEY}").as_str())
        );
        assert_eq!(call.body["model"], "gpt-test");
    }
    // The tool's result went back as a tool message for the call's id.
    let tool_message = calls[2].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap_or(Value::Null);
    assert!(
        tool_message["content"]
            .to_string()
            .contains("from-the-sandbox"),
        "{:#}",
        calls[2].body
    );
    assert!(
        anthropic.requests().is_empty(),
        "the operator's key was spent"
    );

    // Usage adds up from the compatible server's counts.
    let session = api
        .ok(Method::GET, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    assert!(session["usage"]["output_tokens"].as_u64().unwrap() > 0);

    // Validation, with the key and then without it.
    let valid = validate(&api, &provider_id).await;
    assert_eq!(valid["status"], "valid", "{valid:#}");
    openai.reject_key(OPENAI_KEY);
    let invalid = validate(&api, &provider_id).await;
    assert_eq!(invalid["status"], "invalid", "{invalid:#}");
    let error = invalid["last_error"].as_str().unwrap();
    assert!(error.contains("401"), "{error}");
    assert_no_key(&invalid.to_string(), &[OPENAI_KEY], "the validation");
    assert_no_key(&platform.output(), &[OPENAI_KEY], "the platform's logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_provider_requests_are_refused_naming_the_field() {
    let platform = Platform::start().unwrap();
    let api = tenant(&platform, "careful").await;
    for (body, field) in [
        (json!({"name": "x", "api_key": "k"}), "type"),
        (
            json!({"type": "gemini", "name": "x", "api_key": "k"}),
            "type",
        ),
        (json!({"type": "anthropic", "api_key": "k"}), "name"),
        (json!({"type": "anthropic", "name": "x"}), "api_key"),
        (
            json!({"type": "openai_compatible", "name": "x", "api_key": "k"}),
            "base_url",
        ),
        (
            json!({"type": "anthropic", "name": "x", "api_key": "k", "base_url": "ftp://h"}),
            "base_url",
        ),
        (
            json!({"type": "anthropic", "name": "x", "api_key": "k", "models": "m"}),
            "models",
        ),
        (
            json!({"type": "anthropic", "name": "x", "api_key": "k", "models": [""]}),
            "models[0]",
        ),
        (
            json!({"type": "anthropic", "name": "x", "api_key": "k", "default": "yes"}),
            "default",
        ),
        (
            json!({"type": "anthropic", "name": "x", "api_key": "k", "region": "eu"}),
            "region",
        ),
    ] {
        let (status, answer) = api
            .call(Method::POST, "/v1/model_providers", Some(body.clone()))
            .await
            .unwrap();
        assert_eq!(status, 400, "{body} → {answer:#}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body} → {message}"
        );
    }
    let listed = api
        .ok(Method::GET, "/v1/model_providers", None)
        .await
        .unwrap();
    assert_eq!(
        listed["data"],
        json!([]),
        "a refused request stored something"
    );
    let (status, _) = api
        .call(Method::GET, "/v1/model_providers/mprov_nothing", None)
        .await
        .unwrap();
    assert_eq!(status, 404);

    // A provider that accepts the connection and never answers: validation
    // ends at its deadline and says so.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let provider = api
        .ok(
            Method::POST,
            "/v1/model_providers",
            Some(
                json!({"type": "openai_compatible", "name": "silent", "api_key": "sk-silent-0000",
                        "base_url": format!("http://127.0.0.1:{port}")}),
            ),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let validated = validate(&api, provider["id"].as_str().unwrap()).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(validated["status"], "unverified", "{validated:#}");
    assert!(
        validated["last_error"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{validated:#}"
    );
}
