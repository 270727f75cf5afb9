//! The served OpenAPI document, and schemathesis (pinned in
//! `tests/python/requirements.txt`) run against it on a real platform: any
//! 5xx, or any response whose status, content type or body the document
//! does not describe, fails the test.

use std::io::Read;
use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use serde_json::Value;
use serde_json::json;

/// The document as kept in the repository.
fn document_file() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/worker-main/openapi.json");
    std::fs::read_to_string(&path).unwrap()
}

/// Schemathesis's own time budget for all its phases (about 60 operations
/// share it), and the hard limit the test allows it.
const BUDGET_SECS: u64 = 150;
const HARD_LIMIT: Duration = Duration::from_secs(220);

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_is_served_without_a_key() {
    let platform = Platform::start().unwrap();
    let resp = reqwest::get(platform.url("/v1/openapi.json"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().contains_key("request-id"));
    let served = resp.text().await.unwrap();
    assert_eq!(served, document_file(), "the served document is the file");
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    // Every documented operation answers something other than "no route".
    let api = Api::new(&platform);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{agent_id}", "agent_x")
                .replace("{environment_id}", "env_x")
                .replace("{session_id}", "sesn_x")
                .replace("{api_key_id}", "apikey_x")
                .replace("{vault_id}", "vlt_x")
                .replace("{credential_id}", "vcrd_x")
                .replace("{file_id}", "file_x")
                .replace("{memory_store_id}", "memstore_x")
                .replace("{memory_id}", "mem_x")
                .replace("{memory_version_id}", "memver_x")
                .replace("{resource_id}", "sesrsc_x")
                .replace("{integration_id}", "intg_x")
                .replace("{delivery_id}", "idlv_x")
                .replace("{webhook_endpoint_id}", "whep_x")
                .replace("{deployment_id}", "depl_x")
                .replace("{deployment_run_id}", "drun_x")
                .replace("{work_id}", "work_x")
                .replace("{key_id}", "envkey_x");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method == reqwest::Method::POST).then(|| json!({}));
            let (status, body) = api.call(method.clone(), &concrete, body).await.unwrap();
            let unrouted = status == 404
                && body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no route"));
            assert!(!unrouted, "{method} {path} is documented but not routed");
        }
    }
}

fn schemathesis_bin() -> PathBuf {
    let python = openma_e2e::python::interpreter().unwrap();
    python.with_file_name("schemathesis")
}

async fn create(api: &Api, path: &str, body: Value) -> String {
    let value = api
        .ok(reqwest::Method::POST, path, Some(body))
        .await
        .unwrap();
    value["id"].as_str().unwrap().to_owned()
}

/// Uploads `bytes` as `name` with a hand-built multipart body; returns the id.
async fn upload(platform: &Platform, name: &str, bytes: &[u8]) -> String {
    const BOUNDARY: &str = "st-boundary-7f3a";
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let resp = reqwest::Client::new()
        .post(platform.url("/v1/files"))
        .header("x-api-key", platform.api_key())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let value: Value = resp.json().await.unwrap();
    value["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_errors_or_schema_violations() {
    // Sessions that schemathesis sends messages to call a model: the mock
    // answers every request, so nothing leaves the machine.
    let mock = MockModel::start().unwrap();
    mock.respond_with(|_| Reply::Message(Message::new().text("ok").usage(3, 1)));
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .start()
        .unwrap();
    let api = Api::new(&platform);

    // Fixtures: one of each object for the operations that read and update,
    // and separate ones for those that archive or delete.
    let agent_body = json!({"name": "st", "model": "claude-test-model",
        "tools": [{"type": "agent_toolset_20260401"}]});
    let agent = create(&api, "/v1/agents", agent_body.clone()).await;
    let agent_to_archive = create(&api, "/v1/agents", agent_body).await;
    let environment = create(&api, "/v1/environments", json!({"name": "st-main"})).await;
    let env_to_delete = create(&api, "/v1/environments", json!({"name": "st-delete"})).await;
    let env_to_archive = create(&api, "/v1/environments", json!({"name": "st-archive"})).await;
    // A self-hosted environment for the work queue's and keys' operations,
    // with a session's item queued and a key to revoke.
    let hosted = create(
        &api,
        "/v1/environments",
        json!({"name": "st-hosted", "config": {"type": "self_hosted"}}),
    )
    .await;
    let hosted_key = create(&api, &format!("/v1/environments/{hosted}/keys"), json!({})).await;
    create(
        &api,
        "/v1/sessions",
        json!({"agent": agent, "environment_id": hosted}),
    )
    .await;
    let hosted_work = api
        .ok(
            reqwest::Method::GET,
            &format!("/v1/environments/{hosted}/work"),
            None,
        )
        .await
        .unwrap();
    let work = hosted_work["data"][0]["id"].as_str().unwrap().to_owned();
    let session_body = json!({"agent": agent, "environment_id": environment});
    let session = create(&api, "/v1/sessions", session_body.clone()).await;
    let session_to_delete = create(&api, "/v1/sessions", session_body.clone()).await;
    let session_to_archive = create(&api, "/v1/sessions", session_body).await;
    let vault = create(&api, "/v1/vaults", json!({"display_name": "st"})).await;
    let vault_to_delete = create(&api, "/v1/vaults", json!({"display_name": "st-delete"})).await;
    let vault_to_archive = create(&api, "/v1/vaults", json!({"display_name": "st-archive"})).await;
    let credentials = format!("/v1/vaults/{vault}/credentials");
    let credential = create(
        &api,
        &credentials,
        json!({"display_name": "st-oauth", "auth": {"type": "mcp_oauth",
            "mcp_server_url": "https://mcp.st.example/mcp", "access_token": "st-access",
            "refresh": {"refresh_token": "st-refresh", "client_id": "st-client",
                "token_endpoint": "https://auth.st.example/token",
                "token_endpoint_auth": {"type": "client_secret_post", "client_secret": "st-secret"}}}}),
    )
    .await;
    let credential_to_delete = create(
        &api,
        &credentials,
        json!({"auth": {"type": "static_bearer",
            "mcp_server_url": "https://delete.st.example/mcp", "token": "st-token"}}),
    )
    .await;
    let credential_to_archive = create(
        &api,
        &credentials,
        json!({"auth": {"type": "environment_variable", "secret_name": "ST_SECRET",
            "secret_value": "st-value", "networking": {"type": "limited", "allowed_hosts": ["api.st.example"]}}}),
    )
    .await;
    let file = upload(&platform, "st.bin", &[0, 1, 2, 255]).await;
    let file_to_delete = upload(&platform, "st-delete.bin", b"delete me").await;
    let store = create(&api, "/v1/memory_stores", json!({"name": "st"})).await;
    let store_to_delete = create(&api, "/v1/memory_stores", json!({"name": "st-delete"})).await;
    let store_to_archive = create(&api, "/v1/memory_stores", json!({"name": "st-archive"})).await;
    let memories = format!("/v1/memory_stores/{store}/memories");
    let memory = api
        .ok(
            reqwest::Method::POST,
            &memories,
            Some(json!({"path": "/st/main.md", "content": "main"})),
        )
        .await
        .unwrap();
    let version = memory["memory_version_id"].as_str().unwrap().to_owned();
    let memory = memory["id"].as_str().unwrap().to_owned();
    let memory_to_delete = create(
        &api,
        &memories,
        json!({"path": "/st/delete.md", "content": "delete me"}),
    )
    .await;
    // A version that no longer holds its memory's content can be redacted.
    let redactable = api
        .ok(
            reqwest::Method::POST,
            &memories,
            Some(json!({"path": "/st/redact.md", "content": "first"})),
        )
        .await
        .unwrap();
    let version_to_redact = redactable["memory_version_id"].as_str().unwrap().to_owned();
    let redactable = redactable["id"].as_str().unwrap();
    api.ok(
        reqwest::Method::POST,
        &format!("{memories}/{redactable}"),
        Some(json!({"content": "second"})),
    )
    .await
    .unwrap();
    let key = api
        .ok(
            reqwest::Method::POST,
            "/v1/api_keys",
            Some(json!({"name": "st"})),
        )
        .await
        .unwrap();
    let key_to_delete = key["id"].as_str().unwrap();
    let integration_body = |repo: &str| {
        json!({"provider": "github", "external_id": repo, "access_token": "st-token",
               "agent_id": agent, "environment_id": environment, "bot_login": "st-bot"})
    };
    let integration = create(&api, "/v1/integrations", integration_body("st/main")).await;
    let integration_to_delete =
        create(&api, "/v1/integrations", integration_body("st/delete")).await;
    let webhook_body = json!({"url": "https://hooks.st.example/in",
        "enabled_events": ["agent.created", "session.idled"]});
    let webhook = create(&api, "/v1/organizations/webhooks", webhook_body.clone()).await;
    let webhook_to_delete = create(&api, "/v1/organizations/webhooks", webhook_body).await;

    let deployment_body = json!({"name": "st", "agent": agent, "environment_id": environment,
        "initial_events": [{"type": "user.message", "content": [{"type": "text", "text": "st"}]}]});
    let deployment = create(&api, "/v1/deployments", deployment_body.clone()).await;
    let deployment_to_archive = create(&api, "/v1/deployments", deployment_body).await;
    let deployment_run = create(
        &api,
        &format!("/v1/deployments/{deployment}/run"),
        json!({}),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            r#"[parameters]
"path.agent_id" = "{agent}"
"path.environment_id" = "{environment}"
"path.session_id" = "{session}"
"path.api_key_id" = "{key_to_delete}"
"path.vault_id" = "{vault}"
"path.credential_id" = "{credential}"
"path.file_id" = "{file}"
"path.memory_store_id" = "{store}"
"path.memory_id" = "{memory}"
"path.memory_version_id" = "{version}"
"path.integration_id" = "{integration}"
"path.webhook_endpoint_id" = "{webhook}"
"path.deployment_id" = "{deployment}"
"path.deployment_run_id" = "{deployment_run}"
"path.work_id" = "{work}"
"path.key_id" = "{hosted_key}"

[[operations]]
include-operation-id = "archiveAgent"
parameters = {{ "path.agent_id" = "{agent_to_archive}" }}

[[operations]]
include-operation-id = "deleteEnvironment"
parameters = {{ "path.environment_id" = "{env_to_delete}" }}

[[operations]]
include-operation-id = "archiveEnvironment"
parameters = {{ "path.environment_id" = "{env_to_archive}" }}

[[operations]]
include-operation-id = "deleteVault"
parameters = {{ "path.vault_id" = "{vault_to_delete}" }}

[[operations]]
include-operation-id = "archiveVault"
parameters = {{ "path.vault_id" = "{vault_to_archive}" }}

[[operations]]
include-operation-id = "deleteCredential"
parameters = {{ "path.credential_id" = "{credential_to_delete}" }}

[[operations]]
include-operation-id = "archiveCredential"
parameters = {{ "path.credential_id" = "{credential_to_archive}" }}

[[operations]]
include-operation-id = "deleteFile"
parameters = {{ "path.file_id" = "{file_to_delete}" }}

[[operations]]
include-operation-id = "deleteMemoryStore"
parameters = {{ "path.memory_store_id" = "{store_to_delete}" }}

[[operations]]
include-operation-id = "archiveMemoryStore"
parameters = {{ "path.memory_store_id" = "{store_to_archive}" }}

[[operations]]
include-operation-id = "deleteMemory"
parameters = {{ "path.memory_id" = "{memory_to_delete}" }}

[[operations]]
include-operation-id = "redactMemoryVersion"
parameters = {{ "path.memory_version_id" = "{version_to_redact}" }}

[[operations]]
include-operation-id = "deleteIntegration"
parameters = {{ "path.integration_id" = "{integration_to_delete}" }}

[[operations]]
include-operation-id = "deleteWebhookEndpoint"
parameters = {{ "path.webhook_endpoint_id" = "{webhook_to_delete}" }}

[[operations]]
include-operation-id = "archiveDeployment"
parameters = {{ "path.deployment_id" = "{deployment_to_archive}" }}

[[operations]]
include-operation-id = "createEnvironmentKey"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "listEnvironmentKeys"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "deleteEnvironmentKey"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "listWork"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "pollWork"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "getWorkQueueStats"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "getWork"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "updateWork"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "ackWork"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "heartbeatWork"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "stopWork"
parameters = {{ "path.environment_id" = "{hosted}" }}

[[operations]]
include-operation-id = "deleteSession"
parameters = {{ "path.session_id" = "{session_to_delete}" }}

[[operations]]
include-operation-id = "archiveSession"
parameters = {{ "path.session_id" = "{session_to_archive}" }}
"#
        ),
    )
    .unwrap();

    let report = dir.path().join("report.txt");
    let out = std::fs::File::create(&report).unwrap();
    let started = Instant::now();
    let mut child = Command::new(schemathesis_bin())
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(platform.url("/v1/openapi.json"))
        .args(["-H", &format!("x-api-key: {}", platform.api_key())])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
        ])
        // The live stream never ends by itself; its errors are covered by
        // the sessions suites.
        .args(["--exclude-operation-id", "streamEvents"])
        .args(["--max-examples", "25"])
        .args(["--max-time", &BUDGET_SECS.to_string()])
        // One worker: the generator is CPU-bound Python, so a second thread
        // only contends for the GIL (fewer cases in the same time), and two
        // threads parsing sources at once for hypothesis's lambda reprs can
        // hit CPython 3.11's "AST constructor recursion depth mismatch".
        .args(["--workers", "1", "--seed", "1"])
        .args(["--request-timeout", "20"])
        .args(["--generation-database", "none"])
        .args(["--no-color", "--output-truncate", "false"])
        .current_dir(dir.path())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > HARD_LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut text = String::new();
    std::fs::File::open(&report)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    eprintln!(
        "schemathesis ran for {:?} ({} model requests)",
        started.elapsed(),
        mock.served()
    );
    match status {
        Some(status) if status.success() => {
            assert!(text.contains("passed"), "{text}");
            let summary = text.find("SUMMARY").map_or("", |at| &text[at..]);
            eprintln!("{summary}");
        }
        Some(status) => panic!("schemathesis failed ({status}):\n{text}"),
        None => panic!("schemathesis ran past {HARD_LIMIT:?}:\n{text}"),
    }
}
