//! Per-tenant quotas: a tenant past its request rate or its number of
//! running sessions gets a 429 `rate_limit_error` with `retry-after`; other
//! tenants and the operator go on.

use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;

/// A new tenant's client.
async fn tenant(platform: &Platform, name: &str) -> Api {
    Api::new(platform).new_tenant(name).await.unwrap().0
}

fn assert_rate_limited(status: u16, headers: &reqwest::header::HeaderMap, body: &Value) {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_past_its_request_rate_gets_429_and_others_go_on() {
    let platform = Platform::builder()
        .env("TENANT_REQUESTS_PER_MINUTE", "12")
        .start()
        .unwrap();
    let acme = tenant(&platform, "acme").await;
    let other = tenant(&platform, "other").await;
    for i in 0..12 {
        let (status, body) = acme
            .call(reqwest::Method::GET, "/v1/agents", None)
            .await
            .unwrap();
        assert_eq!(status, 200, "request {i}: {body}");
    }
    let (status, headers, body) = acme
        .call_with_headers(reqwest::Method::GET, "/v1/agents", None)
        .await
        .unwrap();
    assert_rate_limited(status, &headers, &body);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("12 per minute"),
        "{body}"
    );
    // A refused write stores nothing.
    let (status, _) = acme
        .call(
            reqwest::Method::POST,
            "/v1/agents",
            Some(json!({"name": "refused", "model": "m"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 429);
    let (status, _) = other
        .call(reqwest::Method::GET, "/v1/agents", None)
        .await
        .unwrap();
    assert_eq!(status, 200, "another tenant has its own bucket");
    let operator = Api::new(&platform);
    for _ in 0..20 {
        let (status, _) = operator
            .call(reqwest::Method::GET, "/v1/agents", None)
            .await
            .unwrap();
        assert_eq!(status, 200, "the operator is not limited");
    }
    // The bucket refills at 12 a minute: one request every 5 s.
    let retry_after = headers["retry-after"].to_str().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (status, body) = acme
        .call(reqwest::Method::GET, "/v1/agents", None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        platform
            .output()
            .lines()
            .any(|l| l.contains("\"event\":\"quota_refused\"") && l.contains("\"requests\"")),
        "{}",
        platform.output()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_at_its_running_sessions_limit_cannot_start_another_turn() {
    let mock = MockModel::start().unwrap();
    // The first turn takes a few seconds.
    mock.push(Reply::Slow {
        message: Message::new().text("working"),
        delay: Duration::from_millis(700),
    });
    mock.push(Reply::text("second"));
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("TENANT_RUNNING_SESSIONS", "1")
        .start()
        .unwrap();
    let acme = tenant(&platform, "acme").await;
    let first = acme.session_with_agent(agent("one")).await.unwrap();
    let second = acme.session_with_agent(agent("two")).await.unwrap();
    let (first, second) = (
        first["id"].as_str().unwrap().to_owned(),
        second["id"].as_str().unwrap().to_owned(),
    );
    let mut stream = acme.stream(&first, None, "").await.unwrap();
    acme.send_message(&first, "take a while").await.unwrap();
    // The index shows the first session running within a moment.
    let deadline = Instant::now() + WAIT;
    loop {
        let page = acme
            .ok(
                reqwest::Method::GET,
                "/v1/sessions?statuses[]=running",
                None,
            )
            .await
            .unwrap();
        if page["data"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "the first session never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, headers, body) = acme
        .call_with_headers(
            reqwest::Method::POST,
            &format!("/v1/sessions/{second}/events"),
            Some(json!({"events": [{"type": "user.message", "content": [{"type": "text", "text": "me too"}]}]})),
        )
        .await
        .unwrap();
    assert_rate_limited(status, &headers, &body);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 1 sessions running"),
        "{body}"
    );
    assert!(
        acme.events(&second).await.unwrap().is_empty(),
        "nothing stored"
    );
    // What does not start a turn still goes through.
    acme.send(&second, json!([{"type": "user.interrupt"}]))
        .await
        .unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
    // Once the first is idle (and the index knows), the second may run.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = acme
            .call(
                reqwest::Method::POST,
                &format!("/v1/sessions/{second}/events"),
                Some(json!({"events": [{"type": "user.message", "content": [{"type": "text", "text": "now"}]}]})),
            )
            .await
            .unwrap();
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{body}");
        assert!(Instant::now() < deadline, "the second session never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
