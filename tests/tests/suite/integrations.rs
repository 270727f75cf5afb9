//! Integrations: signed Slack, Linear and GitHub deliveries start and
//! continue sessions of the integration's tenant, and each turn's answer
//! goes back to the right thread, once, through the outbox: retried past
//! rate limits and outages, dead after a permanent refusal, re-driven by
//! hand, and delivered after a crash. Forged, unsigned, stale and repeated
//! deliveries change nothing. The providers are fakes on loopback.

use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock_providers::FakeProviders;
use openma_e2e::mock_providers::Scripted;
use openma_e2e::mock_providers::SignedDelivery;
use openma_e2e::mock_providers::github_comment;
use openma_e2e::mock_providers::github_delivery;
use openma_e2e::mock_providers::github_ping;
use openma_e2e::mock_providers::linear_created;
use openma_e2e::mock_providers::linear_delivery;
use openma_e2e::mock_providers::linear_prompted;
use openma_e2e::mock_providers::now_ms;
use openma_e2e::mock_providers::now_s;
use openma_e2e::mock_providers::slack_bot_message;
use openma_e2e::mock_providers::slack_delivery;
use openma_e2e::mock_providers::slack_mention;
use openma_e2e::mock_providers::slack_thread_message;
use openma_e2e::mock_providers::slack_url_verification;
use openma_e2e::unique;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;

const SLACK_SECRET: &str = "slack_signing_secret_e2e_0123";
const LINEAR_SECRET: &str = "lin_wh_secret_e2e_0123456789";
const GITHUB_SECRET: &str = "gh_webhook_secret_e2e_0123";
const BOT_USER: &str = "U0BOT";

/// A model that answers each turn with the last user text it was sent,
/// so that every reply names the message it answers.
fn echo_model() -> MockModel {
    let mock = MockModel::start().unwrap();
    mock.respond_with(|request| {
        let said = request["messages"]
            .as_array()
            .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
            .map(|m| match &m["content"] {
                Value::String(text) => text.clone(),
                blocks => blocks
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .unwrap_or_default();
        Reply::text(&format!("You said: {said}"))
    });
    mock
}

/// A platform wired to the fake providers, with the three signing secrets
/// and a quick outbox.
fn platform(mock: &MockModel, fakes: &FakeProviders, extra: &[(&str, &str)]) -> Platform {
    let mut builder = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("SLACK_SIGNING_SECRET", SLACK_SECRET)
        .env("LINEAR_WEBHOOK_SECRET", LINEAR_SECRET)
        .env("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
        .env("SLACK_API_BASE", &fakes.slack_base())
        .env("LINEAR_API_BASE", &fakes.linear_base())
        .env("GITHUB_API_BASE", &fakes.github_base())
        .env("OUTBOX_RETRY_BASE_MS", "200");
    for (name, value) in extra {
        builder = builder.env(name, value);
    }
    builder.start().unwrap()
}

/// Installs an integration for the caller's tenant; returns it.
async fn install(api: &Api, provider: &str, external_id: &str, token: &str, extra: Value) -> Value {
    let (env, agent) = api
        .env_and_agent(agent(&format!("{provider}-agent")))
        .await
        .unwrap();
    let mut body = json!({
        "provider": provider,
        "external_id": external_id,
        "access_token": token,
        "agent_id": agent["id"],
        "environment_id": env["id"],
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let created = api
        .ok(reqwest::Method::POST, "/v1/integrations", Some(body))
        .await
        .unwrap();
    assert!(!created.to_string().contains(token), "{created}");
    created
}

/// Posts a delivery to `path` (through the main worker, as a provider
/// would); returns the status and the body.
async fn post(platform: &Platform, path: &str, delivery: &SignedDelivery) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(platform.url(path))
        .body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn slack(platform: &Platform, body: &str) -> (u16, Value) {
    post(
        platform,
        "/integrations/slack/events",
        &slack_delivery(SLACK_SECRET, body, now_s()),
    )
    .await
}

/// The tenant's sessions, newest first.
async fn sessions(api: &Api) -> Vec<Value> {
    api.ok(reqwest::Method::GET, "/v1/sessions?limit=100", None)
        .await
        .unwrap()["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn user_texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "user.message")
        .map(|e| {
            e["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The tenant's deliveries with `status`.
async fn deliveries(api: &Api, status: &str) -> Vec<Value> {
    api.ok(
        reqwest::Method::GET,
        &format!("/v1/integrations/deliveries?status={status}"),
        None,
    )
    .await
    .unwrap()["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until the tenant has `count` deliveries with `status`.
async fn wait_deliveries(api: &Api, status: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = deliveries(api, status).await;
        if found.len() >= count {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{count} {status} deliveries expected, found {found:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_mentions_start_a_session_and_thread_replies_continue_it() {
    let mock = echo_model();
    let fakes = FakeProviders::start().unwrap();
    let platform = platform(&mock, &fakes, &[]);
    let api = Api::new(&platform);
    let team = format!("T{}", unique());
    let token = format!("xoxb-{}", unique());
    let integration = install(&api, "slack", &team, &token, json!({"name": "Slack"})).await;
    assert_eq!(integration["webhook_path"], "/integrations/slack/events");

    // The Request URL check answers its challenge.
    let (status, body) = slack(&platform, &slack_url_verification("ch4llenge")).await;
    assert_eq!(
        (status, body["challenge"].as_str()),
        (200, Some("ch4llenge"))
    );

    // A mention starts a session; the answer goes to the mention's thread.
    let mention = slack_mention(
        "Ev1",
        &team,
        "C1",
        "1700000000.000100",
        None,
        BOT_USER,
        "U1",
        "what is up?",
    );
    let (status, _) = slack(&platform, &mention).await;
    assert_eq!(status, 200);
    let posted = fakes.wait_for("slack", 1, WAIT).await.unwrap();
    let reply = &posted[0];
    assert_eq!(reply.path, "/chat.postMessage");
    assert_eq!(reply.body["channel"], "C1");
    assert_eq!(reply.body["thread_ts"], "1700000000.000100");
    assert_eq!(reply.body["text"], "You said: what is up?");
    assert_eq!(reply.bearer().as_deref(), Some(token.as_str()));
    assert!(
        reply.headers["user-agent"].starts_with("openma"),
        "{:?}",
        reply.headers
    );

    // The same event again (Slack's retry), and the same message as a
    // `message` event, change nothing.
    let retried = slack_delivery(SLACK_SECRET, &mention, now_s());
    let mut retried_headers = retried.clone();
    retried_headers
        .headers
        .push(("X-Slack-Retry-Num".to_owned(), "1".to_owned()));
    let (status, body) = post(&platform, "/integrations/slack/events", &retried_headers).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("deduplicated"))
    );
    let echo = slack_thread_message(
        "Ev1b",
        &team,
        "C1",
        "1700000000.000100",
        "1700000000.000100",
        BOT_USER,
        "U1",
        "what is up?",
    );
    let (status, _) = slack(&platform, &echo).await;
    assert_eq!(status, 200);

    // The bot's own message in the thread is not an input; a person's is.
    let own = slack_bot_message(
        "Ev2",
        &team,
        "C1",
        "1700000000.000200",
        "1700000000.000100",
        BOT_USER,
        "You said: what is up?",
    );
    let (status, body) = slack(&platform, &own).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")));
    let follow_up = slack_thread_message(
        "Ev3",
        &team,
        "C1",
        "1700000000.000300",
        "1700000000.000100",
        BOT_USER,
        "U1",
        "and now?",
    );
    let (status, _) = slack(&platform, &follow_up).await;
    assert_eq!(status, 200);
    let posted = fakes.wait_for("slack", 2, WAIT).await.unwrap();
    assert_eq!(posted[1].body["text"], "You said: and now?");
    assert_eq!(posted[1].body["thread_ts"], "1700000000.000100");

    // One session, of the integration's tenant, naming the thread.
    let found = sessions(&api).await;
    let ours: Vec<&Value> = found
        .iter()
        .filter(|s| s["metadata"]["integration_id"] == integration["id"])
        .collect();
    assert_eq!(ours.len(), 1, "{found:#?}");
    assert_eq!(ours[0]["metadata"]["integration"], "slack");
    let id = ours[0]["id"].as_str().unwrap();
    let events = api.events(id).await.unwrap();
    assert_eq!(user_texts(&events), ["what is up?", "and now?"]);

    // A message in a thread the agent is not part of starts nothing.
    let stranger = slack_thread_message(
        "Ev4",
        &team,
        "C1",
        "1700000000.000500",
        "1700000000.000400",
        BOT_USER,
        "U1",
        "hello?",
    );
    let (status, body) = slack(&platform, &stranger).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")));

    // Exactly two replies, both sent once.
    let sent = wait_deliveries(&api, "sent", 2).await;
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(sent.iter().all(|d| d["attempts"] == 1));
    assert_eq!(fakes.requests_for("slack").len(), 2);
    assert!(
        !platform.output().contains(&token),
        "the token reached a log line"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_unsigned_and_stale_deliveries_are_refused_and_create_nothing() {
    let mock = echo_model();
    let fakes = FakeProviders::start().unwrap();
    let platform = platform(&mock, &fakes, &[]);
    let api = Api::new(&platform);
    let team = format!("T{}", unique());
    install(&api, "slack", &team, "xoxb-forged-test", json!({})).await;
    let repo = format!("acme/app-{}", unique());
    install(
        &api,
        "github",
        &repo,
        "ghp_forged",
        json!({"bot_login": "oma-bot"}),
    )
    .await;
    install(
        &api,
        "linear",
        &format!("org-{}", unique()),
        "lin_forged",
        json!({}),
    )
    .await;

    let mention = slack_mention(
        "EvF1",
        &team,
        "C1",
        "1700000001.000100",
        None,
        BOT_USER,
        "U1",
        "hi",
    );
    // Signed with another secret.
    let forged = slack_delivery("not-the-secret", &mention, now_s());
    assert_eq!(
        post(&platform, "/integrations/slack/events", &forged)
            .await
            .0,
        401
    );
    // Unsigned.
    let unsigned = SignedDelivery {
        body: mention.clone(),
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
    };
    assert_eq!(
        post(&platform, "/integrations/slack/events", &unsigned)
            .await
            .0,
        401
    );
    // Stale: one second past Slack's five minutes.
    let stale = slack_delivery(SLACK_SECRET, &mention, now_s() - 301);
    assert_eq!(
        post(&platform, "/integrations/slack/events", &stale)
            .await
            .0,
        401
    );
    // A body changed after signing.
    let mut tampered = slack_delivery(SLACK_SECRET, &mention, now_s());
    tampered.body = tampered.body.replace("hi", "hello");
    assert_eq!(
        post(&platform, "/integrations/slack/events", &tampered)
            .await
            .0,
        401
    );

    let comment = github_comment(&repo, 7, 1, "alice", "@oma-bot please look");
    let forged = github_delivery("wrong", &comment, "issue_comment", "gh-forged-1");
    assert_eq!(
        post(&platform, "/integrations/github/webhook", &forged)
            .await
            .0,
        401
    );
    let stale_linear = linear_created("org-x", "ses-stale", "Do something", now_ms() - 61_000);
    let stale = linear_delivery(LINEAR_SECRET, &stale_linear, "lin-stale-1");
    assert_eq!(
        post(&platform, "/integrations/linear/webhook", &stale)
            .await
            .0,
        401
    );
    let forged = linear_delivery(
        "wrong",
        &linear_created("org-x", "ses-f", "x", now_ms()),
        "lin-f",
    );
    assert_eq!(
        post(&platform, "/integrations/linear/webhook", &forged)
            .await
            .0,
        401
    );

    // GitHub's ping is answered.
    let ping = github_delivery(GITHUB_SECRET, &github_ping(), "ping", "gh-ping-1");
    assert_eq!(
        post(&platform, "/integrations/github/webhook", &ping)
            .await
            .0,
        200
    );

    assert!(
        sessions(&api).await.is_empty(),
        "a refused delivery created a session"
    );
    assert_eq!(mock.served(), 0);
    assert!(fakes.requests().is_empty());

    // Each refusal is counted, by provider.
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, _, body) = api
            .raw(reqwest::Method::GET, "/v1/operator/metrics", None, None)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        let rejected = |provider: &str| {
            text.lines().find_map(|line| {
                line.strip_prefix(&format!(
                    "oma_integration_deliveries_total{{outcome=\"rejected\",provider=\"{provider}\"}} "
                ))
                .map(str::to_owned)
            })
        };
        if rejected("slack").as_deref() == Some("4")
            && rejected("github").as_deref() == Some("1")
            && rejected("linear").as_deref() == Some("2")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refusals were not counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn github_mentions_engage_the_agent_and_rate_limits_and_outages_are_survived() {
    let mock = echo_model();
    let fakes = FakeProviders::start().unwrap();
    let platform = platform(&mock, &fakes, &[]);
    let api = Api::new(&platform);
    let repo = format!("acme/app-{}", unique());
    let token = format!("ghp_{}", unique());
    install(
        &api,
        "github",
        &repo,
        &token,
        json!({"bot_login": "oma-bot"}),
    )
    .await;

    // A comment that does not mention the bot, and the bot's own comment,
    // engage nothing.
    let plain = github_comment(&repo, 7, 1, "alice", "just a note");
    let (status, body) = post(
        &platform,
        "/integrations/github/webhook",
        &github_delivery(GITHUB_SECRET, &plain, "issue_comment", "gh-1"),
    )
    .await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")));
    let own = github_comment(&repo, 7, 2, "oma-bot", "@oma-bot talking to myself");
    let (status, body) = post(
        &platform,
        "/integrations/github/webhook",
        &github_delivery(GITHUB_SECRET, &own, "issue_comment", "gh-2"),
    )
    .await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("ignored")));

    // The reply meets a rate limit, then two outages, and lands once.
    fakes.push("github", Scripted::rate_limited("github", 1));
    fakes.push("github", Scripted::server_error());
    fakes.push("github", Scripted::server_error());
    let asked = github_comment(&repo, 7, 3, "alice", "@oma-bot please fix the build");
    let delivery = github_delivery(GITHUB_SECRET, &asked, "issue_comment", "gh-3");
    let (status, body) = post(&platform, "/integrations/github/webhook", &delivery).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("received")));
    // GitHub's manual redelivery carries the same id: nothing more.
    let (status, body) = post(&platform, "/integrations/github/webhook", &delivery).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("deduplicated"))
    );

    let sent = wait_deliveries(&api, "sent", 1).await;
    assert_eq!(sent[0]["attempts"], 4, "{sent:#?}");
    let calls = fakes.requests_for("github");
    assert_eq!(calls.len(), 4);
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [403, 503, 503, 201]);
    // The rate limit's Retry-After (1 s) was waited out.
    assert!(calls[1].at.duration_since(calls[0].at) >= Duration::from_millis(950));
    let landed = &calls[3];
    assert_eq!(landed.path, format!("/repos/{repo}/issues/7/comments"));
    let text = landed.body["body"].as_str().unwrap();
    assert!(text.starts_with("You said: please fix the build"), "{text}");
    assert!(text.contains("<!-- oma-reply:"), "{text}");
    assert_eq!(landed.bearer().as_deref(), Some(token.as_str()));
    assert!(calls.iter().all(|c| c.headers.contains_key("user-agent")));
    // The next mention on the same issue continues the session.
    let again = github_comment(&repo, 7, 4, "bob", "Thanks @oma-bot, now the docs");
    let (status, _) = post(
        &platform,
        "/integrations/github/webhook",
        &github_delivery(GITHUB_SECRET, &again, "issue_comment", "gh-4"),
    )
    .await;
    assert_eq!(status, 200);
    let calls = fakes.wait_for("github", 5, WAIT).await.unwrap();
    let text = calls[4].body["body"].as_str().unwrap();
    assert!(
        text.starts_with("You said: Thanks , now the docs"),
        "{text}"
    );
    let found = sessions(&api).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let events = api.events(found[0]["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(
        user_texts(&events),
        ["please fix the build", "Thanks , now the docs"]
    );
    assert!(
        !platform.output().contains(&token),
        "the token reached a log line"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn linear_agent_sessions_get_a_thought_then_each_response() {
    let mock = echo_model();
    let fakes = FakeProviders::start().unwrap();
    let platform = platform(&mock, &fakes, &[]);
    let api = Api::new(&platform);
    let org = format!("org-{}", unique());
    let token = format!("lin_oauth_{}", unique());
    install(&api, "linear", &org, &token, json!({})).await;

    let created = linear_created(&org, "agent-ses-1", "Fix ENG-1: the login page", now_ms());
    let (status, _) = post(
        &platform,
        "/integrations/linear/webhook",
        &linear_delivery(LINEAR_SECRET, &created, "lin-1"),
    )
    .await;
    assert_eq!(status, 200);
    let calls = fakes.wait_for("linear", 2, WAIT).await.unwrap();
    let input = |i: usize| calls[i].body["variables"]["input"].clone();
    assert_eq!(input(0)["content"]["type"], "thought");
    assert_eq!(input(0)["agentSessionId"], "agent-ses-1");
    assert_eq!(input(1)["content"]["type"], "response");
    assert_eq!(
        input(1)["content"]["body"],
        "You said: Fix ENG-1: the login page"
    );
    assert_ne!(input(0)["id"], input(1)["id"]);
    assert_eq!(calls[1].bearer().as_deref(), Some(token.as_str()));

    let prompted = linear_prompted(
        &org,
        "agent-ses-1",
        "act-2",
        "Also the logout page",
        now_ms(),
    );
    let (status, _) = post(
        &platform,
        "/integrations/linear/webhook",
        &linear_delivery(LINEAR_SECRET, &prompted, "lin-2"),
    )
    .await;
    assert_eq!(status, 200);
    let calls = fakes.wait_for("linear", 3, WAIT).await.unwrap();
    let last = &calls[2].body["variables"]["input"];
    assert_eq!(last["content"]["type"], "response");
    assert_eq!(last["content"]["body"], "You said: Also the logout page");
    assert_eq!(sessions(&api).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_reply_is_dead_listed_and_redriven_under_the_same_key() {
    let mock = echo_model();
    let fakes = FakeProviders::start().unwrap();
    let platform = platform(&mock, &fakes, &[("OUTBOX_MAX_ATTEMPTS", "3")]);
    let api = Api::new(&platform);
    let team = format!("T{}", unique());
    let token = format!("xoxb-{}", unique());
    install(&api, "slack", &team, &token, json!({})).await;

    // A permanent refusal is dead at once.
    fakes.push("slack", Scripted::permanent("slack"));
    let mention = slack_mention(
        "EvD1",
        &team,
        "C9",
        "1700000002.000100",
        None,
        BOT_USER,
        "U1",
        "first",
    );
    assert_eq!(slack(&platform, &mention).await.0, 200);
    let dead = wait_deliveries(&api, "dead", 1).await;
    assert_eq!(dead[0]["attempts"], 1);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("channel_not_found"),
        "{dead:#?}"
    );
    assert!(!dead[0].to_string().contains(&token));

    // A run of outages longer than the attempts allowed is dead too.
    for _ in 0..3 {
        fakes.push("slack", Scripted::server_error());
    }
    let second = slack_mention(
        "EvD2",
        &team,
        "C9",
        "1700000003.000100",
        None,
        BOT_USER,
        "U1",
        "second",
    );
    assert_eq!(slack(&platform, &second).await.0, 200);
    let dead = wait_deliveries(&api, "dead", 2).await;
    let exhausted = dead.iter().find(|d| d["attempts"] == 3).unwrap();
    assert!(
        exhausted["last_error"].as_str().unwrap().contains("503"),
        "{dead:#?}"
    );
    assert_eq!(fakes.requests_for("slack").len(), 4);

    // Re-driven by hand: sent, with the same reply key.
    let first = dead.iter().find(|d| d["attempts"] == 1).unwrap();
    let id = first["id"].as_str().unwrap();
    let redriven = api
        .ok(
            reqwest::Method::POST,
            &format!("/v1/integrations/deliveries/{id}/retry"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(redriven["status"], "pending");
    let sent = wait_deliveries(&api, "sent", 1).await;
    assert_eq!(sent[0]["id"], first["id"]);
    let calls = fakes.requests_for("slack");
    assert_eq!(calls.len(), 5);
    assert_eq!(
        calls[4].body["metadata"]["event_payload"]["reply_key"],
        calls[0].body["metadata"]["event_payload"]["reply_key"]
    );
    assert_eq!(calls[4].body["text"], "You said: first");
    // A sent delivery is not sent again.
    let (status, _) = api
        .call(
            reqwest::Method::POST,
            &format!("/v1/integrations/deliveries/{id}/retry"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_the_turn_and_the_reply_still_delivers_it_once() {
    let mock = echo_model();
    let fakes = FakeProviders::start().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut first = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("SLACK_SIGNING_SECRET", SLACK_SECRET)
        .env("SLACK_API_BASE", &fakes.slack_base())
        .env("OUTBOX_RETRY_BASE_MS", "4000")
        .state_dir(state.path())
        .start()
        .unwrap();
    let api = Api::new(&first);
    let team = format!("T{}", unique());
    install(&api, "slack", &team, "xoxb-crash", json!({})).await;
    // The first attempt fails; the retry is due a few seconds later, after
    // the platform has died.
    fakes.push("slack", Scripted::server_error());
    let mention = slack_mention(
        "EvC1",
        &team,
        "C5",
        "1700000004.000100",
        None,
        BOT_USER,
        "U1",
        "survive",
    );
    assert_eq!(slack(&first, &mention).await.0, 200);
    fakes.wait_for("slack", 1, WAIT).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while deliveries(&api, "pending")
        .await
        .first()
        .map(|d| d["attempts"].clone())
        != Some(json!(1))
    {
        assert!(
            Instant::now() < deadline,
            "the failed attempt was not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.stop();

    let second = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .env("SLACK_SIGNING_SECRET", SLACK_SECRET)
        .env("SLACK_API_BASE", &fakes.slack_base())
        .env("OUTBOX_RETRY_BASE_MS", "4000")
        .state_of(&first)
        .start()
        .unwrap();
    let api = Api::new(&second);
    let sent = wait_deliveries(&api, "sent", 1).await;
    assert_eq!(sent[0]["attempts"], 2);
    let calls = fakes.requests_for("slack");
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[1].body["text"], "You said: survive");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_secret_rotation_reseals_integration_tokens() {
    let mock = echo_model();
    let fakes = FakeProviders::start().unwrap();
    let state = tempfile::tempdir().unwrap();
    let api_key = format!("sk-oma-integration-rotation-{}", unique());
    let old_secret = "old-root-secret-cccccccccccccccccccccccccccccccccccccccc";
    let new_secret = "new-root-secret-dddddddddddddddddddddddddddddddddddddddd";
    let start = |secret: &str, previous: Option<&str>| {
        let mut builder = Platform::builder()
            .env("ANTHROPIC_BASE_URL", &mock.base_url())
            .env("SLACK_SIGNING_SECRET", SLACK_SECRET)
            .env("SLACK_API_BASE", &fakes.slack_base())
            .state_dir(state.path())
            .keys(&api_key, secret);
        if let Some(previous) = previous {
            builder = builder.env("PLATFORM_ROOT_SECRET_PREVIOUS", previous);
        }
        builder.start().unwrap()
    };
    let team = format!("T{}", unique());
    let token = format!("xoxb-{}", unique());
    {
        let platform = start(old_secret, None);
        install(&Api::new(&platform), "slack", &team, &token, json!({})).await;
    }
    {
        let platform = start(new_secret, Some(old_secret));
        let report = Api::new(&platform)
            .ok(
                reqwest::Method::POST,
                "/v1/operator/credentials/reencrypt",
                None,
            )
            .await
            .unwrap();
        assert_eq!(report["reencrypted"], 1, "{report:#}");
        assert_eq!(report["undecryptable"], 0, "{report:#}");
    }
    // Without the previous secret, the token still opens.
    let platform = start(new_secret, None);
    let mention = slack_mention(
        "EvR1",
        &team,
        "C7",
        "1700000005.000100",
        None,
        BOT_USER,
        "U1",
        "rotated",
    );
    assert_eq!(slack(&platform, &mention).await.0, 200);
    let posted = fakes.wait_for("slack", 1, WAIT).await.unwrap();
    assert_eq!(posted[0].bearer().as_deref(), Some(token.as_str()));
    assert_eq!(posted[0].body["text"], "You said: rotated");
}
