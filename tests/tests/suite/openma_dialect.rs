//! openma's request dialect, accepted where its meaning is unambiguous: the
//! self-hosting guide's smoke test run as printed, the built-in tool
//! shorthand, `agent_id`, the tenant's default environment and
//! `?replay=1` streams.

use std::io::BufRead;
use std::io::BufReader;
use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Reply;
use openma_e2e::mock::Message;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::start;

/// Asserts a 400 `invalid_request_error` whose message starts with `field`.
fn refused(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with(field), "{body}");
}

/// The guide's step 5 `curl` and step 6, as printed, with the deploy URL
/// and the API key filled in.
fn guide_script(base: &str, key: &str) -> String {
    include_str!("../../fixtures/guide_smoke_test.sh")
        .replace("https://your-deploy-url", base)
        .replace("your-platform-api-key", key)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guides_smoke_test_sees_agent_message_on_the_stream() {
    let mock = MockModel::start().unwrap();
    // A model takes a moment to answer: the guide opens its stream after
    // sending the message, and sees the reply live.
    mock.push(Reply::Slow {
        message: Message::new().text("hi").usage(12, 1),
        delay: Duration::from_millis(250),
    });
    let platform = start(&mock);
    let script = guide_script(platform.base_url(), platform.api_key());
    let mut child = Command::new("bash")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let mut output = Vec::new();
    let mut agent_message = None;
    while started.elapsed() < WAIT {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        output.push(line.clone());
        if line == "event: agent.message" {
            agent_message = Some(output.len());
        }
        if agent_message.is_some() && line.starts_with("data: ") {
            break;
        }
    }
    // The stream never ends by itself: stop curl and the shell.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let output = output.join("\n");
    assert!(
        agent_message.is_some(),
        "no agent.message on the stream (exit {status}):\n{output}\nstderr:\n{stderr}"
    );
    // Step 5's health check, then the echo of the sent message, then the
    // stream (curl ends none of them with a newline).
    let printed: Vec<Value> = serde_json::Deserializer::from_str(output.lines().next().unwrap())
        .into_iter::<Value>()
        .take(2)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(printed[0]["status"], "ok", "{output}");
    assert_eq!(printed[0]["worker"], "openma-main", "{output}");
    assert_eq!(printed[1]["data"][0]["type"], "user.message", "{output}");
    let data: Value = serde_json::from_str(
        output
            .lines()
            .skip_while(|l| *l != "event: agent.message")
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data["content"][0]["text"], "hi", "{data}");

    // What the guide created is stored in the canonical form.
    let api = Api::new(&platform);
    let agents = api
        .ok(reqwest::Method::GET, "/v1/agents", None)
        .await
        .unwrap();
    let agent = &agents["data"][0];
    assert_eq!(agent["name"], "smoke");
    let tools = agent["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1, "{tools:#?}");
    assert_eq!(tools[0]["type"], "agent_toolset_20260401");
    let sessions = api
        .ok(reqwest::Method::GET, "/v1/sessions", None)
        .await
        .unwrap();
    let session = &sessions["data"][0];
    assert_eq!(session["agent"]["id"], agent["id"]);
    let environments = api
        .ok(reqwest::Method::GET, "/v1/environments", None)
        .await
        .unwrap();
    let default = &environments["data"][0];
    assert_eq!(default["name"], "default", "{environments}");
    assert_eq!(session["environment_id"], default["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dialect_maps_to_the_canonical_api_and_refuses_what_is_ambiguous() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::text("Done."));
    let platform = start(&mock);
    let api = Api::new(&platform);

    // Tool shorthand: exactly the named tools, in the canonical form.
    let agent = api
        .ok(
            reqwest::Method::POST,
            "/v1/agents",
            Some(json!({"name": "short", "model": "m", "tools": [{"type": "read"}, {"type": "grep"}]})),
        )
        .await
        .unwrap();
    let toolset = &agent["tools"][0];
    assert_eq!(toolset["type"], "agent_toolset_20260401");
    assert_eq!(toolset["default_config"]["enabled"], false);
    let enabled: Vec<&str> = toolset["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["enabled"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(enabled, ["read", "grep"], "{toolset}");
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/v1/agents",
            Some(json!({"name": "mixed", "model": "m", "tools": [{"type": "agent_toolset_20260401"}, {"type": "bash"}]})),
        )
        .await
        .unwrap();
    refused(status, &body, "tools[0].type:");
    let updated = api
        .ok(
            reqwest::Method::POST,
            &format!("/v1/agents/{}", agent["id"].as_str().unwrap()),
            Some(json!({"version": 1, "tools": [{"type": "bash"}]})),
        )
        .await
        .unwrap();
    assert_eq!(updated["tools"][0]["type"], "agent_toolset_20260401");
    assert_eq!(updated["version"], 2);

    // `agent_id`: a synonym of `agent`; both present and different is a 400.
    let agent_id = agent["id"].as_str().unwrap();
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/v1/sessions",
            Some(json!({"agent_id": agent_id, "agent": "agent_other"})),
        )
        .await
        .unwrap();
    refused(status, &body, "agent_id:");
    let (status, body) = api
        .call(reqwest::Method::POST, "/v1/sessions", Some(json!({})))
        .await
        .unwrap();
    refused(status, &body, "agent:");

    // Without environment_id: the tenant's default environment, created
    // once (also when two sessions race for it) and listed like any other.
    let create = || {
        api.ok(
            reqwest::Method::POST,
            "/v1/sessions",
            Some(json!({"agent_id": agent_id})),
        )
    };
    let (a, b) = tokio::join!(create(), create());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a["environment_id"], b["environment_id"]);
    let environments = api
        .ok(reqwest::Method::GET, "/v1/environments", None)
        .await
        .unwrap();
    let listed = environments["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{environments}");
    let default = &listed[0];
    assert_eq!(default["id"], a["environment_id"]);
    assert_eq!(default["name"], "default");
    assert_eq!(
        default["config"]["networking"],
        json!({"type": "limited", "allowed_hosts": [], "allow_mcp_servers": true, "allow_package_managers": true})
    );
    let same = api
        .ok(
            reqwest::Method::POST,
            "/v1/sessions",
            Some(json!({"agent": agent_id, "agent_id": agent_id})),
        )
        .await
        .unwrap();
    assert_eq!(same["environment_id"], default["id"]);

    // `?replay=1`: the history first, with the ids a resume would send,
    // then live.
    let id = a["id"].as_str().unwrap();
    let mut live = api.stream(id, None, "").await.unwrap();
    api.send_message(id, "hello").await.unwrap();
    let seen = live.until("session.status_idle", WAIT).await.unwrap();
    let mut replay = api.stream(id, None, "?replay=1").await.unwrap();
    let replayed = replay.until("session.status_idle", WAIT).await.unwrap();
    let ids = |frames: &[openma_e2e::Frame]| -> Vec<Option<u64>> {
        frames.iter().map(|f| f.id).collect()
    };
    assert_eq!(replayed[0].event, "user.message");
    assert_eq!(replayed[0].id, Some(1));
    assert!(
        replayed.iter().any(|f| f.event == "agent.message"),
        "{replayed:#?}"
    );
    let tail = &replayed[replayed.len() - seen.len()..];
    assert_eq!(ids(tail), ids(&seen));
    let mut resumed = api.stream(id, Some(0), "").await.unwrap();
    let resumed = resumed.until("session.status_idle", WAIT).await.unwrap();
    assert_eq!(ids(&resumed), ids(&replayed));
    let (status, body) = api
        .call(
            reqwest::Method::GET,
            &format!("/v1/sessions/{id}/events/stream?replay=maybe"),
            None,
        )
        .await
        .unwrap();
    refused(status, &body, "replay:");
}
