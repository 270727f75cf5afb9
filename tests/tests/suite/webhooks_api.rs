//! `/v1/organizations/webhooks` on the real platform: the official Python
//! SDK manages endpoints (the signing secret is shown by create and
//! regenerate only, never in a read, a log or the audit trail); endpoints
//! belong to their tenant and refuse bad input by name; and the changes a
//! tenant makes are queued once for each of its enabled endpoints that
//! subscribes to them.

use std::collections::BTreeMap;

use openma_e2e::Api;
use openma_e2e::Platform;
use openma_e2e::unique;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

use super::sessions::agent;

const WEBHOOKS: &str = "/v1/organizations/webhooks";

/// Asserts that `answer` is the error envelope with `status` and `kind`;
/// returns its message.
fn assert_error(status: u16, answer: &Value, expected: u16, kind: &str) -> String {
    assert_eq!(status, expected, "{answer}");
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["error"]["type"], kind, "{answer}");
    answer["error"]["message"].as_str().unwrap().to_owned()
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(id).collect()
}

/// Whether `secret` is `whsec_` and the base64 of 32 bytes.
fn is_secret(secret: &str) -> bool {
    secret.strip_prefix("whsec_").is_some_and(|b64| {
        b64.len() == 44
            && b64.ends_with('=')
            && !b64.ends_with("==")
            && b64[..43]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    })
}

/// Every row of `webhook_deliveries` in the platform's local D1, read with
/// the test virtualenv's Python (the rows as JSON objects).
fn deliveries(platform: &Platform) -> Vec<Value> {
    let python = openma_e2e::python::interpreter().unwrap();
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import json, pathlib, sqlite3, sys\n\
             rows = []\n\
             for path in pathlib.Path(sys.argv[1]).rglob('*.sqlite'):\n\
             \x20   if 'D1DatabaseObject' not in str(path):\n\
             \x20       continue\n\
             \x20   db = sqlite3.connect(path)\n\
             \x20   db.row_factory = sqlite3.Row\n\
             \x20   if db.execute(\"SELECT 1 FROM sqlite_master WHERE name = 'webhook_deliveries'\").fetchone():\n\
             \x20       rows += [dict(r) for r in db.execute('SELECT * FROM webhook_deliveries ORDER BY id')]\n\
             print(json.dumps(rows))",
        ])
        .arg(platform.state_dir().join("wrangler/.wrangler/state"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The audit events `api` sees (newest first), up to 100.
async fn trail(api: &Api) -> Vec<Value> {
    let page = api
        .ok(Method::GET, "/v1/audit_events?limit=100", None)
        .await
        .unwrap();
    page["data"].as_array().unwrap().clone()
}

#[test]
fn python_sdk_manages_endpoints_and_sees_each_secret_once() {
    let platform = Platform::start().unwrap();
    let stdout = openma_e2e::python::run_script(&platform, platform.api_key(), "webhooks.py", &[])
        .unwrap_or_else(|err| panic!("{err:#}\n--- platform ---\n{}", platform.output()));
    let summary: Value = openma_e2e::python::summary(&stdout).unwrap();
    assert_eq!(summary["sdk_version"], "2.17.0");
    assert_eq!(summary["created_type"], "webhook_endpoint");
    assert_eq!(summary["deleted_type"], "webhook_endpoint_deleted");
    let endpoint_id = summary["endpoint_id"].as_str().unwrap();
    assert_eq!(summary["remaining"], json!([endpoint_id]));

    // Two creates and a regeneration: three distinct secrets, each shown
    // once, in no other answer, log line or audit event.
    let secrets: Vec<&str> = summary["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(secrets.len(), 3);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (endpoint, audit) = runtime.block_on(async {
        let api = Api::new(&platform);
        let endpoint = api
            .ok(Method::GET, &format!("{WEBHOOKS}/{endpoint_id}"), None)
            .await
            .unwrap();
        let list = api.ok(Method::GET, WEBHOOKS, None).await.unwrap();
        (json!([endpoint, list]), trail(&api).await)
    });
    let answers = summary["answers"].to_string();
    let logs = platform.output();
    let audit_text = serde_json::to_string(&audit).unwrap();
    for secret in &secrets {
        assert!(is_secret(secret), "{secret}");
        let key = secret.trim_start_matches("whsec_");
        assert!(!answers.contains(key), "a read answered the secret");
        assert!(!endpoint.to_string().contains(key), "{endpoint}");
        assert!(!logs.contains(key), "the secret is in the logs");
        assert!(
            !audit_text.contains(key),
            "the secret is in the audit trail"
        );
    }
    assert_eq!(endpoint[0]["id"], endpoint_id);
    assert!(endpoint[0].get("signing_secret").is_none(), "{endpoint}");

    let mut counted: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &audit {
        let action = event["action"].as_str().unwrap();
        if action.starts_with("webhook_endpoint.") {
            *counted.entry(action).or_default() += 1;
        }
    }
    assert_eq!(
        counted,
        BTreeMap::from([
            ("webhook_endpoint.created", 2),
            ("webhook_endpoint.deleted", 1),
            ("webhook_endpoint.secret_regenerated", 1),
            ("webhook_endpoint.updated", 2),
        ]),
        "{audit_text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_belong_to_their_tenant_and_refuse_bad_input_by_name() {
    let platform = Platform::start().unwrap();
    let operator = Api::new(&platform);
    let (api, _) = operator
        .new_tenant(&format!("wh-a-{}", unique()))
        .await
        .unwrap();
    let (other, _) = operator
        .new_tenant(&format!("wh-b-{}", unique()))
        .await
        .unwrap();
    let hooks = "https://hooks.example.com/in";

    let created = api
        .ok(
            Method::POST,
            WEBHOOKS,
            Some(json!({"url": hooks, "enabled_events": ["agent.created"]})),
        )
        .await
        .unwrap();
    let endpoint_id = id(&created);
    assert!(endpoint_id.starts_with("whep_"), "{created}");
    assert_eq!(created["type"], "webhook_endpoint");
    assert_eq!(
        (&created["name"], &created["description"]),
        (&json!(""), &json!(""))
    );
    assert!(is_secret(created["signing_secret"].as_str().unwrap()));

    // Another tenant cannot see, change, delete or re-key it.
    let path = format!("{WEBHOOKS}/{endpoint_id}");
    let regenerate = format!("{path}/regenerate_signing_secret");
    for (method, target, body) in [
        (Method::GET, &path, None),
        (Method::POST, &path, Some(json!({"state": "disabled"}))),
        (Method::DELETE, &path, None),
        (Method::POST, &regenerate, None),
    ] {
        let (status, answer) = other.call(method.clone(), target, body).await.unwrap();
        let message = assert_error(status, &answer, 404, "not_found_error");
        assert!(
            message.contains(&endpoint_id),
            "{method} {target}: {message}"
        );
    }
    assert!(ids(&other.ok(Method::GET, WEBHOOKS, None).await.unwrap()).is_empty());
    let mine = api.ok(Method::GET, WEBHOOKS, None).await.unwrap();
    assert_eq!(ids(&mine), std::slice::from_ref(&endpoint_id));
    assert_eq!(mine["has_more"], false);
    assert_eq!(mine["first_id"], endpoint_id.as_str());
    let unchanged = api.ok(Method::GET, &path, None).await.unwrap();
    assert_eq!(unchanged["state"], "enabled");
    for missing in ["whep_nope", "nope"] {
        let (status, answer) = api
            .call(Method::GET, &format!("{WEBHOOKS}/{missing}"), None)
            .await
            .unwrap();
        assert_error(status, &answer, 404, "not_found_error");
    }

    // Bad bodies and queries are refused by the name of what is wrong.
    for (body, field) in [
        (
            json!({"url": "ftp://hooks.example.com/in", "enabled_events": ["agent.created"]}),
            "url",
        ),
        (
            json!({"url": "hooks.example.com", "enabled_events": ["agent.created"]}),
            "url",
        ),
        (
            json!({"url": hooks, "enabled_events": []}),
            "enabled_events",
        ),
        (
            json!({"url": hooks, "enabled_events": ["session.status_idle"]}),
            "enabled_events[0]",
        ),
        (
            json!({"url": hooks, "enabled_events": ["agent.created", 7]}),
            "enabled_events[1]",
        ),
        (json!({"enabled_events": ["agent.created"]}), "url"),
        (
            json!({"url": hooks, "enabled_events": ["agent.created"], "secret": "x"}),
            "secret",
        ),
        (
            json!({"url": hooks, "enabled_events": ["agent.created"], "name": 3}),
            "name",
        ),
    ] {
        let (status, answer) = api
            .call(Method::POST, WEBHOOKS, Some(body.clone()))
            .await
            .unwrap();
        let message = assert_error(status, &answer, 400, "invalid_request_error");
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{body}: {message}"
        );
    }
    for (body, field) in [
        (json!({"state": "paused"}), "state"),
        (json!({"url": "ftp://hooks.example.com/in"}), "url"),
        (json!({"enabled_events": ["nope"]}), "enabled_events[0]"),
        (json!({"signing_secret": "whsec_x"}), "signing_secret"),
    ] {
        let (status, answer) = api
            .call(Method::POST, &path, Some(body.clone()))
            .await
            .unwrap();
        let message = assert_error(status, &answer, 400, "invalid_request_error");
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{body}: {message}"
        );
    }
    for (query, field) in [
        ("limit=101", "limit"),
        ("order=sideways", "order"),
        ("after_id=whep_a&before_id=whep_b", "before_id"),
        ("page=abc", "page"),
    ] {
        let (status, answer) = api
            .call(Method::GET, &format!("{WEBHOOKS}?{query}"), None)
            .await
            .unwrap();
        let message = assert_error(status, &answer, 400, "invalid_request_error");
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{query}: {message}"
        );
    }

    // At most 32 endpoints a tenant; a deleted one makes room.
    for _ in 1..32 {
        api.ok(
            Method::POST,
            WEBHOOKS,
            Some(json!({"url": hooks, "enabled_events": ["vault.created"]})),
        )
        .await
        .unwrap();
    }
    let full = json!({"url": hooks, "enabled_events": ["vault.created"]});
    let (status, answer) = api
        .call(Method::POST, WEBHOOKS, Some(full.clone()))
        .await
        .unwrap();
    let message = assert_error(status, &answer, 400, "invalid_request_error");
    assert!(message.contains("at most 32"), "{message}");
    let first = api
        .ok(
            Method::GET,
            &format!("{WEBHOOKS}?limit=100&order=asc"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(ids(&first).len(), 32);
    assert_eq!(ids(&first)[0], endpoint_id);
    let deleted = api.ok(Method::DELETE, &path, None).await.unwrap();
    assert_eq!(
        deleted,
        json!({"id": endpoint_id, "type": "webhook_endpoint_deleted"})
    );
    let (status, answer) = api.call(Method::DELETE, &path, None).await.unwrap();
    assert_error(status, &answer, 404, "not_found_error");
    api.ok(Method::POST, WEBHOOKS, Some(full)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_change_is_queued_once_for_each_enabled_subscriber() {
    let platform = Platform::start().unwrap();
    let operator = Api::new(&platform);
    let (api, tenant) = operator
        .new_tenant(&format!("wh-q-{}", unique()))
        .await
        .unwrap();
    let (other, _) = operator
        .new_tenant(&format!("wh-r-{}", unique()))
        .await
        .unwrap();
    let tenant_id = id(&tenant);
    let events = json!([
        "agent.created",
        "agent.updated",
        "agent.archived",
        "environment.created",
        "environment.archived",
        "environment.deleted",
        "vault_credential.created",
        "vault_credential.deleted",
        "memory_store.created",
        "memory_store.deleted",
        "session.created",
        "session.archived",
        "session.deleted"
    ]);
    let subscriber = api
        .ok(
            Method::POST,
            WEBHOOKS,
            Some(json!({"url": "https://hooks.example.com/all", "enabled_events": events})),
        )
        .await
        .unwrap();
    let subscriber_id = id(&subscriber);
    // A disabled endpoint, and one that subscribes to nothing that
    // happens, get nothing; nor does another tenant's endpoint.
    let paused = api
        .ok(
            Method::POST,
            WEBHOOKS,
            Some(json!({"url": "https://hooks.example.com/paused", "enabled_events": ["agent.created"]})),
        )
        .await
        .unwrap();
    api.ok(
        Method::POST,
        &format!("{WEBHOOKS}/{}", id(&paused)),
        Some(json!({"state": "disabled"})),
    )
    .await
    .unwrap();
    api.ok(
        Method::POST,
        WEBHOOKS,
        Some(
            json!({"url": "https://hooks.example.com/quiet", "enabled_events": ["vault.deleted"]}),
        ),
    )
    .await
    .unwrap();
    other
        .ok(
            Method::POST,
            WEBHOOKS,
            Some(json!({"url": "https://hooks.example.com/other", "enabled_events": events})),
        )
        .await
        .unwrap();

    // Agents: created, updated (a new version, then an update that
    // changes nothing), archived twice.
    let agent_id = id(&api
        .ok(Method::POST, "/v1/agents", Some(agent("wh")))
        .await
        .unwrap());
    let agent_path = format!("/v1/agents/{agent_id}");
    for _ in 0..2 {
        let updated = api
            .ok(
                Method::POST,
                &agent_path,
                Some(json!({"description": "v2"})),
            )
            .await
            .unwrap();
        assert_eq!(updated["version"], 2);
    }
    let session_agent = id(&api
        .ok(Method::POST, "/v1/agents", Some(agent("wh-s")))
        .await
        .unwrap());
    for _ in 0..2 {
        api.ok(Method::POST, &format!("{agent_path}/archive"), None)
            .await
            .unwrap();
    }
    // Environments: created, archived, deleted.
    let environment = api
        .ok(
            Method::POST,
            "/v1/environments",
            Some(json!({"name": format!("wh-{}", unique()), "config": {"type": "cloud", "networking": {"type": "unrestricted"}}})),
        )
        .await
        .unwrap();
    let environment_id = id(&environment);
    let env_path = format!("/v1/environments/{environment_id}");
    // Sessions: created, archived; another created and deleted.
    let session_body = json!({"agent": session_agent, "environment_id": environment_id});
    let archived_session = id(&api
        .ok(Method::POST, "/v1/sessions", Some(session_body.clone()))
        .await
        .unwrap());
    api.ok(
        Method::POST,
        &format!("/v1/sessions/{archived_session}/archive"),
        None,
    )
    .await
    .unwrap();
    let deleted_session = id(&api
        .ok(Method::POST, "/v1/sessions", Some(session_body))
        .await
        .unwrap());
    api.ok(
        Method::DELETE,
        &format!("/v1/sessions/{deleted_session}"),
        None,
    )
    .await
    .unwrap();
    api.ok(Method::POST, &format!("{env_path}/archive"), None)
        .await
        .unwrap();
    api.ok(Method::DELETE, &env_path, None).await.unwrap();
    // A credential: created, deleted (with its vault's id).
    let (vault_id, credential) = api
        .vault_with(json!({"type": "static_bearer", "mcp_server_url": "https://mcp.example.com/mcp", "token": "wh-token"}))
        .await
        .unwrap();
    let credential_id = id(&credential);
    api.ok(
        Method::DELETE,
        &format!("/v1/vaults/{vault_id}/credentials/{credential_id}"),
        None,
    )
    .await
    .unwrap();
    // A memory store: created, deleted.
    let store_id = id(&api
        .ok(
            Method::POST,
            "/v1/memory_stores",
            Some(json!({"name": "wh"})),
        )
        .await
        .unwrap());
    api.ok(
        Method::DELETE,
        &format!("/v1/memory_stores/{store_id}"),
        None,
    )
    .await
    .unwrap();

    let rows = deliveries(&platform);
    assert!(
        rows.iter()
            .all(|row| row["endpoint_id"] == subscriber_id.as_str()),
        "only the enabled subscriber gets rows: {rows:#?}"
    );
    let mut got: Vec<(String, String)> = rows
        .iter()
        .map(|row| {
            let payload: Value = serde_json::from_str(row["payload"].as_str().unwrap()).unwrap();
            (
                row["event_type"].as_str().unwrap().to_owned(),
                payload["data"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut expected = vec![
        ("agent.created", agent_id.as_str()),
        ("agent.updated", agent_id.as_str()),
        ("agent.created", session_agent.as_str()),
        ("agent.archived", agent_id.as_str()),
        ("environment.created", environment_id.as_str()),
        ("session.created", archived_session.as_str()),
        ("session.archived", archived_session.as_str()),
        ("session.created", deleted_session.as_str()),
        ("session.deleted", deleted_session.as_str()),
        ("environment.archived", environment_id.as_str()),
        ("environment.deleted", environment_id.as_str()),
        ("vault_credential.created", credential_id.as_str()),
        ("vault_credential.deleted", credential_id.as_str()),
        ("memory_store.created", store_id.as_str()),
        ("memory_store.deleted", store_id.as_str()),
    ];
    got.sort();
    expected.sort_unstable();
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(kind, object)| (kind.to_owned(), object.to_owned()))
        .collect();
    assert_eq!(got, expected, "{rows:#?}");

    let mut event_ids = Vec::new();
    for row in &rows {
        let payload: Value = serde_json::from_str(row["payload"].as_str().unwrap()).unwrap();
        let event_id = row["event_id"].as_str().unwrap();
        assert!(row["id"].as_str().unwrap().starts_with("whd_"), "{row}");
        assert!(event_id.starts_with("whe_"), "{row}");
        assert_eq!(row["tenant_id"], tenant_id.as_str());
        assert_eq!(payload["type"], "event");
        assert_eq!(payload["id"], event_id);
        assert_eq!(payload["created_at"], row["created_at"]);
        assert_eq!(payload["data"]["type"], row["event_type"]);
        assert_eq!(payload["data"]["organization_id"], tenant_id.as_str());
        if row["event_type"]
            .as_str()
            .unwrap()
            .starts_with("vault_credential.")
        {
            assert_eq!(payload["data"]["vault_id"], vault_id.as_str(), "{payload}");
        } else {
            assert_eq!(payload["data"].as_object().unwrap().len(), 3, "{payload}");
        }
        event_ids.push(event_id.to_owned());
    }
    event_ids.sort();
    event_ids.dedup();
    assert_eq!(event_ids.len(), rows.len(), "each event has its own id");
}
