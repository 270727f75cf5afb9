use std::rc::Rc;

use openma_core::StepOutcome;
use openma_core::testing::ScriptItem;
use openma_core::testing::ev_completed;
use openma_core::testing::ev_started;
use openma_core::testing::ev_text;
use openma_core::testing::test_session;
use openma_core::testing::text_reply;
use openma_core::testing::tool_reply;
use openma_core::wire::EventPayload;
use openma_core::wire::SessionStatus;
use openma_core::wire::UserEventParams;
use openma_core::wire::event::UserInterruptEvent;
use serde_json::json;

fn interrupt_payload() -> EventPayload {
    EventPayload::UserInterrupt(UserInterruptEvent::default())
}

#[tokio::test]
async fn interrupt_while_the_model_streams_ends_the_turn_with_the_partial_text() {
    let session = test_session().build().await;
    let store = session.store().clone();
    let inject = ScriptItem::Hook(Rc::new(move || {
        store.inject_user_event("sesn_test", interrupt_payload())
    }));
    session.model().push(vec![
        ev_started(),
        ev_text("Let me th"),
        inject,
        ev_text("ink..."),
        ev_text(" never seen"),
        ev_completed(),
    ]);
    session.send("think hard").await;

    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"think hard\"
2 session.status_running
3 span.model_request_start
4 user.interrupt
5 agent.message \"Let me think...\"
6 span.model_request_end #3 in=10 out=0
7 session.status_idle end_turn"
    );
    assert!(
        session.events()[3].event.processed_at.is_some(),
        "the interrupt was processed"
    );
}

#[tokio::test]
async fn interrupt_while_a_tool_runs_closes_the_remaining_calls() {
    let session = test_session()
        .with_script(tool_reply(&[
            ("toolu_1", "bash", json!({"command": "sleep 100"})),
            ("toolu_2", "bash", json!({"command": "echo"})),
        ]))
        .build()
        .await;
    let store = session.store().clone();
    session
        .tools()
        .on_execute(move |_| store.inject_user_event("sesn_test", interrupt_payload()));
    session.send("run both").await;

    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"run both\"
2 session.status_running
3 span.model_request_start
4 agent.tool_use bash {\"command\":\"sleep 100\"} allow
5 agent.tool_use bash {\"command\":\"echo\"} allow
6 span.model_request_end #3 in=10 out=5
7 user.interrupt
8 agent.tool_result #4 \"bash ok\"
9 agent.tool_result #5 \"Interrupted by the user before the tool ran to completion.\" error
10 session.status_idle end_turn"
    );
    assert_eq!(
        session.tools().calls().len(),
        1,
        "the second tool never ran"
    );
    assert_eq!(
        session.model().requests().len(),
        1,
        "no model call after the interrupt"
    );
}

#[tokio::test]
async fn interrupt_jumps_the_queue_and_later_messages_start_a_new_turn() {
    let session = test_session()
        .with_script(tool_reply(&[("toolu_1", "bash", json!({"command": "ls"}))]))
        .with_script(text_reply("fresh start"))
        .build()
        .await;
    session.send("one").await;
    session.harness.step().await.unwrap();
    session.harness.step().await.unwrap();
    session
        .send_events(vec![
            UserEventParams::text("two"),
            UserEventParams::UserInterrupt(UserInterruptEvent::default()),
        ])
        .await;
    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    let shape = session.shape();
    assert!(
        shape.ends_with(
            "\
6 user.message \"two\"
7 user.interrupt
8 agent.tool_result #4 \"Interrupted by the user before the tool ran to completion.\" error
9 session.status_idle end_turn
10 session.status_running
11 span.model_request_start
12 agent.message \"fresh start\"
13 span.model_request_end #11 in=10 out=5
14 session.status_idle end_turn"
        ),
        "{shape}"
    );
    assert!(session.tools().calls().is_empty());
}

#[tokio::test]
async fn interrupt_while_awaiting_a_custom_tool_closes_the_call() {
    let session = test_session()
        .with_custom_tool("ask_human")
        .with_script(tool_reply(&[("toolu_1", "ask_human", json!({}))]))
        .with_script(text_reply("moving on"))
        .build()
        .await;
    session.send("need help").await;
    session.run().await;
    session
        .send_events(vec![UserEventParams::UserInterrupt(
            UserInterruptEvent::default(),
        )])
        .await;
    session.run().await;
    assert_eq!(session.harness.state().summary.status, SessionStatus::Idle);
    session.send("next").await;
    session.run().await;

    session.check_invariants();
    let request = session.model().requests().pop().unwrap();
    assert_eq!(
        request.messages.len(),
        3,
        "the open custom call got a synthetic result"
    );
}

#[tokio::test]
async fn interrupt_on_an_idle_session_is_a_no_op() {
    let session = test_session().build().await;
    session
        .send_events(vec![UserEventParams::UserInterrupt(
            UserInterruptEvent::default(),
        )])
        .await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    assert_eq!(session.shape(), "1 user.interrupt");
    session.check_invariants();
    assert_eq!(session.harness.state().summary.status, SessionStatus::Idle);
}

#[tokio::test]
async fn interrupt_submitted_through_the_harness_while_streaming_stops_the_turn() {
    let session = test_session().build().await;
    session.model().push(vec![
        ev_started(),
        ev_text("Work"),
        ScriptItem::Yield,
        ev_text("ing"),
        ScriptItem::Yield,
        ev_completed(),
    ]);
    session.send("go").await;
    let interrupt = async {
        session
            .harness
            .submit(vec![UserEventParams::UserInterrupt(
                UserInterruptEvent::default(),
            )])
            .await
            .unwrap();
    };
    let (outcome, ()) = tokio::join!(session.harness.run_until_blocked(), interrupt);
    assert_eq!(outcome.unwrap(), StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"go\"
2 session.status_running
3 span.model_request_start
4 user.interrupt
5 agent.message \"Working\"
6 span.model_request_end #3 in=10 out=0
7 session.status_idle end_turn"
    );
}

#[tokio::test]
async fn only_one_step_runs_at_a_time() {
    let session = test_session().build().await;
    session.model().push(vec![
        ev_started(),
        ScriptItem::Yield,
        ev_text("ok"),
        ev_completed(),
    ]);
    session.send("go").await;
    session.harness.step().await.unwrap();
    let (first, second) = tokio::join!(session.harness.step(), session.harness.step());
    assert_eq!(first.unwrap(), StepOutcome::Idle);
    assert!(matches!(
        second,
        Err(openma_core::HarnessError::StepInProgress)
    ));
    session.check_invariants();
}
