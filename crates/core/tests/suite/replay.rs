use openma_core::HarnessError;
use openma_core::SessionState;
use openma_core::StepOutcome;
use openma_core::llm::ModelRequest;
use openma_core::testing::Script;
use openma_core::testing::TestSession;
use openma_core::testing::test_session;
use openma_core::testing::text_reply;
use openma_core::testing::tool_reply;
use openma_core::wire::ContentBlock;
use openma_core::wire::SessionEvent;
use openma_core::wire::UserEventParams;
use openma_core::wire::event::UserToolResultEvent;
use serde_json::json;

// Answers by conversation length, so a re-issued call gets the same reply.
fn responder(request: &ModelRequest) -> Script {
    match request.messages.len() {
        1 => tool_reply(&[
            (
                "toolu_a",
                "write",
                json!({"file_path": "f", "content": "1"}),
            ),
            ("toolu_b", "bash", json!({"command": "cat f"})),
        ]),
        3 => tool_reply(&[("toolu_c", "grep", json!({"pattern": "1"}))]),
        _ => text_reply("all done"),
    }
}

async fn scenario() -> TestSession {
    let session = test_session().build().await;
    session.model().respond_with(responder);
    session.send("work").await;
    session
}

async fn reference_log() -> (Vec<SessionEvent>, usize) {
    let session = scenario().await;
    let mut steps = 0;
    while let Ok(StepOutcome::Continue) = session.harness.step().await {
        steps += 1;
    }
    session.check_invariants();
    (session.events(), steps + 1)
}

#[tokio::test]
async fn replaying_the_log_derives_the_same_state() {
    let session = scenario().await;
    session.run().await;
    let live = session.harness.state().clone();
    let replayed = SessionState::replay("sesn_test", &session.events());
    assert_eq!(replayed, live);
}

#[tokio::test]
async fn restart_at_every_step_boundary_yields_the_same_log() {
    let (reference, steps) = reference_log().await;
    for crash_after in 0..=steps {
        let mut session = scenario().await;
        for _ in 0..crash_after {
            session.harness.step().await.unwrap();
        }
        session = session.restart().await;
        assert_eq!(session.run().await, StepOutcome::Idle);
        assert_eq!(
            session.events(),
            reference,
            "restart after step {crash_after}"
        );
        session.check_invariants();
        let calls = session.tools().calls();
        assert_eq!(
            calls.len(),
            3,
            "no tool runs twice (restart after step {crash_after})"
        );
    }
}

#[tokio::test]
async fn crash_at_every_append_yields_the_same_log_and_no_tool_runs_twice() {
    let (reference, _) = reference_log().await;
    let mut crashes = 0;
    for crash_at in 0.. {
        let mut session = scenario().await;
        session.store().crash_after_appends(Some(crash_at));
        match session.harness.run_until_blocked().await {
            Ok(StepOutcome::Idle) => break,
            Err(HarnessError::Store(_)) => crashes += 1,
            other => panic!("append {crash_at}: {other:?}"),
        }
        session.store().crash_after_appends(None);
        session = session.restart().await;
        assert_eq!(session.run().await, StepOutcome::Idle);
        assert_eq!(session.events(), reference, "crash at append {crash_at}");
        session.check_invariants();
        for id in session
            .tools()
            .calls()
            .iter()
            .map(|c| c.tool_use_id.clone())
        {
            assert_eq!(
                session.tools().executions(&id),
                1,
                "crash at append {crash_at}: {id} ran once"
            );
        }
    }
    assert!(
        crashes >= 8,
        "every append of the turn was a crash point ({crashes})"
    );
}

#[tokio::test]
async fn a_tool_call_without_result_is_dispatched_again_with_the_same_id() {
    let session = scenario().await;
    // running, span start, reply; then the first tool result append fails.
    session.store().crash_after_appends(Some(3));
    assert!(session.harness.run_until_blocked().await.is_err());
    session.store().crash_after_appends(None);
    let session = session.restart().await;
    session.run().await;

    let calls = session.tools().calls();
    assert_eq!(
        calls[0].tool_use_id, calls[1].tool_use_id,
        "re-dispatched with the same tool-use id"
    );
    assert_eq!(
        session.tools().executions(&calls[0].tool_use_id),
        1,
        "the sandbox answered from its record"
    );
}

#[tokio::test]
async fn a_model_call_cut_off_mid_stream_is_issued_again() {
    let session = scenario().await;
    // running, span start; then the reply append fails.
    session.store().crash_after_appends(Some(2));
    assert!(session.harness.run_until_blocked().await.is_err());
    session.store().crash_after_appends(None);
    let session = session.restart().await;
    session.run().await;

    let requests = session.model().requests();
    assert_eq!(requests[0], requests[1], "the same request is re-issued");
    session.check_invariants();
    assert_eq!(
        session.shape().matches("span.model_request_start").count(),
        3,
        "the open span is reused"
    );
}

async fn retrying_scenario() -> TestSession {
    let session = test_session()
        .with_script(Script::Fail(openma_core::llm::ModelError::new(
            openma_core::llm::ModelErrorKind::Overloaded,
            "busy",
        )))
        .with_script(tool_reply(&[(
            "toolu_x",
            "bash",
            json!({"command": "make"}),
        )]))
        .with_script(text_reply("built"))
        .build()
        .await;
    session.send("build it").await;
    session
}

// One driver step: a DO alarm fires at the requested time.
async fn drive(session: &TestSession) -> StepOutcome {
    let outcome = session
        .harness
        .step()
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    if let StepOutcome::WaitUntil(at) = outcome {
        session.clock().set(at);
    }
    outcome
}

#[tokio::test]
async fn restart_at_every_step_of_a_retried_turn_yields_the_same_log() {
    let reference = retrying_scenario().await;
    let mut steps = 0;
    while drive(&reference).await != StepOutcome::Idle {
        steps += 1;
    }
    reference.check_invariants();
    assert!(reference.shape().contains("session.status_rescheduled"));
    for crash_after in 0..=steps {
        let mut session = retrying_scenario().await;
        for _ in 0..crash_after {
            drive(&session).await;
        }
        session = session.restart().await;
        while drive(&session).await != StepOutcome::Idle {}
        assert_eq!(
            session.events(),
            reference.events(),
            "restart after step {crash_after}"
        );
        assert_eq!(session.tools().calls().len(), 1);
        session.check_invariants();
    }
}

#[tokio::test]
async fn the_call_after_a_tool_result_leaves_before_the_result_is_written() {
    use std::cell::RefCell;
    use std::rc::Rc;

    use openma_core::testing::request_shape;
    use openma_core::wire::EventPayload;

    let session = test_session().build().await;
    let store = session.store().clone();
    // For each model request: did the log hold a tool result when it left?
    let result_logged = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&result_logged);
    session.model().respond_with(move |request| {
        let logged = store
            .events()
            .iter()
            .any(|e| matches!(e.event.payload, EventPayload::AgentToolResult(_)));
        seen.borrow_mut().push(logged);
        match request.messages.len() {
            1 => tool_reply(&[("toolu_a", "bash", json!({"command": "true"}))]),
            _ => text_reply("done"),
        }
    });
    session.send("go").await;
    assert_eq!(session.run().await, StepOutcome::Idle);

    let requests = session.model().requests();
    assert_eq!(requests.len(), 2);
    assert!(
        request_shape(&requests[1]).contains("tool_result"),
        "{}",
        request_shape(&requests[1])
    );
    assert_eq!(*result_logged.borrow(), vec![false, false]);
    // The log ends as it always did: the result, then the second call's span.
    let types: Vec<&str> = session
        .events()
        .iter()
        .map(|e| e.event.type_name())
        .collect();
    let at = types
        .iter()
        .position(|t| *t == "agent.tool_result")
        .unwrap_or(usize::MAX);
    assert_eq!(types.get(at + 1), Some(&"span.model_request_start"));
    session.check_invariants();
}

// A self-hosted session: the client's worker answers the sandbox calls.
async fn hosted_scenario() -> TestSession {
    let session = test_session().self_hosted().build().await;
    session.model().respond_with(responder);
    session.send("work").await;
    session
}

/// The calls the session's latest idle waits on that have no result yet.
fn waited_on(events: &[SessionEvent]) -> Vec<String> {
    let events: Vec<serde_json::Value> = events
        .iter()
        .filter_map(|e| serde_json::to_value(&e.event).ok())
        .collect();
    let Some(idle) = events.iter().rfind(|e| e["type"] == "session.status_idle") else {
        return Vec::new();
    };
    let answered: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "user.tool_result")
        .filter_map(|e| e["tool_use_id"].as_str())
        .collect();
    idle["stop_reason"]["event_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str())
                .filter(|id| !answered.contains(id))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Drives the session to the end of its turn, answering what it waits on
/// as the worker would, and restarting the harness after step `restart_after`.
async fn drive_hosted(mut session: TestSession, mut restart_after: Option<usize>) -> TestSession {
    let mut steps = 0;
    loop {
        match session.harness.step().await {
            Ok(StepOutcome::Continue) => {}
            Ok(StepOutcome::Idle) => {
                let waiting = waited_on(&session.events());
                if waiting.is_empty() {
                    return session;
                }
                let results = waiting
                    .iter()
                    .map(|id| {
                        UserEventParams::UserToolResult(UserToolResultEvent {
                            tool_use_id: id.clone(),
                            content: Some(vec![ContentBlock::text(format!("ran {id}"))]),
                            is_error: None,
                            session_thread_id: None,
                        })
                    })
                    .collect();
                session.send_events(results).await;
            }
            other => panic!("unexpected {other:?}"),
        }
        steps += 1;
        if restart_after == Some(steps) {
            session = session.restart().await;
            restart_after = None;
        }
    }
}

#[tokio::test]
async fn a_restarted_self_hosted_session_waits_on_each_call_once() {
    let reference = drive_hosted(hosted_scenario().await, None).await;
    let log = reference.events();
    let kinds: Vec<String> = log
        .iter()
        .map(|e| {
            serde_json::to_value(&e.event).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "agent.tool_use").count(), 3);
    assert_eq!(kinds.iter().filter(|k| *k == "user.tool_result").count(), 3);
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("session.status_idle")
    );
    reference.check_invariants();
    for restart_after in 1..log.len() {
        let session = drive_hosted(hosted_scenario().await, Some(restart_after)).await;
        assert_eq!(
            session.events(),
            log,
            "restart after step {restart_after}: no call asked for twice or lost"
        );
        session.check_invariants();
        assert!(
            session.tools().calls().is_empty(),
            "nothing ran in the platform's sandbox"
        );
    }
}
