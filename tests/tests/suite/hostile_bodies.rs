//! Hostile request bodies on every route that takes JSON: a body nested
//! 10,000 levels deep and one that is not UTF-8 are refused at once with a
//! 400 in the error envelope, and nothing is stored.

use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use serde_json::Value;
use serde_json::json;

use super::sessions::agent;
use super::sessions::start;

/// How long a refusal may take: no parsing, no session object involved.
const AT_ONCE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread")]
async fn deep_or_non_utf8_bodies_are_refused_at_once_on_every_json_route() {
    let mock = MockModel::start().unwrap();
    let platform = start(&mock);
    let api = Api::new(&platform);
    let post =
        async |path: &str, body: Value| api.ok(reqwest::Method::POST, path, Some(body)).await;

    // One object of each kind, so that every route reaches its body.
    let store = post("/v1/memory_stores", json!({"name": "notes"}))
        .await
        .unwrap();
    let store_id = store["id"].as_str().unwrap().to_owned();
    let memory = post(
        &format!("/v1/memory_stores/{store_id}/memories"),
        json!({"path": "/a.md", "content": "a"}),
    )
    .await
    .unwrap();
    let (environment, agent) = api.env_and_agent(agent("hostile")).await.unwrap();
    let session = post(
        "/v1/sessions",
        json!({"agent": agent["id"], "environment_id": environment["id"],
               "resources": [{"type": "memory_store", "memory_store_id": store_id}]}),
    )
    .await
    .unwrap();
    let vault = post("/v1/vaults", json!({"display_name": "v"}))
        .await
        .unwrap();
    let vault_id = vault["id"].as_str().unwrap().to_owned();
    let credential = post(
        &format!("/v1/vaults/{vault_id}/credentials"),
        json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://mcp.example.com/mcp", "token": "t0k3n-value"}}),
    )
    .await
    .unwrap();
    let provider = post(
        "/v1/model_providers",
        json!({"type": "anthropic", "name": "p", "api_key": "sk-ant-fixture-key", "models": ["claude-none"]}),
    )
    .await
    .unwrap();
    let webhook = post(
        "/v1/organizations/webhooks",
        json!({"url": "https://hooks.example.com/in", "enabled_events": ["agent.created"]}),
    )
    .await
    .unwrap();
    let deployment = post(
        "/v1/deployments",
        json!({"name": "hostile", "agent": agent["id"], "environment_id": environment["id"],
               "initial_events": [{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]}),
    )
    .await
    .unwrap();
    // The work routes refuse the body before they look for the item.
    let work = json!("work_fixture");
    let fixture = |name: &str| -> String {
        let value = match name {
            "agent_id" => &agent["id"],
            "environment_id" => &environment["id"],
            "session_id" => &session["id"],
            "resource_id" => &session["resources"][0]["id"],
            "vault_id" => &vault["id"],
            "credential_id" => &credential["id"],
            "memory_store_id" => &store["id"],
            "memory_id" => &memory["id"],
            "model_provider_id" => &provider["id"],
            "webhook_endpoint_id" => &webhook["id"],
            "deployment_id" => &deployment["id"],
            "work_id" => &work,
            other => panic!("no fixture for the path parameter {other}: add one"),
        };
        value.as_str().unwrap().to_owned()
    };
    let events_before = api
        .events(session["id"].as_str().unwrap())
        .await
        .unwrap()
        .len();

    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    let not_utf8 =
        b"{\"events\": [{\"type\": \"user.message\", \"content\": [{\"type\": \"text\", \"text\": \"caf\xe9\"}]}], \"name\": \"\xff\xfe\"}"
            .to_vec();
    let document = api
        .ok(reqwest::Method::GET, "/v1/openapi.json", None)
        .await
        .unwrap();
    let mut routes = 0;
    for (template, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            if operation["requestBody"]["content"]["application/json"].is_null() {
                continue;
            }
            routes += 1;
            let mut path = template.clone();
            while let Some(start) = path.find('{') {
                let end = path[start..].find('}').unwrap() + start;
                let value = fixture(&path[start + 1..end]);
                path.replace_range(start..=end, &value);
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for (what, body, said) in [
                ("deep", &deep, "deeper than 64 levels"),
                ("not UTF-8", &not_utf8, "not valid UTF-8"),
            ] {
                let started = Instant::now();
                let (status, _, bytes) = tokio::time::timeout(
                    AT_ONCE,
                    api.raw(
                        method.clone(),
                        &path,
                        Some("application/json"),
                        Some(body.clone()),
                    ),
                )
                .await
                .unwrap_or_else(|_| panic!("{method} {path} ({what}) got no answer in {AT_ONCE:?}"))
                .unwrap();
                let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                assert_eq!(status, 400, "{method} {path} ({what}): {answer}");
                assert_eq!(answer["type"], "error", "{answer}");
                assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");
                let message = answer["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains(said),
                    "{method} {path} ({what}): {message}"
                );
                assert!(started.elapsed() < AT_ONCE);
            }
        }
    }
    assert!(routes >= 20, "only {routes} JSON routes found");

    // Nothing was stored or changed.
    let session_id = session["id"].as_str().unwrap();
    assert_eq!(api.events(session_id).await.unwrap().len(), events_before);
    let got = api
        .ok(
            reqwest::Method::GET,
            &format!("/v1/agents/{}", agent["id"].as_str().unwrap()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(got["version"], 1);
    let content = api
        .ok(
            reqwest::Method::GET,
            &format!(
                "/v1/memory_stores/{store_id}/memories/{}",
                memory["id"].as_str().unwrap()
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(content["content"], "a");
    assert_eq!(mock.served(), 0, "no turn started");
    let (status, _) = api
        .call(reqwest::Method::GET, "/health", None)
        .await
        .unwrap();
    assert_eq!(status, 200);
}
