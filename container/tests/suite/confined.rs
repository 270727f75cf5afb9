//! Shells confined by bubblewrap (`--confine bwrap`): the container's layout,
//! the session's mounts at their own paths, nothing else of the host, and the
//! proxy as the only way out.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use openma_sandbox::confine::Confine;
use serde_json::json;
use tower::ServiceExt;

use super::common::*;

/// How often, and how long, a test polls for a process to appear or go.
const POLL: Duration = Duration::from_millis(20);
const POLL_LIMIT: Duration = Duration::from_secs(10);

const NEEDS: &str = "needs bubblewrap and root; `cargo xtask test` runs it when it runs as root";

/// A server confining its shells, with `65534:65534` as the sandbox user.
/// The state directory is reachable by that user, as the file tools need.
async fn confined() -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    start_in(dir, |c| {
        c.confine = Confine::Bwrap;
        c.shim_exe = Some(env!("CARGO_BIN_EXE_openma-sandbox").into());
        c.sandbox_user = Some((65534, 65534));
    })
    .await
}

/// Places `bytes` at `path` in the session, as the platform places uploads.
async fn place(sb: &Sandbox, session: &str, path: &str, bytes: &[u8]) {
    let req = Request::builder()
        .method("PUT")
        .uri(format!("/v1/sessions/{session}/files?path={path}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(bytes.to_vec()))
        .unwrap();
    let res = sb.server.router().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs bubblewrap and root; `cargo xtask test` runs it when it runs as root"]
async fn a_confined_shell_sees_the_container_layout_and_nothing_else() {
    let sb = confined().await;
    sb.setup("s1", json!({})).await;
    sb.setup("s2", json!({})).await;
    assert_eq!(
        ok_text(&sb.bash("s1", "pwd; echo $HOME; id -u; echo $PATH").await),
        "/workspace\n/workspace\n65534\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "{NEEDS}"
    );
    assert_eq!(
        ok_text(
            &sb.bash("s2", "echo private > marker.txt; cat /workspace/marker.txt")
                .await
        ),
        "private"
    );
    let marker = sb.workspace("s2").join("marker.txt");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "private\n");

    // Another session, the state directory and the tool-call records are not there.
    let state = sb.dir.path().join("state");
    for path in [
        marker.clone(),
        state.join("sessions/s1/calls"),
        state.clone(),
        sb.dir.path().to_path_buf(),
    ] {
        let r = sb.bash("s1", &format!("ls {}", path.display())).await;
        assert!(err_text(&r).contains("No such file"), "{path:?}: {r:?}");
    }
    // Nor the host's other directories.
    for absent in ["/root", "/home", "/var", "/opt", "/srv"] {
        let r = sb.bash("s1", &format!("ls {absent}")).await;
        assert!(err_text(&r).contains("No such file"), "{absent}: {r:?}");
    }
    // The shim (PID 1) keeps its environment to itself.
    let r = sb.bash("s1", "cat /proc/1/environ").await;
    assert!(err_text(&r).contains("Permission denied"), "{r:?}");
    // Only the session's directories and the private temporary ones are writable.
    for path in ["/usr/x", "/etc/x", "/x", "/mnt/x", "/mnt/skills/x"] {
        let r = sb.bash("s1", &format!("touch {path}")).await;
        assert!(
            err_text(&r).contains("Read-only file system"),
            "{path}: {r:?}"
        );
    }
    assert_eq!(
        ok_text(
            &sb.bash(
                "s1",
                "touch /workspace/w /mnt/session/outputs/o /tmp/t /dev/shm/s && echo ok"
            )
            .await
        ),
        "ok"
    );
    assert!(sb.workspace("s1").join("w").exists());
    assert!(state.join("sessions/s1/outputs/o").exists());
    // Each shell has its own /tmp.
    let r = sb.bash("s2", "ls /tmp/t").await;
    assert!(err_text(&r).contains("No such file"), "{r:?}");
    // No privilege can be regained: setuid programs grant nothing.
    let r = sb.bash("s1", "su -c id root </dev/null").await;
    assert!(r.is_error, "{r:?}");
    assert_eq!(
        ok_text(
            &sb.bash("s1", "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status")
                .await
        ),
        "CapEff:\t0000000000000000\nNoNewPrivs:\t1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs bubblewrap and root; `cargo xtask test` runs it when it runs as root"]
async fn a_confined_shell_reaches_the_network_only_through_the_proxy() {
    fn ok_reply(_: &str) -> String {
        "upstream-ok".into()
    }
    let up = upstream(ok_reply).await;
    let sb = confined().await;
    let allowed = format!("127.0.0.1:{}", up.port);
    sb.setup(
        "s1",
        json!({"egress": {"networking": {"type": "limited", "allowed_hosts": [allowed]}}}),
    )
    .await;
    let url = format!("http://127.0.0.1:{}/", up.port);
    let allowed = sb.bash("s1", &format!("curl -sS {url}")).await;
    assert_eq!(ok_text(&allowed), "upstream-ok", "{NEEDS}");
    // Ignoring the proxy leads nowhere: the namespace has no route out, and
    // nothing of the host listens on its loopback.
    let direct = sb
        .bash("s1", &format!("curl -sS --noproxy '*' -m 5 {url}"))
        .await;
    assert!(direct.is_error, "{direct:?}");
    let tcp = sb
        .bash("s1", &format!("echo hi > /dev/tcp/127.0.0.1/{}", up.port))
        .await;
    assert!(err_text(&tcp).contains("Connection refused"), "{tcp:?}");
    assert_eq!(up.requests().len(), 1);
    // The policy still applies inside.
    sb.setup(
        "s1",
        json!({"egress": {"networking": {"type": "limited", "allowed_hosts": []}}}),
    )
    .await;
    assert!(
        ok_text(
            &sb.bash(
                "s1",
                &format!("curl -s -o /dev/null -w '%{{http_code}}' {url}")
            )
            .await
        )
        .ends_with("403")
    );
    assert!(sb.logs().iter().any(|l| l.contains("\"confinement\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs bubblewrap and root; `cargo xtask test` runs it when it runs as root"]
async fn mounts_are_bound_at_their_own_paths_and_a_change_restarts_the_shell() {
    let sb = confined().await;
    let upload = "/mnt/session/uploads/file_1";
    let nested = "/workspace/in/brief.txt";
    sb.setup(
        "s1",
        json!({"mounts": [
            {"path": upload, "kind": "file", "read_only": true},
            {"path": nested, "kind": "file", "read_only": true},
            {"path": "/mnt/memory/notes", "kind": "directory"},
            {"path": "/mnt/memory/rules", "kind": "directory", "read_only": true},
        ]}),
    )
    .await;
    place(&sb, "s1", upload, b"uploaded bytes\n").await;
    place(&sb, "s1", nested, b"nested bytes\n").await;
    let (status, body) = sb
        .call(
            "POST",
            "/v1/sessions/s1/tree",
            Some(TOKEN),
            Some(json!({"root": "/mnt/memory/rules", "files": [{"path": "/mnt/memory/rules/a.md", "content": "be kind"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // bash and the file tools see the same paths and the same bytes.
    for path in [upload, nested, "/mnt/memory/rules/a.md"] {
        let shown = ok_text(&sb.bash("s1", &format!("cat {path}")).await);
        let read = ok_text(
            &sb.exec("s1", &next_id(), "read", json!({"file_path": path}))
                .await,
        );
        assert!(
            read.contains(&shown),
            "{path}: bash {shown:?}, read {read:?}"
        );
    }
    // Read-only mounts are read-only to bash too; writable ones land in the
    // session's real directories.
    for path in [upload, nested, "/mnt/memory/rules/a.md"] {
        let r = sb.bash("s1", &format!("echo x > {path}")).await;
        assert!(
            err_text(&r).contains("Read-only file system"),
            "{path}: {r:?}"
        );
    }
    ok_text(&sb.bash("s1", "echo idea > /mnt/memory/notes/next.md").await);
    let listed = ok_text(
        &sb.exec(
            "s1",
            &next_id(),
            "glob",
            json!({"pattern": "**/*.md", "path": "/mnt/memory/notes"}),
        )
        .await,
    );
    assert!(listed.contains("/mnt/memory/notes/next.md"), "{listed}");
    // The nested mount point is in the workspace, not a link out of it.
    let point = sb.workspace("s1").join("in/brief.txt");
    assert!(point.symlink_metadata().unwrap().is_file());

    // Keep some state in the shell, then change the mounts: the next call
    // starts a fresh shell that sees the new set.
    ok_text(&sb.bash("s1", "cd /tmp && export KEPT=1").await);
    assert_eq!(
        ok_text(&sb.bash("s1", "pwd; echo ${KEPT:-}").await),
        "/tmp\n1"
    );
    sb.setup(
        "s1",
        json!({"mounts": [
            {"path": upload, "kind": "file", "read_only": true},
            {"path": "/mnt/memory/rules", "kind": "directory", "read_only": true},
        ]}),
    )
    .await;
    let out = sb
        .bash(
            "s1",
            "pwd; ls /mnt/memory; cat /workspace/in/brief.txt | wc -c",
        )
        .await;
    assert_eq!(
        ok_text(&out),
        "[the session's mounts changed, so this ran in a fresh shell in /workspace]\n/workspace\nnotes\nrules\n0"
    );
    // The platform swapping a mounted tree for a new one is a change too.
    let (status, body) = sb
        .call(
            "POST",
            "/v1/sessions/s1/tree",
            Some(TOKEN),
            Some(json!({"root": "/mnt/memory/rules", "files": [{"path": "/mnt/memory/rules/a.md", "content": "be kinder"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        ok_text(&sb.bash("s1", "cat /mnt/memory/rules/a.md").await),
        "[the session's mounts changed, so this ran in a fresh shell in /workspace]\nbe kinder"
    );
    // An unchanged set-up keeps the shell.
    ok_text(&sb.bash("s1", "export KEPT=2").await);
    sb.setup(
        "s1",
        json!({"mounts": [
            {"path": upload, "kind": "file", "read_only": true},
            {"path": "/mnt/memory/rules", "kind": "directory", "read_only": true},
        ]}),
    )
    .await;
    assert_eq!(ok_text(&sb.bash("s1", "echo $KEPT").await), "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs bubblewrap and root; `cargo xtask test` runs it when it runs as root"]
async fn a_link_planted_at_a_mount_point_is_not_followed() {
    let sb = confined().await;
    sb.setup("s1", json!({})).await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // The agent plants a link where a file resource will be mounted, to a
    // host directory as bubblewrap sees the host while it builds the sandbox.
    ok_text(
        &sb.bash(
            "s1",
            &format!("ln -s /oldroot{} /workspace/in", outside.path().display()),
        )
        .await,
    );
    sb.setup(
        "s1",
        json!({"mounts": [{"path": "/workspace/in/brief.txt", "kind": "file", "read_only": true}]}),
    )
    .await;
    place(&sb, "s1", "/workspace/in/brief.txt", b"brief").await;
    let r = sb.bash("s1", "readlink /workspace/in; echo done").await;
    let text = ok_text(&r);
    assert!(text.contains("done"), "{r:?}");
    // The shell says which mount it could not be given, and why.
    assert!(
        text.contains("not available in this shell")
            && text.contains("/workspace/in/brief.txt (a symbolic link is in the way)"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing was created through the link"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs bubblewrap and root; `cargo xtask test` runs it when it runs as root"]
async fn timeouts_and_teardown_end_everything_in_the_sandbox() {
    let sb = confined().await;
    sb.setup("s1", json!({})).await;
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "bash",
            json!({"command": "sleep 20", "timeout_ms": 300}),
        )
        .await;
    assert!(err_text(&r).contains("timed out"), "{NEEDS}");
    assert_eq!(ok_text(&sb.bash("s1", "echo again").await), "again");
    // A daemon that leaves the shell's process group still ends with it.
    ok_text(
        &sb.bash(
            "s1",
            "setsid sleep 4242 </dev/null >/dev/null 2>&1 & echo started",
        )
        .await,
    );
    let deadline = Instant::now() + POLL_LIMIT;
    while !running("sleep 4242") {
        assert!(Instant::now() < deadline, "the daemon never started");
        tokio::time::sleep(POLL).await;
    }
    let (status, _) = sb
        .call("DELETE", "/v1/sessions/s1", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + POLL_LIMIT;
    while running("sleep 4242") {
        assert!(Instant::now() < deadline, "the daemon outlived its sandbox");
        tokio::time::sleep(POLL).await;
    }
}

#[test]
fn the_confine_flag_overrides_its_environment_variable_and_bad_values_are_named() {
    let env = |value: &'static str| {
        move |name: &str| match name {
            "OMA_SANDBOX_TOKEN" => Some("t".to_owned()),
            "OMA_STATE_DIR" => Some("/s".to_owned()),
            "OMA_SANDBOX_CONFINE" => Some(value.to_owned()),
            _ => None,
        }
    };
    let parse = |args: &[&str], value| {
        openma_sandbox::Config::parse(args.iter().map(|a| (*a).to_owned()), env(value))
    };
    assert_eq!(parse(&[], "").unwrap().confine, Confine::None);
    assert_eq!(parse(&[], "bwrap").unwrap().confine, Confine::Bwrap);
    assert_eq!(
        parse(&["--confine", "none"], "bwrap").unwrap().confine,
        Confine::None
    );
    let bad = parse(&["--confine", "docker"], "").unwrap_err();
    assert_eq!(bad.to_string(), "invalid value for --confine: docker");
}

#[tokio::test]
async fn a_one_session_container_is_not_confined_by_bubblewrap() {
    let dir = tempfile::tempdir().unwrap();
    let err = start_err(dir.path(), |c| {
        c.confine = Confine::Bwrap;
        c.workspace = Some(dir.path().join("ws"));
    })
    .await;
    assert!(
        err.contains("with --workspace the container is the boundary"),
        "{err}"
    );
}

#[tokio::test]
#[ignore = "needs root; `cargo xtask test` runs it when it runs as root"]
async fn a_root_server_confines_shells_only_with_a_sandbox_user() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "a root server's refusal needs root"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = start_err(dir.path(), |c| c.confine = Confine::Bwrap).await;
    assert!(err.contains("--sandbox-user UID:GID"), "{err}");
}

/// Starts a server that must refuse to start; returns why.
async fn start_err(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut openma_sandbox::Config),
) -> String {
    let mut config = openma_sandbox::Config::local(dir.join("state"), TOKEN);
    tweak(&mut config);
    let (logger, _) = openma_sandbox::Logger::memory();
    match openma_sandbox::start(config, logger).await {
        Ok(_) => panic!("the server started"),
        Err(e) => e.to_string(),
    }
}

/// Whether a process with this command line runs anywhere on the machine.
fn running(cmdline: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim() == cmdline)
    })
}
