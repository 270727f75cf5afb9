//! The usage ledger: `GET /v1/usage` equals the sum of the tenant's
//! sessions' `usage`, grouped by day, agent and model; a contribution
//! written again after a crash counts once; bad queries are refused.

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;
use super::sessions::start;

/// The figures a session's `usage` and a usage report share, plus the
/// ledger's own counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Usage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
    model_requests: u64,
    tool_calls: u64,
}

impl Usage {
    /// A report row's (or its totals') figures.
    fn of_report(row: &Value) -> Self {
        let n = |name: &str| {
            row[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: {row}"))
        };
        Self {
            input: n("input_tokens"),
            output: n("output_tokens"),
            cache_read: n("cache_read_input_tokens"),
            cache_creation: n("cache_creation_input_tokens"),
            model_requests: n("model_requests"),
            tool_calls: n("tool_calls"),
        }
    }

    /// A session's `usage`, with its requests and tool calls counted from
    /// its log.
    async fn of_session(api: &Api, id: &str) -> Self {
        let session = api
            .ok(Method::GET, &format!("/v1/sessions/{id}"), None)
            .await
            .unwrap();
        let usage = &session["usage"];
        let n = |value: &Value| value.as_u64().unwrap_or(0);
        let events = api.events(id).await.unwrap();
        let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count() as u64;
        Self {
            input: n(&usage["input_tokens"]),
            output: n(&usage["output_tokens"]),
            cache_read: n(&usage["cache_read_input_tokens"]),
            cache_creation: n(&usage["cache_creation"]["ephemeral_5m_input_tokens"]),
            model_requests: count("span.model_request_end"),
            tool_calls: count("agent.tool_result") + count("agent.mcp_tool_result"),
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            input: self.input + other.input,
            output: self.output + other.output,
            cache_read: self.cache_read + other.cache_read,
            cache_creation: self.cache_creation + other.cache_creation,
            model_requests: self.model_requests + other.model_requests,
            tool_calls: self.tool_calls + other.tool_calls,
        }
    }
}

/// `GET /v1/usage?{query}`, which must answer 200.
async fn report(api: &Api, query: &str) -> Value {
    api.ok(Method::GET, &format!("/v1/usage?{query}"), None)
        .await
        .unwrap()
}

/// Polls the report until its totals are `expected` (the ledger is written
/// in the background of the turn); returns the report.
async fn report_once_recorded(api: &Api, expected: Usage) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let report = report(api, "").await;
        if Usage::of_report(&report["totals"]) == expected {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "the ledger does not hold {expected:?}: {report:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `text` and waits for the turn to end.
async fn turn(api: &Api, session: &str, text: &str) {
    let mut stream = api.stream(session, None, "").await.unwrap();
    api.send_message(session, text).await.unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
}

/// A new tenant of `platform`: its id and its client.
async fn tenant(platform: &Platform, name: &str) -> (String, Api) {
    let created = Api::new(platform)
        .ok(Method::POST, "/v1/tenants", Some(json!({"name": name})))
        .await
        .unwrap();
    let key = created["api_key"]["key"].as_str().unwrap();
    (
        created["id"].as_str().unwrap().to_owned(),
        Api::with_key(platform, key),
    )
}

fn agent_on(name: &str, model: &str) -> Value {
    let mut agent = agent(name);
    agent["model"] = json!(model);
    agent
}

/// The rows of a report by their group's value.
fn rows_by_group(report: &Value, key: &str) -> Vec<(String, Usage)> {
    report["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let group = row["group"].as_object().unwrap();
            assert_eq!(group.len(), 1, "{row}");
            (
                group[key].as_str().unwrap().to_owned(),
                Usage::of_report(row),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_equals_the_sum_of_the_sessions_usage_by_day_agent_and_model() {
    let mock = MockModel::start().unwrap();
    let platform = start(&mock);
    let (tenant_id, api) = tenant(&platform, "ledger").await;

    // Agent a: a bash call, then an answer, with prompt-cache tokens.
    mock.push(Reply::Message(
        Message::new()
            .tool_use("toolu_1", "bash", json!({"command": "echo ledger"}))
            .usage(120, 30)
            .cache_usage(40, 25),
    ));
    mock.push(Reply::Message(
        Message::new()
            .text("Done.")
            .usage(200, 12)
            .cache_usage(160, 0),
    ));
    let a = api
        .session_with_agent(agent_on("ledger-a", "claude-test-model"))
        .await
        .unwrap();
    let a_id = a["id"].as_str().unwrap();
    turn(&api, a_id, "Run it").await;
    // Agent b, on another model: one answer.
    mock.push(Reply::Message(
        Message::new().text("Hi.").usage(33, 7).cache_usage(0, 11),
    ));
    let b = api
        .session_with_agent(agent_on("ledger-b", "claude-other-model"))
        .await
        .unwrap();
    let b_id = b["id"].as_str().unwrap();
    turn(&api, b_id, "Say hi").await;

    let a_usage = Usage::of_session(&api, a_id).await;
    let b_usage = Usage::of_session(&api, b_id).await;
    assert_eq!((a_usage.model_requests, a_usage.tool_calls), (2, 1));
    assert_eq!(a_usage.cache_creation, 25, "{a_usage:?}");
    let by_day = report_once_recorded(&api, a_usage.plus(b_usage)).await;

    // By day (the default): each model request and tool call counts on the
    // UTC day it ended.
    assert_eq!(by_day["type"], "usage_report");
    assert_eq!(by_day["group_by"], "day");
    assert_eq!(by_day["tenant_id"], tenant_id.as_str());
    assert_eq!(
        (&by_day["starting_at"], &by_day["ending_at"]),
        (&Value::Null, &Value::Null)
    );
    let mut days: Vec<String> = Vec::new();
    for id in [a_id, b_id] {
        for event in api.events(id).await.unwrap() {
            if ["span.model_request_end", "agent.tool_result"]
                .contains(&event["type"].as_str().unwrap())
            {
                let day = event["processed_at"].as_str().unwrap()[..10].to_owned();
                if !days.contains(&day) {
                    days.push(day);
                }
            }
        }
    }
    days.sort();
    let rows = rows_by_group(&by_day, "day");
    assert_eq!(
        rows.iter().map(|(day, _)| day.clone()).collect::<Vec<_>>(),
        days
    );
    let summed = rows
        .iter()
        .fold(Usage::default(), |sum, (_, usage)| sum.plus(*usage));
    assert_eq!(summed, a_usage.plus(b_usage));
    // Sandbox time: the bash call's wall time.
    assert!(
        by_day["totals"]["sandbox_seconds"].as_f64().unwrap() > 0.0,
        "{by_day:#}"
    );

    // By agent and by model: each session's usage on its own row.
    let by_agent = rows_by_group(&report(&api, "group_by=agent").await, "agent_id");
    let mut expected = vec![
        (a["agent"]["id"].as_str().unwrap().to_owned(), a_usage),
        (b["agent"]["id"].as_str().unwrap().to_owned(), b_usage),
    ];
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(by_agent, expected);
    let by_model = rows_by_group(&report(&api, "group_by=model").await, "model");
    assert_eq!(
        by_model,
        vec![
            ("claude-other-model".to_owned(), b_usage),
            ("claude-test-model".to_owned(), a_usage),
        ]
    );

    // Bounds select whole UTC days.
    let created = a["created_at"].as_str().unwrap();
    let bounded = report(
        &api,
        &format!("starting_at={created}&ending_at=2999-01-01T00:00:00Z&group_by=model"),
    )
    .await;
    assert_eq!(Usage::of_report(&bounded["totals"]), a_usage.plus(b_usage));
    assert!(bounded["starting_at"].is_string());
    for query in [
        "starting_at=2999-01-01T00:00:00Z",
        "ending_at=2000-01-01T00:00:00Z",
    ] {
        let empty = report(&api, query).await;
        assert_eq!(empty["data"], json!([]), "{query}");
        assert_eq!(Usage::of_report(&empty["totals"]), Usage::default());
    }

    // The operator's key reports its own tenant unless it names another;
    // a tenant's key cannot name another.
    let operator = Api::new(&platform);
    let own = report(&operator, "").await;
    assert_eq!(own["tenant_id"], "default");
    assert_eq!(own["data"], json!([]));
    let named = report(&operator, &format!("tenant_id={tenant_id}")).await;
    assert_eq!(named["totals"], by_day["totals"]);
    let (status, body) = api
        .call(Method::GET, "/v1/usage?tenant_id=default", None)
        .await
        .unwrap();
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");

    // Bad queries: 400 in the error envelope, naming the parameter.
    for (query, field) in [
        ("group_by=week", "group_by"),
        ("starting_at=yesterday", "starting_at"),
        ("ending_at=2026-13-01T00:00:00Z", "ending_at"),
        ("limit=10", "limit"),
        ("group_by=day&group_by=agent", "group_by"),
        (
            "starting_at=2026-12-08T00:00:00Z&ending_at=2026-12-07T00:00:00Z",
            "ending_at",
        ),
    ] {
        let (status, headers, body) = api
            .call_with_headers(Method::GET, &format!("/v1/usage?{query}"), None)
            .await
            .unwrap();
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}: ")),
            "{query}: {body}"
        );
        assert!(headers.contains_key("request-id"));
    }
}

/// The SQLite files of the session objects under `dir`.
fn session_object_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(session_object_files(&path));
        } else if path.extension().is_some_and(|e| e == "sqlite")
            && path.to_string_lossy().contains("SessionDO")
        {
            found.push(path);
        }
    }
    found
}

/// Makes every session object of the stopped platform at `state` forget how
/// far its ledger got, as a crash between the ledger's D1 write and its
/// cursor's would; returns how many cursors were removed.
fn forget_ledger_cursors(state: &Path) -> usize {
    let python = openma_e2e::python::interpreter().unwrap();
    let mut forgotten = 0;
    for file in session_object_files(state) {
        let out = std::process::Command::new(&python)
            .args([
                "-c",
                "import sqlite3, sys\n\
                 db = sqlite3.connect(sys.argv[1])\n\
                 meta = db.execute(\"SELECT 1 FROM sqlite_master WHERE name = 'meta'\").fetchone()\n\
                 n = db.execute(\"DELETE FROM meta WHERE key = 'ledger_seq'\").rowcount if meta else 0\n\
                 db.commit()\n\
                 print(n)",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        forgotten += String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<usize>()
            .unwrap();
    }
    forgotten
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_mid_turn_and_a_replayed_ledger_write_count_everything_once() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::Message(
        Message::new()
            .tool_use("toolu_1", "bash", json!({"command": "echo once"}))
            .usage(50, 5)
            .cache_usage(10, 20),
    ));
    // The platform dies while this reply streams.
    mock.push(Reply::Slow {
        message: Message::new()
            .text("This reply never completes.")
            .usage(70, 9),
        delay: Duration::from_millis(400),
    });
    mock.push(Reply::Message(
        Message::new()
            .text("Finished after the restart.")
            .usage(80, 6)
            .cache_usage(30, 0),
    ));
    let state = tempfile::tempdir().unwrap();
    let mut first = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .state_dir(state.path())
        .start()
        .unwrap();
    let api = Api::new(&first);
    let session = api
        .session_with_agent(agent("ledger-restart"))
        .await
        .unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "Run once, then talk").await.unwrap();
    stream.until("agent.tool_result", WAIT).await.unwrap();
    // The ledger holds the first request and the tool call while the
    // second request streams; then everything dies.
    let first_request = Usage {
        input: 50,
        output: 5,
        cache_read: 10,
        cache_creation: 20,
        model_requests: 1,
        tool_calls: 1,
    };
    report_once_recorded(&api, first_request).await;
    assert_eq!(mock.requests().len(), 2, "the second request is streaming");
    first.stop();
    assert!(
        forget_ledger_cursors(state.path()) >= 1,
        "the session object kept a ledger cursor"
    );

    let second = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .state_of(&first)
        .start()
        .unwrap();
    let api = Api::new(&second);
    // The ledger is written again from the start of the log: what it held
    // counts once, and the turn's end is added.
    let deadline = Instant::now() + WAIT * 3;
    loop {
        let events = api.events(&id).await.unwrap();
        if events
            .last()
            .is_some_and(|e| e["type"] == "session.status_idle")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the turn did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let done = Usage::of_session(&api, &id).await;
    assert_eq!((done.model_requests, done.tool_calls), (2, 1), "{done:?}");
    report_once_recorded(&api, done).await;

    // The next turn adds exactly its own usage.
    mock.push(Reply::Message(Message::new().text("Again.").usage(9, 2)));
    turn(&api, &id, "Once more").await;
    let after = Usage::of_session(&api, &id).await;
    assert_eq!(after.model_requests, done.model_requests + 1);
    report_once_recorded(&api, after).await;
}
