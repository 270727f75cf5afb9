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

#[tokio::test]
async fn a_sessions_token_opens_that_session_only() {
    let sb = sandbox().await;
    let a = session_token("a");
    let b = session_token("b");
    assert_ne!(a, b);
    let (status, body) = sb
        .call("PUT", "/v1/sessions/a", Some(&a), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let exec = |session: &str| json!({"session_id": session, "tool_use_id": next_id(), "name": "bash", "input": {"command": "echo ran"}});
    let (status, body) = sb
        .call("POST", "/v1/tools/execute", Some(&a), Some(exec("a")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A forged set-up of another session (say, to open its egress policy)
    // with this session's token is refused before anything happens.
    let forged = json!({"egress": {"networking": {"type": "unrestricted"}}});
    let (status, body) = sb
        .call("PUT", "/v1/sessions/b", Some(&a), Some(forged))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(!sb.workspace("b").exists());
    sb.setup(
        "b",
        json!({"egress": {"networking": {"type": "limited", "allowed_hosts": []}}}),
    )
    .await;
    let (status, _) = sb
        .call("PUT", "/v1/sessions/b", Some(&a), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (method, path, body) in [
        ("POST", "/v1/tools/execute", Some(exec("b"))),
        ("DELETE", "/v1/sessions/b", None),
        ("GET", "/v1/sessions/b/files?root=/workspace", None),
        (
            "GET",
            "/v1/sessions/b/files/content?path=/workspace/x",
            None,
        ),
        (
            "POST",
            "/v1/sessions/b/tree",
            Some(json!({"root": "/mnt/memory/x", "files": []})),
        ),
        (
            "PUT",
            "/v1/sessions/b/files?path=/workspace/x",
            Some(json!("x")),
        ),
    ] {
        let (status, body) = sb.call(method, path, Some(&a), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
    }
    // A tool call's session is the one in its body, whatever the path says.
    let (status, _) = sb
        .call("POST", "/v1/tools/execute", Some(&b), Some(exec("a")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = sb
        .call("POST", "/v1/tools/execute", Some(&b), Some(exec("b")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_one_session_container_knows_only_its_own_token() {
    let ws = tempfile::tempdir().unwrap();
    let ws_path = ws.path().to_path_buf();
    let own = session_token("only");
    let token = own.clone();
    let sb = sandbox_with(move |c| {
        c.workspace = Some(ws_path);
        c.token = token;
    })
    .await;
    // The platform's root token is not this container's.
    let (status, _) = sb
        .call("PUT", "/v1/sessions/only", Some(TOKEN), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = sb
        .call("PUT", "/v1/sessions/only", Some(&own), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
