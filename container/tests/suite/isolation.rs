//! Network namespaces (root only): the proxy is the only way out.

use serde_json::json;

use super::common::*;

fn ok_reply(_: &str) -> String {
    "upstream-ok".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root, unshare and ip; `cargo xtask test` runs it when it runs as root"]
async fn an_isolated_shell_reaches_the_network_only_through_the_proxy() {
    assert!(
        openma_sandbox::egress::netns::available().await,
        "network namespaces need root, unshare and ip"
    );
    let up = upstream(ok_reply).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let sb = start_in(dir, |c| {
        c.isolate_network = true;
        c.shim_exe = Some(env!("CARGO_BIN_EXE_openma-sandbox").into());
        c.sandbox_user = Some((65534, 65534));
    })
    .await;
    let allowed = format!("127.0.0.1:{}", up.port);
    sb.setup(
        "s1",
        json!({"egress": {"networking": {"type": "limited", "allowed_hosts": [allowed]}}}),
    )
    .await;
    let url = format!("http://127.0.0.1:{}/", up.port);
    assert_eq!(
        ok_text(&sb.bash("s1", &format!("id -u; curl -sS {url}")).await),
        "65534\nupstream-ok"
    );
    // Ignoring the proxy leads nowhere: the namespace has no route out.
    let direct = sb
        .bash("s1", &format!("curl -sS --noproxy '*' -m 5 {url}"))
        .await;
    assert!(direct.is_error, "{direct:?}");
    assert_eq!(up.requests().len(), 1);
    // The policy still applies inside.
    sb.setup(
        "s1",
        json!({"egress": {"networking": {"type": "limited", "allowed_hosts": []}}}),
    )
    .await;
    assert_eq!(
        ok_text(
            &sb.bash(
                "s1",
                &format!("curl -s -o /dev/null -w '%{{http_code}}' {url}")
            )
            .await
        ),
        "403"
    );
    // Timeouts still kill everything, and the next call gets a fresh isolated shell.
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "bash",
            json!({"command": "sleep 20", "timeout_ms": 300}),
        )
        .await;
    assert!(err_text(&r).contains("timed out"));
    assert_eq!(ok_text(&sb.bash("s1", "echo again").await), "again");
    assert!(
        sb.logs()
            .iter()
            .any(|l| l.contains("\"network_isolation\""))
    );
}
