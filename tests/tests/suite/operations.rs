//! The operator's view: deployment-wide metrics in Prometheus text that
//! move by exactly what happened, and a diagnostics bundle that holds no
//! secret. Both answer the operator's key only.

use std::collections::HashMap;
use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;

/// `name{labels}` → value, from the exposition.
type Scrape = HashMap<String, f64>;

async fn scrape(platform: &Platform) -> Scrape {
    let resp = reqwest::Client::new()
        .get(platform.url("/v1/operator/metrics"))
        .header("x-api-key", platform.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();
    let mut series = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (key, value) = line.rsplit_once(' ').unwrap();
        series.insert(key.to_owned(), value.parse().unwrap());
    }
    // Every series has its HELP and TYPE.
    for key in series.keys() {
        let name = key.split('{').next().unwrap();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| text.contains(&format!("# TYPE {base} histogram")))
            .unwrap_or(name);
        assert!(text.contains(&format!("# HELP {base} ")), "{base}");
        assert!(text.contains(&format!("# TYPE {base} ")), "{base}");
    }
    series
}

fn value(scrape: &Scrape, key: &str) -> f64 {
    scrape.get(key).copied().unwrap_or(0.0)
}

/// Waits until each of `expected` (series, amount) has grown by its amount
/// since `before`, then checks that it grew by exactly that.
async fn assert_moved(platform: &Platform, before: &Scrape, expected: &[(&str, f64)]) -> Scrape {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = scrape(platform).await;
        let reached = expected
            .iter()
            .all(|(key, by)| value(&now, key) - value(before, key) >= *by);
        if reached {
            // One more round trip: anything still in flight lands before the check.
            let settled = scrape(platform).await;
            for (key, by) in expected {
                assert_eq!(
                    value(&settled, key) - value(before, key),
                    *by,
                    "{key} moved by a different amount"
                );
            }
            return settled;
        }
        assert!(
            Instant::now() < deadline,
            "the metrics did not move as expected: {expected:?}\nbefore: {before:#?}\nnow: {now:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_idle(api: &Api, id: &str, turns: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let events = api.events(id).await.unwrap();
        let ended = events
            .iter()
            .filter(|e| e["type"] == "session.status_idle")
            .count();
        if ended >= turns {
            return events;
        }
        assert!(Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const TURNS_ENDED: &str = r#"oma_turns_total{stop_reason="end_turn"}"#;
const MODEL_OK: &str = r#"oma_model_requests_total{error_type="",outcome="ok"}"#;
const BASH_OK: &str = r#"oma_tool_calls_total{outcome="ok",tool="bash"}"#;
const SANDBOX_STARTS: &str = "oma_sandbox_starts_total";
const EGRESS_DENIED: &str = r#"oma_egress_requests_total{decision="denied"}"#;
const AUTH_FAILURES: &str = r#"oma_auth_failures_total{worker="openma-main"}"#;
const RATE_LIMITED: &str = r#"oma_rate_limit_rejections_total{route="/v1/agents"}"#;
const AGENTS_LISTED: &str =
    r#"oma_http_requests_total{method="GET",route="/v1/agents",status="200",worker="openma-main"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_by_exactly_what_happened_and_only_the_operator_sees_them() {
    let model = MockModel::start().unwrap();
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &model.base_url())
        .env("TENANT_REQUESTS_PER_MINUTE", "5")
        .start()
        .unwrap();
    let operator = Api::new(&platform);
    let (tenant, _) = operator.new_tenant("metrics tenant").await.unwrap();

    // A tenant's key does not know the operator routes exist.
    for path in ["/v1/operator/metrics", "/v1/operator/diagnostics"] {
        let (status, body) = tenant.call(reqwest::Method::GET, path, None).await.unwrap();
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["type"], "not_found_error");
    }

    // A text turn: one turn, one model request.
    let before = scrape(&platform).await;
    model.push(Reply::text("Hello."));
    let id = operator
        .session_in(agent("ops"), json!({"type": "unrestricted"}), &[])
        .await
        .unwrap();
    operator.send_message(&id, "hi").await.unwrap();
    wait_idle(&operator, &id, 1).await;
    let after_text = assert_moved(&platform, &before, &[(TURNS_ENDED, 1.0), (MODEL_OK, 1.0)]).await;

    // A tool turn: one turn, two model requests, one bash call, one sandbox set-up.
    model.push(Reply::tool_use(
        "toolu_1",
        "bash",
        json!({"command": "echo hi"}),
    ));
    model.push(Reply::text("Done."));
    let id = operator
        .session_in(agent("ops"), json!({"type": "unrestricted"}), &[])
        .await
        .unwrap();
    operator.send_message(&id, "run it").await.unwrap();
    wait_idle(&operator, &id, 1).await;
    let after_tool = assert_moved(
        &platform,
        &after_text,
        &[
            (TURNS_ENDED, 1.0),
            (MODEL_OK, 2.0),
            (BASH_OK, 1.0),
            (SANDBOX_STARTS, 1.0),
        ],
    )
    .await;

    // A denied egress request from the sandbox.
    model.push(Reply::tool_use(
        "toolu_2",
        "bash",
        json!({"command": "curl -s -o /dev/null -w 'status=%{http_code}' http://127.0.0.1:9/blocked; true"}),
    ));
    model.push(Reply::text("Blocked."));
    let id = operator
        .session_in(
            agent("ops"),
            json!({"type": "limited", "allowed_hosts": ["api.example.com"], "allow_mcp_servers": false, "allow_package_managers": false}),
            &[],
        )
        .await
        .unwrap();
    operator.send_message(&id, "try it").await.unwrap();
    let events = wait_idle(&operator, &id, 1).await;
    let result = events
        .iter()
        .find(|e| e["type"] == "agent.tool_result")
        .unwrap();
    assert!(result.to_string().contains("status=403"), "{result}");
    let after_egress = assert_moved(
        &platform,
        &after_tool,
        &[(EGRESS_DENIED, 1.0), (BASH_OK, 1.0)],
    )
    .await;

    // With the two refused operator calls above, three requests fill the
    // tenant's rate of five, and the next is refused; a bad key is an
    // authentication failure.
    for _ in 0..3 {
        let (status, body) = tenant
            .call(reqwest::Method::GET, "/v1/agents", None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = tenant
        .call(reqwest::Method::GET, "/v1/agents", None)
        .await
        .unwrap();
    assert_eq!(status, 429);
    let stranger = Api::with_key(&platform, "oma_not_a_key_of_this_deployment");
    let (status, _) = stranger
        .call(reqwest::Method::GET, "/v1/agents", None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    let last = assert_moved(
        &platform,
        &after_egress,
        &[
            (RATE_LIMITED, 1.0),
            (AUTH_FAILURES, 1.0),
            (AGENTS_LISTED, 3.0),
        ],
    )
    .await;

    // Latency is a histogram with buckets, sum and count per route.
    let count =
        r#"oma_http_request_duration_seconds_count{route="/v1/agents",worker="openma-main"}"#;
    let inf = r#"oma_http_request_duration_seconds_bucket{le="+Inf",route="/v1/agents",worker="openma-main"}"#;
    assert!(value(&last, count) >= 5.0, "{last:#?}");
    assert_eq!(value(&last, count), value(&last, inf));
    assert!(
        value(&last, r#"oma_sessions{status="idle"}"#) >= 3.0,
        "{last:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_diagnostics_bundle_holds_no_secret_the_deployment_knows() {
    const VAULT_SECRET: &str = "vault-secret-value-4f9a1c7e2b";
    const BEARER: &str = "mcp-bearer-token-8c3d5e7f9a";
    const PROVIDER_KEY: &str = "sk-provider-key-2d4f6a8c0e1b3d5f";
    const ECHOED: &str = "sk-ant-api03-echoedSecretInAnError0123456789";
    let model = MockModel::start().unwrap();
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &model.base_url())
        .start()
        .unwrap();
    let operator = Api::new(&platform);
    let (_, tenant) = operator.new_tenant("diagnosed").await.unwrap();
    let tenant_key = tenant["api_key"]["key"].as_str().unwrap().to_owned();
    for auth in [
        json!({"type": "environment_variable", "secret_name": "TOKEN", "secret_value": VAULT_SECRET, "networking": {"type": "unrestricted"}}),
        json!({"type": "static_bearer", "mcp_server_url": "https://mcp.example.com/mcp", "token": BEARER}),
    ] {
        operator.vault_with(auth).await.unwrap();
    }
    operator
        .ok(
            reqwest::Method::POST,
            "/v1/model_providers",
            Some(json!({"name": "mine", "type": "anthropic", "base_url": model.base_url(), "api_key": PROVIDER_KEY})),
        )
        .await
        .unwrap();
    // An error whose message echoes what the caller sent.
    let (status, headers, body) = operator
        .call_with_headers(
            reqwest::Method::POST,
            "/v1/agents",
            Some(json!({"name": "x", "model": "m", "tools": [{"type": "agent_toolset_20260401", "configs": [{"name": ECHOED}]}]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains(ECHOED),
        "the error echoes the name: {body}"
    );
    let request_id = headers["request-id"].to_str().unwrap().to_owned();

    let deadline = Instant::now() + WAIT;
    let bundle = loop {
        let bundle = operator
            .ok(reqwest::Method::GET, "/v1/operator/diagnostics", None)
            .await
            .unwrap();
        let recorded = bundle["recent_errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["request_id"] == request_id.as_str());
        if recorded {
            break bundle;
        }
        assert!(
            Instant::now() < deadline,
            "the error was not recorded: {bundle:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(bundle["type"], "diagnostics");
    let workers: Vec<&str> = bundle["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        workers,
        ["openma-main", "openma-agent", "openma-integrations"],
        "{bundle:#}"
    );
    assert_eq!(bundle["workers"][0]["secrets_set"]["API_KEY"], true);
    assert!(
        bundle["workers"][1]["bindings"]
            .as_array()
            .unwrap()
            .contains(&json!("SESSION"))
    );
    assert_eq!(bundle["migrations"]["pending"], json!([]));
    assert!(bundle["counts"]["tenants"].as_u64().unwrap() >= 2);
    let error = bundle["recent_errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request_id"] == request_id.as_str())
        .unwrap();
    assert_eq!(error["status"], 400);
    assert_eq!(error["route"], "/v1/agents");
    assert!(
        error["message"].as_str().unwrap().contains("[redacted]"),
        "{error}"
    );

    let text = bundle.to_string();
    for secret in [
        platform.api_key(),
        platform.root_secret(),
        tenant_key.as_str(),
        VAULT_SECRET,
        BEARER,
        PROVIDER_KEY,
        ECHOED,
    ] {
        assert!(
            !text.contains(secret),
            "the bundle holds a secret: {secret}"
        );
    }
}
