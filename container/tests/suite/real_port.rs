//! The real binary over a real loopback port, as a supervisor runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::TOKEN;

struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(state: &Path, stderr_file: &Path) -> Proc {
    spawn_with(state, stderr_file, &[])
}

fn spawn_with(state: &Path, stderr_file: &Path, extra: &[&str]) -> Proc {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_file)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_openma-sandbox"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--proxy-listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(state)
        .args(extra)
        .env("OMA_SANDBOX_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ready["event"], "listening");
    // The token was moved off the server's environment before it started.
    // Only root can read it at all: the server is not dumpable.
    match std::fs::read(format!("/proc/{}/environ", child.id())) {
        Ok(environ) => {
            let environ = String::from_utf8_lossy(&environ);
            assert!(!environ.contains(TOKEN), "{environ}");
            assert!(!environ.contains("OMA_SANDBOX_TOKEN="), "{environ}");
        }
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
            assert_ne!(nix::unistd::geteuid().as_raw(), 0, "root reads any environ");
        }
    }
    assert!(
        ready["proxy_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    Proc {
        child,
        base: format!("http://{}", ready["addr"].as_str().unwrap()),
    }
}

async fn post(
    client: &reqwest::Client,
    p: &Proc,
    path: &str,
    method: reqwest::Method,
    body: Value,
) -> (u16, Value) {
    let res = client
        .request(method, format!("{}{path}", p.base))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_health_auth_and_tools_and_logs_one_json_line_per_call() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let p = spawn(&dir.path().join("state"), &log);
    let c = client();
    let health = c.get(format!("{}/health", p.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let unauth = c
        .put(format!("{}/v1/sessions/s1", p.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    let wrong = c
        .put(format!("{}/v1/sessions/s1", p.base))
        .bearer_auth("nope")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let secret = "real-port-secret-value";
    let (status, setup) = post(
        &c,
        &p,
        "/v1/sessions/s1",
        reqwest::Method::PUT,
        json!({"secrets": [{"name": "TOKEN_X", "value": secret}]}),
    )
    .await;
    assert_eq!(status, 200, "{setup}");
    let exec = json!({"session_id": "s1", "tool_use_id": "toolu_rp1", "name": "bash", "input": {"command": "echo $TOKEN_X; env | grep -c OMA_ || true"}});
    let (status, result) = post(&c, &p, "/v1/tools/execute", reqwest::Method::POST, exec).await;
    assert_eq!(status, 200);
    assert_eq!(
        result["content"][0]["text"],
        format!("{}\n0", setup["placeholders"]["TOKEN_X"].as_str().unwrap())
    );
    assert_eq!(result["is_error"], false);

    let logs = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<&Value> = lines.iter().filter(|l| l["event"] == "tool_call").collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["session_id"], "s1");
    assert_eq!(calls[0]["tool"], "bash");
    assert_eq!(calls[0]["outcome"], "ok");
    assert!(calls[0]["duration_ms"].is_u64());
    assert!(!logs.contains(secret) && !logs.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_off_by_a_server_crash_is_answered_as_interrupted_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = dir.path().join("stderr.log");
    let p = spawn(&state, &log);
    let c = client();
    post(&c, &p, "/v1/sessions/s1", reqwest::Method::PUT, json!({})).await;
    let cmd =
        "echo $$ > shell.pid; echo started > marker.txt; sleep 5; echo finished >> marker.txt";
    let exec = json!({"session_id": "s1", "tool_use_id": "toolu_crash", "name": "bash", "input": {"command": cmd}});
    let (c2, base, body) = (c.clone(), p.base.clone(), exec.clone());
    let in_flight = tokio::spawn(async move {
        c2.post(format!("{base}/v1/tools/execute"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
    });
    let ws = state.join("sessions/s1/workspace");
    wait_for("the command to start", || {
        ws.join("shell.pid").exists() && ws.join("marker.txt").exists()
    })
    .await;
    drop(p); // SIGKILL: the server dies mid-call.
    assert!(in_flight.await.unwrap().is_err());
    // Clean up the orphaned shell's process group so nothing finishes behind our back.
    let pgid = std::fs::read_to_string(ws.join("shell.pid")).unwrap();
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", pgid.trim())])
        .status();

    let p = spawn(&state, &log);
    post(&c, &p, "/v1/sessions/s1", reqwest::Method::PUT, json!({})).await;
    let (status, result) = post(
        &c,
        &p,
        "/v1/tools/execute",
        reqwest::Method::POST,
        exec.clone(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(result["is_error"], true);
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{result}"
    );
    let (_, again) = post(&c, &p, "/v1/tools/execute", reqwest::Method::POST, exec).await;
    assert_eq!(again["content"], result["content"]);
    assert_eq!(
        std::fs::read_to_string(ws.join("marker.txt")).unwrap(),
        "started\n"
    );
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root; `cargo xtask test` runs it when it runs as root"]
async fn a_root_server_runs_tools_as_the_sandbox_user_who_cannot_read_the_servers_secrets() {
    assert!(running_as_root(), "--sandbox-user needs a root server");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let state = dir.path().join("state");
    let p = spawn_with(
        &state,
        &dir.path().join("stderr.log"),
        &["--sandbox-user", "65534:65534"],
    );
    let c = client();
    post(
        &c,
        &p,
        "/v1/sessions/s1",
        reqwest::Method::PUT,
        json!({"secrets": [{"name": "K", "value": "root-held-secret"}]}),
    )
    .await;
    let exec = |id: &str, name: &str, input: Value| json!({"session_id": "s1", "tool_use_id": id, "name": name, "input": input});
    let (_, w) = post(
        &c,
        &p,
        "/v1/tools/execute",
        reqwest::Method::POST,
        exec(
            "u1",
            "write",
            json!({"file_path": "d/e/f.txt", "content": "a\n"}),
        ),
    )
    .await;
    assert_eq!(w["is_error"], false, "{w}");
    let cmd = "id -u; echo b >> d/e/f.txt && touch d/e/g && echo owned; cat /proc/$PPID/environ 2>&1 | tr '\\0' '\\n'; \
               echo x > ../calls/forged.result.json 2>/dev/null || echo journal-protected";
    let (_, r) = post(
        &c,
        &p,
        "/v1/tools/execute",
        reqwest::Method::POST,
        exec("u2", "bash", json!({"command": cmd})),
    )
    .await;
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("65534\nowned\n"), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(text.contains("journal-protected"), "{text}");
    assert!(
        !text.contains(TOKEN) && !text.contains("root-held-secret"),
        "{text}"
    );
    // File tools act with the sandbox user's permissions too.
    let ws = state.join("sessions/s1/workspace");
    let owner =
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(ws.join("d/e/f.txt")).unwrap());
    assert_eq!(owner, 65534);
    std::fs::write(ws.join("root-only.txt"), "root's").unwrap();
    std::fs::set_permissions(
        ws.join("root-only.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (_, r) = post(
        &c,
        &p,
        "/v1/tools/execute",
        reqwest::Method::POST,
        exec("u3", "read", json!({"file_path": "root-only.txt"})),
    )
    .await;
    assert_eq!(r["is_error"], true, "{r}");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("permission denied"),
        "{r}"
    );
}
