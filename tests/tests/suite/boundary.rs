//! The local sandbox is a real boundary: a session's bash, started by the
//! real platform, runs with the container's layout and sees neither the
//! platform's state (keys, the local database), nor another session, nor the
//! server's environment, nor a network beside the egress proxy; it reads an
//! uploaded file where the file tools do.

use openma_e2e::Api;
use openma_e2e::Frame;
use openma_e2e::MockModel;
use openma_e2e::Reply;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;
use super::sessions::find_file;
use super::sessions::start;

/// The tool results of a turn, in order.
fn tool_results(frames: &[Frame]) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| f.event == "agent.tool_result")
        .map(|f| f.data.clone())
        .collect()
}

/// The text a tool result carries.
fn text(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The first file under `dir` whose name ends with `suffix`.
fn find_suffix(dir: &std::path::Path, suffix: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_suffix(&path, suffix) {
                return Some(found);
            }
        } else if path.to_string_lossy().ends_with(suffix) {
            return Some(path);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sessions_shell_sees_the_container_layout_and_nothing_of_the_host() {
    let mock = MockModel::start().unwrap();
    let platform = start(&mock);
    let api = Api::new(&platform);
    let state = platform.state_dir().to_path_buf();
    let dev_vars = state.join("wrangler/.dev.vars");
    assert!(dev_vars.is_file(), "{}", dev_vars.display());
    let database = find_suffix(&state.join("wrangler/.wrangler/state"), ".sqlite")
        .expect("the local D1 database");
    let model_port = mock.base_url().rsplit(':').next().unwrap().to_owned();

    // A neighbour session keeps a marker in its workspace.
    let neighbour = api.session_with_agent(agent("neighbour")).await.unwrap();
    let neighbour = neighbour["id"].as_str().unwrap().to_owned();
    mock.push(Reply::tool_use(
        "toolu_marker",
        "bash",
        json!({"command": "echo neighbour-private > marker.txt && pwd"}),
    ));
    mock.push(Reply::text("Marked."));
    let mut stream = api.stream(&neighbour, None, "").await.unwrap();
    api.send_message(&neighbour, "leave a marker")
        .await
        .unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let marked = &tool_results(&frames)[0];
    assert_eq!(text(marked), "/workspace", "{marked:#}");
    let marker = find_file(&state.join("sandbox"), "marker.txt").expect("the neighbour's marker");
    assert!(marker.to_string_lossy().contains(&neighbour));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "neighbour-private\n"
    );

    // The session under test has an uploaded file mounted.
    let upload = api
        .upload("brief.txt", "text/plain", b"confined upload\n")
        .await
        .unwrap();
    let file_id = upload["id"].as_str().unwrap().to_owned();
    let session = api
        .session_with_resources(
            agent("confined"),
            json!([{"type": "file", "file_id": file_id}]),
        )
        .await
        .unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let upload_path = format!("/mnt/session/uploads/{file_id}");
    let calls = [
        ("pwd", "pwd".to_owned()),
        ("dev_vars", format!("cat {}", dev_vars.display())),
        (
            "database",
            format!("cat {} | head -c 64", database.display()),
        ),
        ("neighbour", format!("cat {}", marker.display())),
        (
            "environ",
            "tr '\\0' ' ' </proc/1/cmdline; echo; cat /proc/1/environ".to_owned(),
        ),
        (
            "direct_tcp",
            format!("exec 3<>/dev/tcp/127.0.0.1/{model_port} && echo connected"),
        ),
        ("upload", format!("cat {upload_path}")),
    ];
    for (name, command) in &calls {
        mock.push(Reply::tool_use(
            &format!("toolu_{name}"),
            "bash",
            json!({"command": command}),
        ));
    }
    mock.push(Reply::tool_use(
        "toolu_read",
        "read",
        json!({"file_path": upload_path}),
    ));
    mock.push(Reply::text("Done."));
    let mut stream = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "look around").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let results = tool_results(&frames);
    assert_eq!(results.len(), calls.len() + 1, "{frames:#?}");
    let result = |name: &str| {
        let at = calls.iter().position(|(n, _)| *n == name).unwrap();
        results[at].clone()
    };

    // bash starts in the container's /workspace.
    let pwd = result("pwd");
    assert_eq!(text(&pwd), "/workspace", "{pwd:#}");

    // The platform's keys are not there.
    let dev_vars_read = result("dev_vars");
    assert_eq!(dev_vars_read["is_error"], true, "{dev_vars_read:#}");
    assert!(
        text(&dev_vars_read).contains("No such file"),
        "{dev_vars_read:#}"
    );
    for secret in [platform.api_key(), platform.root_secret()] {
        assert!(!dev_vars_read.to_string().contains(secret));
    }

    // Nor the local database with every tenant's sealed secrets.
    let database_read = result("database");
    assert!(
        text(&database_read).contains("No such file"),
        "{database_read:#}"
    );
    assert!(
        !text(&database_read).contains("SQLite format"),
        "{database_read:#}"
    );

    // Nor another session's workspace.
    let neighbour_read = result("neighbour");
    assert_eq!(neighbour_read["is_error"], true, "{neighbour_read:#}");
    assert!(
        !neighbour_read.to_string().contains("neighbour-private"),
        "{neighbour_read:#}"
    );

    // PID 1 is the sandbox's own first process (the relay to the proxy,
    // which starts bash), and its environment is out of bash's reach.
    let environ = result("environ");
    assert!(
        text(&environ).contains(" netns-shim --init "),
        "{environ:#}"
    );
    assert_eq!(environ["is_error"], true, "{environ:#}");
    assert!(
        text(&environ).contains("/proc/1/environ: Permission denied"),
        "{environ:#}"
    );

    // A connection that ignores the egress proxy goes nowhere, even to a
    // server listening on the host's loopback.
    let direct = result("direct_tcp");
    assert_eq!(direct["is_error"], true, "{direct:#}");
    assert!(text(&direct).contains("Connection refused"), "{direct:#}");
    assert!(!text(&direct).contains("connected"), "{direct:#}");

    // The uploaded file is where the file tools find it, with the same bytes.
    let shown = result("upload");
    assert_eq!(shown["is_error"], false, "{shown:#}");
    assert_eq!(text(&shown), "confined upload", "{shown:#}");
    let read = &results[calls.len()];
    assert_eq!(read["is_error"], false, "{read:#}");
    assert_eq!(text(read), "confined upload\n", "{read:#}");
}
