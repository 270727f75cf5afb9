//! Outbound webhooks: a session going running and idle reaches a loopback
//! receiver as signed Standard Webhooks deliveries that the official SDK's
//! `client.beta.webhooks.unwrap` accepts; a failing receiver is retried
//! under the same `webhook-id`; a redirect disables the endpoint.

use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock_receiver::MockReceiver;
use openma_e2e::mock_receiver::Received;
use openma_e2e::python;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;

const BETA: &str = "managed-agents-2026-04-01,webhooks-2026-10-07";

fn platform(mock: &MockModel) -> Platform {
    Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("WEBHOOK_RETRY_BASE_MS", "200")
        .start()
        .unwrap()
}

/// Registers `url` for `events`; returns the endpoint (with its secret).
async fn endpoint(api: &Api, url: &str, events: &[&str]) -> Value {
    api.ok(
        reqwest::Method::POST,
        "/v1/organizations/webhooks",
        Some(json!({"url": url, "enabled_events": events, "name": "receiver"})),
    )
    .await
    .unwrap()
}

/// Runs the SDK's `unwrap` on each delivery with `secret`.
fn unwrap(platform: &Platform, secret: &str, deliveries: &[Received]) -> Vec<Value> {
    let file = tempfile::NamedTempFile::new().unwrap();
    let request = json!({
        "secret": secret,
        "deliveries": deliveries
            .iter()
            .map(|d| json!({"body": d.body, "headers": d.headers}))
            .collect::<Vec<_>>(),
    });
    std::fs::write(file.path(), request.to_string()).unwrap();
    let out = python::run_script(
        platform,
        platform.api_key(),
        "webhooks_unwrap.py",
        &[file.path().to_str().unwrap()],
    )
    .unwrap();
    python::summary(&out).unwrap()["events"]
        .as_array()
        .cloned()
        .unwrap()
}

async fn run_turn(api: &Api) -> String {
    let session = api.session_with_agent(agent("hooked")).await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "hello").await.unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_going_running_and_idle_is_delivered_signed_for_the_sdk() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::text("Hi."));
    let platform = platform(&mock);
    let api = Api::new(&platform).with_beta(BETA);
    let receiver = MockReceiver::start().unwrap();
    let created = endpoint(
        &api,
        &receiver.url(),
        &["session.status_run_started", "session.status_idled"],
    )
    .await;
    let secret = created["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    let id = run_turn(&api).await;
    let got = receiver.wait_for(2, WAIT).await.unwrap();
    let types: Vec<Value> = got
        .iter()
        .map(|d| d.json()["data"]["type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            json!("session.status_run_started"),
            json!("session.status_idled")
        ]
    );
    for delivery in &got {
        let body = delivery.json();
        assert_eq!(body["type"], "event");
        assert_eq!(body["data"]["id"], id.as_str());
        assert_eq!(delivery.headers["webhook-id"], body["id"].as_str().unwrap());
        assert!(delivery.headers["webhook-signature"].starts_with("v1,"));
        assert!(!delivery.body.contains(&secret));
    }

    // The SDK accepts them, and refuses a tampered one and another key.
    let mut tampered = got[0].clone();
    tampered.body = tampered.body.replace("status_run_started", "status_idled");
    let mut deliveries = got.clone();
    deliveries.push(tampered);
    let events = unwrap(&platform, &secret, &deliveries);
    assert_eq!(events[0]["ok"], true, "{events:#?}");
    assert_eq!(events[0]["data_type"], "session.status_run_started");
    assert_eq!(events[0]["data_id"], id.as_str());
    assert_eq!(events[1]["ok"], true, "{events:#?}");
    assert_eq!(events[1]["data_type"], "session.status_idled");
    assert_eq!(events[2]["ok"], false, "{events:#?}");
    let other = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    assert_eq!(unwrap(&platform, other, &got[..1])[0]["ok"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_receiver_is_retried_under_the_same_id_and_a_redirect_disables_it() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::text("One."));
    mock.push(Reply::text("Two."));
    let platform = platform(&mock);
    let api = Api::new(&platform).with_beta(BETA);
    let receiver = MockReceiver::start().unwrap();
    let created = endpoint(&api, &receiver.url(), &["session.status_idled"]).await;
    let secret = created["signing_secret"].as_str().unwrap().to_owned();

    receiver.answer(503);
    receiver.answer(500);
    run_turn(&api).await;
    let got = receiver.wait_for(3, WAIT).await.unwrap();
    let statuses: Vec<u16> = got.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [503, 500, 200]);
    assert!(
        got.iter()
            .all(|d| d.headers["webhook-id"] == got[0].headers["webhook-id"])
    );
    assert!(got.iter().all(|d| d.body == got[0].body));
    let events = unwrap(&platform, &secret, &got);
    assert!(events.iter().all(|e| e["ok"] == true), "{events:#?}");

    // A redirect disables the endpoint at once; later events are not sent.
    receiver.answer(302);
    run_turn(&api).await;
    receiver.wait_for(4, WAIT).await.unwrap();
    let id = created["id"].as_str().unwrap();
    let deadline = Instant::now() + WAIT;
    let disabled = loop {
        let current = api
            .ok(
                reqwest::Method::GET,
                &format!("/v1/organizations/webhooks/{id}"),
                None,
            )
            .await
            .unwrap();
        if current["state"] == "disabled" {
            break current;
        }
        assert!(Instant::now() < deadline, "not disabled: {current:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("redirect"),
        "{disabled:#}"
    );
    assert!(disabled.get("signing_secret").is_none());

    // An event while it is disabled is never delivered: another endpoint,
    // queued in the same pass, gets it; the disabled one does not.
    let witness = MockReceiver::start().unwrap();
    endpoint(&api, &witness.url(), &["session.status_idled"]).await;
    mock.push(Reply::text("Three."));
    let third = run_turn(&api).await;
    let seen = witness.wait_for(1, WAIT).await.unwrap();
    assert_eq!(seen[0].json()["data"]["id"], third.as_str());
    assert_eq!(receiver.received().len(), 4);

    // Enabled again, it clears the reason and gets the next events.
    let enabled = api
        .ok(
            reqwest::Method::POST,
            &format!("/v1/organizations/webhooks/{id}"),
            Some(json!({"state": "enabled"})),
        )
        .await
        .unwrap();
    assert_eq!(enabled["disabled_reason"], "");
    mock.push(Reply::text("Four."));
    let fourth = run_turn(&api).await;
    let got = receiver.wait_for(5, WAIT).await.unwrap();
    assert_eq!(got[4].json()["data"]["id"], fourth.as_str());
}
