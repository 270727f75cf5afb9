//! MCP toolsets: the platform lists a remote MCP server's tools for each
//! turn, offers them to the model, runs the calls it makes (with the
//! session's vault credential, refreshing an `mcp_oauth` token through its
//! token endpoint), reports servers it cannot use, and never calls a server
//! twice for one call, also across a crash. No token reaches an event, a
//! response, a model request or a log line.

use std::time::Duration;
use std::time::Instant;

use openma_core::wire::Timestamp;
use openma_e2e::Api;
use openma_e2e::McpToolReply;
use openma_e2e::MockMcp;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock_receiver::MockReceiver;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::start;

fn lookup_tool(mcp: &MockMcp, answer: &str) {
    mcp.add_tool(
        "lookup",
        "Looks a question up.",
        json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}),
        McpToolReply::Text(answer.to_owned()),
    );
}

/// An agent with the built-in toolset and one `mcp_toolset` per server.
fn mcp_agent(servers: &[(&str, &str)], policy: Option<&str>) -> Value {
    let mut tools = vec![json!({"type": "agent_toolset_20260401"})];
    for (name, _) in servers {
        let mut toolset = json!({"type": "mcp_toolset", "mcp_server_name": name});
        if let Some(policy) = policy {
            toolset["default_config"] = json!({"permission_policy": {"type": policy}});
        }
        tools.push(toolset);
    }
    json!({
        "name": format!("mcp-agent-{}", servers.len()),
        "model": "claude-test-model",
        "tools": tools,
        "mcp_servers": servers
            .iter()
            .map(|(name, url)| json!({"type": "url", "name": name, "url": url}))
            .collect::<Vec<_>>(),
    })
}

/// Waits until the session's last event is `session.status_idle`; returns
/// every event.
async fn idle_events(api: &Api, id: &str) -> Vec<Value> {
    let deadline = Instant::now() + WAIT * 2;
    loop {
        let events = api.events(id).await.unwrap();
        if events
            .last()
            .is_some_and(|e| e["type"] == "session.status_idle")
        {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "the session did not go idle: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Fails if any of `secrets` appears in `text`.
fn assert_no_secret(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} contains the secret {secret:?}"
        );
    }
}

fn tool_names(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Everything observable that could leak a token: the session's events,
/// the session, the credential, every model request and the platform's
/// output.
async fn assert_nothing_leaks(
    api: &Api,
    platform: &Platform,
    model: &MockModel,
    id: &str,
    secrets: &[&str],
) {
    let events = api.events(id).await.unwrap();
    assert_no_secret(
        "the events",
        &serde_json::to_string(&events).unwrap(),
        secrets,
    );
    let session = api
        .ok(reqwest::Method::GET, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    assert_no_secret("the session", &session.to_string(), secrets);
    for request in model.requests() {
        assert_no_secret("a model request", &request.body.to_string(), secrets);
    }
    assert_no_secret("the platform's output", &platform.output(), secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_calls_an_mcp_server_with_a_bearer_token_and_asks_before_calling() {
    const TOKEN: &str = "mcp-static-bearer-7c1e9a";
    let mcp = MockMcp::start().unwrap();
    lookup_tool(&mcp, "The answer is 42.");
    mcp.add_tool(
        "other",
        "Another tool.",
        json!({"type": "object"}),
        McpToolReply::Text("other".into()),
    );
    mcp.require_bearer(TOKEN);
    mcp.answer_with_sse(true);
    // Its streams stay open after each answer: the client stops reading
    // once it has the answer.
    mcp.keep_sse_streams_open(true);
    mcp.page_size(1);
    let model = MockModel::start().unwrap();
    model.push(Reply::tool_use(
        "toolu_1",
        "mcp__docs__lookup",
        json!({"q": "the answer"}),
    ));
    model.push(Reply::text("It is 42."));
    let platform = start(&model);
    let api = Api::new(&platform);
    // The credential's URL matches the server's once normalised.
    let url = mcp
        .url()
        .replacen("http://127.0.0.1", "HTTP://127.0.0.1", 1)
        + "/";
    let (vault_id, _) = api
        .vault_with(json!({"type": "static_bearer", "mcp_server_url": url, "token": TOKEN}))
        .await
        .unwrap();
    let id = api
        .session_in(
            mcp_agent(&[("docs", &mcp.url())], Some("always_allow")),
            json!({"type": "unrestricted"}),
            &[&vault_id],
        )
        .await
        .unwrap();

    api.send_message(&id, "What is the answer?").await.unwrap();
    let events = idle_events(&api, &id).await;
    let uses = of_type(&events, "agent.mcp_tool_use");
    assert_eq!(uses.len(), 1, "{events:#?}");
    assert_eq!(uses[0]["mcp_server_name"], "docs");
    assert_eq!(uses[0]["name"], "lookup");
    assert_eq!(uses[0]["input"], json!({"q": "the answer"}));
    assert_eq!(uses[0]["evaluated_permission"], "allow");
    assert_eq!(uses[0]["evaluation"], json!({"type": "always_allow"}));
    let results = of_type(&events, "agent.mcp_tool_result");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["mcp_tool_use_id"], uses[0]["id"]);
    assert_eq!(results[0]["is_error"], false);
    assert_eq!(results[0]["content"][0]["text"], "The answer is 42.");
    assert!(of_type(&events, "session.error").is_empty(), "{events:#?}");

    // Both pages of the server's tools were offered, and the result went
    // back to the model under the call's id.
    let requests = model.requests();
    let offered = tool_names(&requests[0].body);
    assert!(
        offered.contains(&"mcp__docs__lookup".to_owned()),
        "{offered:?}"
    );
    assert!(
        offered.contains(&"mcp__docs__other".to_owned()),
        "{offered:?}"
    );
    assert!(
        requests[1].body.to_string().contains("The answer is 42."),
        "the result reached the model"
    );
    assert_eq!(
        mcp.calls(),
        vec![("lookup".to_owned(), json!({"q": "the answer"}))]
    );
    for request in mcp.requests() {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "every request carries the credential"
        );
    }

    // Switched to MCP's default (`always_ask`) between turns: a call waits
    // for a confirmation; allowed, it runs; denied, the model is told why.
    let updated = api
        .ok(
            reqwest::Method::POST,
            &format!("/v1/sessions/{id}"),
            Some(json!({"agent": {"tools": [
                {"type": "agent_toolset_20260401"},
                {"type": "mcp_toolset", "mcp_server_name": "docs"},
            ]}})),
        )
        .await
        .unwrap();
    assert_eq!(
        updated["agent"]["tools"][1]["default_config"]["permission_policy"],
        json!({"type": "always_ask"})
    );
    model.push(Reply::tool_use(
        "toolu_2",
        "mcp__docs__lookup",
        json!({"q": "again"}),
    ));
    model.push(Reply::tool_use(
        "toolu_3",
        "mcp__docs__lookup",
        json!({"q": "once more"}),
    ));
    model.push(Reply::text("Understood."));
    api.send_message(&id, "Ask me first.").await.unwrap();
    let events = idle_events(&api, &id).await;
    let asked = of_type(&events, "agent.mcp_tool_use");
    let asked = asked.last().unwrap();
    assert_eq!(asked["evaluated_permission"], "ask");
    assert_eq!(asked["evaluation"], json!({"type": "always_ask"}));
    let idle = events.last().unwrap();
    assert_eq!(idle["stop_reason"]["type"], "requires_action");
    assert_eq!(idle["stop_reason"]["event_ids"], json!([asked["id"]]));
    assert_eq!(mcp.calls().len(), 1, "nothing runs before the confirmation");

    // Meanwhile the server forgets its sessions (the allowed call opens a
    // new one) and, on its next answer, says its tool list changed.
    mcp.forget_sessions();
    mcp.announce_list_changed();
    mcp.add_tool(
        "fresh",
        "Listed after the change.",
        json!({"type": "object"}),
        McpToolReply::Text("fresh".into()),
    );

    api.send(
        &id,
        json!([{"type": "user.tool_confirmation", "tool_use_id": asked["id"], "result": "allow"}]),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + WAIT;
    let second_ask = loop {
        let events = api.events(&id).await.unwrap();
        let uses = of_type(&events, "agent.mcp_tool_use");
        if uses.len() == 3
            && events
                .last()
                .is_some_and(|e| e["type"] == "session.status_idle")
        {
            break uses[2].clone();
        }
        assert!(Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(mcp.calls().len(), 2, "the allowed call ran");
    assert_eq!(mcp.calls()[1], ("lookup".to_owned(), json!({"q": "again"})));
    api.send(
        &id,
        json!([{"type": "user.tool_confirmation", "tool_use_id": second_ask["id"], "result": "deny", "deny_message": "not this one"}]),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + WAIT;
    let events = loop {
        let events = api.events(&id).await.unwrap();
        if events.last().is_some_and(|e| {
            e["type"] == "session.status_idle" && e["stop_reason"]["type"] == "end_turn"
        }) {
            break events;
        }
        assert!(Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(mcp.calls().len(), 2, "the denied call never ran");
    let denied = of_type(&events, "agent.mcp_tool_result")
        .into_iter()
        .find(|r| r["mcp_tool_use_id"] == second_ask["id"])
        .unwrap()
        .clone();
    assert_eq!(denied["is_error"], true);
    assert!(
        model
            .requests()
            .last()
            .unwrap()
            .body
            .to_string()
            .contains("not this one"),
        "the model heard the deny message"
    );
    // The list is read once per turn: the next turn lists the changed tools.
    for request in &model.requests()[2..5] {
        assert!(!tool_names(&request.body).contains(&"mcp__docs__fresh".to_owned()));
    }
    model.push(Reply::text("Bye."));
    api.send_message(&id, "Anything new?").await.unwrap();
    let deadline = Instant::now() + WAIT;
    while model.requests().len() < 6 {
        assert!(
            Instant::now() < deadline,
            "the last turn never called the model"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let offered = tool_names(&model.requests()[5].body);
    assert!(
        offered.contains(&"mcp__docs__fresh".to_owned()),
        "{offered:?}"
    );
    idle_events(&api, &id).await;
    assert_nothing_leaks(&api, &platform, &model, &id, &[TOKEN]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expiring_oauth_token_is_refreshed_and_credentials_are_validated_live() {
    const STALE: &str = "stale-access-5f2d";
    const FRESH: &str = "fresh-access-91ab";
    const REFRESH: &str = "refresh-token-c3d4";
    const CLIENT_SECRET: &str = "client-secret-e5f6";
    let mcp = MockMcp::start().unwrap();
    lookup_tool(&mcp, "refreshed and answered");
    mcp.require_bearer(FRESH);
    mcp.oauth_client("client-1", Some(CLIENT_SECRET), REFRESH, FRESH);
    let model = MockModel::start().unwrap();
    model.push(Reply::tool_use(
        "toolu_1",
        "mcp__docs__lookup",
        json!({"q": "x"}),
    ));
    model.push(Reply::text("done"));
    let platform = start(&model);
    let api = Api::new(&platform);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    // Expires within the refresh margin: refreshed before it is used.
    let expires_at = Timestamp(i64::try_from(now.as_millis()).unwrap())
        .plus_ms(30_000)
        .to_rfc3339();
    let (vault_id, credential) = api.vault_with(
        json!({
            "type": "mcp_oauth",
            "mcp_server_url": mcp.url(),
            "access_token": STALE,
            "expires_at": expires_at,
            "refresh": {
                "refresh_token": REFRESH,
                "client_id": "client-1",
                "token_endpoint": mcp.token_endpoint(),
                "token_endpoint_auth": {"type": "client_secret_basic", "client_secret": CLIENT_SECRET},
                "scope": "tools:read",
            },
        }),
    )
    .await.unwrap();
    let id = api
        .session_in(
            mcp_agent(&[("docs", &mcp.url())], Some("always_allow")),
            json!({"type": "unrestricted"}),
            &[&vault_id],
        )
        .await
        .unwrap();
    api.send_message(&id, "Look it up").await.unwrap();
    let events = idle_events(&api, &id).await;
    let results = of_type(&events, "agent.mcp_tool_result");
    assert_eq!(results.len(), 1, "{events:#?}");
    assert_eq!(results[0]["content"][0]["text"], "refreshed and answered");
    let grants = mcp.token_requests();
    assert_eq!(grants.len(), 1, "refreshed once");
    assert_eq!(grants[0].body["grant_type"], "refresh_token");
    assert_eq!(grants[0].body["refresh_token"], REFRESH);
    assert_eq!(grants[0].body["scope"], "tools:read");
    assert!(
        grants[0]
            .header("authorization")
            .is_some_and(|h| h.starts_with("Basic ")),
        "client_secret_basic"
    );
    assert!(
        mcp.requests()
            .iter()
            .all(|r| r.header("authorization") == Some(format!("Bearer {FRESH}").as_str())),
        "the stale token was never sent"
    );

    // The new tokens were stored: a live validation passes without another
    // refresh, and the credential's expiry moved.
    let credential_id = credential["id"].as_str().unwrap();
    let path = format!("/v1/vaults/{vault_id}/credentials/{credential_id}");
    let validation = api
        .ok(
            reqwest::Method::POST,
            &format!("{path}/mcp_oauth_validate"),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(validation["status"], "valid", "{validation:#}");
    assert_eq!(validation["refresh"], Value::Null);
    assert_eq!(validation["has_refresh_token"], true);
    assert_eq!(mcp.token_requests().len(), 1);
    let stored = api.ok(reqwest::Method::GET, &path, None).await.unwrap();
    assert_ne!(stored["auth"]["expires_at"], json!(expires_at));

    // A second server refuses the stored token: validation refreshes it
    // (client_secret_post) and probes again; a third has a refresh token
    // the endpoint refuses.
    let second = MockMcp::start().unwrap();
    second.require_bearer("second-fresh-token");
    second.oauth_client(
        "client-2",
        Some("second-client-secret"),
        "second-refresh",
        "second-fresh-token",
    );
    let (second_vault, second_credential) = api.vault_with(
        json!({
            "type": "mcp_oauth",
            "mcp_server_url": second.url(),
            "access_token": "second-stale-token",
            "refresh": {
                "refresh_token": "second-refresh",
                "client_id": "client-2",
                "token_endpoint": second.token_endpoint(),
                "token_endpoint_auth": {"type": "client_secret_post", "client_secret": "second-client-secret"},
            },
        }),
    )
    .await.unwrap();
    let validation = api
        .ok(
            reqwest::Method::POST,
            &format!(
                "/v1/vaults/{second_vault}/credentials/{}/mcp_oauth_validate",
                second_credential["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(validation["status"], "valid", "{validation:#}");
    assert_eq!(validation["refresh"]["status"], "succeeded");
    assert_eq!(
        second.token_requests()[0].body["client_secret"],
        "second-client-secret"
    );

    // A refresh that fails is announced to webhook subscribers.
    let receiver = MockReceiver::start().unwrap();
    api.ok(
        reqwest::Method::POST,
        "/v1/organizations/webhooks",
        Some(json!({"url": receiver.url(), "enabled_events": ["vault_credential.refresh_failed"]})),
    )
    .await
    .unwrap();
    let third = MockMcp::start().unwrap();
    third.require_bearer("never-issued");
    third.oauth_client("client-3", None, "the-right-refresh", "never-issued");
    let (third_vault, third_credential) = api
        .vault_with(json!({
            "type": "mcp_oauth",
            "mcp_server_url": third.url(),
            "access_token": "third-stale-token",
            "refresh": {
                "refresh_token": "third-wrong-refresh",
                "client_id": "client-3",
                "token_endpoint": third.token_endpoint(),
                "token_endpoint_auth": {"type": "none"},
            },
        }))
        .await
        .unwrap();
    let validation = api
        .ok(
            reqwest::Method::POST,
            &format!(
                "/v1/vaults/{third_vault}/credentials/{}/mcp_oauth_validate",
                third_credential["id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(validation["status"], "invalid", "{validation:#}");
    assert_eq!(validation["mcp_probe"]["method"], "initialize");
    assert_eq!(validation["mcp_probe"]["http_response"]["status_code"], 401);
    assert_eq!(validation["refresh"]["status"], "failed");
    assert_eq!(validation["refresh"]["http_response"]["status_code"], 400);
    let announced = receiver.wait_for(1, WAIT).await.unwrap();
    let data = &announced[0].json()["data"];
    assert_eq!(data["type"], "vault_credential.refresh_failed");
    assert_eq!(data["id"], third_credential["id"]);
    assert_eq!(data["vault_id"], third_vault.as_str());
    let secrets = [
        STALE,
        FRESH,
        REFRESH,
        CLIENT_SECRET,
        "second-fresh-token",
        "second-stale-token",
        "second-refresh",
        "second-client-secret",
        "third-stale-token",
        "third-wrong-refresh",
    ];
    assert_no_secret("a validation", &validation.to_string(), &secrets);
    assert_nothing_leaks(&api, &platform, &model, &id, &secrets).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_that_are_down_or_refuse_the_token_are_reported_and_the_session_goes_on() {
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/mcp", listener.local_addr().unwrap())
    };
    let locked = MockMcp::start().unwrap();
    lookup_tool(&locked, "never");
    locked.require_bearer("the-right-token");
    let model = MockModel::start().unwrap();
    model.push(Reply::text("Carrying on without them."));
    model.push(Reply::text("Still here."));
    model.push(Reply::text("Limited."));
    let platform = start(&model);
    let api = Api::new(&platform);
    let (vault_id, _) = api.vault_with(
        json!({"type": "static_bearer", "mcp_server_url": locked.url(), "token": "wrong-token-8d7c"}),
    )
    .await.unwrap();
    let id = api
        .session_in(
            mcp_agent(&[("down", &down), ("locked", &locked.url())], None),
            json!({"type": "unrestricted"}),
            &[&vault_id],
        )
        .await
        .unwrap();
    for (turn, text) in ["Carrying on without them.", "Still here."]
        .iter()
        .enumerate()
    {
        api.send_message(&id, "hello").await.unwrap();
        let deadline = Instant::now() + WAIT;
        let events = loop {
            let events = idle_events(&api, &id).await;
            if of_type(&events, "agent.message").len() == turn + 1 {
                break events;
            }
            assert!(Instant::now() < deadline, "{events:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let errors = of_type(&events, "session.error");
        assert_eq!(
            errors.len(),
            2 * (turn + 1),
            "each turn tries again: {events:#?}"
        );
        let last_two = &errors[errors.len() - 2..];
        let by_server = |name: &str| {
            last_two
                .iter()
                .find(|e| e["error"]["mcp_server_name"] == name)
                .unwrap_or_else(|| panic!("no error for {name}: {events:#?}"))
        };
        assert_eq!(
            by_server("down")["error"]["type"],
            "mcp_connection_failed_error"
        );
        assert_eq!(
            by_server("locked")["error"]["type"],
            "mcp_authentication_failed_error"
        );
        assert_eq!(
            by_server("down")["error"]["retry_status"]["type"],
            "retrying"
        );
        let message = of_type(&events, "agent.message");
        assert_eq!(message.last().unwrap()["content"][0]["text"], *text);
        assert_eq!(events.last().unwrap()["stop_reason"]["type"], "end_turn");
        let offered = tool_names(&model.requests()[turn].body);
        assert!(
            offered.iter().all(|name| !name.starts_with("mcp__")),
            "{offered:?}"
        );
    }
    assert!(locked.calls().is_empty());

    // A limited environment reaches MCP servers only with allow_mcp_servers.
    let limited = api
        .session_in(
            mcp_agent(&[("locked", &locked.url())], None),
            json!({"type": "limited", "allowed_hosts": [], "allow_mcp_servers": false}),
            &[&vault_id],
        )
        .await
        .unwrap();
    let before = locked.requests().len();
    api.send_message(&limited, "hello").await.unwrap();
    let events = idle_events(&api, &limited).await;
    let errors = of_type(&events, "session.error");
    assert_eq!(errors.len(), 1, "{events:#?}");
    assert_eq!(errors[0]["error"]["type"], "mcp_connection_failed_error");
    assert!(
        errors[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allow_mcp_servers"),
        "{errors:#?}"
    );
    assert_eq!(
        locked.requests().len(),
        before,
        "the server was not contacted"
    );
    assert_nothing_leaks(&api, &platform, &model, &id, &["wrong-token-8d7c"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_during_an_mcp_call_does_not_call_the_server_twice() {
    let mcp = MockMcp::start().unwrap();
    lookup_tool(&mcp, "answered into the void");
    mcp.hold_calls();
    let model = MockModel::start().unwrap();
    model.push(Reply::tool_use(
        "toolu_1",
        "mcp__docs__lookup",
        json!({"q": "crash"}),
    ));
    model.push(Reply::text("Recovered."));
    let state = tempfile::tempdir().unwrap();
    let mut first = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &model.base_url())
        .state_dir(state.path())
        .start()
        .unwrap();
    let api = Api::new(&first);
    let id = api
        .session_in(
            mcp_agent(&[("docs", &mcp.url())], Some("always_allow")),
            json!({"type": "unrestricted"}),
            &[],
        )
        .await
        .unwrap();
    api.send_message(&id, "Call it").await.unwrap();
    let deadline = Instant::now() + WAIT;
    while mcp.calls().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the call never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Running: the agent's tools cannot change now.
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/v1/sessions/{id}"),
            Some(json!({"agent": {"mcp_servers": []}})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("running"),
        "{body}"
    );

    first.stop();
    mcp.release_calls();
    let second = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &model.base_url())
        .state_of(&first)
        .start()
        .unwrap();
    let api = Api::new(&second);
    let events = idle_events(&api, &id).await;
    assert_eq!(
        mcp.calls().len(),
        1,
        "the server was called once: {events:#?}"
    );
    let uses = of_type(&events, "agent.mcp_tool_use");
    let results = of_type(&events, "agent.mcp_tool_result");
    assert_eq!(uses.len(), 1);
    assert_eq!(results.len(), 1, "{events:#?}");
    assert_eq!(results[0]["is_error"], true);
    assert!(
        results[0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("not sent again"),
        "{results:#?}"
    );
    assert_eq!(
        of_type(&events, "agent.message").last().unwrap()["content"][0]["text"],
        "Recovered."
    );
}
