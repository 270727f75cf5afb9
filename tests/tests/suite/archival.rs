//! Archival: a retention pass (`POST /v1/operator/archive`) moves the event
//! log of an archived session, or of one at rest past
//! `SESSION_ARCHIVE_AFTER_DAYS`, out of its session object into R2. The
//! session reads exactly as before — every page, cursor and filter, across
//! a restart — while its object stores nothing; using a session that is not
//! archived brings its log back; deleting it removes the archive too.

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
use sha2::Digest;

use super::sessions::WAIT;
use super::sessions::agent;

/// The listings compared before and after: each is followed through every
/// `next_page`, and every page is compared whole (data and cursor).
const QUERIES: [&str; 9] = [
    "",
    "limit=100",
    "limit=3",
    "limit=4&order=desc",
    "limit=1&types[]=agent.message",
    "limit=2&types[]=user.message&types[]=agent.tool_result",
    "limit=2&order=desc&types[]=session.status_idle",
    "limit=1&types[]=agent.tool_use",
    "limit=1000&order=asc",
];

/// Every page of `query`, as answered.
async fn pages(api: &Api, session: &str, query: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut path = format!("/v1/sessions/{session}/events?{query}");
    loop {
        let page = api.ok(Method::GET, &path, None).await.unwrap();
        let next = page["next_page"].as_str().map(str::to_owned);
        pages.push(page);
        match next {
            Some(cursor) => path = format!("/v1/sessions/{session}/events?{query}&page={cursor}"),
            None => return pages,
        }
    }
}

/// What a session's listings answer: every query of [`QUERIES`], one
/// bounded by the time of the log's middle event in each direction, and
/// the refusal of a bad query.
async fn listings(api: &Api, session: &str) -> Vec<(String, Vec<Value>)> {
    let mut queries: Vec<String> = QUERIES.iter().map(|q| (*q).to_owned()).collect();
    let whole = api.events(session).await.unwrap();
    let middle = whole[whole.len() / 2]["processed_at"]
        .as_str()
        .unwrap()
        .to_owned();
    for bound in ["gte", "gt", "lt", "lte"] {
        queries.push(format!("limit=2&created_at[{bound}]={middle}"));
    }
    let mut answers = Vec::new();
    for query in queries {
        let answer = pages(api, session, &query).await;
        answers.push((query, answer));
    }
    let (status, refused) = api
        .call(
            Method::GET,
            &format!("/v1/sessions/{session}/events?limit=0"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{refused}");
    answers.push(("limit=0".to_owned(), vec![refused["error"]["type"].clone()]));
    answers
}

fn assert_same_listings(
    before: &[(String, Vec<Value>)],
    after: &[(String, Vec<Value>)],
    when: &str,
) {
    assert_eq!(before.len(), after.len());
    for ((query, expected), (_, got)) in before.iter().zip(after) {
        assert_eq!(got, expected, "{when}: ?{query} lists differently");
    }
}

/// The session as retrieved, without the one field that moves with the
/// clock (its age).
async fn session_view(api: &Api, id: &str) -> Value {
    let mut session = api
        .ok(Method::GET, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    session["stats"]
        .as_object_mut()
        .unwrap()
        .remove("duration_seconds");
    session
}

async fn storage(api: &Api, id: &str) -> Value {
    api.ok(
        Method::GET,
        &format!("/v1/operator/sessions/{id}/storage"),
        None,
    )
    .await
    .unwrap()
}

async fn archive_run(api: &Api, body: Value) -> Value {
    let run = api
        .ok(Method::POST, "/v1/operator/archive", Some(body))
        .await
        .unwrap();
    assert_eq!(run["type"], "archive_run", "{run:#}");
    assert_eq!(run["failed"], json!([]), "{run:#}");
    run
}

fn swept(run: &Value) -> Vec<&str> {
    run["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect()
}

/// Runs passes until one sweeps `session`: a session that has just come to
/// rest is skipped as busy until its object has written the index.
/// Runs passes until `session` is swept; returns the pass that swept it
/// (`None` if it was swept already).
async fn sweep_until_swept(api: &Api, session: &str) -> Option<Value> {
    let deadline = Instant::now() + WAIT;
    // A pass skips a session that is busy (a request, its driver or an
    // index write in progress) and a later pass sweeps it.
    while storage(api, session).await["log"] != "archive" {
        let run = archive_run(api, json!({})).await;
        if swept(&run).contains(&session) {
            return Some(run);
        }
        let skipped_busy = run["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["session_id"] == session && s["reason"] == "busy");
        assert!(
            skipped_busy,
            "{session} was neither swept nor busy: {run:#}"
        );
        assert!(
            Instant::now() < deadline,
            "{session} was never swept: {run:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                found.push(path);
            }
        }
    }
    found
}

/// The local R2 data of a platform's state directory.
fn r2_dir(state: &Path) -> PathBuf {
    state.join("wrangler/.wrangler/state/v3/r2")
}

/// Whether the local R2 data holds a file whose SHA-256 is `sha256`.
fn r2_holds_digest(state: &Path, sha256: &str) -> bool {
    files_under(&r2_dir(state)).iter().any(|path| {
        std::fs::read(path).is_ok_and(|bytes| {
            let digest: String = sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            digest == sha256
        })
    })
}

/// Whether the local R2 data holds a file containing `marker`.
fn r2_holds_text(state: &Path, marker: &str) -> bool {
    files_under(&r2_dir(state)).iter().any(|path| {
        std::fs::read(path).is_ok_and(|bytes| {
            bytes
                .windows(marker.len())
                .any(|window| window == marker.as_bytes())
        })
    })
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archived_session_is_swept_to_r2_and_reads_the_same_across_a_restart() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::tool_use(
        "toolu_ar1",
        "bash",
        json!({"command": "echo archived"}),
    ));
    mock.push(Reply::text("First done."));
    mock.push(Reply::Message(
        Message::new().text("Second done.").usage(40, 9),
    ));
    mock.push(Reply::text("Big one read."));
    let state = tempfile::tempdir().unwrap();
    let mut first = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .state_dir(state.path())
        .start()
        .unwrap();
    let api = Api::new(&first);
    let id = api.session_with_agent(agent("archivist")).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();
    for text in ["first", "second"] {
        api.send_message(&id, text).await.unwrap();
        stream.until("session.status_idle", WAIT).await.unwrap();
    }
    // A message larger than a storage row: its body is spilled to R2, and
    // stays there through the sweep.
    let marker = "archival-marker-".repeat(20);
    let big = format!("{marker}{}", "z".repeat(300 * 1024));
    api.send_message(&id, &big).await.unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
    // Another session at rest, neither archived nor idle for 30 days.
    let resting = api.session_with_agent(agent("resting")).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let whole = api.events(&id).await.unwrap();
    assert!(whole.len() >= 18, "{}", whole.len());
    let listed = listings(&api, &id).await;
    api.ok(Method::POST, &format!("/v1/sessions/{id}/archive"), None)
        .await
        .unwrap();
    let viewed = session_view(&api, &id).await;
    assert!(viewed["archived_at"].is_string(), "{viewed:#}");
    assert_same_listings(&listed, &listings(&api, &id).await, "archived");

    let held = storage(&api, &id).await;
    assert_eq!(held["log"], "object", "{held:#}");
    assert_eq!(held["object"]["tables"]["events"], whole.len(), "{held:#}");
    assert_eq!(held["archive"], Value::Null, "{held:#}");

    // Only the operator runs archival; a bad run is refused.
    let tenant = api
        .ok(
            Method::POST,
            "/v1/tenants",
            Some(json!({"name": "tenant-a"})),
        )
        .await
        .unwrap();
    let tenant_api = Api::with_key(&first, tenant["api_key"]["key"].as_str().unwrap());
    for (method, path) in [
        (Method::POST, "/v1/operator/archive".to_owned()),
        (Method::GET, format!("/v1/operator/sessions/{id}/storage")),
    ] {
        let (status, body) = tenant_api.call(method, &path, None).await.unwrap();
        assert_eq!(status, 403, "{path}: {body}");
        assert_eq!(body["error"]["type"], "permission_error", "{body}");
    }
    for body in [
        json!({"limit": 0}),
        json!({"limit": 101}),
        json!({"older_than": 1}),
    ] {
        let (status, answer) = api
            .call(Method::POST, "/v1/operator/archive", Some(body.clone()))
            .await
            .unwrap();
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
    }
    let (status, _) = api
        .call(
            Method::GET,
            "/v1/operator/sessions/sesn_nonexistent/storage",
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404);

    // The pass sweeps the archived session, and nothing else.
    let run = sweep_until_swept(&api, &id).await.expect("swept by a pass");
    assert_eq!(swept(&run), [id.as_str()], "{run:#}");
    assert_eq!(run["swept"], 1);
    assert_eq!(run["archive_after_days"], 30);
    assert_eq!(run["remaining"], false);
    // Idempotent: a second pass has nothing new to sweep.
    let again = archive_run(&api, json!({"limit": 10})).await;
    assert_eq!(again["swept"], 0, "{again:#}");
    assert!(!swept(&again).contains(&id.as_str()));

    let moved = storage(&api, &id).await;
    assert_eq!(moved["log"], "archive", "{moved:#}");
    assert_eq!(moved["object"]["rows"], 0, "{moved:#}");
    assert_eq!(moved["object"]["tables"], json!({}), "{moved:#}");
    let archive = &moved["archive"];
    assert_eq!(archive["key"], format!("archive/default/{id}.jsonl.gz"));
    assert_eq!(archive["events"], whole.len());
    assert_eq!(archive["last_seq"], whole.len());
    let sha256 = archive["sha256"].as_str().unwrap().to_owned();
    assert!(
        r2_holds_digest(state.path(), &sha256),
        "the archive is in R2"
    );
    assert_eq!(storage(&api, &resting).await["log"], "object");

    // It reads as before: every page, the session, the index, a stream.
    assert_same_listings(&listed, &listings(&api, &id).await, "swept");
    assert_eq!(session_view(&api, &id).await, viewed);
    let page = api
        .ok(Method::GET, "/v1/sessions?include_archived=true", None)
        .await
        .unwrap();
    let indexed = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .expect("listed");
    assert_eq!(indexed["status"], viewed["status"]);
    assert_eq!(indexed["usage"], viewed["usage"]);
    let mut replay = api.stream(&id, Some(2), "").await.unwrap();
    for expected in &whole[2..] {
        let frame = replay.next(WAIT).await.unwrap();
        assert_eq!(&frame.data, expected);
    }
    // Still read-only.
    let (status, refused) = api
        .call(
            Method::POST,
            &format!("/v1/sessions/{id}/events"),
            Some(json!({"events": [{"type": "user.message", "content": [{"type": "text", "text": "hello?"}]}]})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("archived"),
        "{refused}"
    );

    // The same after a restart of the whole platform.
    first.stop();
    let second = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        .state_of(&first)
        .start()
        .unwrap();
    let api = Api::new(&second);
    let restarted = storage(&api, &id).await;
    assert_eq!(restarted["log"], "archive", "{restarted:#}");
    assert_eq!(restarted["object"]["rows"], 0, "{restarted:#}");
    assert_same_listings(&listed, &listings(&api, &id).await, "after a restart");
    assert_eq!(session_view(&api, &id).await, viewed);

    // Deleting it removes the archive and the spilled body too.
    assert!(
        r2_holds_text(state.path(), &marker),
        "the spilled body is in R2"
    );
    let mut ending = api.stream(&id, None, "").await.unwrap();
    api.ok(Method::DELETE, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    let last = ending.next(WAIT).await.unwrap();
    assert_eq!(last.event, "session.deleted");
    assert!(ending.ended(WAIT).await, "the stream ends");
    for path in [
        format!("/v1/sessions/{id}"),
        format!("/v1/sessions/{id}/events"),
        format!("/v1/operator/sessions/{id}/storage"),
    ] {
        let (status, _) = api.call(Method::GET, &path, None).await.unwrap();
        assert_eq!(status, 404, "{path}");
    }
    wait_until("the archive is deleted from R2", || {
        !r2_holds_digest(state.path(), &sha256)
    })
    .await;
    wait_until("the spilled body is deleted from R2", || {
        !r2_holds_text(state.path(), &marker)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_is_swept_and_its_log_comes_back_when_it_is_used() {
    let mock = MockModel::start().unwrap();
    mock.push(Reply::text("Before the sweep."));
    mock.push(Reply::Slow {
        message: Message::new().text("A slow turn, archived while it runs."),
        delay: Duration::from_millis(300),
    });
    mock.push(Reply::text("After the sweep."));
    let platform = Platform::builder()
        .env("ANTHROPIC_BASE_URL", &mock.base_url())
        // Every session at rest is swept by the next pass.
        .env("SESSION_ARCHIVE_AFTER_DAYS", "0")
        .start()
        .unwrap();
    let api = Api::new(&platform);
    let id = api.session_with_agent(agent("sleeper")).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "before").await.unwrap();
    stream.until("session.status_idle", WAIT).await.unwrap();
    let before = api.events(&id).await.unwrap();
    let listed = listings(&api, &id).await;
    let viewed = session_view(&api, &id).await;

    // A session archived in the middle of a turn is left alone until it
    // comes to rest.
    let busy = api.session_with_agent(agent("busy")).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut busy_stream = api.stream(&busy, None, "").await.unwrap();
    api.send_message(&busy, "take your time").await.unwrap();
    busy_stream
        .until("session.status_running", WAIT)
        .await
        .unwrap();
    api.ok(Method::POST, &format!("/v1/sessions/{busy}/archive"), None)
        .await
        .unwrap();

    let run = archive_run(&api, json!({})).await;
    assert!(!swept(&run).contains(&busy.as_str()), "{run:#}");
    let skipped = run["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["session_id"] == busy.as_str()),
        "{run:#}"
    );
    assert_eq!(run["archive_after_days"], 0);
    // The idle session is swept by that pass, or by a later one if its last
    // index write was still going.
    if !swept(&run).contains(&id.as_str()) {
        sweep_until_swept(&api, &id).await;
    }
    assert_eq!(storage(&api, &id).await["log"], "archive");
    assert_same_listings(&listed, &listings(&api, &id).await, "swept while idle");
    assert_eq!(session_view(&api, &id).await, viewed);
    assert_eq!(viewed["status"], "idle");

    busy_stream
        .until("session.status_idle", WAIT)
        .await
        .unwrap();
    sweep_until_swept(&api, &busy).await;
    assert_eq!(storage(&api, &busy).await["log"], "archive");

    // A message to the swept session brings its log back: the turn runs on
    // it, and a stream opened while it was swept hears it live.
    let mut live = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "after").await.unwrap();
    let frames = live.until("session.status_idle", WAIT).await.unwrap();
    assert!(
        frames
            .iter()
            .all(|f| f.id.is_none_or(|seq| seq > before.len() as u64)),
        "only new events"
    );
    let after = api.events(&id).await.unwrap();
    assert_eq!(
        &after[..before.len()],
        before.as_slice(),
        "the old log is intact"
    );
    assert!(after.len() > before.len());
    assert_eq!(
        after.last().unwrap()["type"],
        "session.status_idle",
        "{after:#?}"
    );
    let restored = storage(&api, &id).await;
    assert_eq!(restored["log"], "object", "{restored:#}");
    assert_eq!(restored["object"]["tables"]["events"], after.len());
    assert_eq!(restored["archive"], Value::Null, "the archive is deleted");

    // Swept again, then changed another way: renamed.
    sweep_until_swept(&api, &id).await;
    let renamed = api
        .ok(
            Method::POST,
            &format!("/v1/sessions/{id}"),
            Some(json!({"title": "renamed"})),
        )
        .await
        .unwrap();
    assert_eq!(renamed["title"], "renamed");
    assert_eq!(storage(&api, &id).await["log"], "object");
    assert_eq!(api.events(&id).await.unwrap(), after);
}
