//! `/v1/deployments` and `/v1/deployment_runs` on the real platform: a run
//! by hand starts a session with the deployment's pinned agent and initial
//! events; a cron schedule fires through the integrations worker's
//! scheduler, once per scheduled time, and not while paused; a run whose
//! agent is archived fails with a typed error and pauses the schedule;
//! unsupported and malformed fields are refused by name; tenants see only
//! their own; and the official Python SDK drives the resource unchanged.

use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Platform;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use openma_e2e::unique;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;
use super::sessions::start;

/// How long a `* * * * *` schedule may take to fire: the rest of the
/// minute, and the scheduler's round trip.
const FIRE_WAIT: Duration = Duration::from_secs(80);

fn text_event(kind: &str, text: &str) -> Value {
    json!({"type": kind, "content": [{"type": "text", "text": text}]})
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// A deployment body for `agent_id` in `environment_id`, with `extra`
/// fields merged in.
fn body(agent_id: &str, environment_id: &str, extra: Value) -> Value {
    let mut body = json!({
        "name": format!("deployment-{}", unique()),
        "agent": agent_id,
        "environment_id": environment_id,
        "initial_events": [text_event("user.message", "Write the nightly report")],
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// Asserts that `answer` is the error envelope with `status` and `kind`;
/// returns its message.
fn assert_error(status: u16, answer: &Value, expected: u16, kind: &str) -> String {
    assert_eq!(status, expected, "{answer}");
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["error"]["type"], kind, "{answer}");
    answer["error"]["message"].as_str().unwrap().to_owned()
}

/// The deployment's runs, oldest first.
async fn runs(api: &Api, deployment_id: &str) -> Vec<Value> {
    let page = api
        .ok(
            Method::GET,
            &format!("/v1/deployment_runs?deployment_id={deployment_id}&limit=1000"),
            None,
        )
        .await
        .unwrap();
    page["data"].as_array().unwrap().clone()
}

/// Waits until the deployment has at least `n` runs; returns them.
async fn wait_for_runs(api: &Api, deployment_id: &str, n: usize, within: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let listed = runs(api, deployment_id).await;
        if listed.len() >= n {
            return listed;
        }
        assert!(
            started.elapsed() < within,
            "{deployment_id} has {} runs after {within:?}, expected {n}: {listed:#?}",
            listed.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Waits until the session's log shows a turn ended; returns its events.
async fn wait_idle(api: &Api, session_id: &str) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let events = api.events(session_id).await.unwrap();
        if events.iter().any(|e| e["type"] == "session.status_idle") {
            return events;
        }
        assert!(
            started.elapsed() < WAIT,
            "{session_id} never idled: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The service token of a deployment whose root secret is `root_secret`.
fn service_token(root_secret: &str) -> String {
    openma_core::crypto::hmac_sha256_hex(root_secret.as_bytes(), b"openma/service-token/v1")
}

/// `POST /v1/deployments/{id}/run` as the platform's scheduler does it:
/// the service token, the tenant, and the scheduled time.
async fn scheduled_run(
    platform: &Platform,
    tenant_id: &str,
    deployment_id: &str,
    scheduled_at: &str,
) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(platform.url(&format!("/v1/deployments/{deployment_id}/run")))
        .header("x-openma-service", service_token(platform.root_secret()))
        .header("x-openma-tenant", tenant_id)
        .header("x-openma-scheduled-at", scheduled_at)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_by_hand_starts_a_session_with_the_pinned_agent_and_initial_events() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::Message(
        Message::new().text("The report is ready.").usage(12, 5),
    ));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let (environment, agent_v1) = api.env_and_agent(agent("reporter")).await.unwrap();
    let (agent_id, environment_id) = (id(&agent_v1), id(&environment));

    let created = api
        .ok(
            Method::POST,
            "/v1/deployments",
            Some(body(
                &agent_id,
                &environment_id,
                json!({
                    "description": "every night",
                    "metadata": {"team": "ops"},
                    "initial_events": [text_event("user.message", "Write the nightly report"),
                                       text_event("system.message", "Keep it to one line.")],
                }),
            )),
        )
        .await
        .unwrap();
    let deployment_id = id(&created);
    assert!(deployment_id.starts_with("depl_"), "{created}");
    assert_eq!(created["type"], "deployment");
    assert_eq!(
        created["agent"],
        json!({"type": "agent", "id": agent_id, "version": 1})
    );
    assert_eq!(created["environment_id"], environment_id.as_str());
    assert_eq!(created["status"], "active");
    assert_eq!(created["paused_reason"], Value::Null);
    assert_eq!(created["schedule"], Value::Null);
    assert_eq!(created["archived_at"], Value::Null);
    assert_eq!(created["metadata"], json!({"team": "ops"}));
    assert_eq!(created["description"], "every night");
    assert_eq!(created["vault_ids"], json!([]));
    assert_eq!(created["resources"], json!([]));
    assert_eq!(created["initial_events"][1]["type"], "system.message");

    // A new agent version does not move the deployment's pin.
    api.ok(
        Method::POST,
        &format!("/v1/agents/{agent_id}"),
        Some(json!({"version": 1, "system": "You are version two."})),
    )
    .await
    .unwrap();
    let run = api
        .ok(
            Method::POST,
            &format!("/v1/deployments/{deployment_id}/run"),
            None,
        )
        .await
        .unwrap();
    assert!(id(&run).starts_with("drun_"), "{run}");
    assert_eq!(run["type"], "deployment_run");
    assert_eq!(run["deployment_id"], deployment_id.as_str());
    assert_eq!(run["trigger_context"], json!({"type": "manual"}));
    assert_eq!(run["error"], Value::Null);
    assert_eq!(
        run["agent"],
        json!({"type": "agent", "id": agent_id, "version": 1})
    );
    let session_id = run["session_id"].as_str().unwrap().to_owned();
    assert!(session_id.starts_with("sesn_"), "{run}");

    // The session starts with the initial events; the mock model answers.
    let events = wait_idle(&api, &session_id).await;
    assert_eq!(events[0]["type"], "user.message", "{events:#?}");
    assert_eq!(events[0]["content"][0]["text"], "Write the nightly report");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "agent.message"
                && e["content"][0]["text"] == "The report is ready."),
        "{events:#?}"
    );
    let request = &mock.requests()[0];
    let sent = request.body.to_string();
    assert!(sent.contains("Write the nightly report"), "{sent}");
    assert!(sent.contains("Keep it to one line."), "{sent}");
    assert!(!sent.contains("You are version two."), "{sent}");
    let session = api
        .ok(Method::GET, &format!("/v1/sessions/{session_id}"), None)
        .await
        .unwrap();
    assert_eq!(session["deployment_id"], deployment_id.as_str());
    assert_eq!(session["agent"]["version"], 1);
    assert_eq!(session["title"], created["name"]);

    // Sessions, runs and deployments are listed and filtered.
    let listed = api
        .ok(
            Method::GET,
            &format!("/v1/sessions?deployment_id={deployment_id}"),
            None,
        )
        .await
        .unwrap();
    let listed: Vec<String> = listed["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(listed, std::slice::from_ref(&session_id));
    assert_eq!(runs(&api, &deployment_id).await, std::slice::from_ref(&run));
    let got = api
        .ok(
            Method::GET,
            &format!("/v1/deployment_runs/{}", id(&run)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(got, run);
    for query in ["trigger_type=schedule", "has_error=true"] {
        let page = api
            .ok(
                Method::GET,
                &format!("/v1/deployment_runs?deployment_id={deployment_id}&{query}"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(page["data"], json!([]), "{query}");
    }
    let page = api
        .ok(Method::GET, "/v1/deployments?status=active", None)
        .await
        .unwrap();
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| id(d) == deployment_id)
    );

    // Paused and archived: listed by status, then left out.
    let paused = api
        .ok(
            Method::POST,
            &format!("/v1/deployments/{deployment_id}/pause"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["paused_reason"], json!({"type": "manual"}));
    let page = api
        .ok(Method::GET, "/v1/deployments?status=paused", None)
        .await
        .unwrap();
    assert_eq!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>(),
        std::slice::from_ref(&deployment_id)
    );
    let archived = api
        .ok(
            Method::POST,
            &format!("/v1/deployments/{deployment_id}/archive"),
            None,
        )
        .await
        .unwrap();
    assert!(archived["archived_at"].is_string(), "{archived}");
    assert_eq!(archived["status"], "active");
    assert_eq!(archived["paused_reason"], Value::Null);
    for (path, body) in [
        (format!("/v1/deployments/{deployment_id}/run"), None),
        (
            format!("/v1/deployments/{deployment_id}"),
            Some(json!({"name": "again"})),
        ),
        (format!("/v1/deployments/{deployment_id}/unpause"), None),
    ] {
        let (status, answer) = api.call(Method::POST, &path, body).await.unwrap();
        let message = assert_error(status, &answer, 400, "invalid_request_error");
        assert!(message.contains("archived"), "{message}");
    }
    let page = api.ok(Method::GET, "/v1/deployments", None).await.unwrap();
    assert!(
        !page["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| id(d) == deployment_id)
    );
    let page = api
        .ok(Method::GET, "/v1/deployments?include_archived=true", None)
        .await
        .unwrap();
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| id(d) == deployment_id)
    );

    // An archived agent: the run records why, and a run by hand does not
    // pause the deployment. The scheduler's header means nothing from a
    // key: the run is manual.
    let (_, other_agent) = api.env_and_agent(agent("retired")).await.unwrap();
    let other = api
        .ok(
            Method::POST,
            "/v1/deployments",
            Some(body(&id(&other_agent), &environment_id, json!({}))),
        )
        .await
        .unwrap();
    api.ok(
        Method::POST,
        &format!("/v1/agents/{}/archive", id(&other_agent)),
        None,
    )
    .await
    .unwrap();
    let (status, _, failed) = api
        .call_with_headers(
            Method::POST,
            &format!("/v1/deployments/{}/run", id(&other)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["session_id"], Value::Null);
    assert_eq!(failed["error"]["type"], "agent_archived_error", "{failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("archived")
    );
    assert_eq!(failed["trigger_context"], json!({"type": "manual"}));
    let resp = reqwest::Client::new()
        .post(platform.url(&format!("/v1/deployments/{}/run", id(&other))))
        .header("x-api-key", platform.api_key())
        .header("x-openma-scheduled-at", "2026-01-01T00:00:00Z")
        .send()
        .await
        .unwrap();
    let faked: Value = resp.json().await.unwrap();
    assert_eq!(
        faked["trigger_context"],
        json!({"type": "manual"}),
        "{faked}"
    );
    let still = api
        .ok(
            Method::GET,
            &format!("/v1/deployments/{}", id(&other)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(still["status"], "active");
    let failures = api
        .ok(
            Method::GET,
            &format!(
                "/v1/deployment_runs?deployment_id={}&has_error=true",
                id(&other)
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(failures["data"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_time_runs_once_however_often_or_late_it_is_fired() {
    let mock = MockModel::start().unwrap();
    mock.respond_with(|_| Reply::Message(Message::new().text("done").usage(3, 1)));
    let platform = start(&mock);
    let operator = Api::new(&platform);
    let (api, tenant) = operator
        .new_tenant(&format!("deploy-{}", unique()))
        .await
        .unwrap();
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let (environment, agent_value) = api.env_and_agent(agent("yearly")).await.unwrap();
    // Once a year, so that the platform's own scheduler stays out of it.
    let created = api
        .ok(
            Method::POST,
            "/v1/deployments",
            Some(body(
                &id(&agent_value),
                &id(&environment),
                json!({"schedule": {"type": "cron", "expression": "0 0 1 1 *", "timezone": "UTC"}}),
            )),
        )
        .await
        .unwrap();
    let deployment_id = id(&created);
    let upcoming = created["schedule"]["upcoming_runs_at"].as_array().unwrap();
    assert_eq!(upcoming.len(), 5, "{created}");
    assert!(
        upcoming
            .iter()
            .all(|at| at.as_str().unwrap().ends_with("-01-01T00:00:00.000Z")),
        "{created}"
    );

    // Fired for a time long past: the latest scheduled time up to now is
    // the one run (the missed ones are not made up), and firing again, for
    // that time or for the earlier one, answers the same run.
    let (status, first) = scheduled_run(
        &platform,
        &tenant_id,
        &deployment_id,
        "2020-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let scheduled_at = first["trigger_context"]["scheduled_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(first["trigger_context"]["type"], "schedule");
    assert!(scheduled_at.ends_with("-01-01T00:00:00.000Z"), "{first}");
    assert!(scheduled_at.as_str() > "2025-01-01", "{first}");
    assert!(first["session_id"].as_str().unwrap().starts_with("sesn_"));
    for again in ["2020-01-01T00:00:00Z", scheduled_at.as_str()] {
        let (status, same) = scheduled_run(&platform, &tenant_id, &deployment_id, again).await;
        assert_eq!(status, 200, "{same}");
        assert_eq!(same, first);
    }
    let listed = runs(&api, &deployment_id).await;
    assert_eq!(listed, std::slice::from_ref(&first));
    let fired = api
        .ok(
            Method::GET,
            &format!("/v1/deployments/{deployment_id}"),
            None,
        )
        .await
        .unwrap();
    assert!(fired["schedule"]["last_run_at"].is_string(), "{fired}");

    // Nothing is due in the future; a paused deployment is not fired.
    let (status, answer) = scheduled_run(
        &platform,
        &tenant_id,
        &deployment_id,
        "2999-01-01T00:00:00Z",
    )
    .await;
    assert_error(status, &answer, 400, "invalid_request_error");
    api.ok(
        Method::POST,
        &format!("/v1/deployments/{deployment_id}/pause"),
        None,
    )
    .await
    .unwrap();
    let (status, answer) = scheduled_run(
        &platform,
        &tenant_id,
        &deployment_id,
        "2020-01-01T00:00:00Z",
    )
    .await;
    assert_error(status, &answer, 409, "conflict_error");
    assert_eq!(runs(&api, &deployment_id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cron_schedule_fires_once_a_minute_not_while_paused_and_pauses_on_an_archived_agent() {
    let mock = MockModel::start().unwrap();
    mock.respond_with(|_| Reply::Message(Message::new().text("tick").usage(3, 1)));
    let platform = start(&mock);
    let api = Api::new(&platform);
    let (environment, ticking) = api.env_and_agent(agent("ticking")).await.unwrap();
    let (_, retired) = api.env_and_agent(agent("retired")).await.unwrap();
    let every_minute =
        json!({"schedule": {"type": "cron", "expression": "* * * * *", "timezone": "UTC"}});
    let created = api
        .ok(
            Method::POST,
            "/v1/deployments",
            Some(body(&id(&ticking), &id(&environment), every_minute.clone())),
        )
        .await
        .unwrap();
    let deployment_id = id(&created);
    let schedule = &created["schedule"];
    assert_eq!(schedule["type"], "cron");
    assert_eq!(schedule["expression"], "* * * * *");
    assert_eq!(schedule["timezone"], "UTC");
    assert_eq!(schedule["last_run_at"], Value::Null);
    let upcoming: Vec<&str> = schedule["upcoming_runs_at"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(upcoming.len(), 5);
    assert!(
        upcoming.iter().all(|t| t.ends_with(":00.000Z")),
        "{upcoming:?}"
    );
    assert!(upcoming.windows(2).all(|w| w[0] < w[1]), "{upcoming:?}");

    // A second deployment whose agent is archived after it was made.
    let doomed = api
        .ok(
            Method::POST,
            "/v1/deployments",
            Some(body(&id(&retired), &id(&environment), every_minute)),
        )
        .await
        .unwrap();
    api.ok(
        Method::POST,
        &format!("/v1/agents/{}/archive", id(&retired)),
        None,
    )
    .await
    .unwrap();

    // The schedule fires within the minute: a session, once for that time.
    let fired = wait_for_runs(&api, &deployment_id, 1, FIRE_WAIT).await;
    let run = &fired[0];
    assert_eq!(run["trigger_context"]["type"], "schedule", "{run}");
    let scheduled_at = run["trigger_context"]["scheduled_at"].as_str().unwrap();
    assert!(scheduled_at.ends_with(":00.000Z"), "{run}");
    let session_id = run["session_id"].as_str().unwrap();
    let session = api
        .ok(Method::GET, &format!("/v1/sessions/{session_id}"), None)
        .await
        .unwrap();
    assert_eq!(session["deployment_id"], deployment_id.as_str());

    // The other one fails with the typed error and pauses itself.
    let failed = wait_for_runs(&api, &id(&doomed), 1, FIRE_WAIT).await;
    assert_eq!(
        failed[0]["error"]["type"], "agent_archived_error",
        "{failed:#?}"
    );
    assert_eq!(failed[0]["session_id"], Value::Null);
    assert_eq!(failed[0]["trigger_context"]["type"], "schedule");
    let doomed_now = api
        .ok(
            Method::GET,
            &format!("/v1/deployments/{}", id(&doomed)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(doomed_now["status"], "paused", "{doomed_now}");
    assert_eq!(
        doomed_now["paused_reason"],
        json!({"type": "error", "error": {"type": "agent_archived_error"}})
    );
    assert_eq!(
        doomed_now["schedule"]["upcoming_runs_at"]
            .as_array()
            .unwrap()
            .len(),
        5,
        "a paused schedule still shows what it would do"
    );

    // Paused: no run while a minute boundary passes.
    let paused = api
        .ok(
            Method::POST,
            &format!("/v1/deployments/{deployment_id}/pause"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(paused["paused_reason"], json!({"type": "manual"}));
    let before = runs(&api, &deployment_id).await;
    assert!(paused["schedule"]["last_run_at"].is_string(), "{paused}");
    let mut times: Vec<&str> = before
        .iter()
        .map(|r| r["trigger_context"]["scheduled_at"].as_str().unwrap())
        .collect();
    times.dedup();
    assert_eq!(
        times.len(),
        before.len(),
        "one run per scheduled time: {before:#?}"
    );
    tokio::time::sleep(Duration::from_secs(65)).await;
    assert_eq!(runs(&api, &deployment_id).await.len(), before.len());

    // Unpaused: it fires again, for a time after the pause.
    let unpaused_at = api
        .ok(
            Method::POST,
            &format!("/v1/deployments/{deployment_id}/unpause"),
            None,
        )
        .await
        .unwrap()["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let after = wait_for_runs(&api, &deployment_id, before.len() + 1, FIRE_WAIT).await;
    let latest = after.last().unwrap();
    let latest_at = latest["trigger_context"]["scheduled_at"].as_str().unwrap();
    assert!(
        latest_at > unpaused_at.as_str(),
        "{latest} after {unpaused_at}"
    );
    assert!(latest["session_id"].is_string(), "{latest}");
    // The paused one stayed paused: its one failed run.
    assert_eq!(runs(&api, &id(&doomed)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_or_malformed_deployments_are_refused_by_name_and_tenants_see_their_own() {
    let platform = Platform::start().unwrap();
    let operator = Api::new(&platform);
    let (api, _) = operator
        .new_tenant(&format!("deploy-{}", unique()))
        .await
        .unwrap();
    let (other, _) = operator
        .new_tenant(&format!("deploy-other-{}", unique()))
        .await
        .unwrap();
    let (environment, agent_value) = api.env_and_agent(agent("refusals")).await.unwrap();
    let (agent_id, environment_id) = (id(&agent_value), id(&environment));
    let cron = |expression: &str, timezone: &str| json!({"schedule": {"type": "cron", "expression": expression, "timezone": timezone}});
    let cases = [
        (
            json!({"budget": {"type": "limit", "max_list_cost": {"amount": "500", "currency": "USD"}}}),
            "budget: not supported",
        ),
        (
            json!({"initial_events": [{"type": "user.define_outcome", "description": "a report",
                                       "rubric": {"type": "text", "content": "complete"}}]}),
            "initial_events[0].type: user.define_outcome is not supported",
        ),
        (
            json!({"resources": [{"type": "github_repository", "url": "https://github.com/acme/app"}]}),
            "resources[0].type: github_repository resources are not supported",
        ),
        (
            cron("61 * * * *", "UTC"),
            "schedule.expression: minute: 61 is out of range 0-59",
        ),
        (
            cron("0 9 * * MON#2", "UTC"),
            "schedule.expression: day-of-week: `#` is extended cron syntax",
        ),
        (
            cron("0 9 * *", "UTC"),
            "schedule.expression: expression: expected 5 fields",
        ),
        (
            cron("0 0 30 2 *", "UTC"),
            "schedule.expression: never fires",
        ),
        (
            cron("0 9 * * *", "Mars/Olympus_Mons"),
            "schedule.timezone: `Mars/Olympus_Mons` is not an IANA time zone",
        ),
        (
            json!({"jitter_seconds": 5}),
            "jitter_seconds: unknown field",
        ),
        (
            json!({"initial_events": []}),
            "initial_events: expected at least 1 item(s)",
        ),
    ];
    for (extra, expected) in cases {
        let (status, answer) = api
            .call(
                Method::POST,
                "/v1/deployments",
                Some(body(&agent_id, &environment_id, extra.clone())),
            )
            .await
            .unwrap();
        let message = assert_error(status, &answer, 400, "invalid_request_error");
        assert!(message.starts_with(expected), "{extra}: {message}");
    }
    let (status, answer) = api
        .call(
            Method::POST,
            "/v1/deployments",
            Some(body("agent_missing", &environment_id, json!({}))),
        )
        .await
        .unwrap();
    assert_error(status, &answer, 404, "not_found_error");
    let (status, answer) = api
        .call(
            Method::POST,
            "/v1/deployments",
            Some(body(
                &agent_id,
                &environment_id,
                json!({"agent": {"type": "agent", "id": agent_id, "version": 9}}),
            )),
        )
        .await
        .unwrap();
    let message = assert_error(status, &answer, 404, "not_found_error");
    assert!(message.contains("no version 9"), "{message}");
    for query in [
        "status=paused&include_archived=true",
        "status=stopped",
        "order=asc",
    ] {
        let (status, answer) = api
            .call(Method::GET, &format!("/v1/deployments?{query}"), None)
            .await
            .unwrap();
        assert_error(status, &answer, 400, "invalid_request_error");
    }
    let (status, answer) = api
        .call(Method::GET, "/v1/deployment_runs?trigger_type=cron", None)
        .await
        .unwrap();
    assert_error(status, &answer, 400, "invalid_request_error");

    // A valid one, in a zone with daylight saving time.
    let created = api
        .ok(
            Method::POST,
            "/v1/deployments",
            Some(body(
                &agent_id,
                &environment_id,
                cron("0 9 * * 1-5", "america/new_york"),
            )),
        )
        .await
        .unwrap();
    assert_eq!(created["schedule"]["timezone"], "America/New_York");
    let deployment_id = id(&created);
    let updated = api
        .ok(
            Method::POST,
            &format!("/v1/deployments/{deployment_id}"),
            Some(json!({"schedule": null, "metadata": {"k": "v"}, "description": "manual now"})),
        )
        .await
        .unwrap();
    assert_eq!(updated["schedule"], Value::Null);
    assert_eq!(updated["metadata"], json!({"k": "v"}));
    let (status, answer) = api
        .call(
            Method::POST,
            &format!("/v1/deployments/{deployment_id}"),
            Some(json!({"name": null})),
        )
        .await
        .unwrap();
    let message = assert_error(status, &answer, 400, "invalid_request_error");
    assert_eq!(message, "name: cannot be cleared");
    for action in ["run", "pause", "unpause", "archive"] {
        let (status, answer) = api
            .call(
                Method::POST,
                &format!("/v1/deployments/{deployment_id}/{action}"),
                Some(json!({"reason": "testing"})),
            )
            .await
            .unwrap();
        let message = assert_error(status, &answer, 400, "invalid_request_error");
        assert!(
            message.starts_with("reason: unknown field"),
            "{action}: {message}"
        );
    }

    // Another tenant sees none of it.
    for (method, path) in [
        (Method::GET, format!("/v1/deployments/{deployment_id}")),
        (Method::POST, format!("/v1/deployments/{deployment_id}")),
        (Method::POST, format!("/v1/deployments/{deployment_id}/run")),
        (
            Method::POST,
            format!("/v1/deployments/{deployment_id}/pause"),
        ),
        (
            Method::POST,
            format!("/v1/deployments/{deployment_id}/archive"),
        ),
    ] {
        let body = (method == Method::POST).then(|| json!({}));
        let (status, answer) = other.call(method.clone(), &path, body).await.unwrap();
        assert_error(status, &answer, 404, "not_found_error");
    }
    let listed = other
        .ok(Method::GET, "/v1/deployments", None)
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
    let listed = other
        .ok(
            Method::GET,
            &format!("/v1/deployment_runs?deployment_id={deployment_id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
    // Its own agent cannot be used by the first tenant either.
    let (other_env, other_agent) = other.env_and_agent(agent("theirs")).await.unwrap();
    let (status, answer) = api
        .call(
            Method::POST,
            "/v1/deployments",
            Some(body(&id(&other_agent), &id(&other_env), json!({}))),
        )
        .await
        .unwrap();
    assert_error(status, &answer, 404, "not_found_error");
}

#[test]
fn python_sdk_drives_deployments_unchanged() {
    let mock = MockModel::start().unwrap();
    mock.respond_with(|_| Reply::Message(Message::new().text("sdk run").usage(3, 1)));
    let platform = start(&mock);
    let stdout =
        openma_e2e::python::run_script(&platform, platform.api_key(), "deployments.py", &[])
            .unwrap_or_else(|err| panic!("{err:#}\n--- platform ---\n{}", platform.output()));
    let summary: Value = openma_e2e::python::summary(&stdout).unwrap();
    assert_eq!(summary["sdk_version"], "2.17.0");
    assert!(
        summary["deployment_id"]
            .as_str()
            .unwrap()
            .starts_with("depl_")
    );
    assert_eq!(summary["agent_version"], 1);
    assert_eq!(summary["upcoming"], 5);
    assert_eq!(summary["timezone"], "Europe/Paris");
    assert_eq!(summary["listed_pages"], 2);
    assert!(summary["session_id"].as_str().unwrap().starts_with("sesn_"));
    assert_eq!(summary["trigger"], "manual");
    assert_eq!(summary["runs_listed"], 1);
    assert_eq!(summary["paused_reason"], "manual");
    assert_eq!(summary["unpaused_status"], "active");
    assert_eq!(summary["renamed"], "renamed by the sdk");
    assert_eq!(summary["archived"], true);
    assert_eq!(summary["refused_status"], 400);
}
