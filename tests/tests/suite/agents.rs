//! Agents over raw HTTP: validation that names the field, versioning,
//! optimistic concurrency, metadata patches, pagination, archiving, and
//! tenant isolation (for environments too).

use openma_e2e::Platform;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use serde_json::json;

/// A response: status, headers, JSON body.
pub(super) struct Resp {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Value,
}

impl Resp {
    /// Asserts a 200 and returns the body.
    #[track_caller]
    pub(super) fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{:#}", self.body);
        self.body
    }

    /// Asserts an error envelope with `status` and `kind`; returns the message.
    #[track_caller]
    pub(super) fn error(&self, status: u16, kind: &str) -> String {
        assert_eq!(self.status, status, "{:#}", self.body);
        assert_eq!(self.body["type"], "error", "{:#}", self.body);
        assert_eq!(self.body["error"]["type"], kind, "{:#}", self.body);
        let request_id = self.body["request_id"].as_str().unwrap();
        assert_eq!(self.headers["request-id"], request_id);
        if status != 429 && status < 500 {
            assert_eq!(self.headers["x-should-retry"], "false", "{:#}", self.body);
        }
        self.body["error"]["message"].as_str().unwrap().to_owned()
    }

    /// Asserts a 400 whose message starts with `field: `.
    #[track_caller]
    pub(super) fn invalid(&self, field: &str) {
        let message = self.error(400, "invalid_request_error");
        assert!(
            message.starts_with(&format!("{field}: ")),
            "expected a message about {field}: {message}"
        );
    }

    /// `error.details.error_code`.
    pub(super) fn code(&self) -> &Value {
        &self.body["error"]["details"]["error_code"]
    }
}

/// A client acting with one API key.
pub(super) struct Api<'a> {
    platform: &'a Platform,
    client: reqwest::Client,
    key: String,
}

impl<'a> Api<'a> {
    pub(super) fn new(platform: &'a Platform, key: &str) -> Self {
        Self {
            platform,
            client: reqwest::Client::new(),
            key: key.to_owned(),
        }
    }

    pub(super) async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self
            .client
            .request(method, self.platform.url(path))
            .header("authorization", format!("Bearer {}", self.key))
            .header("anthropic-beta", "managed-agents-2026-04-01");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp {
            status,
            headers,
            body,
        }
    }

    pub(super) async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    pub(super) async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    /// Every item of a list, following `next_page` with `limit`.
    pub(super) async fn walk(&self, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut page: Option<String> = None;
        for _ in 0..100 {
            let url = match &page {
                Some(page) => format!("{path}{sep}limit={limit}&page={page}"),
                None => format!("{path}{sep}limit={limit}"),
            };
            let body = self.get(&url).await.ok();
            let data = body["data"].as_array().unwrap();
            assert!(data.len() <= limit, "{body:#}");
            assert!(body.get("prev_page").is_none(), "{body:#}");
            items.extend(data.iter().cloned());
            match body["next_page"].as_str() {
                Some(next) => {
                    assert!(next.starts_with("page_"), "{next}");
                    page = Some(next.to_owned());
                }
                None => return items,
            }
        }
        panic!("pagination did not end");
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

fn agent_body(name: &str) -> Value {
    json!({
        "name": name,
        "model": "claude-sonnet-4-6",
        "system": "Be good.",
        "tools": [
            {"type": "agent_toolset_20260401", "default_config": {"permission_policy": {"type": "always_ask"}}},
            {"type": "custom", "name": "lookup", "description": "Looks up", "input_schema": {"type": "object"}}
        ],
        "metadata": {"team": "a", "tier": "gold"}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_validate_version_paginate_and_archive() {
    let platform = Platform::start().unwrap();
    let api = Api::new(&platform, platform.api_key());

    // Validation names the field.
    api.post("/v1/agents", json!({"model": "claude-sonnet-4-6"}))
        .await
        .invalid("name");
    api.post("/v1/agents", json!({"name": "", "model": "m"}))
        .await
        .invalid("name");
    api.post("/v1/agents", json!({"name": "a"}))
        .await
        .invalid("model");
    api.post(
        "/v1/agents",
        json!({"name": "a", "model": "m", "tools": [{"type": "bogus"}]}),
    )
    .await
    .invalid("tools[0].type");
    api.post(
        "/v1/agents",
        json!({"name": "a", "model": "m", "tools": [{"type": "custom", "name": "x"}]}),
    )
    .await
    .invalid("tools[0].input_schema");
    let too_many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    for metadata in [
        Value::Object(too_many),
        json!({"k".repeat(65): "v"}),
        json!({"k": "v".repeat(513)}),
    ] {
        let resp = api
            .post(
                "/v1/agents",
                json!({"name": "a", "model": "m", "metadata": metadata}),
            )
            .await;
        assert!(
            resp.error(400, "invalid_request_error")
                .starts_with("metadata")
        );
        assert_eq!(resp.code(), "invalid_metadata", "{:#}", resp.body);
    }
    let resp = api.call(Method::POST, "/v1/agents", None).await;
    resp.invalid("name");

    // Create: version 1, resolved tool configs.
    let agent = api.post("/v1/agents", agent_body("Coder")).await.ok();
    let id = agent["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("agent_"), "{id}");
    assert_eq!(agent["type"], "agent");
    assert_eq!(agent["version"], 1);
    assert_eq!(agent["model"]["id"], "claude-sonnet-4-6");
    assert_eq!(agent["archived_at"], Value::Null);
    let toolset = &agent["tools"][0];
    assert_eq!(
        toolset["default_config"]["permission_policy"]["type"],
        "always_ask"
    );
    let configs = toolset["configs"].as_array().unwrap();
    assert!(!configs.is_empty(), "{agent:#}");
    for config in configs {
        assert!(config["enabled"].is_boolean(), "{config:#}");
        assert!(
            config["permission_policy"]["type"].is_string(),
            "{config:#}"
        );
    }
    assert_eq!(agent["tools"][1]["name"], "lookup");
    assert_eq!(api.get(&format!("/v1/agents/{id}")).await.ok(), agent);

    // A no-op update keeps the version.
    let same = api
        .post(
            &format!("/v1/agents/{id}"),
            json!({"name": "Coder", "metadata": {"team": "a"}, "version": 1}),
        )
        .await
        .ok();
    assert_eq!(same, agent);
    let same = api.post(&format!("/v1/agents/{id}"), json!({})).await.ok();
    assert_eq!(same["version"], 1);

    // A change bumps it; metadata is a patch; arrays replace.
    let v2 = api
        .post(
            &format!("/v1/agents/{id}"),
            json!({
                "system": "Be better.",
                "metadata": {"tier": null, "region": "eu"},
                "tools": [{"type": "custom", "name": "only", "input_schema": {"type": "object"}}],
                "version": 1
            }),
        )
        .await
        .ok();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["system"], "Be better.");
    assert_eq!(v2["metadata"], json!({"team": "a", "region": "eu"}));
    assert_eq!(v2["tools"].as_array().unwrap().len(), 1);
    assert_eq!(v2["tools"][0]["name"], "only");
    assert_eq!(v2["created_at"], agent["created_at"]);

    // A stale version: 409 conflict_error, not to be retried.
    let resp = api
        .post(
            &format!("/v1/agents/{id}"),
            json!({"name": "x", "version": 1}),
        )
        .await;
    resp.error(409, "conflict_error");
    api.post(&format!("/v1/agents/{id}"), json!({"version": 0}))
        .await
        .invalid("version");
    api.post(&format!("/v1/agents/{id}"), json!({"name": null}))
        .await
        .invalid("name");
    api.post(
        &format!("/v1/agents/{id}"),
        json!({"tools": [{"type": "nope"}]}),
    )
    .await
    .invalid("tools[0].type");
    let resp = api
        .post(
            &format!("/v1/agents/{id}"),
            json!({"metadata": (0..16).map(|i| (format!("n{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
        )
        .await;
    resp.error(400, "invalid_request_error");
    assert_eq!(resp.code(), "invalid_metadata");
    let v3 = api
        .post(
            &format!("/v1/agents/{id}"),
            json!({"description": "third", "version": 2}),
        )
        .await
        .ok();
    assert_eq!(v3["version"], 3);
    // Clearing with null and "".
    let v4 = api
        .post(
            &format!("/v1/agents/{id}"),
            json!({"description": "", "system": null}),
        )
        .await
        .ok();
    assert_eq!(v4["version"], 4);
    assert_eq!(v4["description"], Value::Null);
    assert_eq!(v4["system"], Value::Null);

    // Old versions stay readable.
    let v1 = api.get(&format!("/v1/agents/{id}?version=1")).await.ok();
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["system"], "Be good.");
    assert_eq!(v1["metadata"], json!({"team": "a", "tier": "gold"}));
    assert_eq!(
        api.get(&format!("/v1/agents/{id}?version=2")).await.ok(),
        v2
    );
    assert_eq!(api.get(&format!("/v1/agents/{id}")).await.ok(), v4);
    api.get(&format!("/v1/agents/{id}?version=0"))
        .await
        .invalid("version");
    api.get(&format!("/v1/agents/{id}?version=abc"))
        .await
        .invalid("version");
    api.get(&format!("/v1/agents/{id}?version=9"))
        .await
        .error(404, "not_found_error");

    // Versions, paginated.
    let versions = api.walk(&format!("/v1/agents/{id}/versions"), 3).await;
    let numbers: Vec<u64> = versions
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    assert_eq!(versions[1], v2);
    let first = api
        .get(&format!("/v1/agents/{id}/versions?limit=2"))
        .await
        .ok();
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert!(first["next_page"].is_string());
    let all = api.get(&format!("/v1/agents/{id}/versions")).await.ok();
    assert_eq!(all["data"].as_array().unwrap().len(), 4);
    assert_eq!(all["next_page"], Value::Null);
    api.get(&format!("/v1/agents/{id}/versions?limit=101"))
        .await
        .invalid("limit");
    api.get(&format!("/v1/agents/{id}/versions?page=page_zz"))
        .await
        .invalid("page");

    // Listing: pagination, filters, limits, cursors.
    let b = api.post("/v1/agents", agent_body("B")).await.ok();
    let c = api.post("/v1/agents", agent_body("C")).await.ok();
    let expected = ids(&[agent.clone(), b.clone(), c.clone()]);
    assert_eq!(ids(&api.walk("/v1/agents", 1).await), expected);
    assert_eq!(ids(&api.walk("/v1/agents", 2).await), expected);
    let page = api.get("/v1/agents").await.ok();
    assert_eq!(ids(page["data"].as_array().unwrap()), expected);
    assert_eq!(page["next_page"], Value::Null);
    // The list carries the latest version.
    assert_eq!(page["data"][0]["version"], 4);
    for bad in ["limit=0", "limit=101", "limit=x"] {
        api.get(&format!("/v1/agents?{bad}")).await.invalid("limit");
    }
    api.get("/v1/agents?page=garbage").await.invalid("page");
    api.get("/v1/agents?page=page_6e6f").await.invalid("page");
    api.get("/v1/agents?created_at%5Bgte%5D=yesterday")
        .await
        .invalid("created_at[gte]");
    api.get("/v1/agents?include_archived=maybe")
        .await
        .invalid("include_archived");
    let created = c["created_at"].as_str().unwrap();
    let gte = api
        .get(&format!("/v1/agents?created_at%5Bgte%5D={created}"))
        .await
        .ok();
    assert!(ids(gte["data"].as_array().unwrap()).contains(&ids(std::slice::from_ref(&c))[0]));
    let lte = api
        .get(&format!(
            "/v1/agents?created_at%5Blte%5D={}",
            agent["created_at"].as_str().unwrap()
        ))
        .await
        .ok();
    assert_eq!(
        ids(lte["data"].as_array().unwrap()),
        ids(std::slice::from_ref(&agent))
    );
    let none = api
        .get("/v1/agents?created_at%5Bgte%5D=2999-01-01T00:00:00Z")
        .await
        .ok();
    assert_eq!(none["data"], json!([]));
    let none = api
        .get("/v1/agents?created_at%5Blte%5D=2000-01-01T00:00:00%2B02:00")
        .await
        .ok();
    assert_eq!(none["data"], json!([]));

    // Archiving: read-only, hidden from lists unless asked for.
    let b_id = b["id"].as_str().unwrap();
    let archived = api
        .post(&format!("/v1/agents/{b_id}/archive"), json!({}))
        .await
        .ok();
    assert!(archived["archived_at"].is_string(), "{archived:#}");
    assert_eq!(archived["version"], 1);
    let again = api
        .post(&format!("/v1/agents/{b_id}/archive"), json!({}))
        .await
        .ok();
    assert_eq!(again["archived_at"], archived["archived_at"]);
    let message = api
        .post(&format!("/v1/agents/{b_id}"), json!({"name": "renamed"}))
        .await
        .error(400, "invalid_request_error");
    assert!(message.contains("archived"), "{message}");
    assert_eq!(
        api.get(&format!("/v1/agents/{b_id}")).await.ok()["archived_at"],
        archived["archived_at"]
    );
    assert_eq!(
        api.get(&format!("/v1/agents/{b_id}?version=1")).await.ok()["archived_at"],
        archived["archived_at"]
    );
    let visible = ids(&api.walk("/v1/agents", 1).await);
    assert_eq!(visible, ids(&[agent.clone(), c.clone()]));
    let all = ids(&api.walk("/v1/agents?include_archived=true", 1).await);
    assert_eq!(all, expected);
    let visible = ids(&api.walk("/v1/agents?include_archived=false", 5).await);
    assert_eq!(visible, ids(&[agent.clone(), c.clone()]));

    // Concurrent updates: with a version, exactly one wins and the rest get
    // 409; without one, every update lands on the latest version.
    let racer = api.post("/v1/agents", agent_body("Racer")).await.ok();
    let racer_path = format!("/v1/agents/{}", racer["id"].as_str().unwrap());
    let racing = (0..4).map(|i| {
        api.post(
            &racer_path,
            json!({"metadata": {format!("v{i}"): "x"}, "version": 1}),
        )
    });
    let results = futures_util::future::join_all(racing).await;
    let won = results.iter().filter(|resp| resp.status == 200).count();
    assert_eq!(won, 1, "exactly one versioned update wins");
    for resp in results.iter().filter(|resp| resp.status != 200) {
        resp.error(409, "conflict_error");
    }
    let racing =
        (0..3).map(|i| api.post(&racer_path, json!({"metadata": {format!("free{i}"): "x"}})));
    for resp in futures_util::future::join_all(racing).await {
        resp.ok();
    }
    let raced = api.get(&racer_path).await.ok();
    assert_eq!(raced["version"], 5, "{raced:#}");
    for i in 0..3 {
        assert_eq!(raced["metadata"][format!("free{i}")], "x", "{raced:#}");
    }
    let versions = api.walk(&format!("{racer_path}/versions"), 100).await;
    assert_eq!(versions.len(), 5);

    // Unknown ids.
    for resp in [
        api.get("/v1/agents/agent_nope").await,
        api.get("/v1/agents/agent_nope?version=1").await,
        api.post("/v1/agents/agent_nope", json!({"name": "x"}))
            .await,
        api.post("/v1/agents/agent_nope/archive", json!({})).await,
        api.get("/v1/agents/agent_nope/versions").await,
    ] {
        resp.error(404, "not_found_error");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_cannot_see_each_others_agents_or_environments() {
    let platform = Platform::start().unwrap();
    let owner = Api::new(&platform, platform.api_key());
    let tenant = owner
        .post("/v1/tenants", json!({"name": "other"}))
        .await
        .ok();
    let other_key = tenant["api_key"]["key"].as_str().unwrap();
    let other = Api::new(&platform, other_key);

    let agent = owner.post("/v1/agents", agent_body("Mine")).await.ok();
    let agent_id = agent["id"].as_str().unwrap();
    let environment = owner
        .post("/v1/environments", json!({"name": "mine"}))
        .await
        .ok();
    let env_id = environment["id"].as_str().unwrap();

    for resp in [
        other.get(&format!("/v1/agents/{agent_id}")).await,
        other.get(&format!("/v1/agents/{agent_id}?version=1")).await,
        other
            .post(&format!("/v1/agents/{agent_id}"), json!({"name": "stolen"}))
            .await,
        other
            .post(&format!("/v1/agents/{agent_id}/archive"), json!({}))
            .await,
        other.get(&format!("/v1/agents/{agent_id}/versions")).await,
        other.get(&format!("/v1/environments/{env_id}")).await,
        other
            .post(
                &format!("/v1/environments/{env_id}"),
                json!({"name": "stolen"}),
            )
            .await,
        other
            .post(&format!("/v1/environments/{env_id}/archive"), json!({}))
            .await,
        other.delete(&format!("/v1/environments/{env_id}")).await,
    ] {
        resp.error(404, "not_found_error");
    }
    assert_eq!(other.get("/v1/agents").await.ok()["data"], json!([]));
    assert_eq!(
        other.get("/v1/agents?include_archived=true").await.ok()["data"],
        json!([])
    );
    assert_eq!(other.get("/v1/environments").await.ok()["data"], json!([]));
    // Names are unique per tenant only.
    let theirs = other
        .post("/v1/environments", json!({"name": "mine"}))
        .await
        .ok();
    assert_ne!(theirs["id"], environment["id"]);

    // Nothing of the owner's changed.
    assert_eq!(
        owner.get(&format!("/v1/agents/{agent_id}")).await.ok(),
        agent
    );
    assert_eq!(
        owner.get(&format!("/v1/environments/{env_id}")).await.ok(),
        environment
    );
    // And the owner cannot see the other tenant's environment either.
    let their_id = theirs["id"].as_str().unwrap();
    owner
        .get(&format!("/v1/environments/{their_id}"))
        .await
        .error(404, "not_found_error");
}
