//! Reads stay reads: after a restart, listing sessions at rest does not wake
//! their session objects (the index holds them whole), and reading a session
//! or its events wakes its object without replaying its log. The first
//! command that changes the session replays it.

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

/// A session as the API returns it, without the figures that move with the
/// clock alone (its age).
fn steady(session: &Value) -> Value {
    let mut session = session.clone();
    session["stats"]
        .as_object_mut()
        .expect("stats")
        .remove("duration_seconds");
    session
}

/// Log lines of `event` about session `id`.
fn lines(platform: &Platform, event: &str, id: &str) -> Vec<String> {
    platform
        .output()
        .lines()
        .filter(|l| l.contains(&format!("\"event\":\"{event}\"")) && l.contains(id))
        .map(str::to_owned)
        .collect()
}

/// The copy of each of `ids` that `GET /v1/sessions?{query}` lists (None
/// where it is not listed).
async fn listed(api: &Api, query: &str, ids: &[String]) -> Vec<Option<Value>> {
    let page = api
        .ok(reqwest::Method::GET, &format!("/v1/sessions?{query}"), None)
        .await
        .unwrap();
    let data = page["data"].as_array().unwrap();
    ids.iter()
        .map(|id| data.iter().find(|s| s["id"] == id.as_str()).map(steady))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_after_a_restart_neither_wake_idle_sessions_nor_replay_their_logs() {
    let mock = MockModel::start().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut first = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .state_dir(state.path())
        .start()
        .unwrap();
    let api = Api::new(&first);
    let mut ids = Vec::new();
    let mut before = Vec::new();
    for (name, turns) in [("reader-a", 2), ("reader-b", 1)] {
        let session = api.session_with_agent(agent(name)).await.unwrap();
        let id = session["id"].as_str().unwrap().to_owned();
        let mut stream = api.stream(&id, None, "").await.unwrap();
        for turn in 0..turns {
            mock.push(Reply::text(&format!("answer {turn}")));
            api.send_message(&id, "hello").await.unwrap();
            stream.until("session.status_idle", WAIT).await.unwrap();
        }
        // A change to the record reaches the index too.
        api.ok(
            reqwest::Method::POST,
            &format!("/v1/sessions/{id}"),
            Some(json!({"title": format!("{name} titled"), "metadata": {"team": "ops"}})),
        )
        .await
        .unwrap();
        ids.push(id);
    }
    for id in &ids {
        let session = api
            .ok(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
            .await
            .unwrap();
        assert_eq!(session["status"], "idle");
        assert!(session["usage"]["output_tokens"].as_u64().unwrap() > 0);
        before.push(Some(steady(&session)));
    }
    // The index learns each session's rest as its turn ends: listed by the
    // index's status, each agrees with the session's own answer.
    let deadline = Instant::now() + WAIT;
    while listed(&api, "statuses[]=idle&limit=100", &ids).await != before {
        assert!(Instant::now() < deadline, "the index never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.stop();

    let second = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .state_of(&first)
        .start()
        .unwrap();
    let api = Api::new(&second);

    // The list is served from the index: the same sessions, field for
    // field, and not one session object woken.
    assert_eq!(listed(&api, "limit=100", &ids).await, before);

    // Reading a session and its events wakes its object, and nothing more:
    // the answer comes from the log's summary, not from a replay.
    let (id, expected) = (&ids[0], before[0].as_ref().unwrap());
    let session = api
        .ok(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    assert_eq!(&steady(&session), expected);
    let events = api.events(id).await.unwrap();
    assert!(events.len() >= 10, "two turns' events: {events:#?}");
    // Worker logs reach the platform's output a little after the requests:
    // once the read's activation line is there, any line the list caused
    // before it is too.
    let deadline = Instant::now() + WAIT;
    while lines(&second, "session_activated", id).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the read's activation was never logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines(&second, "session_activated", id).len(), 1);
    assert!(
        lines(&second, "session_activated", &ids[1]).is_empty(),
        "listing woke {}",
        ids[1]
    );
    assert!(
        lines(&second, "session_replayed", id).is_empty(),
        "a read replayed the log"
    );

    // The next turn replays it once, and adds to the same totals.
    mock.push(Reply::text("after the restart"));
    let mut stream = api.stream(id, None, "").await.unwrap();
    api.send_message(id, "again").await.unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while lines(&second, "session_replayed", id).is_empty() {
        assert!(Instant::now() < deadline, "the replay was never logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replayed = lines(&second, "session_replayed", id);
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    let after = api
        .ok(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    assert!(
        after["usage"]["output_tokens"].as_u64().unwrap()
            > expected["usage"]["output_tokens"].as_u64().unwrap()
    );
}
