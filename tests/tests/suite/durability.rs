//! Nothing is lost: a dropped stream resumes with Last-Event-ID, many
//! subscribers see the same log, and a platform killed mid-turn finishes the
//! turn after a restart with no duplicated event and no tool run twice.

use std::collections::HashSet;
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
use super::sessions::find_file;
use super::sessions::start;

async fn wait_idle(api: &Api, id: &str) -> Value {
    let deadline = Instant::now() + WAIT * 3;
    loop {
        let session = api
            .ok(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
            .await
            .unwrap();
        let events = api.events(id).await.unwrap();
        let idle = events
            .last()
            .is_some_and(|e| e["type"] == "session.status_idle");
        if session["status"] == "idle" && idle {
            return session;
        }
        assert!(
            Instant::now() < deadline,
            "the session did not go idle: {session:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_unique_and_contiguous(events: &[Value]) {
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "duplicated events");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_stream_resumes_with_last_event_id_missing_nothing() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_1",
        "bash",
        json!({"command": "echo one"}),
    ));
    mock.push(Reply::tool_use(
        "toolu_2",
        "bash",
        json!({"command": "echo two"}),
    ));
    mock.push(Reply::text("Both done."));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let session = api.session_with_agent(agent("resumer")).await.unwrap();
    let id = session["id"].as_str().unwrap();

    let mut stream = api.stream(id, None, "").await.unwrap();
    api.send_message(id, "Run two commands").await.unwrap();
    let before = stream.until("agent.tool_result", WAIT).await.unwrap();
    let last_seen = before.last().and_then(|f| f.id).unwrap();
    stream.disconnect();

    // The turn goes on without the client.
    wait_idle(&api, id).await;
    let mut resumed = api.stream(id, Some(last_seen), "").await.unwrap();
    let after = resumed.until("session.status_idle", WAIT).await.unwrap();
    assert!(after.iter().all(|f| f.id.unwrap() > last_seen));

    let received: Vec<String> = before
        .iter()
        .chain(after.iter())
        .map(|f| f.data["id"].as_str().unwrap().to_owned())
        .collect();
    let listed: Vec<String> = api
        .events(id)
        .await
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(received, listed, "every event exactly once, in order");

    // The query parameter works like the header.
    let mut by_query = api
        .stream(id, None, &format!("?last_event_id={last_seen}"))
        .await
        .unwrap();
    let again = by_query.until("session.status_idle", WAIT).await.unwrap();
    assert_eq!(again.len(), after.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_subscribers_receive_the_same_sequence() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_1",
        "bash",
        json!({"command": "echo fan"}),
    ));
    mock.push(Reply::Message(Message::new().text("Fanned out.")));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let session = api.session_with_agent(agent("fanout")).await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let mut streams = Vec::new();
    for _ in 0..50 {
        streams.push(api.stream(&id, None, "").await.unwrap());
    }
    api.send_message(&id, "Tell everyone").await.unwrap();
    let mut sequences = Vec::new();
    for stream in &mut streams {
        let frames = stream.until("session.status_idle", WAIT).await.unwrap();
        sequences.push(frames.iter().map(|f| f.id.unwrap()).collect::<Vec<u64>>());
    }
    let listed: Vec<u64> = (1..=api.events(&id).await.unwrap().len() as u64).collect();
    for sequence in &sequences {
        assert_eq!(sequence, &listed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_platform_killed_mid_turn_finishes_the_turn_after_restart() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_1",
        "bash",
        json!({"command": "echo ran >> runs.txt"}),
    ));
    // The second model call streams slowly; the platform dies during it.
    mock.push(Reply::Slow {
        message: Message::new().text("This reply never completes."),
        delay: Duration::from_millis(400),
    });
    mock.push(Reply::text("Finished after the restart."));
    let state = tempfile::tempdir().unwrap();
    let mut first = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .state_dir(state.path())
        .start()
        .unwrap();
    let api = Api::new(&first);
    let session = api.session_with_agent(agent("survivor")).await.unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "Run once, then talk").await.unwrap();
    stream.until("agent.tool_result", WAIT).await.unwrap();
    stream
        .until("span.model_request_start", WAIT)
        .await
        .unwrap();
    // Wait until the slow reply is being read, then kill everything.
    let deadline = Instant::now() + WAIT;
    while mock.requests().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the second model call never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.stop();

    let second = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .state_of(&first)
        .start()
        .unwrap();
    let api = Api::new(&second);
    let done = wait_idle(&api, &id).await;
    assert_eq!(done["status"], "idle");

    let events = api.events(&id).await.unwrap();
    assert_unique_and_contiguous(&events);
    let results = events
        .iter()
        .filter(|e| e["type"] == "agent.tool_result")
        .count();
    assert_eq!(results, 1, "the tool ran once: {events:#?}");
    let last_message = events
        .iter()
        .rev()
        .find(|e| e["type"] == "agent.message")
        .unwrap();
    assert_eq!(
        last_message["content"][0]["text"],
        "Finished after the restart."
    );
    let runs = find_file(&state.path().join("sandbox"), "runs.txt").expect("runs.txt");
    assert_eq!(
        std::fs::read_to_string(runs).unwrap(),
        "ran\n",
        "the command ran exactly once"
    );
    assert_eq!(
        mock.requests().len(),
        3,
        "the interrupted model call was issued again"
    );
}
