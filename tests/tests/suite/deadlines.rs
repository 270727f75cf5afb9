//! Every outbound call has a deadline, and an interrupt ends a stalled call
//! at once: a model stream that stops sending, a tool call the sandbox does
//! not answer in time.

use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;

/// A model stream that would take minutes: one frame every 30 s.
fn stalled() -> Reply {
    Reply::Slow {
        message: Message::new().text("never finished"),
        delay: Duration::from_secs(30),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_model_stream_is_cut_at_its_deadline_and_retried() {
    let mock = MockModel::start().unwrap();
    mock.push(stalled());
    mock.push(Reply::text("Recovered."));
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("MODEL_IDLE_TIMEOUT_MS", "1500")
        .env("MODEL_RETRY_BASE_MS", "100")
        .start()
        .unwrap();
    let api = Api::new(&platform);
    let id = api.session_with_agent(agent("patient")).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();
    let started = Instant::now();
    api.send_message(&id, "hello").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let error = frames
        .iter()
        .find(|f| f.event == "session.error")
        .expect("the stalled call is reported");
    assert_eq!(error.data["error"]["type"], "model_request_failed_error");
    assert_eq!(error.data["error"]["retry_status"]["type"], "retrying");
    let message = error.data["error"]["message"].as_str().unwrap();
    assert!(message.contains("within 1500 ms"), "{message}");
    let reply = frames.iter().find(|f| f.event == "agent.message").unwrap();
    assert_eq!(reply.data["content"][0]["text"], "Recovered.");
    let idle = frames.last().unwrap();
    assert_eq!(idle.data["stop_reason"]["type"], "end_turn");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_ends_a_stalled_model_call_and_a_long_tool_call_at_once() {
    let mock = MockModel::start().unwrap();
    // Deadlines at their defaults (minutes): only the interrupt ends these.
    mock.push(stalled());
    mock.push(Reply::tool_use(
        "toolu_long",
        "bash",
        json!({"command": "sleep 60", "timeout_ms": 120000}),
    ));
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .start()
        .unwrap();
    let api = Api::new(&platform);
    let id = api
        .session_with_agent(agent("interruptible"))
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();

    for (calls, (prompt, waiting_on)) in [
        ("talk slowly", "span.model_request_start"),
        ("run something long", "agent.tool_use"),
    ]
    .into_iter()
    .enumerate()
    {
        api.send_message(&id, prompt).await.unwrap();
        stream.until(waiting_on, WAIT).await.unwrap();
        // A span is recorded before its request leaves: interrupt once the
        // model has this turn's call.
        let deadline = Instant::now() + WAIT;
        while mock.requests().len() <= calls {
            assert!(Instant::now() < deadline, "the model was never called");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let interrupted = Instant::now();
        api.send(&id, json!([{"type": "user.interrupt"}]))
            .await
            .unwrap();
        let frames = stream.until("session.status_idle", WAIT).await.unwrap();
        let took = interrupted.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "{prompt}: the interrupt took {took:?}"
        );
        assert_eq!(
            frames.last().unwrap().data["stop_reason"]["type"],
            "end_turn"
        );
        assert!(
            !frames.iter().any(|f| f.event == "session.error"),
            "{frames:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_past_its_deadline_is_retried_and_runs_once() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_slow",
        "bash",
        json!({"command": "echo run >> /workspace/runs; sleep 3; wc -l < /workspace/runs"}),
    ));
    mock.push(Reply::text("Done."));
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("TOOL_CALL_TIMEOUT_MS", "1000")
        .start()
        .unwrap();
    let api = Api::new(&platform);
    let id = api.session_with_agent(agent("slow-tools")).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "run it").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let result = frames
        .iter()
        .find(|f| f.event == "agent.tool_result")
        .unwrap();
    // The call ran once: its repeat after the deadline got its result.
    assert_eq!(result.data["content"][0]["text"], "1", "{:#?}", result.data);
    assert_eq!(
        frames.last().unwrap().data["stop_reason"]["type"],
        "end_turn"
    );
    assert!(
        platform
            .output()
            .lines()
            .any(|l| l.contains("session_driver_failure")
                && l.contains("did not answer the tool call within 1000 ms")),
        "{}",
        platform.output()
    );
}
