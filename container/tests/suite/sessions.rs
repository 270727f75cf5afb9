use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_concurrently_with_separate_shells() {
    let sb = sandbox().await;
    for s in ["s1", "s2", "s3"] {
        sb.setup(s, json!({"env": {"WHO": s}})).await;
    }
    let started = Instant::now();
    let (a, b, c) = tokio::join!(
        sb.bash("s1", "sleep 1; cd /tmp; echo $WHO"),
        sb.bash("s2", "sleep 1; echo $WHO"),
        sb.bash("s3", "sleep 1; echo $WHO"),
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (ok_text(&a), ok_text(&b), ok_text(&c)),
        ("s1".into(), "s2".into(), "s3".into())
    );
    assert_eq!(ok_text(&sb.bash("s2", "basename $PWD").await), "workspace");
}

#[tokio::test]
async fn teardown_stops_the_shell_and_forgets_the_session_but_keeps_files() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    ok_text(&sb.bash("s1", "echo kept > f.txt").await);
    let (status, body) = sb
        .call("DELETE", "/v1/sessions/s1", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"session_id": "s1", "stopped": true}));
    let (status, _) =
        sb.call("POST", "/v1/tools/execute", Some(TOKEN), Some(json!({"session_id": "s1", "tool_use_id": "t9", "name": "bash", "input": {"command": "true"}}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(sb.workspace("s1").join("f.txt").exists());
}

#[tokio::test]
async fn setup_is_idempotent_and_keeps_placeholders_and_the_running_shell() {
    let sb = sandbox().await;
    let params = json!({"secrets": [{"name": "API_KEY", "value": "v1"}]});
    let first = sb.setup("s1", params.clone()).await;
    ok_text(&sb.bash("s1", "cd /tmp").await);
    let second = sb
        .setup(
            "s1",
            json!({"secrets": [{"name": "API_KEY", "value": "v2"}]}),
        )
        .await;
    assert_eq!(first["placeholders"], second["placeholders"]);
    assert_eq!(first["workspace"], "/workspace");
    assert_eq!(ok_text(&sb.bash("s1", "pwd").await), "/tmp");
    let ph = first["placeholders"]["API_KEY"].as_str().unwrap();
    assert!(ph.starts_with("oma_ph_") && ph.len() == 39, "{ph}");
}

#[tokio::test]
async fn container_mode_serves_one_session_in_a_fixed_workspace() {
    let ws = tempfile::tempdir().unwrap();
    let ws_path = ws.path().to_path_buf();
    let sb = sandbox_with(|c| c.workspace = Some(ws_path.clone())).await;
    sb.setup("only", json!({})).await;
    let r = sb
        .exec(
            "only",
            &next_id(),
            "write",
            json!({"file_path": "/workspace/x.txt", "content": "hi"}),
        )
        .await;
    assert_eq!(ok_text(&r), "wrote 2 bytes to /workspace/x.txt");
    assert!(ws_path.join("x.txt").exists());
    assert_eq!(ok_text(&sb.bash("only", "cat x.txt").await), "hi");
    let (status, body) = sb
        .call("PUT", "/v1/sessions/other", Some(TOKEN), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_kills_a_running_command_without_waiting_for_it() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let started = Instant::now();
    let marker = sb.workspace("s1").join("started");
    let teardown = async {
        while !marker.exists() {
            assert!(started.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sb.call("DELETE", "/v1/sessions/s1", Some(TOKEN), None)
            .await
    };
    let (result, (status, body)) = tokio::join!(
        sb.bash("s1", "touch started; sleep 30; echo never"),
        teardown
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["stopped"], true);
    let text = err_text(&result);
    assert!(
        text.contains("the shell exited") && !text.contains("never"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_setup_that_changes_the_environment_takes_effect_at_the_next_bash_call() {
    let sb = sandbox().await;
    sb.setup("s1", json!({"env": {"MODE": "one"}})).await;
    ok_text(&sb.bash("s1", "cd /tmp").await);
    sb.setup(
        "s1",
        json!({"env": {"MODE": "two"}, "secrets": [{"name": "NEW_KEY", "value": "v-123456"}]}),
    )
    .await;
    let out = ok_text(&sb.bash("s1", "echo $MODE; pwd; echo ${NEW_KEY:0:7}").await);
    let root = sb.workspace("s1").canonicalize().unwrap();
    assert_eq!(
        out,
        format!(
            "[the session environment changed, so this ran in a fresh shell in /workspace]\ntwo\n{}\noma_ph_",
            root.display()
        )
    );
}
