use std::time::Duration;

use serde_json::json;

use super::common::*;

#[tokio::test]
async fn bash_keeps_cwd_and_exported_variables_between_calls() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    ok_text(
        &sb.bash("s1", "mkdir -p sub && cd sub && export GREETING=hello")
            .await,
    );
    let out = ok_text(&sb.bash("s1", "basename \"$PWD\"; echo $GREETING").await);
    assert_eq!(out, "sub\nhello");
}

#[tokio::test]
async fn bash_starts_in_the_session_workspace_with_home_there() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let out = ok_text(&sb.bash("s1", "pwd; echo $HOME").await);
    let root = sb.workspace("s1").canonicalize().unwrap();
    assert_eq!(out, format!("{0}\n{0}", root.display()));
}

#[tokio::test]
async fn bash_failure_is_an_error_result_with_the_exit_code_and_stderr() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let out = err_text(
        &sb.bash("s1", "echo before; ls /definitely/not/here; false")
            .await,
    );
    assert!(out.starts_with("before\n"), "{out}");
    assert!(out.contains("No such file or directory"), "{out}");
    assert!(out.ends_with("[exit code: 1]"), "{out}");
}

#[tokio::test]
async fn bash_with_no_output_says_so() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    assert_eq!(ok_text(&sb.bash("s1", "true").await), "(no output)");
}

#[tokio::test]
async fn bash_commands_get_an_empty_stdin_not_the_control_stream() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    assert_eq!(ok_text(&sb.bash("s1", "cat; echo done").await), "done");
}

#[tokio::test]
async fn bash_timeout_kills_the_whole_process_group_and_the_next_call_gets_a_fresh_shell() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    ok_text(&sb.bash("s1", "mkdir -p d && cd d && export KEPT=1").await);
    let started = std::time::Instant::now();
    let r = sb
        .exec("s1", &next_id(), "bash", json!({"command": "sleep 30 & echo $! > ../bg.pid; echo started; sleep 30", "timeout_ms": 500}))
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let out = err_text(&r);
    assert!(out.starts_with("started"), "{out}");
    assert!(out.contains("timed out after 500 ms"), "{out}");
    // The background sleep was in the group and is gone; the shell state was reset.
    // A killed process may linger as a zombie until it is reaped; that counts as dead.
    let probe = "state() { awk '{print $3}' /proc/$(cat bg.pid)/stat 2>/dev/null; }; \
                 for _ in $(seq 100); do s=$(state); [ -z \"$s\" ] || [ \"$s\" = Z ] && break; sleep 0.02; done; \
                 s=$(state); { [ -z \"$s\" ] || [ \"$s\" = Z ]; } && echo dead || echo alive; echo \"[$KEPT]\"; basename $PWD";
    let out = sb.bash("s1", probe).await;
    assert_eq!(out.joined_text(), "dead\n[]\nworkspace");
}

#[tokio::test]
async fn bash_restart_resets_the_shell() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    ok_text(&sb.bash("s1", "export X=1; mkdir -p a; cd a").await);
    let r = sb
        .exec("s1", &next_id(), "bash", json!({"restart": true}))
        .await;
    assert_eq!(ok_text(&r), "shell restarted");
    assert_eq!(
        ok_text(&sb.bash("s1", "echo \"[$X]\"; basename $PWD").await),
        "[]\nworkspace"
    );
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "bash",
            json!({"restart": true, "command": "echo fresh"}),
        )
        .await;
    assert_eq!(ok_text(&r), "fresh");
}

#[tokio::test]
async fn bash_output_is_capped_with_a_truncation_marker() {
    let sb = sandbox_with(|c| c.limits.max_output_bytes = 1000).await;
    sb.setup("s1", json!({})).await;
    let out = ok_text(
        &sb.bash(
            "s1",
            "echo first; head -c 5000 /dev/zero | tr '\\0' a; echo; echo last",
        )
        .await,
    );
    assert!(out.starts_with("first\naaaa"), "{}", &out[..50]);
    assert!(
        out.contains("bytes in the middle not shown; redirect"),
        "{out}"
    );
    assert!(out.ends_with("aaaa\nlast"), "{out}");
    assert!(out.len() < 1200);
}

#[tokio::test]
async fn bash_exit_ends_the_shell_and_the_next_call_recovers() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let out = err_text(&sb.bash("s1", "echo bye; exit 3").await);
    assert!(out.starts_with("bye"), "{out}");
    assert!(out.contains("the shell exited (status 3)"), "{out}");
    assert_eq!(ok_text(&sb.bash("s1", "echo back").await), "back");
}

#[tokio::test]
async fn bash_syntax_errors_are_reported_and_the_shell_survives() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    ok_text(&sb.bash("s1", "export KEEP=yes").await);
    let out = err_text(&sb.bash("s1", "if then fi (").await);
    assert!(out.contains("syntax error"), "{out}");
    assert_eq!(ok_text(&sb.bash("s1", "echo $KEEP").await), "yes");
}

#[tokio::test]
async fn bash_tracing_cannot_fake_the_end_marker() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let out = sb.bash("s1", "set -x; echo one").await.joined_text();
    assert!(out.contains("one"), "{out}");
    let out = sb.bash("s1", "set +x; echo two").await.joined_text();
    assert!(out.ends_with("two"), "{out}");
}

#[tokio::test]
async fn bash_runs_multi_line_scripts_with_quotes_and_heredocs_verbatim() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let script = "cat > q.txt <<'EOF'\nit's \"quoted\" $HOME `x`\nEOF\ncat q.txt\nfor i in 1 2; do\n  echo \"n=$i\"\ndone";
    assert_eq!(
        ok_text(&sb.bash("s1", script).await),
        "it's \"quoted\" $HOME `x`\nn=1\nn=2"
    );
}

#[tokio::test]
async fn bash_survives_set_e_between_calls_and_rejects_nul_bytes() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    ok_text(&sb.bash("s1", "set -e; set -u; export A=1").await);
    assert_eq!(ok_text(&sb.bash("s1", "echo $A").await), "1");
    let r = sb.bash("s1", "echo a\u{0}b").await;
    assert!(err_text(&r).contains("NUL"));
}
