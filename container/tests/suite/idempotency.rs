use serde_json::json;

use super::common::*;

const COUNT: &str = "echo run >> runs.txt; wc -l < runs.txt";

#[tokio::test]
async fn a_repeated_tool_use_id_returns_the_recorded_result_without_running_again() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let first = sb
        .exec("s1", "toolu_same", "bash", json!({"command": COUNT}))
        .await;
    let again = sb
        .exec("s1", "toolu_same", "bash", json!({"command": COUNT}))
        .await;
    assert_eq!(ok_text(&first), "1");
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(again.content, first.content);
    assert_eq!(
        std::fs::read_to_string(sb.workspace("s1").join("runs.txt")).unwrap(),
        "run\n"
    );
    // Error results are recorded too.
    let bad = sb.exec("s1", "toolu_bad", "nope", json!({})).await;
    let bad_again = sb.exec("s1", "toolu_bad", "nope", json!({})).await;
    assert_eq!(bad.content, bad_again.content);
    assert!(bad_again.is_error && bad_again.replayed);
}

#[tokio::test]
async fn tool_use_ids_are_scoped_to_their_session() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    sb.setup("s2", json!({})).await;
    let a = sb
        .exec("s1", "toolu_x", "bash", json!({"command": "echo one"}))
        .await;
    let b = sb
        .exec("s2", "toolu_x", "bash", json!({"command": "echo two"}))
        .await;
    assert_eq!(
        (ok_text(&a), ok_text(&b)),
        ("one".to_owned(), "two".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_run_once_and_share_the_result() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let cmd = json!({"command": "sleep 0.3; echo run >> runs.txt; wc -l < runs.txt"});
    let (a, b) = tokio::join!(
        sb.exec("s1", "toolu_dup", "bash", cmd.clone()),
        sb.exec("s1", "toolu_dup", "bash", cmd.clone())
    );
    assert_eq!(a.content, b.content);
    assert!(a.replayed ^ b.replayed, "exactly one ran: {a:?} {b:?}");
    assert_eq!(
        std::fs::read_to_string(sb.workspace("s1").join("runs.txt")).unwrap(),
        "run\n"
    );
}

#[tokio::test]
async fn the_record_survives_a_server_restart() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let first = sb
        .exec("s1", "toolu_keep", "bash", json!({"command": COUNT}))
        .await;
    let dir = sb.stop().await;

    let sb = start_in(dir, |_| {}).await;
    // After a restart the worker sets the session up again; calls before that are refused.
    let body = json!({"session_id": "s1", "tool_use_id": "toolu_keep", "name": "bash", "input": {"command": COUNT}});
    let (status, err) = sb
        .call("POST", "/v1/tools/execute", Some(TOKEN), Some(body))
        .await;
    assert_eq!(status, 404, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not set up")
    );
    sb.setup("s1", json!({})).await;
    let again = sb
        .exec("s1", "toolu_keep", "bash", json!({"command": COUNT}))
        .await;
    assert!(again.replayed);
    assert_eq!(again.content, first.content);
    assert_eq!(
        std::fs::read_to_string(sb.workspace("s1").join("runs.txt")).unwrap(),
        "run\n"
    );
}

#[tokio::test]
async fn a_call_started_but_never_finished_is_reported_interrupted_and_never_rerun() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    // What a server that died mid-call leaves behind: the start marker, no result.
    let calls = sb.dir.path().join("state/sessions/s1/calls");
    std::fs::write(calls.join("toolu_died.started"), "").unwrap();
    let r = sb
        .exec("s1", "toolu_died", "bash", json!({"command": COUNT}))
        .await;
    assert!(err_text(&r).contains("interrupted"));
    assert!(!sb.workspace("s1").join("runs.txt").exists());
    let again = sb
        .exec("s1", "toolu_died", "bash", json!({"command": COUNT}))
        .await;
    assert_eq!(again.content, r.content);
    assert!(!sb.workspace("s1").join("runs.txt").exists());
}
