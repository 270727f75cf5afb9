use axum::http::StatusCode;
use serde_json::json;

use super::common::*;

#[tokio::test]
async fn unknown_tools_and_wrong_input_types_get_clear_error_results() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let cases = [
        ("teleport", json!({}), "unknown tool `teleport`"),
        (
            "bash",
            json!({"command": 42}),
            "bash: field `command` must be a string",
        ),
        ("bash", json!({}), "bash: missing required field `command`"),
        (
            "bash",
            json!({"command": "x", "timeout_ms": -5}),
            "`timeout_ms`",
        ),
        (
            "read",
            json!({"file_path": ["a"]}),
            "read: field `file_path` must be a string",
        ),
        (
            "read",
            json!({"file_path": "a", "view_range": "1-2"}),
            "`view_range`",
        ),
        (
            "write",
            json!({"file_path": "a"}),
            "write: missing required field `content`",
        ),
        (
            "edit",
            json!({"file_path": "a", "old_string": "", "new_string": "b"}),
            "`old_string` must not be empty",
        ),
        ("glob", json!("*.rs"), "glob: input must be a JSON object"),
        (
            "grep",
            json!({"pattern": true}),
            "grep: field `pattern` must be a string",
        ),
    ];
    for (name, input, expected) in cases {
        let r = sb.exec("s1", &next_id(), name, input).await;
        let text = err_text(&r);
        assert!(text.contains(expected), "{name}: {text}");
    }
}

#[tokio::test]
async fn huge_writes_get_an_error_result_and_oversized_bodies_a_413() {
    let sb = sandbox_with(|c| {
        c.limits.max_file_bytes = 1024;
        c.limits.max_body_bytes = 64 * 1024;
    })
    .await;
    sb.setup("s1", json!({})).await;
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "write",
            json!({"file_path": "big.txt", "content": "x".repeat(4096)}),
        )
        .await;
    assert!(err_text(&r).contains("at most 1024 bytes"));
    assert!(!sb.workspace("s1").join("big.txt").exists());
    let body = json!({"session_id": "s1", "tool_use_id": "t_huge", "name": "write", "input": {"file_path": "a", "content": "x".repeat(100_000)}});
    let (status, body) = sb
        .call("POST", "/v1/tools/execute", Some(TOKEN), Some(body))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["type"], "request_too_large");
    // Still serving.
    assert_eq!(ok_text(&sb.bash("s1", "echo alive").await), "alive");
}

#[tokio::test]
async fn malformed_envelopes_and_ids_are_400s_and_unknown_sessions_404() {
    let sb = sandbox().await;
    let (status, body) = sb
        .call(
            "POST",
            "/v1/tools/execute",
            Some(TOKEN),
            Some(json!({"name": "bash"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let bad_id = json!({"session_id": "s1", "tool_use_id": "../../x", "name": "bash", "input": {}});
    let (status, body) = sb
        .call("POST", "/v1/tools/execute", Some(TOKEN), Some(bad_id))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tool_use_id")
    );
    let (status, _) = sb
        .call("PUT", "/v1/sessions/..%2Fx", Some(TOKEN), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unknown = json!({"session_id": "ghost", "tool_use_id": "t1", "name": "bash", "input": {"command": "true"}});
    let (status, body) = sb
        .call("POST", "/v1/tools/execute", Some(TOKEN), Some(unknown))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["type"], "not_found_error");
    let (status, _) = sb
        .call(
            "PUT",
            "/v1/sessions/s1",
            Some(TOKEN),
            Some(json!({"env": {"BAD NAME": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = sb
        .call(
            "PUT",
            "/v1/sessions/s1",
            Some(TOKEN),
            Some(json!({"secrets": [{"name": "K", "placeholder": "short"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = sb.call("GET", "/v1/nope", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
