//! Session resources in the sandbox: an uploaded file mounted read-only, a
//! writable memory store whose changes by the agent come back as memory
//! versions by the session, a read-only store the agent cannot change, and
//! outputs listed as files scoped to the session. Bad resources are refused
//! at creation with the field named.

use openma_e2e::Api;
use openma_e2e::MockModel;
use openma_e2e::Reply;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

use super::sessions::WAIT;
use super::sessions::agent;
use super::sessions::start;

async fn store_with(api: &Api, name: &str, description: &str, path: &str, content: &str) -> String {
    let store = api
        .ok(
            Method::POST,
            "/v1/memory_stores",
            Some(json!({"name": name, "description": description})),
        )
        .await
        .unwrap();
    let id = store["id"].as_str().unwrap().to_owned();
    api.ok(
        Method::POST,
        &format!("/v1/memory_stores/{id}/memories"),
        Some(json!({"path": path, "content": content})),
    )
    .await
    .unwrap();
    id
}

/// The `n`th tool result of a turn (the platform names tool uses by their
/// event ids, not the model's).
fn tool_result(frames: &[openma_e2e::Frame], n: usize) -> Value {
    let results: Vec<&openma_e2e::Frame> = frames
        .iter()
        .filter(|f| f.event == "agent.tool_result")
        .collect();
    results.get(n).map(|f| f.data.clone()).unwrap_or_else(|| {
        let seen: Vec<String> = frames
            .iter()
            .map(|f| format!("{} {}", f.event, f.data))
            .collect();
        panic!("no tool result #{n} among {seen:#?}")
    })
}

async fn memory_at(api: &Api, store: &str, path: &str) -> Value {
    let list = api
        .ok(
            Method::GET,
            &format!("/v1/memory_stores/{store}/memories?view=full&limit=100"),
            None,
        )
        .await
        .unwrap();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == path)
        .cloned()
        .unwrap_or_else(|| panic!("no memory at {path}: {list:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn files_memory_stores_and_outputs_are_mounted_and_carried_back() {
    let mock = MockModel::start().unwrap();
    let platform = start(&mock);
    let api = Api::new(&platform);

    let upload = api
        .upload("brief.txt", "text/plain", b"hello from the upload\n")
        .await
        .unwrap();
    let file_id = upload["id"].as_str().unwrap().to_owned();
    let notes = store_with(
        &api,
        "Team Notes",
        "What the team prefers",
        "/prefs.md",
        "likes tea",
    )
    .await;
    let rules = store_with(&api, "Policies", "", "/rules.md", "be kind").await;

    let session = api
        .session_with_resources(
            agent("mounter"),
            json!([
                {"type": "file", "file_id": file_id},
                {"type": "memory_store", "memory_store_id": notes},
                {"type": "memory_store", "memory_store_id": rules, "access": "read_only", "instructions": "Follow these."},
            ]),
        )
        .await
        .unwrap();
    let id = session["id"].as_str().unwrap().to_owned();

    // The resources in their response form.
    let resources = session["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 3, "{session:#}");
    let upload_path = format!("/mnt/session/uploads/{file_id}");
    assert_eq!(resources[0]["type"], "file");
    assert_eq!(resources[0]["mount_path"], upload_path.as_str());
    assert!(resources[0]["id"].as_str().unwrap().starts_with("sesrsc_"));
    assert_eq!(resources[1]["mount_path"], "/mnt/memory/team-notes");
    assert_eq!(resources[1]["access"], "read_write");
    assert_eq!(resources[1]["name"], "Team Notes");
    assert_eq!(resources[1]["description"], "What the team prefers");
    assert_eq!(resources[2]["mount_path"], "/mnt/memory/policies");
    assert_eq!(resources[2]["access"], "read_only");
    assert_eq!(resources[2]["instructions"], "Follow these.");
    let again = api
        .ok(Method::GET, &format!("/v1/sessions/{id}"), None)
        .await
        .unwrap();
    assert_eq!(again["resources"], session["resources"]);

    mock.push(Reply::tool_use(
        "toolu_read",
        "read",
        json!({"file_path": upload_path}),
    ));
    mock.push(Reply::tool_use(
        "toolu_seed",
        "read",
        json!({"file_path": "/mnt/memory/team-notes/prefs.md"}),
    ));
    mock.push(Reply::tool_use(
        "toolu_modify",
        "write",
        json!({"file_path": "/mnt/memory/team-notes/prefs.md", "content": "likes coffee"}),
    ));
    mock.push(Reply::tool_use(
        "toolu_create",
        "write",
        json!({"file_path": "/mnt/memory/team-notes/ideas/next.md", "content": "ship it"}),
    ));
    mock.push(Reply::tool_use(
        "toolu_ro_memory",
        "edit",
        json!({"file_path": "/mnt/memory/policies/rules.md", "old_string": "kind", "new_string": "unkind"}),
    ));
    mock.push(Reply::tool_use(
        "toolu_ro_upload",
        "write",
        json!({"file_path": upload_path, "content": "overwritten"}),
    ));
    mock.push(Reply::tool_use(
        "toolu_output",
        "write",
        json!({"file_path": "/mnt/session/outputs/report.md", "content": "# Report\n"}),
    ));
    mock.push(Reply::text("Done."));

    let mut stream = api.stream(&id, None, "").await.unwrap();
    api.send_message(&id, "use your resources").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();

    let read = tool_result(&frames, 0);
    assert_eq!(read["is_error"], false, "{read:#}");
    assert!(
        read["content"]
            .to_string()
            .contains("hello from the upload"),
        "{read:#}"
    );
    let seeded = tool_result(&frames, 1);
    assert!(
        seeded["content"].to_string().contains("likes tea"),
        "{seeded:#}"
    );
    for refused in [4, 5] {
        let result = tool_result(&frames, refused);
        assert_eq!(result["is_error"], true, "{result:#}");
        assert!(
            result["content"].to_string().contains("read-only"),
            "{result:#}"
        );
    }

    // The model was told where its resources are.
    let first = &mock.requests()[0].body;
    let system = first["system"].to_string();
    for expected in [
        "/mnt/memory/team-notes",
        "/mnt/memory/policies",
        "Follow these.",
        &upload_path,
    ] {
        assert!(
            system.contains(expected),
            "{expected} missing from {system}"
        );
    }

    // The agent's memory changes are versions by the session.
    let prefs = memory_at(&api, &notes, "/prefs.md").await;
    assert_eq!(prefs["content"], "likes coffee");
    let created = memory_at(&api, &notes, "/ideas/next.md").await;
    assert_eq!(created["content"], "ship it");
    let versions = api
        .ok(
            Method::GET,
            &format!("/v1/memory_stores/{notes}/memory_versions?session_id={id}"),
            None,
        )
        .await
        .unwrap();
    let versions = versions["data"].as_array().unwrap();
    let mut ops: Vec<(String, String)> = versions
        .iter()
        .map(|v| {
            (
                v["operation"].as_str().unwrap().to_owned(),
                v["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            ("created".to_owned(), "/ideas/next.md".to_owned()),
            ("modified".to_owned(), "/prefs.md".to_owned()),
        ],
        "{versions:#?}"
    );
    for v in versions {
        assert_eq!(
            v["created_by"],
            json!({"type": "session_actor", "session_id": id})
        );
    }
    let all_versions = api
        .ok(
            Method::GET,
            &format!("/v1/memory_stores/{notes}/memory_versions"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(all_versions["data"].as_array().unwrap().len(), 3);

    // The read-only store and the upload are untouched.
    let rule = memory_at(&api, &rules, "/rules.md").await;
    assert_eq!(rule["content"], "be kind");
    let rule_versions = api
        .ok(
            Method::GET,
            &format!("/v1/memory_stores/{rules}/memory_versions"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(rule_versions["data"].as_array().unwrap().len(), 1);
    let (_, _, original) = api
        .raw(
            Method::GET,
            &format!("/v1/files/{file_id}/content"),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(original, b"hello from the upload\n");

    // The output is a file scoped to the session, with its exact bytes.
    let outputs = api
        .ok(Method::GET, &format!("/v1/files?scope_id={id}"), None)
        .await
        .unwrap();
    let listed = outputs["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{outputs:#}");
    assert_eq!(listed[0]["filename"], "report.md");
    assert_eq!(listed[0]["mime_type"], "text/markdown");
    assert_eq!(listed[0]["scope"], json!({"type": "session", "id": id}));
    let report_id = listed[0]["id"].as_str().unwrap().to_owned();
    let (status, headers, bytes) = api
        .raw(
            Method::GET,
            &format!("/v1/files/{report_id}/content"),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(bytes, b"# Report\n");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );

    // A rewritten output replaces its file; a turn that changes nothing
    // under the watched directories writes nothing.
    mock.push(Reply::tool_use(
        "toolu_rewrite",
        "write",
        json!({"file_path": "/mnt/session/outputs/report.md", "content": "# Report v2\n"}),
    ));
    mock.push(Reply::tool_use(
        "toolu_look",
        "glob",
        json!({"pattern": "**/*", "path": "/mnt/memory/team-notes"}),
    ));
    mock.push(Reply::text("Updated."));
    api.send_message(&id, "update the report").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let look = tool_result(&frames, 1);
    assert!(
        look["content"].to_string().contains("ideas/next.md"),
        "{look:#}"
    );
    let outputs = api
        .ok(Method::GET, &format!("/v1/files?scope_id={id}"), None)
        .await
        .unwrap();
    let listed = outputs["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{outputs:#}");
    assert_ne!(listed[0]["id"], report_id.as_str());
    let (_, _, bytes) = api
        .raw(
            Method::GET,
            &format!("/v1/files/{}/content", listed[0]["id"].as_str().unwrap()),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(bytes, b"# Report v2\n");
    let (status, _) = api
        .call(Method::GET, &format!("/v1/files/{report_id}"), None)
        .await
        .unwrap();
    assert_eq!(status, 404, "the replaced output's file is gone");
    let all_versions = api
        .ok(
            Method::GET,
            &format!("/v1/memory_stores/{notes}/memory_versions"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(all_versions["data"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_resources_are_refused_with_the_field_named() {
    let mock = MockModel::start().unwrap();
    let platform = start(&mock);
    let api = Api::new(&platform);
    let upload = api.upload("a.txt", "text/plain", b"a").await.unwrap();
    let file_id = upload["id"].as_str().unwrap();
    let store = store_with(&api, "Archived", "", "/a.md", "a").await;
    api.ok(
        Method::POST,
        &format!("/v1/memory_stores/{store}/archive"),
        None,
    )
    .await
    .unwrap();
    let (env, agent) = api.env_and_agent(agent("bad-resources")).await.unwrap();
    let cases = [
        (
            json!({"type": "file", "file_id": "file_missing"}),
            404,
            "file_missing",
        ),
        (json!({"type": "file"}), 400, "resources[0].file_id"),
        (
            json!({"type": "file", "file_id": file_id, "mount_path": "/etc/passwd"}),
            400,
            "resources[0].mount_path",
        ),
        (
            json!({"type": "file", "file_id": file_id, "mount_path": "/workspace/../etc/x"}),
            400,
            "resources[0].mount_path",
        ),
        (
            json!({"type": "file", "file_id": file_id, "mount_path": "/mnt/session/outputs/x"}),
            400,
            "resources[0].mount_path",
        ),
        (
            json!({"type": "memory_store", "memory_store_id": store}),
            400,
            "archived",
        ),
        (
            json!({"type": "memory_store", "memory_store_id": "memstore_none"}),
            404,
            "memstore_none",
        ),
        (
            json!({"type": "memory_store", "memory_store_id": store, "access": "admin"}),
            400,
            "resources[0].access",
        ),
        (
            json!({"type": "memory_store", "memory_store_id": store, "instructions": "x".repeat(4097)}),
            400,
            "resources[0].instructions",
        ),
        (
            json!({"type": "github_repository", "url": "https://github.com/a/b", "authorization_token": "ghp_secret"}),
            400,
            "not supported",
        ),
        (json!({"type": "disk"}), 400, "resources[0].type"),
        (json!("file"), 400, "resources[0]"),
    ];
    for (resource, status, needle) in cases {
        let (got, body) = api
            .call(
                Method::POST,
                "/v1/sessions",
                Some(json!({"agent": agent["id"], "environment_id": env["id"], "resources": [resource]})),
            )
            .await
            .unwrap();
        assert_eq!(got, status, "{resource}: {body:#}");
        assert_eq!(body["type"], "error", "{body:#}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{resource}: {message}");
        assert!(!body.to_string().contains("ghp_secret"));
    }
    // Two resources may not share a mount path.
    let (got, body) = api
        .call(
            Method::POST,
            "/v1/sessions",
            Some(
                json!({"agent": agent["id"], "environment_id": env["id"], "resources": [
                    {"type": "file", "file_id": file_id, "mount_path": "/workspace/data/a.txt"},
                    {"type": "file", "file_id": file_id, "mount_path": "/workspace/data/a.txt"},
                ]}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(got, 400, "{body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resources[1].mount_path")
    );
    // Nothing was created by the refused requests.
    let sessions = api.ok(Method::GET, "/v1/sessions", None).await.unwrap();
    assert_eq!(
        sessions["data"].as_array().unwrap().len(),
        0,
        "{sessions:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resources_added_and_removed_mid_session_reach_the_sandbox() {
    let mock = MockModel::start().unwrap();
    let platform = start(&mock);
    let api = Api::new(&platform);
    let first = api
        .upload("one.txt", "text/plain", b"first file")
        .await
        .unwrap();
    let second = api
        .upload("two.txt", "text/plain", b"second file")
        .await
        .unwrap();
    let session = api
        .session_with_resources(
            agent("resources-live"),
            json!([{"type": "file", "file_id": first["id"], "mount_path": "/workspace/in/one.txt"}]),
        )
        .await
        .unwrap();
    let id = session["id"].as_str().unwrap().to_owned();
    let first_resource = session["resources"][0]["id"].as_str().unwrap().to_owned();
    let mut stream = api.stream(&id, None, "").await.unwrap();

    // A first turn sets the sandbox up with the first file.
    mock.push(Reply::tool_use(
        "t1",
        "read",
        json!({"file_path": "/workspace/in/one.txt"}),
    ));
    mock.push(Reply::text("read"));
    api.send_message(&id, "read one").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    assert!(
        tool_result(&frames, 0)["content"]
            .to_string()
            .contains("first file")
    );

    // Add the second file, remove the first: the next turn sees the change.
    let added = api
        .ok(
            Method::POST,
            &format!("/v1/sessions/{id}/resources"),
            Some(json!({"type": "file", "file_id": second["id"], "mount_path": "/workspace/in/two.txt"})),
        )
        .await
        .unwrap();
    assert!(added["id"].as_str().unwrap().starts_with("sesrsc_"));
    assert_eq!(added["mount_path"], "/workspace/in/two.txt");
    let deleted = api
        .ok(
            Method::DELETE,
            &format!("/v1/sessions/{id}/resources/{first_resource}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({"id": first_resource, "type": "session_resource_deleted"})
    );
    let (status, body) = api
        .call(
            Method::GET,
            &format!("/v1/sessions/{id}/resources/{first_resource}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404, "{body:#}");
    let (status, body) = api
        .call(
            Method::POST,
            &format!(
                "/v1/sessions/{id}/resources/{}",
                added["id"].as_str().unwrap()
            ),
            Some(json!({"authorization_token": "ghp_x"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body:#}");

    mock.push(Reply::tool_use(
        "t2",
        "read",
        json!({"file_path": "/workspace/in/two.txt"}),
    ));
    mock.push(Reply::tool_use(
        "t3",
        "write",
        json!({"file_path": "/workspace/in/two.txt", "content": "x"}),
    ));
    mock.push(Reply::text("done"));
    api.send_message(&id, "read two").await.unwrap();
    let frames = stream.until("session.status_idle", WAIT).await.unwrap();
    let read = tool_result(&frames, 0);
    assert_eq!(read["is_error"], false, "{read:#}");
    assert!(
        read["content"].to_string().contains("second file"),
        "{read:#}"
    );
    let write = tool_result(&frames, 1);
    assert_eq!(
        write["is_error"], true,
        "an added file is read-only too: {write:#}"
    );

    // The list pages through what is attached now.
    let page = api
        .ok(
            Method::GET,
            &format!("/v1/sessions/{id}/resources?limit=1"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], added["id"]);
    assert!(page["next_page"].is_null(), "{page:#}");
}
