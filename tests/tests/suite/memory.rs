//! Memory stores over raw HTTP: stores, memories (paths, content limits,
//! `view`, `content_sha256` preconditions, path conflicts, `depth`
//! roll-ups), the version history (`created` / `modified` / `deleted`,
//! filters, redaction), archived stores and tenant isolation.

use openma_e2e::Api;
use openma_e2e::Platform;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

struct Client {
    api: Api,
}

impl Client {
    fn new(platform: &Platform, key: &str) -> Self {
        Self {
            api: Api::with_key(platform, key).with_beta("agent-memory-2026-07-22"),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.api
            .call_with_headers(method, path, body)
            .await
            .unwrap()
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, _, value) = self.call(method.clone(), path, body).await;
        assert_eq!(status, 200, "{method} {path}: {value:#}");
        value
    }

    async fn err(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
        kind: &str,
    ) -> Value {
        let (got, headers, value) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {value:#}");
        assert_eq!(value["type"], "error", "{value:#}");
        assert_eq!(value["error"]["type"], kind, "{value:#}");
        if status == 409 {
            assert_eq!(headers["x-should-retry"], "false");
        }
        value["error"].clone()
    }
}

fn sha256(text: &str) -> String {
    // The server's digest is checked against a second implementation: the
    // `sha256sum` the test machine has.
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

fn paths(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| match item["type"].as_str().unwrap() {
            "memory" => item["path"].as_str().unwrap().to_owned(),
            "memory_prefix" => format!("prefix {}", item["path"].as_str().unwrap()),
            other => panic!("unexpected item type {other}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_stores_memories_and_versions_follow_the_api() {
    let platform = Platform::start().unwrap();
    let api = Client::new(&platform, platform.api_key());

    // ---- stores ----
    let err = api
        .err(
            Method::POST,
            "/v1/memory_stores",
            Some(json!({})),
            400,
            "invalid_request_error",
        )
        .await;
    assert!(err["message"].as_str().unwrap().starts_with("name:"));
    api.err(
        Method::POST,
        "/v1/memory_stores",
        Some(json!({"name": "x", "description": "d".repeat(1025)})),
        400,
        "invalid_request_error",
    )
    .await;
    let store = api
        .ok(
            Method::POST,
            "/v1/memory_stores",
            Some(json!({"name": "Team notes", "metadata": {"team": "a"}})),
        )
        .await;
    let sid = store["id"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("memstore_"));
    assert_eq!(store["type"], "memory_store");
    assert_eq!(store["description"], "");
    let updated = api
        .ok(
            Method::POST,
            &format!("/v1/memory_stores/{sid}"),
            Some(
                json!({"description": "What the team knows", "metadata": {"team": null, "k": "v"}}),
            ),
        )
        .await;
    assert_eq!(updated["description"], "What the team knows");
    assert_eq!(updated["metadata"], json!({"k": "v"}));
    let listed = api.ok(Method::GET, "/v1/memory_stores", None).await;
    assert_eq!(listed["data"][0]["id"], sid.as_str());
    api.err(
        Method::GET,
        "/v1/memory_stores/memstore_nope",
        None,
        404,
        "not_found_error",
    )
    .await;

    // ---- memories ----
    let mems = format!("/v1/memory_stores/{sid}/memories");
    let created = api
        .ok(
            Method::POST,
            &mems,
            Some(json!({"path": "/projects/foo/notes.md", "content": "hello"})),
        )
        .await;
    let mid = created["id"].as_str().unwrap().to_owned();
    assert!(mid.starts_with("mem_"));
    assert_eq!(created["type"], "memory");
    assert_eq!(created["memory_store_id"], sid.as_str());
    assert_eq!(
        created["content"],
        Value::Null,
        "create defaults to view=basic"
    );
    assert_eq!(created["content_sha256"], sha256("hello"));
    assert_eq!(created["content_size_bytes"], 5);
    let v1 = created["memory_version_id"].as_str().unwrap().to_owned();
    assert!(v1.starts_with("memver_"));
    let got = api.ok(Method::GET, &format!("{mems}/{mid}"), None).await;
    assert_eq!(got["content"], "hello", "retrieve defaults to view=full");
    let basic = api
        .ok(Method::GET, &format!("{mems}/{mid}?view=basic"), None)
        .await;
    assert_eq!(basic["content"], Value::Null);
    api.err(
        Method::GET,
        &format!("{mems}/{mid}?view=wide"),
        None,
        400,
        "invalid_request_error",
    )
    .await;
    let full = api
        .ok(
            Method::POST,
            &format!("{mems}?view=full"),
            Some(json!({"path": "/a.md", "content": ""})),
        )
        .await;
    assert_eq!(full["content"], "");
    assert_eq!(full["content_sha256"], sha256(""));

    // Path and content validation.
    for (body, field) in [
        (json!({"path": "no-slash", "content": "x"}), "path:"),
        (json!({"path": "/a//b", "content": "x"}), "path:"),
        (json!({"path": "/a/../b", "content": "x"}), "path:"),
        (json!({"path": "/trailing/", "content": "x"}), "path:"),
        (
            json!({"path": format!("/{}", ["s"; 21].join("/")), "content": "x"}),
            "path:",
        ),
        (
            json!({"path": format!("/{}", "x".repeat(1024)), "content": "x"}),
            "path:",
        ),
        (json!({"path": "/ctl\u{7}", "content": "x"}), "path:"),
        (
            json!({"path": "/big", "content": "x".repeat(102_401)}),
            "content:",
        ),
        (json!({"content": "x"}), "path:"),
        (json!({"path": "/x", "content": 5}), "content:"),
    ] {
        let err = api
            .err(
                Method::POST,
                &mems,
                Some(body.clone()),
                400,
                "invalid_request_error",
            )
            .await;
        assert!(
            err["message"].as_str().unwrap().starts_with(field),
            "{body}: {err}"
        );
    }
    api.ok(
        Method::POST,
        &mems,
        Some(json!({"path": "/limit.md", "content": "x".repeat(102_400)})),
    )
    .await;

    // Path conflicts: the same path, under a memory, above a memory.
    for path in [
        "/projects/foo/notes.md",
        "/projects/foo/notes.md/deeper",
        "/projects/foo",
    ] {
        let err = api
            .err(
                Method::POST,
                &mems,
                Some(json!({"path": path, "content": "x"})),
                409,
                "memory_path_conflict_error",
            )
            .await;
        assert_eq!(
            err["details"]["conflicting_memory_id"],
            mid.as_str(),
            "{path}"
        );
    }

    // Updates: preconditions, renames, no-ops.
    let err = api
        .err(
            Method::POST,
            &format!("{mems}/{mid}"),
            Some(json!({"content": "new", "precondition": {"type": "content_sha256", "content_sha256": sha256("stale")}})),
            409,
            "memory_precondition_failed_error",
        )
        .await;
    assert!(err["message"].as_str().unwrap().starts_with("precondition"));
    api.err(
        Method::POST,
        &format!("{mems}/{mid}"),
        Some(json!({"content": "new", "precondition": {"type": "content_sha256", "content_sha256": "ABC"}})),
        400,
        "invalid_request_error",
    )
    .await;
    let modified = api
        .ok(
            Method::POST,
            &format!("{mems}/{mid}"),
            Some(json!({"content": "hello, world", "precondition": {"type": "content_sha256", "content_sha256": sha256("hello")}})),
        )
        .await;
    assert_eq!(modified["content_sha256"], sha256("hello, world"));
    assert_eq!(
        modified["content"],
        Value::Null,
        "update defaults to view=basic"
    );
    assert_ne!(modified["memory_version_id"], v1.as_str());
    let same = api
        .ok(
            Method::POST,
            &format!("{mems}/{mid}"),
            Some(json!({"content": "hello, world"})),
        )
        .await;
    assert_eq!(same["memory_version_id"], modified["memory_version_id"]);
    let renamed = api
        .ok(
            Method::PATCH,
            &format!("{mems}/{mid}?view=full"),
            Some(json!({"path": "/projects/bar/notes.md"})),
        )
        .await;
    assert_eq!(renamed["id"], mid.as_str());
    assert_eq!(renamed["path"], "/projects/bar/notes.md");
    assert_eq!(renamed["content"], "hello, world");
    let err = api
        .err(
            Method::POST,
            &format!("{mems}/{mid}"),
            Some(json!({"path": "/a.md"})),
            409,
            "memory_path_conflict_error",
        )
        .await;
    assert_eq!(err["details"]["conflicting_memory_id"], full["id"]);

    // Listing: prefix, depth roll-ups, pages, view=full.
    for path in [
        "/projects/bar/deep/x.md",
        "/projects/bar/deep/y.md",
        "/projects/z.md",
    ] {
        api.ok(
            Method::POST,
            &mems,
            Some(json!({"path": path, "content": path})),
        )
        .await;
    }
    let all = api
        .ok(Method::GET, &format!("{mems}?limit=100"), None)
        .await;
    assert_eq!(
        paths(&all),
        [
            "/a.md",
            "/limit.md",
            "/projects/bar/deep/x.md",
            "/projects/bar/deep/y.md",
            "/projects/bar/notes.md",
            "/projects/z.md"
        ]
    );
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["content"].is_null())
    );
    let top = api.ok(Method::GET, &format!("{mems}?depth=1"), None).await;
    assert_eq!(paths(&top), ["/a.md", "/limit.md", "prefix /projects/"]);
    let projects = api
        .ok(
            Method::GET,
            &format!("{mems}?path_prefix=/projects/&depth=1"),
            None,
        )
        .await;
    assert_eq!(
        paths(&projects),
        ["prefix /projects/bar/", "/projects/z.md"]
    );
    let bar = api
        .ok(
            Method::GET,
            &format!("{mems}?path_prefix=/projects/bar/&view=full"),
            None,
        )
        .await;
    assert_eq!(bar["data"].as_array().unwrap().len(), 3);
    assert_eq!(bar["data"][2]["content"], "hello, world");
    let mut seen = Vec::new();
    let mut url = format!("{mems}?depth=2&limit=2");
    loop {
        let page = api.ok(Method::GET, &url, None).await;
        seen.extend(paths(&page));
        match page["next_page"].as_str() {
            Some(cursor) => url = format!("{mems}?depth=2&limit=2&page={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "/a.md",
            "/limit.md",
            "prefix /projects/bar/",
            "/projects/z.md"
        ]
    );
    for bad in [
        "path_prefix=/projects",
        "path_prefix=projects/",
        "depth=-1",
        "limit=101",
        "view=x",
    ] {
        api.err(
            Method::GET,
            &format!("{mems}?{bad}"),
            None,
            400,
            "invalid_request_error",
        )
        .await;
    }

    // Delete with an expected digest.
    api.err(
        Method::DELETE,
        &format!("{mems}/{mid}?expected_content_sha256={}", sha256("nope")),
        None,
        409,
        "memory_precondition_failed_error",
    )
    .await;
    let deleted = api
        .ok(
            Method::DELETE,
            &format!(
                "{mems}/{mid}?expected_content_sha256={}",
                sha256("hello, world")
            ),
            None,
        )
        .await;
    assert_eq!(deleted, json!({"id": mid, "type": "memory_deleted"}));
    api.err(
        Method::GET,
        &format!("{mems}/{mid}"),
        None,
        404,
        "not_found_error",
    )
    .await;
    api.err(
        Method::DELETE,
        &format!("{mems}/{mid}"),
        None,
        404,
        "not_found_error",
    )
    .await;

    // ---- versions ----
    let versions = format!("/v1/memory_stores/{sid}/memory_versions");
    let history = api
        .ok(Method::GET, &format!("{versions}?memory_id={mid}"), None)
        .await;
    let ops: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["deleted", "modified", "modified", "created"],
        "{history:#}"
    );
    let deleted_version = &history["data"][0];
    assert_eq!(deleted_version["type"], "memory_version");
    assert_eq!(deleted_version["content"], Value::Null);
    assert_eq!(deleted_version["content_sha256"], Value::Null);
    assert_eq!(deleted_version["path"], "/projects/bar/notes.md");
    let created_version = &history["data"][3];
    assert_eq!(created_version["id"], v1.as_str());
    assert_eq!(
        created_version["content"],
        Value::Null,
        "list defaults to basic"
    );
    assert_eq!(created_version["content_sha256"], sha256("hello"));
    let one = api.ok(Method::GET, &format!("{versions}/{v1}"), None).await;
    assert_eq!(one["content"], "hello");
    assert_eq!(one["path"], "/projects/foo/notes.md");
    let only_created = api
        .ok(
            Method::GET,
            &format!("{versions}?operation=created&limit=100"),
            None,
        )
        .await;
    assert!(
        only_created["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["operation"] == "created")
    );
    assert_eq!(only_created["data"].as_array().unwrap().len(), 6);
    let paged = api
        .ok(Method::GET, &format!("{versions}?limit=2"), None)
        .await;
    let cursor = paged["next_page"].as_str().unwrap();
    let next = api
        .ok(
            Method::GET,
            &format!("{versions}?limit=2&page={cursor}"),
            None,
        )
        .await;
    assert_ne!(next["data"][0]["id"], paged["data"][0]["id"]);
    let none = api
        .ok(
            Method::GET,
            &format!("{versions}?service_account_id=svac_x"),
            None,
        )
        .await;
    assert_eq!(none["data"], json!([]));
    api.err(
        Method::GET,
        &format!("{versions}?operation=renamed"),
        None,
        400,
        "invalid_request_error",
    )
    .await;

    // Redaction erases content, digest, size and path; the current version
    // of a live memory cannot be redacted.
    let redacted = api
        .ok(Method::POST, &format!("{versions}/{v1}/redact"), None)
        .await;
    assert!(redacted["redacted_at"].is_string());
    for field in ["content", "content_sha256", "content_size_bytes", "path"] {
        assert_eq!(redacted[field], Value::Null, "{field}");
    }
    let current = full["memory_version_id"].as_str().unwrap();
    api.err(
        Method::POST,
        &format!("{versions}/{current}/redact"),
        None,
        400,
        "invalid_request_error",
    )
    .await;
    api.err(
        Method::GET,
        &format!("{versions}/memver_nope"),
        None,
        404,
        "not_found_error",
    )
    .await;

    // ---- tenant isolation ----
    let tenant = api
        .ok(
            Method::POST,
            "/v1/tenants",
            Some(json!({"name": "memory-other"})),
        )
        .await;
    let other = Client::new(&platform, tenant["api_key"]["key"].as_str().unwrap());
    assert_eq!(
        other.ok(Method::GET, "/v1/memory_stores", None).await["data"],
        json!([])
    );
    let fid = full["id"].as_str().unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/v1/memory_stores/{sid}"), None),
        (
            Method::POST,
            format!("/v1/memory_stores/{sid}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/memory_stores/{sid}/archive"),
            None,
        ),
        (Method::DELETE, format!("/v1/memory_stores/{sid}"), None),
        (Method::GET, mems.clone(), None),
        (
            Method::POST,
            mems.clone(),
            Some(json!({"path": "/x", "content": "x"})),
        ),
        (Method::GET, format!("{mems}/{fid}"), None),
        (
            Method::POST,
            format!("{mems}/{fid}"),
            Some(json!({"content": "x"})),
        ),
        (Method::DELETE, format!("{mems}/{fid}"), None),
        (Method::GET, versions.clone(), None),
        (Method::GET, format!("{versions}/{v1}"), None),
        (Method::POST, format!("{versions}/{v1}/redact"), None),
    ] {
        other.err(method, &path, body, 404, "not_found_error").await;
    }

    // A tenant key is recorded as the author (the operator's key has no id).
    assert_eq!(created_version["created_by"], Value::Null);
    let key_id = tenant["api_key"]["id"].as_str().unwrap();
    let own = other
        .ok(
            Method::POST,
            "/v1/memory_stores",
            Some(json!({"name": "own"})),
        )
        .await;
    let own_id = own["id"].as_str().unwrap();
    let own_memory = other
        .ok(
            Method::POST,
            &format!("/v1/memory_stores/{own_id}/memories"),
            Some(json!({"path": "/x.md", "content": "x"})),
        )
        .await;
    let by_key = other
        .ok(
            Method::GET,
            &format!("/v1/memory_stores/{own_id}/memory_versions?api_key_id={key_id}"),
            None,
        )
        .await;
    assert_eq!(by_key["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        by_key["data"][0]["created_by"],
        json!({"type": "api_actor", "api_key_id": key_id})
    );
    assert_eq!(by_key["data"][0]["memory_id"], own_memory["id"]);
    let none = other
        .ok(
            Method::GET,
            &format!("/v1/memory_stores/{own_id}/memory_versions?api_key_id=apikey_other"),
            None,
        )
        .await;
    assert_eq!(none["data"], json!([]));

    // ---- archived stores are read-only for memories, but deletable ----
    let archived = api
        .ok(
            Method::POST,
            &format!("/v1/memory_stores/{sid}/archive"),
            None,
        )
        .await;
    assert!(archived["archived_at"].is_string());
    api.err(
        Method::POST,
        &mems,
        Some(json!({"path": "/new", "content": "x"})),
        400,
        "invalid_request_error",
    )
    .await;
    api.err(
        Method::POST,
        &format!("{mems}/{fid}"),
        Some(json!({"content": "x"})),
        400,
        "invalid_request_error",
    )
    .await;
    api.err(
        Method::POST,
        &format!("/v1/memory_stores/{sid}"),
        Some(json!({"name": "x"})),
        400,
        "invalid_request_error",
    )
    .await;
    api.ok(Method::GET, &format!("{mems}/{fid}"), None).await;
    api.ok(Method::DELETE, &format!("{mems}/{fid}"), None).await;
    let listed = api.ok(Method::GET, "/v1/memory_stores", None).await;
    assert_eq!(listed["data"], json!([]));
    let listed = api
        .ok(Method::GET, "/v1/memory_stores?include_archived=true", None)
        .await;
    assert_eq!(listed["data"][0]["id"], sid.as_str());
    let gone = api
        .ok(Method::DELETE, &format!("/v1/memory_stores/{sid}"), None)
        .await;
    assert_eq!(gone, json!({"id": sid, "type": "memory_store_deleted"}));
    api.err(
        Method::GET,
        &format!("/v1/memory_stores/{sid}"),
        None,
        404,
        "not_found_error",
    )
    .await;
    api.err(
        Method::GET,
        &format!("{versions}/{v1}"),
        None,
        404,
        "not_found_error",
    )
    .await;
}
