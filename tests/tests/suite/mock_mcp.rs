//! The mock MCP server speaks the Streamable HTTP transport (JSON and SSE
//! answers, sessions, pagination, bearer auth) and its token endpoint
//! refreshes tokens the way an OAuth 2.0 server does.

use std::time::Duration;

use openma_e2e::McpToolReply;
use openma_e2e::MockMcp;
use serde_json::Value;
use serde_json::json;

const VERSION: &str = "2025-06-18";

/// A mock with three tools: `echo`, `fail` and `third`.
fn mock_with_tools() -> MockMcp {
    let mock = MockMcp::start().unwrap();
    let schema = json!({"type": "object", "properties": {"text": {"type": "string"}}});
    mock.add_tool(
        "echo",
        "Echoes",
        schema.clone(),
        McpToolReply::Text("echoed".to_owned()),
    );
    mock.add_tool(
        "fail",
        "Fails",
        schema.clone(),
        McpToolReply::Error("it broke".to_owned()),
    );
    mock.add_tool(
        "third",
        "The third",
        schema,
        McpToolReply::Text("3".to_owned()),
    );
    mock
}

/// POSTs one message as a correct client does (with `session`, when given).
async fn post(mock: &MockMcp, session: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(mock.url())
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", VERSION);
    }
    request.send().await.expect("request")
}

fn initialize_body(version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "e2e", "version": "0"},
    }})
}

/// Initializes and sends `notifications/initialized`; returns the session id.
async fn open_session(mock: &MockMcp) -> String {
    let resp = post(mock, None, &initialize_body(VERSION)).await;
    assert_eq!(resp.status(), 200);
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    resp.text().await.unwrap();
    let resp = post(
        mock,
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.text().await.unwrap(), "");
    session
}

/// The JSON-RPC messages of an SSE body, checking the framing.
fn sse_messages(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let (event, data) = frame.split_once('\n').expect("two lines");
            assert_eq!(event, "event: message");
            serde_json::from_str(data.strip_prefix("data: ").expect("data")).expect("json")
        })
        .collect()
}

/// The one JSON-RPC answer of a response, JSON or SSE as `sse` says.
async fn answer(resp: reqwest::Response, sse: bool) -> Value {
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    if sse {
        assert_eq!(content_type, "text/event-stream");
        let messages = sse_messages(&resp.text().await.unwrap());
        assert_eq!(messages.len(), 1, "{messages:?}");
        messages.into_iter().next().unwrap()
    } else {
        assert_eq!(content_type, "application/json");
        resp.json().await.unwrap()
    }
}

fn call_body(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}})
}

/// initialize → initialized → tools/list (two pages) → tools/call, answered
/// as JSON or as SSE.
async fn full_flow(sse: bool) {
    let mock = mock_with_tools();
    mock.answer_with_sse(sse);
    mock.page_size(2);

    let resp = post(&mock, None, &initialize_body(VERSION)).await;
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!session.is_empty());
    assert!(
        session.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "{session}"
    );
    assert_eq!(
        answer(resp, sse).await,
        json!({"jsonrpc": "2.0", "id": 0, "result": {
            "protocolVersion": VERSION,
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "mock-mcp", "version": "1.0.0"},
        }})
    );
    let resp = post(
        &mock,
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.text().await.unwrap(), "");

    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let first = answer(post(&mock, Some(&session), &list).await, sse).await;
    assert_eq!(first["id"], 1);
    let names = |page: &Value| -> Vec<String> {
        page["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["echo", "fail"]);
    assert_eq!(
        first["result"]["tools"][0],
        json!({"name": "echo", "description": "Echoes", "inputSchema":
            {"type": "object", "properties": {"text": {"type": "string"}}}})
    );
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_owned();
    let next = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
        "params": {"cursor": cursor}});
    let second = answer(post(&mock, Some(&session), &next).await, sse).await;
    assert_eq!(names(&second), ["third"]);
    assert!(second["result"].get("nextCursor").is_none(), "{second}");
    let bad = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list",
        "params": {"cursor": "not-a-cursor"}});
    let bad = answer(post(&mock, Some(&session), &bad).await, sse).await;
    assert_eq!(bad["error"]["code"], -32602);

    let resp = post(
        &mock,
        Some(&session),
        &call_body(4, "echo", json!({"text": "hi"})),
    )
    .await;
    assert_eq!(
        answer(resp, sse).await,
        json!({"jsonrpc": "2.0", "id": 4, "result": {
            "content": [{"type": "text", "text": "echoed"}], "isError": false}})
    );
    let resp = post(&mock, Some(&session), &call_body(5, "fail", json!({}))).await;
    let failed = answer(resp, sse).await;
    assert_eq!(failed["result"]["isError"], true);
    assert_eq!(failed["result"]["content"][0]["text"], "it broke");
    let resp = post(&mock, Some(&session), &call_body(6, "nope", json!({}))).await;
    let unknown = answer(resp, sse).await;
    assert_eq!(unknown["id"], 6);
    assert_eq!(unknown["error"]["code"], -32602);
    assert!(unknown.get("result").is_none());

    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let ping = answer(post(&mock, Some(&session), &ping).await, sse).await;
    assert_eq!(ping, json!({"jsonrpc": "2.0", "id": 7, "result": {}}));
    let other = json!({"jsonrpc": "2.0", "id": 8, "method": "resources/list"});
    let other = answer(post(&mock, Some(&session), &other).await, sse).await;
    assert_eq!(other["error"]["code"], -32601);

    assert_eq!(
        mock.calls(),
        [
            ("echo".to_owned(), json!({"text": "hi"})),
            ("fail".to_owned(), json!({})),
            ("nope".to_owned(), json!({})),
        ]
    );
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 10);
    assert!(recorded.iter().all(|r| r.path == "/mcp"));
    assert_eq!(recorded[0].body, initialize_body(VERSION));
    assert_eq!(recorded[0].header("mcp-session-id"), None);
    assert_eq!(recorded[6].body, call_body(5, "fail", json!({})));
    for request in &recorded[1..] {
        assert_eq!(request.header("mcp-session-id"), Some(session.as_str()));
        assert_eq!(request.header("mcp-protocol-version"), Some(VERSION));
    }
    for request in &recorded {
        assert_eq!(
            request.header("accept"),
            Some("application/json, text/event-stream")
        );
    }
}

#[tokio::test]
async fn mcp_flow_answered_as_json() {
    full_flow(false).await;
}

#[tokio::test]
async fn mcp_flow_answered_as_sse() {
    full_flow(true).await;
}

#[tokio::test]
async fn mcp_initialize_negotiates_the_version_and_issues_fresh_sessions() {
    let mock = MockMcp::start().unwrap();
    let mut sessions = Vec::new();
    for (asked, agreed) in [
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2025-06-18"),
        ("2025-06-18", "2025-06-18"),
    ] {
        let resp = post(&mock, None, &initialize_body(asked)).await;
        sessions.push(
            resp.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let body = answer(resp, false).await;
        assert_eq!(body["result"]["protocolVersion"], agreed, "asked {asked}");
    }
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), 3, "every initialize gets its own session");
}

#[tokio::test]
async fn mcp_sessions_are_required_and_can_be_forgotten() {
    let mock = mock_with_tools();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});

    let resp = post(&mock, None, &list).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], 1);
    assert!(body["error"]["code"].is_i64());
    let resp = post(
        &mock,
        None,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(resp.status(), 400, "notifications need a session too");
    assert_eq!(post(&mock, Some("made-up"), &list).await.status(), 404);

    let session = open_session(&mock).await;
    assert_eq!(post(&mock, Some(&session), &list).await.status(), 200);
    mock.forget_sessions();
    let resp = post(&mock, Some(&session), &list).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].is_string());

    // A new session works.
    let again = open_session(&mock).await;
    assert_ne!(again, session);
    assert_eq!(post(&mock, Some(&again), &list).await.status(), 200);
    assert_eq!(post(&mock, Some(&session), &list).await.status(), 404);

    // A DELETE ends a session; GET offers no stream.
    let client = reqwest::Client::new();
    let resp = client
        .delete(mock.url())
        .header("mcp-session-id", &again)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(post(&mock, Some(&again), &list).await.status(), 404);
    let resp = client
        .get(mock.url())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn mcp_rejects_batches_garbage_and_unsupported_versions() {
    let mock = mock_with_tools();
    let session = open_session(&mock).await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let resp = post(&mock, Some(&session), &json!([ping, ping])).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32600);
    let resp = post(&mock, Some(&session), &json!({"id": 1, "method": "ping"})).await;
    assert_eq!(resp.status(), 400, "jsonrpc 2.0 is required");
    let resp = reqwest::Client::new()
        .post(mock.url())
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700);
    assert_eq!(mock.requests().last().unwrap().body, Value::Null);

    let resp = reqwest::Client::new()
        .post(mock.url())
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "1999-01-01")
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Without the header (or the Accept header) the request is served.
    let resp = reqwest::Client::new()
        .post(mock.url())
        .header("mcp-session-id", &session)
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let recorded = mock.requests();
    let last = recorded.last().unwrap();
    assert_eq!(last.header("mcp-protocol-version"), None);
    assert_eq!(last.header("accept"), Some("*/*"));

    // A response from the client is accepted like a notification.
    let resp = post(
        &mock,
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": "s1", "result": {}}),
    )
    .await;
    assert_eq!(resp.status(), 202);
}

#[tokio::test]
async fn mcp_bearer_tokens_are_required_once_asked() {
    let mock = mock_with_tools();
    let open = open_session(&mock).await;
    mock.require_bearer("tok-1");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let with_auth = |auth: Option<&'static str>| {
        let mut request = reqwest::Client::new()
            .post(mock.url())
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &open)
            .json(&list);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for auth in [None, Some("Bearer wrong"), Some("Basic dG9rLTE=")] {
        let resp = with_auth(auth).await.unwrap();
        assert_eq!(resp.status(), 401, "{auth:?}");
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
    let resp = with_auth(Some("Bearer tok-1")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        answer(resp, false).await["result"]["tools"][0]["name"],
        "echo"
    );

    // Initialize needs the token too.
    let resp = post(&mock, None, &initialize_body(VERSION)).await;
    assert_eq!(resp.status(), 401);
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 7, "rejected requests are recorded");
    assert_eq!(recorded[5].header("authorization"), Some("Bearer tok-1"));
}

/// POSTs a form to the token endpoint.
async fn token_request(
    mock: &MockMcp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(mock.token_endpoint())
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.expect("request")
}

/// Checks a successful token response and returns its refresh token.
async fn granted(resp: reqwest::Response, access_token: &str) -> String {
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["access_token"], access_token);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    body["refresh_token"].as_str().unwrap().to_owned()
}

async fn oauth_error(resp: reqwest::Response, status: u16, error: &str) {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
}

/// Whether `/mcp` accepts the bearer token (the mock requires one).
async fn accepts(mock: &MockMcp, token: &str) -> bool {
    let resp = reqwest::Client::new()
        .post(mock.url())
        .bearer_auth(token)
        .json(&initialize_body(VERSION))
        .send()
        .await
        .unwrap();
    resp.status() == 200
}

#[tokio::test]
async fn oauth_refresh_with_client_secret_basic_rotates_the_refresh_token() {
    let mock = MockMcp::start().unwrap();
    mock.require_bearer("at-1");
    // Id and secret are form-urlencoded before base64 (RFC 6749 §2.3.1).
    mock.oauth_client("client:a", Some("s p+c"), "rt-1", "at-2");
    assert!(!accepts(&mock, "at-2").await);

    let refresh = [("grant_type", "refresh_token"), ("refresh_token", "rt-1")];
    let resp = token_request(&mock, Some(("client%3Aa", "s+p%2Bc")), &refresh).await;
    let rotated = granted(resp, "at-2").await;
    assert_ne!(rotated, "rt-1");
    assert!(accepts(&mock, "at-2").await);
    assert!(accepts(&mock, "at-1").await);

    // The old refresh token is spent; the new one works.
    let resp = token_request(&mock, Some(("client%3Aa", "s+p%2Bc")), &refresh).await;
    oauth_error(resp, 400, "invalid_grant").await;
    let resp = token_request(
        &mock,
        Some(("client%3Aa", "s+p%2Bc")),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rotated),
            ("scope", "tools"),
            ("resource", &mock.url()),
        ],
    )
    .await;
    let again = granted(resp, "at-2").await;
    assert_ne!(again, rotated);

    // A wrong secret is an invalid client, with a Basic challenge.
    let resp = token_request(
        &mock,
        Some(("client%3Aa", "wrong")),
        &[("grant_type", "refresh_token"), ("refresh_token", &again)],
    )
    .await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"mock-mcp\""
    );
    oauth_error(resp, 401, "invalid_client").await;

    let recorded = mock.token_requests();
    assert_eq!(recorded.len(), 4);
    assert!(recorded.iter().all(|r| r.path == "/oauth/token"));
    assert_eq!(
        recorded[0].body,
        json!({"grant_type": "refresh_token", "refresh_token": "rt-1"})
    );
    assert!(
        recorded[0]
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(recorded[2].body["resource"], mock.url());
    assert_eq!(recorded[2].body["scope"], "tools");
    assert_eq!(
        recorded[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn oauth_refresh_with_client_secret_post_and_none() {
    let mock = MockMcp::start().unwrap();
    mock.require_bearer("unused");
    mock.oauth_client("confidential", Some("sekrit"), "rt-c", "at-c");
    mock.oauth_client("public", None, "rt-p", "at-p");
    let refresh = |token: &'static str, client: &'static str| {
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client),
        ]
    };

    // Refused: a wrong or missing secret, another client's refresh token,
    // no client at all, an unknown client, another grant type.
    let mut wrong_secret = refresh("rt-c", "confidential");
    wrong_secret.push(("client_secret", "wrong"));
    let refusals = [
        (wrong_secret, 401, "invalid_client"),
        (refresh("rt-c", "confidential"), 401, "invalid_client"),
        (refresh("rt-c", "public"), 400, "invalid_grant"),
        (refresh("x", "public")[..2].to_vec(), 401, "invalid_client"),
        (refresh("x", "stranger"), 401, "invalid_client"),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "public"),
            ],
            400,
            "unsupported_grant_type",
        ),
    ];
    for (form, status, error) in &refusals {
        oauth_error(token_request(&mock, None, form).await, *status, error).await;
    }
    // Not a form at all.
    let resp = reqwest::Client::new()
        .post(mock.token_endpoint())
        .json(&json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    oauth_error(resp, 400, "invalid_request").await;

    // client_secret_post, then none: the id alone.
    let mut post = refresh("rt-c", "confidential");
    post.push(("client_secret", "sekrit"));
    granted(token_request(&mock, None, &post).await, "at-c").await;
    assert!(accepts(&mock, "at-c").await);
    assert!(!accepts(&mock, "at-p").await);
    granted(
        token_request(&mock, None, &refresh("rt-p", "public")).await,
        "at-p",
    )
    .await;
    assert!(accepts(&mock, "at-p").await);

    let recorded = mock.token_requests();
    assert_eq!(recorded.len(), 9);
    assert_eq!(recorded[6].body, Value::Null);
    assert_eq!(recorded[7].body["client_secret"], "sekrit");
}

/// A held call is counted at once but answered only after the release.
async fn held_call(sse: bool) {
    let mock = mock_with_tools();
    mock.answer_with_sse(sse);
    let session = open_session(&mock).await;
    mock.hold_calls();
    let url = mock.url();
    let call = tokio::spawn({
        let session = session.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", VERSION)
                .json(&call_body(1, "echo", json!({"n": 1})))
                .send()
                .await
                .unwrap();
            answer(resp, sse).await
        }
    });
    for _ in 0..100 {
        if !mock.calls().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mock.calls(), [("echo".to_owned(), json!({"n": 1}))]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!call.is_finished(), "the call is held");

    // Other requests are still answered.
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    answer(post(&mock, Some(&session), &ping).await, sse).await;

    mock.release_calls();
    let answered = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("answered after the release")
        .unwrap();
    assert_eq!(answered["result"]["content"][0]["text"], "echoed");

    // After the release, calls are answered at once.
    let resp = post(&mock, Some(&session), &call_body(3, "third", json!({}))).await;
    assert_eq!(answer(resp, sse).await["result"]["content"][0]["text"], "3");
}

#[tokio::test]
async fn mcp_held_calls_wait_for_the_release_as_json() {
    held_call(false).await;
}

#[tokio::test]
async fn mcp_held_calls_wait_for_the_release_as_sse() {
    held_call(true).await;
}

#[tokio::test]
async fn mcp_list_changed_precedes_the_next_sse_answer() {
    let mock = mock_with_tools();
    let session = open_session(&mock).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});

    // A JSON answer leaves the announcement pending.
    mock.announce_list_changed();
    let plain = answer(post(&mock, Some(&session), &list).await, false).await;
    assert_eq!(plain["id"], 1);

    mock.answer_with_sse(true);
    let resp = post(&mock, Some(&session), &list).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let messages = sse_messages(&resp.text().await.unwrap());
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(
        messages[0],
        json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    );
    assert_eq!(messages[1]["id"], 1);
    assert_eq!(messages[1]["result"]["tools"].as_array().unwrap().len(), 3);

    // Only once.
    let again = answer(post(&mock, Some(&session), &list).await, true).await;
    assert_eq!(again["id"], 1);
}
