//! Archive, delete, previews, heartbeats, large payloads, and the ops log.

use std::time::Duration;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;
use super::sessions::start;

#[tokio::test(flavor = "multi_thread")]
async fn archive_makes_a_session_read_only_and_delete_ends_its_streams() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_1",
        "bash",
        json!({"command": "echo sandbox > gone.txt"}),
    ));
    mock.push(Reply::text("ok"));
    let platform = start(&mock);
    let api = Api::new(&platform);

    let archived = api.session_with_agent(agent("archivist")).await.unwrap();
    let id = archived["id"].as_str().unwrap();
    let after = api
        .ok(
            reqwest::Method::POST,
            &format!("/v1/sessions/{id}/archive"),
            None,
        )
        .await
        .unwrap();
    assert!(after["archived_at"].is_string(), "{after:#}");
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/v1/sessions/{id}/events"),
            Some(json!({"events": [{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("archived")
    );
    assert!(body["request_id"].as_str().unwrap().starts_with("req_"));
    // Archived sessions leave the default listing but not include_archived.
    let listed = api
        .ok(reqwest::Method::GET, "/v1/sessions", None)
        .await
        .unwrap();
    assert!(!listed.to_string().contains(id));
    let listed = api
        .ok(
            reqwest::Method::GET,
            "/v1/sessions?include_archived=true",
            None,
        )
        .await
        .unwrap();
    assert!(listed.to_string().contains(id));

    let doomed = api.session_with_agent(agent("doomed")).await.unwrap();
    let id = doomed["id"].as_str().unwrap();
    let mut stream = api.stream(id, None, "").await.unwrap();
    api.send_message(id, "leave a file").await.unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
    let deleted = api
        .ok(reqwest::Method::DELETE, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    assert_eq!(deleted, json!({"id": id, "type": "session_deleted"}));
    let frame = stream.next(WAIT).await.unwrap();
    assert_eq!(frame.event, "session.deleted");
    assert!(
        stream.ended(WAIT).await,
        "the stream ends after session.deleted"
    );
    let (status, body) = api
        .call(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 404, "{body:#}");
    assert_eq!(body["error"]["type"], "not_found_error");
    let (status, _) = api
        .call(
            reqwest::Method::GET,
            &format!("/v1/sessions/{id}/events"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn previews_heartbeats_large_payloads_and_ops_logs() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::Message(
        Message::new().text("Streaming in small pieces for previews."),
    ));
    mock.push(Reply::text("Big one received."));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let session = api.session_with_agent(agent("previewer")).await.unwrap();
    let id = session["id"].as_str().unwrap();

    // A stream that asks for agent.message previews gets event_start, then
    // deltas that concatenate to the final text, then the message itself.
    let mut stream = api
        .stream(id, None, "?event_deltas%5B%5D=agent.message")
        .await
        .unwrap();
    api.send_message(id, "Stream it").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let start = frames
        .iter()
        .position(|f| f.event == "event_start")
        .expect("event_start");
    let message_at = frames
        .iter()
        .position(|f| f.event == "agent.message")
        .unwrap();
    assert!(start < message_at);
    let previewed = frames[start].data["event"]["id"].clone();
    assert_eq!(frames[message_at].data["id"], previewed);
    let text: String = frames
        .iter()
        .filter(|f| f.event == "event_delta")
        .map(|f| {
            assert_eq!(f.data["event_id"], previewed);
            assert!(f.id.is_none(), "previews carry no id");
            f.data["delta"]["content"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "Streaming in small pieces for previews.");

    // Bad event_deltas values are refused.
    let (status, _) = api
        .call(
            reqwest::Method::GET,
            &format!("/v1/sessions/{id}/events/stream?event_deltas%5B%5D=user.message"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 400);

    // A message far larger than a storage row is kept whole (spilled to R2).
    let big = "x".repeat(600 * 1024);
    api.send_message(id, &big).await.unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
    let events = api.events(id).await.unwrap();
    let stored = events
        .iter()
        .filter(|e| e["type"] == "user.message")
        .nth(1)
        .expect("the big message");
    assert_eq!(
        stored["content"][0]["text"].as_str().unwrap().len(),
        big.len()
    );
    assert!(mock.requests()[1].body.to_string().contains(&big));

    // Heartbeats keep an idle stream alive: a fresh stream on the idle
    // session hears a ping within 15 s.
    let mut quiet = api.stream(id, None, "").await.unwrap();
    let ping = quiet
        .next_raw(Duration::from_secs(17))
        .await
        .expect("a ping frame");
    assert_eq!(ping.event, "ping");

    // One structured line per lifecycle transition, with the session and
    // tenant; no secret anywhere in the platform's output.
    let output = platform.output();
    let transitions: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("\"event\":\"session_status\"") && l.contains(id))
        .collect();
    assert!(transitions.len() >= 4, "{output}");
    assert!(
        transitions
            .iter()
            .all(|l| l.contains("\"tenant_id\":\"default\""))
    );
    // (`xtask dev`'s own ready line prints the operator's key, by design.)
    let logs: String = output
        .lines()
        .filter(|l| !l.starts_with("openma ready "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !logs.contains(platform.api_key()),
        "the API key leaked into the logs"
    );
    assert!(
        !logs.contains(platform.root_secret()),
        "the root secret leaked into the logs"
    );
    assert!(
        !logs.contains("sk-ant-test-not-a-real-key"),
        "the model key leaked into the logs"
    );
}
