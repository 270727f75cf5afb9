use serde_json::json;

use super::*;
use crate::control::vaults::TokenEndpointAuth;

#[test]
fn a_json_answer_and_an_sse_answer_read_the_same() {
    let message = json!({"jsonrpc": "2.0", "id": 3, "result": {"tools": []}});
    let answer = read_answer("application/json", &message.to_string(), 3).unwrap();
    assert_eq!(answer.outcome, Ok(json!({"tools": []})));
    assert!(!answer.list_changed);

    let sse = format!(
        "event: message\r\ndata: {}\r\n\r\nevent: message\ndata: {}\n\n",
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
        message
    );
    let answer = read_answer("text/event-stream; charset=utf-8", &sse, 3).unwrap();
    assert_eq!(answer.outcome, Ok(json!({"tools": []})));
    assert!(answer.list_changed);
}

#[test]
fn an_error_answer_and_a_missing_answer_are_told_apart() {
    let body = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}});
    let answer = read_answer("application/json", &body.to_string(), 1).unwrap();
    assert_eq!(
        answer.outcome,
        Err(RpcError {
            code: -32601,
            message: "nope".into()
        })
    );
    assert!(read_answer("application/json", &body.to_string(), 2).is_err());
    assert!(read_answer("text/html", "<html>", 1).is_err());
}

#[test]
fn only_spoken_revisions_are_accepted() {
    assert_eq!(
        negotiated_version(&json!({"protocolVersion": "2025-03-26"})).unwrap(),
        "2025-03-26"
    );
    assert!(negotiated_version(&json!({"protocolVersion": "2099-01-01"})).is_err());
    assert!(negotiated_version(&json!({})).is_err());
}

#[test]
fn a_tools_page_reads_its_tools_and_cursor() {
    let page = json!({
        "tools": [
            {"name": "search", "description": "Finds", "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}}},
            {"name": "bare"}
        ],
        "nextCursor": "p2"
    });
    let (tools, cursor) = read_tools_page(&page).unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[1].input_schema, json!({"type": "object"}));
    assert_eq!(cursor.as_deref(), Some("p2"));
    assert!(read_tools_page(&json!({"tools": [{"description": "x"}]})).is_err());
}

#[test]
fn call_results_become_content_blocks() {
    let output = read_call_result(&json!({
        "content": [
            {"type": "text", "text": "hello"},
            {"type": "image", "mimeType": "image/png", "data": "AAA="},
            {"type": "resource", "resource": {"uri": "file:///a", "text": "inside"}},
            {"type": "resource_link", "uri": "file:///b", "name": "b"}
        ],
        "isError": true
    }));
    assert!(output.is_error);
    assert_eq!(output.content.len(), 4);
    assert_eq!(output.content[0].as_text(), Some("hello"));
    assert!(matches!(output.content[1], ContentBlock::Image(_)));
    assert_eq!(output.content[2].as_text(), Some("inside"));
    assert_eq!(output.content[3].as_text(), Some("[resource file:///b]"));
    let structured = read_call_result(&json!({"content": [], "structuredContent": {"n": 1}}));
    assert_eq!(structured.content[0].as_text(), Some(r#"{"n":1}"#));
}

#[test]
fn model_names_are_valid_and_unique() {
    assert_eq!(
        model_tool_name("linear", "create_issue"),
        "mcp__linear__create_issue"
    );
    let odd = model_tool_name("a__b", "c");
    let other = model_tool_name("a", "b__c");
    assert_ne!(odd, other);
    let long = model_tool_name("server", &"x".repeat(100));
    assert!(long.len() <= MAX_TOOL_NAME);
    assert_ne!(long, model_tool_name("server", &"x".repeat(101)));
    let dotted = model_tool_name("srv", "files.read");
    assert!(
        dotted
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    );
}

fn config(kind: &str) -> RefreshConfig {
    RefreshConfig {
        client_id: "client one".into(),
        token_endpoint: "https://auth.example.com/token".into(),
        token_endpoint_auth: TokenEndpointAuth { kind: kind.into() },
        resource: Some("https://mcp.example.com/".into()),
        scope: Some("read write".into()),
    }
}

#[test]
fn refresh_requests_authenticate_the_client_as_configured() {
    let basic = refresh_request(&config("client_secret_basic"), "r/1", Some("s:2"));
    assert_eq!(
        basic.body,
        "grant_type=refresh_token&refresh_token=r%2F1&scope=read+write&resource=https%3A%2F%2Fmcp.example.com%2F"
    );
    let expected = base64::engine::general_purpose::STANDARD.encode("client+one:s%3A2");
    assert_eq!(basic.authorization, Some(format!("Basic {expected}")));

    let post = refresh_request(&config("client_secret_post"), "r", Some("s"));
    assert!(post.authorization.is_none());
    assert!(post.body.contains("&client_id=client+one&client_secret=s&"));

    let none = refresh_request(&config("none"), "r", None);
    assert!(none.authorization.is_none());
    assert!(none.body.contains("&client_id=client+one&"));
    assert!(!none.body.contains("client_secret"));
}

#[test]
fn token_grants_are_read_and_never_printed() {
    let grant =
        read_token_grant(r#"{"access_token":"at-1","refresh_token":"rt-2","expires_in":60}"#)
            .unwrap();
    assert_eq!(grant.access_token, "at-1");
    assert!(!format!("{grant:?}").contains("at-1"));
    assert!(!format!("{grant:?}").contains("rt-2"));
    assert!(read_token_grant(r#"{"error":"invalid_grant"}"#).is_err());
    assert!(read_token_grant(r#"{"access_token":""}"#).is_err());
}
