use openma_core::HarnessError;
use openma_core::StepOutcome;
use openma_core::llm::Part;
use openma_core::testing::test_session;
use openma_core::testing::text_reply;
use openma_core::testing::tool_reply;
use openma_core::wire::ContentBlock;
use openma_core::wire::PermissionPolicy;
use openma_core::wire::StopReason;
use openma_core::wire::UserEventParams;
use openma_core::wire::event::ConfirmationResult;
use openma_core::wire::event::UserCustomToolResultEvent;
use openma_core::wire::event::UserToolConfirmationEvent;
use serde_json::json;

fn confirm(
    tool_use_id: &str,
    result: ConfirmationResult,
    deny_message: Option<&str>,
) -> UserEventParams {
    UserEventParams::UserToolConfirmation(UserToolConfirmationEvent {
        tool_use_id: tool_use_id.to_owned(),
        result,
        deny_message: deny_message.map(str::to_owned),
        session_thread_id: None,
    })
}

fn custom_result(id: &str, text: &str) -> UserEventParams {
    UserEventParams::UserCustomToolResult(UserCustomToolResultEvent {
        custom_tool_use_id: id.to_owned(),
        content: Some(vec![ContentBlock::text(text)]),
        is_error: None,
        session_thread_id: None,
    })
}

#[tokio::test]
async fn custom_tool_round_trip_goes_idle_then_resumes() {
    let session = test_session()
        .with_custom_tool("get_weather")
        .with_script(tool_reply(&[(
            "toolu_1",
            "get_weather",
            json!({"city": "Paris"}),
        )]))
        .with_script(text_reply("It is sunny."))
        .build()
        .await;
    session.send("weather?").await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    let state_stop = session.harness.state().last_stop.clone();
    let custom_id = session.event_id(4);
    assert_eq!(
        state_stop,
        Some(StopReason::RequiresAction {
            event_ids: vec![custom_id.clone()]
        })
    );

    let echo = session
        .send_events(vec![custom_result(&custom_id, "sunny, 24C")])
        .await;
    assert!(
        echo[0].processed_at.is_some(),
        "custom tool results are processed on receipt"
    );
    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"weather?\"
2 session.status_running
3 span.model_request_start
4 agent.custom_tool_use get_weather {\"city\":\"Paris\"}
5 span.model_request_end #3 in=10 out=5
6 session.status_idle requires_action [#4]
7 user.custom_tool_result #4 \"sunny, 24C\"
8 session.status_running
9 span.model_request_start
10 agent.message \"It is sunny.\"
11 span.model_request_end #9 in=10 out=5
12 session.status_idle end_turn"
    );
    assert!(
        session.tools().calls().is_empty(),
        "custom tools never reach the sandbox"
    );
    let request = &session.model().requests()[1];
    assert!(
        matches!(&request.messages[2].content[0], Part::ToolResult { tool_use_id, .. } if *tool_use_id == custom_id)
    );
}

#[tokio::test]
async fn always_ask_allow_runs_the_tool_after_confirmation() {
    let session = test_session()
        .with_tool_policy("bash", PermissionPolicy::AlwaysAsk)
        .with_script(tool_reply(&[(
            "toolu_1",
            "bash",
            json!({"command": "make"}),
        )]))
        .with_script(text_reply("built"))
        .build()
        .await;
    session.send("build").await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    assert!(
        session.tools().calls().is_empty(),
        "nothing runs before the confirmation"
    );
    let tool_use = session.event_id(4);

    session
        .send_events(vec![confirm(&tool_use, ConfirmationResult::Allow, None)])
        .await;
    session.run().await;

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"build\"
2 session.status_running
3 span.model_request_start
4 agent.tool_use bash {\"command\":\"make\"} ask
5 span.model_request_end #3 in=10 out=5
6 session.status_idle requires_action [#4]
7 user.tool_confirmation #4 allow
8 session.status_running
9 agent.tool_result #4 \"bash ok\"
10 span.model_request_start
11 agent.message \"built\"
12 span.model_request_end #10 in=10 out=5
13 session.status_idle end_turn"
    );
    let evaluation = session.events()[3].event.clone();
    let json = serde_json::to_value(&evaluation).unwrap();
    assert_eq!(json["evaluated_permission"], "ask");
    assert_eq!(json["evaluation"], json!({"type": "always_ask"}));
}

#[tokio::test]
async fn always_ask_deny_sends_the_deny_message_to_the_agent() {
    let session = test_session()
        .with_tool_policy("bash", PermissionPolicy::AlwaysAsk)
        .with_script(tool_reply(&[(
            "toolu_1",
            "bash",
            json!({"command": "rm -rf /"}),
        )]))
        .with_script(text_reply("ok, I won't"))
        .build()
        .await;
    session.send("clean up").await;
    session.run().await;
    let tool_use = session.event_id(4);
    session
        .send_events(vec![confirm(
            &tool_use,
            ConfirmationResult::Deny,
            Some("too dangerous"),
        )])
        .await;
    session.run().await;

    session.check_invariants();
    assert!(
        session.tools().calls().is_empty(),
        "a denied tool never runs"
    );
    let shape = session.shape();
    assert!(shape.contains("7 user.tool_confirmation #4 deny \"too dangerous\"\n8 session.status_running\n9 agent.tool_result #4 \"The user denied this tool call: too dangerous\" error"), "{shape}");
    let request = &session.model().requests()[1];
    let Part::ToolResult {
        content, is_error, ..
    } = &request.messages[2].content[0]
    else {
        panic!("expected a tool result")
    };
    assert!(is_error);
    assert!(content[0].as_text().unwrap().contains("too dangerous"));
}

#[tokio::test]
async fn partial_resolution_re_emits_idle_with_the_remaining_ids() {
    let session = test_session()
        .with_tool_policy("bash", PermissionPolicy::AlwaysAsk)
        .with_custom_tool("lookup")
        .with_script(tool_reply(&[
            ("toolu_1", "bash", json!({"command": "ls"})),
            ("toolu_2", "lookup", json!({"q": "x"})),
        ]))
        .with_script(text_reply("done"))
        .build()
        .await;
    session.send("go").await;
    session.run().await;
    let (bash, lookup) = (session.event_id(4), session.event_id(5));

    session
        .send_events(vec![confirm(&bash, ConfirmationResult::Allow, None)])
        .await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    session
        .send_events(vec![custom_result(&lookup, "found")])
        .await;
    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"go\"
2 session.status_running
3 span.model_request_start
4 agent.tool_use bash {\"command\":\"ls\"} ask
5 agent.custom_tool_use lookup {\"q\":\"x\"}
6 span.model_request_end #3 in=10 out=5
7 session.status_idle requires_action [#4,#5]
8 user.tool_confirmation #4 allow
9 session.status_idle requires_action [#5]
10 user.custom_tool_result #5 \"found\"
11 session.status_running
12 agent.tool_result #4 \"bash ok\"
13 span.model_request_start
14 agent.message \"done\"
15 span.model_request_end #13 in=10 out=5
16 session.status_idle end_turn"
    );
}

#[tokio::test]
async fn confirmations_for_unknown_tool_uses_are_rejected_with_the_field() {
    let session = test_session().build().await;
    let err = session
        .harness
        .submit(vec![confirm("sevt_nope", ConfirmationResult::Allow, None)])
        .await
        .unwrap_err();
    match err {
        HarnessError::Rejected(err) => assert_eq!(err.path, "events[0].tool_use_id"),
        other => panic!("unexpected {other}"),
    }
    let err = session
        .harness
        .submit(vec![custom_result("sevt_nope", "x")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, HarnessError::Rejected(ref e) if e.path == "events[0].custom_tool_use_id"),
        "{err}"
    );
    assert!(
        session.events().is_empty(),
        "rejected batches append nothing"
    );
    session.check_invariants();
}

fn tool_result(id: &str, text: &str) -> UserEventParams {
    UserEventParams::UserToolResult(openma_core::wire::event::UserToolResultEvent {
        tool_use_id: id.to_owned(),
        content: Some(vec![ContentBlock::text(text)]),
        is_error: None,
        session_thread_id: None,
    })
}

#[tokio::test]
async fn self_hosted_sandbox_tools_are_answered_by_the_client() {
    let session = test_session()
        .self_hosted()
        .with_tool_policy("write", PermissionPolicy::AlwaysAsk)
        .with_script(tool_reply(&[
            ("toolu_1", "bash", json!({"command": "ls"})),
            (
                "toolu_2",
                "write",
                json!({"file_path": "f", "content": "x"}),
            ),
        ]))
        .with_script(text_reply("thanks"))
        .build()
        .await;
    session.send("go").await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    let (bash, write) = (session.event_id(4), session.event_id(5));
    let early = session
        .harness
        .submit(vec![tool_result(&write, "too early")])
        .await;
    assert!(
        matches!(early, Err(HarnessError::Rejected(ref e)) if e.path == "events[0].tool_use_id"),
        "unconfirmed"
    );

    session.send_events(vec![tool_result(&bash, "f.txt")]).await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    session
        .send_events(vec![confirm(&write, ConfirmationResult::Allow, None)])
        .await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    session
        .send_events(vec![tool_result(&write, "wrote 1 bytes to f")])
        .await;
    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert!(
        session.tools().calls().is_empty(),
        "nothing ran in the platform's sandbox"
    );
    assert_eq!(
        session.shape(),
        "\
1 user.message \"go\"
2 session.status_running
3 span.model_request_start
4 agent.tool_use bash {\"command\":\"ls\"} allow
5 agent.tool_use write {\"content\":\"x\",\"file_path\":\"f\"} ask
6 span.model_request_end #3 in=10 out=5
7 session.status_idle requires_action [#4,#5]
8 user.tool_result #4 \"f.txt\"
9 session.status_idle requires_action [#5]
10 user.tool_confirmation #5 allow
11 user.tool_result #5 \"wrote 1 bytes to f\"
12 session.status_running
13 span.model_request_start
14 agent.message \"thanks\"
15 span.model_request_end #13 in=10 out=5
16 session.status_idle end_turn"
    );
}

#[tokio::test]
async fn tool_results_are_rejected_on_cloud_environments() {
    let session = test_session().build().await;
    let err = session
        .harness
        .submit(vec![tool_result("sevt_x", "r")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, HarnessError::Rejected(ref e) if e.path == "events[0].type"),
        "{err}"
    );
    session.check_invariants();
}
