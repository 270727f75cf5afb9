//! MCP toolsets in the harness: listed once per turn, offered under their
//! model-facing names, recorded as `agent.mcp_tool_use` /
//! `agent.mcp_tool_result`, and governed by the toolset's policy.

use openma_core::StepOutcome;
use openma_core::mcp::McpTool;
use openma_core::mcp::model_tool_name;
use openma_core::ports::McpListing;
use openma_core::ports::ToolOutput;
use openma_core::testing::test_session;
use openma_core::testing::text_reply;
use openma_core::testing::tool_reply;
use openma_core::wire::PermissionPolicy;
use openma_core::wire::RetryStatus;
use openma_core::wire::SessionError;
use openma_core::wire::SessionErrorType;
use openma_core::wire::UserEventParams;
use openma_core::wire::event::ConfirmationResult;
use openma_core::wire::event::UserToolConfirmationEvent;
use serde_json::json;

fn listing() -> McpListing {
    McpListing {
        servers: vec![(
            "docs".to_owned(),
            vec![McpTool {
                name: "search".to_owned(),
                description: "Searches the docs.".to_owned(),
                input_schema: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
            }],
        )],
        errors: Vec::new(),
    }
}

#[tokio::test]
async fn an_allowed_mcp_tool_is_offered_called_and_answered() {
    let name = model_tool_name("docs", "search");
    let session = test_session()
        .with_mcp_toolset("docs", Some(PermissionPolicy::AlwaysAllow))
        .with_script(tool_reply(&[("toolu_1", &name, json!({"q": "vaults"}))]))
        .with_script(text_reply("found it"))
        .build()
        .await;
    session.tools().set_mcp_listing(listing());
    session
        .tools()
        .set_output("search", ToolOutput::text("vaults are sealed"));
    session.send("look it up").await;
    assert_eq!(session.run().await, StepOutcome::Idle);

    session.check_invariants();
    assert_eq!(
        session.shape(),
        "\
1 user.message \"look it up\"
2 session.status_running
3 span.model_request_start
4 agent.mcp_tool_use docs/search {\"q\":\"vaults\"} allow
5 span.model_request_end #3 in=10 out=5
6 agent.mcp_tool_result #4 \"vaults are sealed\"
7 span.model_request_start
8 agent.message \"found it\"
9 span.model_request_end #7 in=10 out=5
10 session.status_idle end_turn"
    );
    let requests = session.model().requests();
    assert!(requests[0].tools.iter().any(|tool| tool.name == name));
    let calls = session.tools().calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].mcp_server_name.as_deref(), Some("docs"));
    assert_eq!(calls[0].name, "search");
    // The second request replays the call under the model-facing name.
    let replayed = serde_json::to_string(&requests[1].messages).unwrap();
    assert!(replayed.contains(&name), "{replayed}");
    assert_eq!(session.tools().mcp_listings(), 1, "listed once per turn");
}

#[tokio::test]
async fn mcp_tools_ask_by_default_and_a_denial_reaches_the_model() {
    let name = model_tool_name("docs", "search");
    let session = test_session()
        .with_mcp_toolset("docs", None)
        .with_script(tool_reply(&[("toolu_1", &name, json!({"q": "x"}))]))
        .with_script(text_reply("ok, not searching"))
        .build()
        .await;
    session.tools().set_mcp_listing(listing());
    session.send("search").await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    let tool_use = session.event_id(4);
    let json = serde_json::to_value(&session.events()[3].event).unwrap();
    assert_eq!(json["type"], "agent.mcp_tool_use");
    assert_eq!(json["evaluated_permission"], "ask");
    assert_eq!(json["evaluation"], json!({"type": "always_ask"}));
    assert!(session.tools().calls().is_empty());

    session
        .send_events(vec![UserEventParams::UserToolConfirmation(
            UserToolConfirmationEvent {
                tool_use_id: tool_use.clone(),
                result: ConfirmationResult::Deny,
                deny_message: Some("not now".to_owned()),
                session_thread_id: None,
            },
        )])
        .await;
    session.run().await;
    session.check_invariants();
    assert!(
        session.tools().calls().is_empty(),
        "a denied call never runs"
    );
    let result = session
        .events()
        .into_iter()
        .find(|e| serde_json::to_value(&e.event).unwrap()["type"] == "agent.mcp_tool_result")
        .unwrap();
    let result = serde_json::to_value(&result.event).unwrap();
    assert_eq!(result["mcp_tool_use_id"], tool_use);
    assert_eq!(result["is_error"], true);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not now")
    );
}

#[tokio::test]
async fn a_server_that_cannot_be_listed_is_reported_and_the_turn_goes_on() {
    let session = test_session()
        .with_mcp_toolset("docs", None)
        .with_script(text_reply("without docs"))
        .with_script(text_reply("again"))
        .build()
        .await;
    let mut error = SessionError::new(
        SessionErrorType::McpConnectionFailedError,
        "MCP server `docs` could not be reached",
        RetryStatus::Retrying,
    );
    error
        .extra
        .insert("mcp_server_name".to_owned(), json!("docs"));
    session.tools().set_mcp_listing(McpListing {
        servers: Vec::new(),
        errors: vec![error],
    });
    session.send("hi").await;
    assert_eq!(session.run().await, StepOutcome::Idle);
    let shape = session.shape();
    assert!(
        shape.contains(
            "3 session.error mcp_connection_failed_error retrying\n4 span.model_request_start"
        ),
        "{shape}"
    );
    assert!(shape.ends_with("session.status_idle end_turn"), "{shape}");
    assert!(
        session.model().requests()[0]
            .tools
            .iter()
            .all(|t| !t.name.starts_with("mcp__"))
    );

    // The next turn lists again (and so retries the server).
    session.send("again").await;
    session.run().await;
    assert_eq!(session.tools().mcp_listings(), 2);
}
