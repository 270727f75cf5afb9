//! Self-hosted environments: environment keys, the work queue as the SDK's
//! worker drives it, and sessions whose file and shell tools the official
//! SDK's own `EnvironmentWorker` runs (`tests/python/self_hosted.py`).

use std::time::Duration;
use std::time::Instant;

use openma_core::control::work::sessions_token_from_secret;
use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::python;
use openma_e2e::unique;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

use super::sessions::agent;
use super::sessions::start;

/// A self-hosted environment and a key of it: `(environment id, key)`.
async fn hosted_environment(api: &Api) -> (String, String) {
    let env = api
        .ok(
            Method::POST,
            "/v1/environments",
            Some(
                json!({"name": format!("hosted-{}", unique()), "config": {"type": "self_hosted"}}),
            ),
        )
        .await
        .unwrap();
    let env_id = env["id"].as_str().unwrap().to_owned();
    let key = api
        .ok(
            Method::POST,
            &format!("/v1/environments/{env_id}/keys"),
            Some(json!({})),
        )
        .await
        .unwrap();
    (env_id, key["key"].as_str().unwrap().to_owned())
}

/// A session of a new agent in `env_id`; returns its id.
async fn session_in(api: &Api, env_id: &str) -> String {
    let agent = api
        .ok(Method::POST, "/v1/agents", Some(agent("hosted")))
        .await
        .unwrap();
    let session = api
        .ok(
            Method::POST,
            "/v1/sessions",
            Some(json!({"agent": agent["id"], "environment_id": env_id})),
        )
        .await
        .unwrap();
    session["id"].as_str().unwrap().to_owned()
}

/// The session's work item (the newest, when it had several).
async fn item_of(api: &Api, env_id: &str, session_id: &str) -> Option<Value> {
    let page = api
        .ok(
            Method::GET,
            &format!("/v1/environments/{env_id}/work?limit=100"),
            None,
        )
        .await
        .unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|item| item["data"]["id"] == session_id)
        .cloned()
}

/// Polls `check` every 200 ms until it gives a value, or panics after
/// `timeout` with `what` and `context()`.
async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    context: impl Fn() -> String,
    check: F,
) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_keys_open_only_their_queue_which_serves_the_worker_protocol() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::text("Hello from the platform."));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let (env_id, key) = hosted_environment(&api).await;
    assert!(key.starts_with("oma_env_"), "{key}");

    // Keys: shown once, listed without the key, for self-hosted only.
    let keys = format!("/v1/environments/{env_id}/keys");
    let listed = api.ok(Method::GET, &keys, None).await.unwrap();
    let listed_key = &listed["data"][0];
    assert_eq!(listed_key["type"], "environment_key");
    assert_eq!(listed_key["environment_id"], env_id.as_str());
    assert!(listed_key["id"].as_str().unwrap().starts_with("envkey_"));
    assert!(listed_key.get("key").is_none(), "{listed}");
    assert!(!listed.to_string().contains(&key));
    let (status, body) = api
        .call(Method::POST, &keys, Some(json!({"name": "x"})))
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
    let (cloud, _) = api.env_and_agent(agent("cloud")).await.unwrap();
    let cloud_id = cloud["id"].as_str().unwrap();
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/v1/environments/{cloud_id}/keys"),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("self_hosted")
    );

    // The key reaches its environment's queue and nothing else.
    let worker = Api::with_key(&platform, &key);
    let work = format!("/v1/environments/{env_id}/work");
    for path in [
        format!("/v1/environments/{env_id}"),
        "/v1/agents".to_owned(),
        keys.clone(),
        format!("/v1/environments/{cloud_id}/work/poll"),
    ] {
        let (status, body) = worker.call(Method::GET, &path, None).await.unwrap();
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"]["type"], "permission_error");
    }
    let (status, body) = worker
        .call(Method::GET, &format!("{work}/poll"), None)
        .await
        .unwrap();
    assert_eq!((status, body), (200, Value::Null), "nothing queued yet");
    let (status, _) = worker
        .call(Method::GET, &format!("{work}/poll?block_ms=0"), None)
        .await
        .unwrap();
    assert_eq!(status, 400, "block_ms is 1 to 999");

    // A session queues work; a poll hands it out with its secret.
    let session_id = session_in(&api, &env_id).await;
    let stats = api
        .ok(Method::GET, &format!("{work}/stats"), None)
        .await
        .unwrap();
    assert_eq!(
        (
            stats["type"].as_str(),
            stats["depth"].as_u64(),
            stats["pending"].as_u64()
        ),
        (Some("work_queue_stats"), Some(1), Some(0)),
        "{stats}"
    );
    let polled = reqwest::Client::new()
        .get(platform.url(&format!("{work}/poll?block_ms=999")))
        .bearer_auth(&key)
        .header("anthropic-worker-id", "e2e-worker")
        .send()
        .await
        .unwrap();
    assert_eq!(polled.status(), 200);
    let item: Value = polled.json().await.unwrap();
    assert_eq!(item["type"], "work");
    assert_eq!(item["state"], "queued");
    assert_eq!(item["data"], json!({"type": "session", "id": session_id}));
    let work_id = item["id"].as_str().unwrap().to_owned();
    assert!(work_id.starts_with("work_"));
    let token = sessions_token_from_secret(item["secret"].as_str().unwrap()).unwrap();
    assert!(token.starts_with("oma_work_"));
    let retrieved = api
        .ok(Method::GET, &format!("{work}/{work_id}"), None)
        .await
        .unwrap();
    assert_eq!(
        retrieved["secret"],
        Value::Null,
        "the secret is only on the poll"
    );
    let stats = api
        .ok(Method::GET, &format!("{work}/stats"), None)
        .await
        .unwrap();
    assert_eq!(
        (
            stats["depth"].as_u64(),
            stats["pending"].as_u64(),
            stats["workers_polling"].as_u64()
        ),
        (Some(0), Some(1), Some(1)),
        "{stats}"
    );
    let (_, again) = worker
        .call(Method::GET, &format!("{work}/poll"), None)
        .await
        .unwrap();
    assert_eq!(
        again,
        Value::Null,
        "a handed-out item is not reclaimable at once"
    );

    // The sessions token reaches its item and its session only.
    let by_token = Api::with_key(&platform, &token);
    by_token
        .ok(Method::GET, &format!("/v1/sessions/{session_id}"), None)
        .await
        .unwrap();
    by_token
        .ok(
            Method::GET,
            &format!("/v1/sessions/{session_id}/events"),
            None,
        )
        .await
        .unwrap();
    for path in [
        "/v1/agents".to_owned(),
        format!("{work}/poll"),
        work.clone(),
    ] {
        let (status, _) = by_token.call(Method::GET, &path, None).await.unwrap();
        assert_eq!(status, 403, "{path}");
    }

    // Ack, then heartbeats: the first claims the lease, a stale one is 412.
    let acked = by_token
        .ok(Method::POST, &format!("{work}/{work_id}/ack"), None)
        .await
        .unwrap();
    assert_eq!(acked["state"], "starting");
    assert!(acked["acknowledged_at"].is_string());
    let heartbeat = format!("{work}/{work_id}/heartbeat");
    let first = by_token
        .ok(
            Method::POST,
            &format!("{heartbeat}?expected_last_heartbeat=NO_HEARTBEAT"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            first["type"].as_str(),
            first["lease_extended"].as_bool(),
            first["state"].as_str(),
            first["ttl_seconds"].as_u64()
        ),
        (
            Some("work_heartbeat"),
            Some(true),
            Some("active"),
            Some(300)
        ),
        "{first}"
    );
    let stored = first["last_heartbeat"].as_str().unwrap().to_owned();
    let (status, stale) = by_token
        .call(
            Method::POST,
            &format!("{heartbeat}?expected_last_heartbeat=NO_HEARTBEAT"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 412, "{stale}");
    assert_eq!(
        stale["error"]["details"]["error_code"],
        "heartbeat_precondition_failed"
    );
    assert_eq!(
        stale["error"]["details"]["current_state"],
        json!({"last_heartbeat": stored, "lease_extended": false, "state": "active", "ttl_seconds": 300})
    );
    let second = by_token
        .ok(
            Method::POST,
            &format!("{heartbeat}?expected_last_heartbeat={stored}&desired_ttl_seconds=60"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(second["ttl_seconds"], 60);
    assert_ne!(second["last_heartbeat"], stored.as_str());

    // A tool result for a call nothing waits on is refused; metadata patches.
    let (status, body) = by_token
        .call(
            Method::POST,
            &format!("/v1/sessions/{session_id}/events"),
            Some(
                json!({"events": [{"type": "user.tool_result", "tool_use_id": "sevt_nope",
                "content": [{"type": "text", "text": "x"}]}]}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let updated = by_token
        .ok(
            Method::POST,
            &format!("{work}/{work_id}"),
            Some(json!({"metadata": {"host": "e2e"}})),
        )
        .await
        .unwrap();
    assert_eq!(updated["metadata"], json!({"host": "e2e"}));
    let (status, _) = by_token
        .call(
            Method::POST,
            &format!("{work}/{work_id}/stop"),
            Some(json!({"hard": true})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "unknown fields are refused");

    // A stop without force asks the worker to stop at its next heartbeat.
    let stopping = api
        .ok(
            Method::POST,
            &format!("{work}/{work_id}/stop"),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(stopping["state"], "stopping");
    let told = by_token.ok(Method::POST, &heartbeat, None).await.unwrap();
    assert_eq!(
        (told["lease_extended"].as_bool(), told["state"].as_str()),
        (Some(false), Some("stopping"))
    );
    let stopped = by_token
        .ok(
            Method::POST,
            &format!("{work}/{work_id}/stop"),
            Some(json!({"force": true})),
        )
        .await
        .unwrap();
    assert_eq!(stopped["state"], "stopped");
    assert!(stopped["stopped_at"].is_string());
    let (status, headers, _) = api
        .call_with_headers(
            Method::POST,
            &format!("{work}/{work_id}/stop"),
            Some(json!({"force": true})),
        )
        .await
        .unwrap();
    assert_eq!(status, 409, "already stopped");
    assert_eq!(headers["x-should-retry"], "false");
    let (status, body) = by_token
        .call(Method::GET, &format!("/v1/sessions/{session_id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 401, "the token ends with its item: {body}");

    // The session, now without a worker, queues new work with its next message.
    api.send_message(&session_id, "Hello?").await.unwrap();
    let queued = item_of(&api, &env_id, &session_id).await.unwrap();
    assert_ne!(queued["id"], work_id.as_str());
    assert_eq!(queued["state"], "queued");

    // What a self-hosted session cannot have is refused with a clear 400.
    let agent_id = api
        .ok(Method::POST, "/v1/agents", Some(agent("refused")))
        .await
        .unwrap()["id"]
        .clone();
    let file = api
        .upload("notes.txt", "text/plain", b"notes")
        .await
        .unwrap();
    let (status, body) = api
        .call(
            Method::POST,
            "/v1/sessions",
            Some(json!({"agent": agent_id, "environment_id": env_id,
                "resources": [{"type": "file", "file_id": file["id"]}]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("resources[0].type: file resources are not supported on self_hosted"),
        "{message}"
    );
    let (vault_id, _) = api
        .vault_with(
            json!({"type": "environment_variable", "secret_name": "TOKEN",
            "secret_value": "not-for-workers",
            "networking": {"type": "limited", "allowed_hosts": ["api.example.com"]}}),
        )
        .await
        .unwrap();
    let (status, body) = api
        .call(
            Method::POST,
            "/v1/sessions",
            Some(json!({"agent": agent_id, "environment_id": env_id, "vault_ids": [vault_id]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("environment_variable"), "{message}");
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/v1/sessions/{session_id}/resources"),
            Some(json!({"type": "file", "file_id": file["id"]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");

    // A deleted key stops working at once.
    let key_id = listed_key["id"].as_str().unwrap();
    let deleted = api
        .ok(Method::DELETE, &format!("{keys}/{key_id}"), None)
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({"id": key_id, "type": "environment_key_deleted"})
    );
    let (status, _) = worker
        .call(Method::GET, &format!("{work}/poll"), None)
        .await
        .unwrap();
    assert_eq!(status, 401);

    // Deleting the session stops its item.
    api.ok(Method::DELETE, &format!("/v1/sessions/{session_id}"), None)
        .await
        .unwrap();
    let gone = api
        .ok(
            Method::GET,
            &format!("{work}/{}", queued["id"].as_str().unwrap()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(gone["state"], "stopped");
}

#[test]
fn the_sdk_worker_serves_a_self_hosted_session() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_1",
        "bash",
        json!({"command": "echo served-by-the-worker in \"$PWD\""}),
    ));
    mock.push(Reply::text("The worker answered."));
    let platform = start(&mock);
    let stdout = python::run_script(
        &platform,
        platform.api_key(),
        "self_hosted.py",
        &["scenario"],
    )
    .unwrap_or_else(|err| panic!("{err:#}\n--- platform ---\n{}", platform.output()));
    let summary = python::summary(&stdout).unwrap();
    assert_eq!(summary["sdk_version"], "2.17.0");
    assert_eq!(summary["key"]["type"], "environment_key");
    assert_eq!(summary["key"]["prefix"], "oma_env_");
    assert_eq!(summary["queued"], json!({"depth": 1, "pending": 0}));

    // The platform asked; the worker ran bash in its own directory.
    assert_eq!(
        summary["tool_use"],
        json!({"name": "bash", "permission": "allow"})
    );
    let workdir = summary["workdir"].as_str().unwrap();
    let result = summary["tool_result"]["text"].as_str().unwrap();
    assert!(result.contains("served-by-the-worker in"), "{summary:#}");
    assert!(
        result.contains(workdir),
        "ran in the worker's directory: {summary:#}"
    );
    assert_eq!(summary["tool_result"]["is_error"], false);
    assert_eq!(summary["reply"], "The worker answered.");
    let streamed: Vec<&str> = summary["streamed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let at = |kind: &str| {
        streamed
            .iter()
            .position(|t| *t == kind)
            .unwrap_or(usize::MAX)
    };
    assert!(
        at("agent.tool_use") < at("user.tool_result"),
        "{streamed:?}"
    );
    assert!(at("user.tool_result") < at("agent.message"), "{streamed:?}");
    assert!(
        !streamed.contains(&"agent.tool_result"),
        "the platform ran nothing: {streamed:?}"
    );

    // The model saw the worker's output as the tool's result.
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let seen = requests[1].body["messages"].to_string();
    assert!(seen.contains("served-by-the-worker"), "{seen}");

    // The worker let the item go after the session's idle time.
    assert_eq!(
        summary["work"],
        json!({"state": "stopped", "acknowledged": true, "started": true, "heartbeat": true, "secret": null})
    );
    assert_eq!(
        summary["stats_after"],
        json!({"depth": 0, "pending": 0, "workers_polling": 1})
    );
    assert_eq!(summary["status"], "idle");

    // By hand, as the SDK's lease does it: a stale heartbeat is 412.
    assert_eq!(summary["claimed_session"], true);
    assert_eq!(
        summary["first_heartbeat"],
        json!({"lease_extended": true, "state": "active"})
    );
    let stale = &summary["stale_heartbeat"];
    assert_eq!(stale["status"], 412, "{summary:#}");
    assert_eq!(stale["error_code"], "heartbeat_precondition_failed");
    assert_eq!(stale["current_state"]["last_heartbeat"], stale["stored"]);
    assert_eq!(stale["current_state"]["lease_extended"], false);
    assert_eq!(stale["current_state"]["state"], "active");
    assert_eq!(summary["token_elsewhere"], 403);
    assert_eq!(summary["stopped_by_token"], "stopped");
    assert_eq!(summary["token_after_stop"], 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_workers_item_is_reclaimed_by_a_second_worker() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_1",
        "bash",
        json!({"command": "echo reclaimed in \"$PWD\""}),
    ));
    mock.push(Reply::text("Done after the reclaim."));
    // A short lease, so that the dead worker's item lapses soon.
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("WORK_LEASE_TTL_SECONDS", "4")
        .start()
        .unwrap();
    let api = Api::new(&platform);
    let (env_id, key) = hosted_environment(&api).await;
    let session_id = session_in(&api, &env_id).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let worker = |name: &str, dir: &tempfile::TempDir| {
        python::spawn_script(
            &platform,
            platform.api_key(),
            "self_hosted.py",
            &["worker", &env_id, &key, dir.path().to_str().unwrap(), name],
        )
        .unwrap()
    };

    // The first worker claims the session's item, and dies.
    let mut first = worker("first", &dirs[0]);
    let claimed = wait_for(
        "the first worker to hold the item",
        Duration::from_secs(60),
        || first.output(),
        || async {
            item_of(&api, &env_id, &session_id)
                .await
                .filter(|item| item["state"] == "active")
        },
    )
    .await;
    first.kill().unwrap();

    // The model asks for bash; nobody is there to run it.
    api.send_message(&session_id, "Where are you?")
        .await
        .unwrap();
    let events_of = || async { api.events(&session_id).await.unwrap() };
    wait_for(
        "the session to wait on the bash call",
        Duration::from_secs(30),
        String::new,
        || async {
            let events = events_of().await;
            events
                .iter()
                .any(|e| {
                    e["type"] == "session.status_idle"
                        && e["stop_reason"]["type"] == "requires_action"
                })
                .then_some(())
        },
    )
    .await;

    // The second worker reclaims the item once its lease lapses, and runs it.
    let second = worker("second", &dirs[1]);
    let events = wait_for(
        "the second worker to serve the session",
        Duration::from_secs(90),
        || {
            format!(
                "{}\n--- platform ---\n{}",
                second.output(),
                platform.output()
            )
        },
        || async {
            let events = events_of().await;
            events
                .iter()
                .any(|e| {
                    e["type"] == "session.status_idle" && e["stop_reason"]["type"] == "end_turn"
                })
                .then_some(events)
        },
    )
    .await;
    let result = events
        .iter()
        .find(|e| e["type"] == "user.tool_result")
        .unwrap();
    let text = result["content"][0]["text"].as_str().unwrap();
    let second_dir = dirs[1].path().to_str().unwrap();
    assert!(
        text.contains(&format!("reclaimed in {second_dir}")),
        "{text}"
    );
    let reply = events
        .iter()
        .rfind(|e| e["type"] == "agent.message")
        .unwrap();
    assert_eq!(reply["content"][0]["text"], "Done after the reclaim.");

    // The same item, handed to the second worker, which let it go when done.
    let item = wait_for(
        "the second worker to stop the item",
        Duration::from_secs(30),
        || second.output(),
        || async {
            item_of(&api, &env_id, &session_id)
                .await
                .filter(|item| item["state"] == "stopped")
        },
    )
    .await;
    assert_eq!(item["id"], claimed["id"]);
    assert!(
        item["started_at"].as_str() > claimed["started_at"].as_str(),
        "started again by the second worker: {item} after {claimed}"
    );
}
