use axum::http::StatusCode;
use serde_json::json;

use super::common::*;

#[tokio::test]
async fn health_needs_no_token() {
    let sb = sandbox().await;
    let (status, body) = sb.call("GET", "/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn every_other_route_rejects_a_missing_or_wrong_token() {
    let sb = sandbox().await;
    let exec = json!({"session_id": "s1", "tool_use_id": "t1", "name": "bash", "input": {"command": "touch pwned"}});
    for token in [
        None,
        Some("wrong"),
        Some(""),
        Some("test-token-012345678"),
        Some("test-token-01234567890"),
    ] {
        let (status, body) = sb
            .call("PUT", "/v1/sessions/s1", token, Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body["error"]["type"], "authentication_error");
        let (status, _) = sb
            .call("POST", "/v1/tools/execute", token, Some(exec.clone()))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = sb.call("DELETE", "/v1/sessions/s1", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert!(!sb.workspace("s1").exists());
    assert!(sb.logs().iter().any(|l| l.contains("\"auth_rejected\"")));
}

#[test]
fn token_comparison_is_exact() {
    use openma_sandbox::auth::constant_time_eq;
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"ab", b"abc"));
    assert!(!constant_time_eq(b"abcd", b"abc"));
    assert!(!constant_time_eq(b"", b"abc"));
}
