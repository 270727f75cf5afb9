use openma_core::StepOutcome;
use openma_core::llm::Part;
use openma_core::ports::Clock;
use openma_core::testing::ev_completed;
use openma_core::testing::ev_started;
use openma_core::testing::ev_text;
use openma_core::testing::ev_thinking;
use openma_core::testing::request_shape;
use openma_core::testing::test_session;
use openma_core::testing::text_reply;
use openma_core::testing::tool_reply;
use openma_core::wire::SessionStatus;
use openma_core::wire::UserEventParams;
use serde_json::json;

#[tokio::test]
async fn plain_text_turn_goes_running_then_idle_end_turn() {
    let session = test_session()
        .with_script(text_reply("Hello!"))
        .build()
        .await;
    let echo = session.send("hi").await;
    assert_eq!(
        echo[0].processed_at, None,
        "user messages are queued until processed"
    );

    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"hi\"
2 session.status_running
3 span.model_request_start
4 agent.message \"Hello!\"
5 span.model_request_end #3 in=10 out=5
6 session.status_idle end_turn"
    );
    let state = session.harness.state();
    assert_eq!(state.summary.status, SessionStatus::Idle);
    assert_eq!(state.summary.usage.input_tokens, Some(10));
    assert_eq!(state.summary.usage.output_tokens, Some(5));
    drop(state);
    let calls = session.store().calls();
    assert_eq!(calls.append, 4, "submit, running, span start, reply batch");
    assert_eq!(calls.load, 1, "only the initial load");
}

#[tokio::test]
async fn multi_tool_turn_runs_each_tool_then_answers() {
    let session = test_session()
        .with_script(tool_reply(&[("toolu_1", "bash", json!({"command": "ls"}))]))
        .with_script(tool_reply(&[(
            "toolu_2",
            "read",
            json!({"file_path": "a.txt"}),
        )]))
        .with_script(text_reply("Done."))
        .build()
        .await;
    session.send("look around").await;

    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"look around\"
2 session.status_running
3 span.model_request_start
4 agent.tool_use bash {\"command\":\"ls\"} allow
5 span.model_request_end #3 in=10 out=5
6 agent.tool_result #4 \"bash ok\"
7 span.model_request_start
8 agent.tool_use read {\"file_path\":\"a.txt\"} allow
9 span.model_request_end #7 in=10 out=5
10 agent.tool_result #8 \"read ok\"
11 span.model_request_start
12 agent.message \"Done.\"
13 span.model_request_end #11 in=10 out=5
14 session.status_idle end_turn"
    );
    assert_eq!(
        session.harness.state().summary.usage.input_tokens,
        Some(30),
        "usage is cumulative"
    );
    let last = session.model().requests().pop().unwrap();
    assert_eq!(
        request_shape(&last),
        "\
system: \"You are a test agent.\"
user: \"look around\"
assistant: tool_use sevt_test_000004 bash {\"command\":\"ls\"}
user: tool_result sevt_test_000004 \"bash ok\"
assistant: tool_use sevt_test_000008 read {\"file_path\":\"a.txt\"}
user: tool_result sevt_test_000008 \"read ok\""
    );
}

#[tokio::test]
async fn several_tool_uses_in_one_reply_run_in_order() {
    let session = test_session()
        .with_script(tool_reply(&[
            (
                "toolu_1",
                "write",
                json!({"file_path": "a", "content": "x"}),
            ),
            ("toolu_2", "bash", json!({"command": "cat a"})),
        ]))
        .with_script(text_reply("ok"))
        .build()
        .await;
    session.send("go").await;
    session.run().await;

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"go\"
2 session.status_running
3 span.model_request_start
4 agent.tool_use write {\"content\":\"x\",\"file_path\":\"a\"} allow
5 agent.tool_use bash {\"command\":\"cat a\"} allow
6 span.model_request_end #3 in=10 out=5
7 agent.tool_result #4 \"write ok\"
8 agent.tool_result #5 \"bash ok\"
9 span.model_request_start
10 agent.message \"ok\"
11 span.model_request_end #9 in=10 out=5
12 session.status_idle end_turn"
    );
    let calls: Vec<_> = session
        .tools()
        .calls()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(calls, ["write", "bash"]);
    let second = &session.model().requests()[1];
    let results: Vec<_> = second.messages[2]
        .content
        .iter()
        .filter(|p| matches!(p, Part::ToolResult { .. }))
        .collect();
    assert_eq!(results.len(), 2, "both results go back in one user message");
}

#[tokio::test]
async fn thinking_and_text_split_across_deltas_become_single_events() {
    let session = test_session()
        .with_script(vec![
            ev_started(),
            ev_thinking("hmm"),
            ev_text("Hel"),
            ev_text("lo"),
            ev_completed(),
        ])
        .build()
        .await;
    session.send("hi").await;
    session.run().await;
    session.check_invariants();
    assert!(
        session
            .shape()
            .contains("4 agent.thinking\n5 agent.message \"Hello\""),
        "{}",
        session.shape()
    );
}

#[tokio::test]
async fn messages_sent_during_a_turn_start_the_next_turn() {
    let session = test_session()
        .with_script(tool_reply(&[(
            "toolu_1",
            "bash",
            json!({"command": "sleep 1"}),
        )]))
        .with_script(text_reply("first"))
        .with_script(text_reply("second"))
        .build()
        .await;
    session.send("one").await;
    // Two steps: status_running, then the model request.
    session.harness.step().await.unwrap();
    session.harness.step().await.unwrap();
    session.send("two").await;
    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"one\"
2 session.status_running
3 span.model_request_start
4 agent.tool_use bash {\"command\":\"sleep 1\"} allow
5 span.model_request_end #3 in=10 out=5
6 user.message \"two\"
7 agent.tool_result #4 \"bash ok\"
8 span.model_request_start
9 agent.message \"first\"
10 span.model_request_end #8 in=10 out=5
11 session.status_idle end_turn
12 session.status_running
13 span.model_request_start
14 agent.message \"second\"
15 span.model_request_end #13 in=10 out=5
16 session.status_idle end_turn"
    );
    let second_turn = &session.model().requests()[2];
    let last_user = second_turn.messages.last().unwrap();
    assert!(
        matches!(&last_user.content[0], Part::Content { .. }),
        "the queued message comes after the first turn"
    );
    assert_eq!(second_turn.messages.len(), 5);
}

#[tokio::test]
async fn max_steps_guard_stops_a_runaway_turn() {
    let session = test_session()
        .with_max_model_requests(2)
        .with_script(tool_reply(&[("toolu_1", "bash", json!({"command": "a"}))]))
        .with_script(tool_reply(&[("toolu_2", "bash", json!({"command": "b"}))]))
        .build()
        .await;
    session.send("loop forever").await;
    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert!(
        session.shape().ends_with(
            "\
11 session.error tool_use_limit_reached_error exhausted
12 session.status_idle end_turn"
        ),
        "{}",
        session.shape()
    );
    assert_eq!(session.model().requests().len(), 2);
}

#[tokio::test]
async fn unknown_or_disabled_tools_are_refused_without_running() {
    let session = test_session()
        .with_tool_disabled("bash")
        .with_script(tool_reply(&[
            ("toolu_1", "bash", json!({"command": "rm -rf /"})),
            ("toolu_2", "nope", json!({})),
        ]))
        .with_script(text_reply("sorry"))
        .build()
        .await;
    session.send("do it").await;
    session.run().await;

    session.check_invariants();
    assert!(session.tools().calls().is_empty());
    let shape = session.shape();
    assert!(
        shape.contains("4 agent.tool_use bash {\"command\":\"rm -rf /\"} deny"),
        "{shape}"
    );
    assert!(
        shape.contains(
            "7 agent.tool_result #4 \"Tool \\\"bash\\\" is not available to this agent.\" error"
        ),
        "{shape}"
    );
    let tools: Vec<_> = session.model().requests()[0]
        .tools
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert!(
        !tools.contains(&"bash".to_owned()),
        "disabled tools are not offered"
    );
}

#[tokio::test]
async fn refusal_ends_the_turn_with_refusal() {
    use openma_core::llm::ModelStopReason;
    use openma_core::testing::ev_completed_with;
    let session = test_session()
        .with_script(vec![
            ev_started(),
            ev_completed_with(ModelStopReason::Refusal, Default::default()),
        ])
        .build()
        .await;
    session.send("bad").await;
    session.run().await;
    session.check_invariants();
    assert!(
        session.shape().ends_with("session.status_idle refusal"),
        "{}",
        session.shape()
    );
}

#[tokio::test]
async fn an_idle_session_with_nothing_queued_stays_idle() {
    let session = test_session().build().await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    assert!(session.events().is_empty());
    session.check_invariants();
}

#[tokio::test]
async fn a_system_message_joins_the_turn_it_accompanies() {
    use openma_core::wire::content::TextContent;
    use openma_core::wire::event::SystemMessageEvent;
    let session = test_session()
        .with_script(text_reply("Brief."))
        .build()
        .await;
    let system = UserEventParams::SystemMessage(SystemMessageEvent {
        content: vec![TextContent {
            text: "Answer in one word.".into(),
        }],
    });
    session
        .send_events(vec![UserEventParams::text("hi"), system])
        .await;
    session.run().await;

    session.check_invariants();
    assert!(session.shape().starts_with(
        "1 user.message \"hi\"\n2 system.message \"Answer in one word.\"\n3 session.status_running"
    ));
    let request = session.model().single_request();
    assert_eq!(request.messages.len(), 1);
    assert!(
        matches!(&request.messages[0].content[1], Part::System { text } if text == "Answer in one word.")
    );
    let misplaced = session
        .harness
        .submit(vec![UserEventParams::text("a"), UserEventParams::text("b")])
        .await;
    assert!(misplaced.is_ok());
    let state_usage = session
        .harness
        .state()
        .summary
        .usage_at(session.clock().now());
    assert_eq!(
        state_usage.active_seconds,
        Some(0.0),
        "the manual clock did not move"
    );
}

#[tokio::test]
async fn a_paused_turn_goes_on_with_the_reply_passed_back() {
    use openma_core::llm::ModelStopReason;
    use openma_core::testing::Script;
    use openma_core::testing::ev_completed_with;
    use openma_core::wire::ModelUsage;
    let paused = Script::Stream(vec![
        ev_started(),
        ev_text("Searching…"),
        ev_completed_with(ModelStopReason::PauseTurn, ModelUsage::default()),
    ]);
    let session = test_session()
        .with_script(paused)
        .with_script(text_reply("Found it."))
        .build()
        .await;
    session.send("find it").await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"find it\"
2 session.status_running
3 span.model_request_start
4 agent.message \"Searching…\"
5 span.model_request_end #3 in=0 out=0
6 span.model_request_start
7 agent.message \"Found it.\"
8 span.model_request_end #6 in=10 out=5
9 session.status_idle end_turn"
    );
    // The second request passes the paused reply back as it is.
    let requests = session.model().requests();
    assert_eq!(requests.len(), 2);
    let last = requests[1].messages.last().unwrap();
    assert_eq!(last.role, openma_core::llm::Role::Assistant);
    assert!(format!("{:?}", last.content).contains("Searching…"));
}

#[tokio::test]
async fn a_reply_cut_at_max_tokens_is_not_a_clean_end_and_runs_no_tool() {
    use openma_core::llm::ModelStopReason;
    use openma_core::testing::Script;
    use openma_core::testing::ev_completed_with;
    use openma_core::testing::ev_tool_use;
    use openma_core::wire::ModelUsage;
    for (reason, said) in [
        (ModelStopReason::MaxTokens, "max_tokens"),
        (
            ModelStopReason::Other("model_context_window_exceeded".into()),
            "model_context_window_exceeded",
        ),
    ] {
        let cut = Script::Stream(vec![
            ev_started(),
            ev_text("Here is the start of"),
            ev_tool_use("toolu_1", "bash", json!({"command": "rm -rf /workspace/x"})),
            ev_completed_with(reason, ModelUsage::default()),
        ]);
        let session = test_session().with_script(cut).build().await;
        session.send("write a long essay").await;
        assert_eq!(session.run().await, StepOutcome::Idle);
        session.check_invariants();
        let shape = session.shape();
        assert!(
            shape.contains("agent.message \"Here is the start of\""),
            "{shape}"
        );
        assert!(!shape.contains("agent.tool_use"), "{shape}");
        assert!(shape.contains("session.error"), "{shape}");
        assert!(
            shape.ends_with("session.status_idle retries_exhausted"),
            "{shape}"
        );
        assert!(!shape.contains("end_turn"), "{shape}");
        let events = session.events();
        let error = events
            .iter()
            .find(|e| e.event.type_name() == "session.error")
            .unwrap();
        let text = serde_json::to_string(&error.event).unwrap();
        assert!(text.contains(said), "{text}");
        assert!(text.contains("model_request_failed_error"), "{text}");
        assert!(text.contains("\"exhausted\""), "{text}");
        assert_eq!(session.tools().calls().len(), 0, "no tool ran");
    }
}
