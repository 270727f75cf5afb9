//! Sessions over raw HTTP without a model: tenant isolation on every
//! session route, create-time validation that names the field, unknown and
//! archived references, and `GET /v1/sessions` pagination and filters.

use openma_e2e::Platform;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

use super::agents::Api;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(id).collect()
}

/// An agent and an environment for sessions; returns their ids.
async fn fixtures(api: &Api<'_>, name: &str) -> (String, String) {
    let agent = api
        .post(
            "/v1/agents",
            json!({"name": name, "model": "claude-test-model"}),
        )
        .await
        .ok();
    let environment = api
        .post("/v1/environments", json!({"name": name}))
        .await
        .ok();
    (id(&agent), id(&environment))
}

async fn session(api: &Api<'_>, agent: &str, environment: &str, title: &str) -> Value {
    api.post(
        "/v1/sessions",
        json!({"agent": agent, "environment_id": environment, "title": title}),
    )
    .await
    .ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tenant_gets_404_on_every_session_route() {
    let platform = Platform::start().unwrap();
    let owner = Api::new(&platform, platform.api_key());
    let (agent, environment) = fixtures(&owner, "mine").await;
    let mine = session(&owner, &agent, &environment, "mine").await;
    let sid = id(&mine);

    let tenant = owner
        .post("/v1/tenants", json!({"name": "other"}))
        .await
        .ok();
    let other = Api::new(&platform, tenant["api_key"]["key"].as_str().unwrap());
    let message =
        json!({"events": [{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]});
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/sessions/{sid}"), None),
        (
            Method::POST,
            format!("/v1/sessions/{sid}"),
            Some(json!({"title": "stolen"})),
        ),
        (Method::DELETE, format!("/v1/sessions/{sid}"), None),
        (
            Method::POST,
            format!("/v1/sessions/{sid}/archive"),
            Some(json!({})),
        ),
        (Method::GET, format!("/v1/sessions/{sid}/events"), None),
        (
            Method::GET,
            format!("/v1/sessions/{sid}/events?limit=1&order=desc"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/sessions/{sid}/events"),
            Some(message.clone()),
        ),
        (
            Method::GET,
            format!("/v1/sessions/{sid}/events/stream"),
            None,
        ),
        (Method::GET, format!("/v1/sessions/{sid}/resources"), None),
        (
            Method::POST,
            format!("/v1/sessions/{sid}/resources"),
            Some(json!({"type": "file", "file_id": "file_x"})),
        ),
        (
            Method::GET,
            format!("/v1/sessions/{sid}/resources/sesrsc_x"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/sessions/{sid}/resources/sesrsc_x"),
            None,
        ),
    ];
    for (method, path, body) in &routes {
        let resp = other.call(method.clone(), path, body.clone()).await;
        resp.error(404, "not_found_error");
    }
    // An unknown or malformed id is the same 404, for the owner too.
    for path in [
        "/v1/sessions/sesn_01M81AFNP5MY39YX4VPE0TEHYN",
        "/v1/sessions/not-a-session",
        "/v1/sessions/sesn_01M81AFNP5MY39YX4VPE0TEHYN/events",
        "/v1/sessions/agent_1/events/stream",
    ] {
        owner.get(path).await.error(404, "not_found_error");
    }

    // Nothing the other tenant did had an effect, and it lists nothing.
    let after = owner.get(&format!("/v1/sessions/{sid}")).await.ok();
    assert_eq!(after["title"], "mine");
    assert_eq!(after["archived_at"], Value::Null);
    assert_eq!(after["updated_at"], mine["updated_at"]);
    let events = owner.get(&format!("/v1/sessions/{sid}/events")).await.ok();
    assert_eq!(events["data"], json!([]), "{events:#}");
    for path in [
        "/v1/sessions".to_owned(),
        "/v1/sessions?include_archived=true".to_owned(),
        format!("/v1/sessions?agent_id={agent}"),
    ] {
        let page = other.get(&path).await.ok();
        assert_eq!(page["data"], json!([]), "{path}: {page:#}");
    }
    assert_eq!(ids(&owner.get("/v1/sessions").await.ok()), vec![sid]);

    // The other tenant cannot start a session on the owner's agent or environment.
    let (other_agent, other_environment) = fixtures(&other, "theirs").await;
    other
        .post(
            "/v1/sessions",
            json!({"agent": agent, "environment_id": other_environment}),
        )
        .await
        .error(404, "not_found_error");
    other
        .post(
            "/v1/sessions",
            json!({"agent": other_agent, "environment_id": environment}),
        )
        .await
        .error(404, "not_found_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_session_validates_names_the_field_and_checks_references() {
    let platform = Platform::start().unwrap();
    let api = Api::new(&platform, platform.api_key());
    let (agent, environment) = fixtures(&api, "v").await;
    let create = |body: Value| {
        let api = &api;
        async move { api.post("/v1/sessions", body).await }
    };

    for (body, field) in [
        (json!({}), "agent"),
        (json!({"environment_id": environment}), "agent"),
        (json!({"agent": 5, "environment_id": environment}), "agent"),
        (
            json!({"agent": null, "environment_id": environment}),
            "agent",
        ),
        (
            json!({"agent": {"type": "agent"}, "environment_id": environment}),
            "agent.id",
        ),
        (
            json!({"agent": {"type": "agent", "id": 7}, "environment_id": environment}),
            "agent.id",
        ),
        (
            json!({"agent": {"type": "agent", "id": agent, "version": 0}, "environment_id": environment}),
            "agent.version",
        ),
        (
            json!({"agent": {"type": "agent", "id": agent, "version": "1"}, "environment_id": environment}),
            "agent.version",
        ),
        (
            json!({"agent": {"type": "robot", "id": agent}, "environment_id": environment}),
            "agent.type",
        ),
        (
            json!({"agent": agent, "environment_id": 5}),
            "environment_id",
        ),
        (
            json!({"agent": agent, "environment_id": environment, "title": 5}),
            "title",
        ),
        (
            json!({"agent": agent, "environment_id": environment, "metadata": "x"}),
            "metadata",
        ),
        (
            json!({"agent": agent, "environment_id": environment, "metadata": {"k": 1}}),
            "metadata",
        ),
        (
            json!({"agent": agent, "environment_id": environment, "vault_ids": "vlt_1"}),
            "vault_ids",
        ),
        (
            json!({"agent": agent, "environment_id": environment, "resources": {}}),
            "resources",
        ),
        (
            json!({"agent": agent, "environment_id": environment, "initial_events": {}}),
            "initial_events",
        ),
        (
            json!({"agent": agent, "environment_id": environment, "initial_events": [{"type": "user.message"}]}),
            "initial_events[0].content",
        ),
        (
            json!({"agent": agent, "environment_id": environment, "initial_events": [{"type": "user.interrupt"}]}),
            "initial_events[0].type",
        ),
        (
            json!({"agent": agent, "environment_id": environment, "initial_events": [
                {"type": "user.message", "content": [{"type": "text", "text": "ok"}]},
                {"type": "user.message", "content": [{"type": "nope"}]},
            ]}),
            "initial_events[1].content[0].type",
        ),
    ] {
        create(body.clone()).await.invalid(field);
    }
    // Metadata limits carry the code the SDK knows.
    let too_many: serde_json::Map<String, Value> = (0..17)
        .map(|i| (format!("k{i}"), Value::String("v".into())))
        .collect();
    let resp =
        create(json!({"agent": agent, "environment_id": environment, "metadata": too_many})).await;
    resp.invalid("metadata");
    assert_eq!(resp.code(), "invalid_metadata", "{:#}", resp.body);
    // A body that is not a JSON object.
    api.call(Method::POST, "/v1/sessions", Some(json!([1])))
        .await
        .error(400, "invalid_request_error");

    // Unknown references are 404s, naming what was not found.
    for (body, what) in [
        (
            json!({"agent": "agent_01M81AFNP5MY39YX4VPE0TEHYN", "environment_id": environment}),
            "agent",
        ),
        (
            json!({"agent": {"type": "agent", "id": agent, "version": 9}, "environment_id": environment}),
            "agent",
        ),
        (
            json!({"agent": agent, "environment_id": "env_01M81AFNP5MY39YX4VPE0TEHYN"}),
            "environment",
        ),
    ] {
        let resp = create(body).await;
        let message = resp.error(404, "not_found_error");
        assert!(message.starts_with(what), "{message}");
    }
    let resp = create(json!({"agent": agent, "environment_id": "env_nope"})).await;
    resp.error(404, "not_found_error");
    assert_eq!(resp.code(), "environment_not_found", "{:#}", resp.body);

    // An archived environment cannot host new sessions; an archived agent
    // cannot run in one.
    let archived = api
        .post("/v1/environments", json!({"name": "archived"}))
        .await
        .ok();
    let archived_id = id(&archived);
    api.post(
        &format!("/v1/environments/{archived_id}/archive"),
        json!({}),
    )
    .await
    .ok();
    let resp = create(json!({"agent": agent, "environment_id": archived_id})).await;
    resp.error(400, "invalid_request_error");
    assert_eq!(resp.code(), "environment_archived", "{:#}", resp.body);
    let old_agent = api
        .post("/v1/agents", json!({"name": "old", "model": "m"}))
        .await
        .ok();
    api.post(&format!("/v1/agents/{}/archive", id(&old_agent)), json!({}))
        .await
        .ok();
    create(json!({"agent": id(&old_agent), "environment_id": environment}))
        .await
        .error(400, "invalid_request_error");

    // None of the refused creates left a session behind.
    let page = api.get("/v1/sessions?include_archived=true").await.ok();
    assert_eq!(page["data"], json!([]), "{page:#}");

    // The three agent forms all work, and pin the version asked for.
    api.post(&format!("/v1/agents/{agent}"), json!({"system": "v2"}))
        .await
        .ok();
    for (spec, version) in [
        (json!(agent), 2),
        (json!({"type": "agent", "id": agent}), 2),
        (json!({"type": "agent", "id": agent, "version": 1}), 1),
        (
            json!({"type": "agent_with_overrides", "id": agent, "version": 1, "system": "override"}),
            1,
        ),
    ] {
        let created = create(json!({"agent": spec, "environment_id": environment}))
            .await
            .ok();
        assert_eq!(created["agent"]["version"], version, "{created:#}");
        assert_eq!(created["status"], "idle");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn session_list_pages_both_ways_and_filters() {
    let platform = Platform::start().unwrap();
    let api = Api::new(&platform, platform.api_key());
    let (agent, environment) = fixtures(&api, "p").await;
    let (other_agent, _) = fixtures(&api, "q").await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(session(&api, &agent, &environment, &format!("s{i}")).await);
    }
    let odd = session(&api, &other_agent, &environment, "other agent").await;
    let mut all: Vec<String> = created.iter().map(id).collect();
    all.push(id(&odd));
    // Ids sort by creation time.
    let mut asc = all.clone();
    asc.sort();
    let mut desc = asc.clone();
    desc.reverse();

    // Newest first by default; the first page has no prev_page.
    let first = api.get("/v1/sessions").await.ok();
    assert_eq!(ids(&first), desc);
    assert_eq!(first["next_page"], Value::Null);
    assert_eq!(first["prev_page"], Value::Null);
    assert_eq!(first["data"][0]["type"], "session");

    for (order, expected) in [("desc", &desc), ("asc", &asc)] {
        // Forwards with limit=2, keeping every page.
        let mut pages = Vec::new();
        let mut path = format!("/v1/sessions?limit=2&order={order}");
        loop {
            let page = api.get(&path).await.ok();
            assert!(ids(&page).len() <= 2, "{page:#}");
            let next = page["next_page"].as_str().map(str::to_owned);
            pages.push(page);
            match next {
                Some(next) => {
                    assert!(next.starts_with("page_"), "{next}");
                    path = format!("/v1/sessions?limit=2&order={order}&page={next}");
                }
                None => break,
            }
        }
        assert_eq!(pages.len(), 3, "{pages:#?}");
        let walked: Vec<String> = pages.iter().flat_map(ids).collect();
        assert_eq!(&walked, expected, "order={order}");
        assert_eq!(pages[0]["prev_page"], Value::Null);
        assert!(pages[1]["prev_page"].is_string(), "{:#}", pages[1]);
        assert!(pages[2]["prev_page"].is_string(), "{:#}", pages[2]);

        // Backwards from the last page with prev_page gives the same pages.
        let mut back = vec![ids(&pages[2])];
        let mut cursor = pages[2]["prev_page"].as_str().unwrap().to_owned();
        loop {
            let page = api
                .get(&format!("/v1/sessions?limit=2&order={order}&page={cursor}"))
                .await
                .ok();
            back.push(ids(&page));
            assert!(page["next_page"].is_string(), "{page:#}");
            match page["prev_page"].as_str() {
                Some(prev) => cursor = prev.to_owned(),
                None => break,
            }
        }
        back.reverse();
        let expected_pages: Vec<Vec<String>> = pages.iter().map(ids).collect();
        assert_eq!(back, expected_pages, "order={order}");

        // A cursor made for one order is refused with the other.
        let other_order = if order == "asc" { "desc" } else { "asc" };
        let next = pages[0]["next_page"].as_str().unwrap();
        api.get(&format!(
            "/v1/sessions?limit=2&order={other_order}&page={next}"
        ))
        .await
        .invalid("page");
    }

    // Filters: agent_id, agent_version, statuses[], include_archived, created_at.
    let by_agent = api
        .get(&format!("/v1/sessions?agent_id={agent}"))
        .await
        .ok();
    let mut mine: Vec<String> = created.iter().map(id).collect();
    mine.sort();
    mine.reverse();
    assert_eq!(ids(&by_agent), mine);
    assert_eq!(
        ids(&api
            .get(&format!("/v1/sessions?agent_id={agent}&agent_version=2"))
            .await
            .ok()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&api
            .get(&format!(
                "/v1/sessions?agent_id={other_agent}&agent_version=1"
            ))
            .await
            .ok()),
        [id(&odd)]
    );
    assert_eq!(
        ids(&api.get("/v1/sessions?statuses[]=idle").await.ok()),
        desc
    );
    assert_eq!(
        ids(&api
            .get("/v1/sessions?statuses%5B%5D=running&statuses%5B%5D=terminated")
            .await
            .ok()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&api
            .get("/v1/sessions?statuses[]=running&statuses[]=idle&order=asc")
            .await
            .ok()),
        asc
    );

    let archived = &asc[0];
    let resp = api
        .post(&format!("/v1/sessions/{archived}/archive"), json!({}))
        .await
        .ok();
    assert!(resp["archived_at"].is_string(), "{resp:#}");
    let listed = ids(&api.get("/v1/sessions?order=asc").await.ok());
    assert_eq!(listed, asc[1..]);
    let listed = ids(&api
        .get("/v1/sessions?order=asc&include_archived=true")
        .await
        .ok());
    assert_eq!(listed, asc);
    let listed = ids(&api
        .get("/v1/sessions?order=asc&include_archived=false")
        .await
        .ok());
    assert_eq!(listed, asc[1..]);

    // created_at bounds, against the sessions' own timestamps.
    let by_id = |wanted: &str| {
        created
            .iter()
            .chain(std::iter::once(&odd))
            .find(|s| s["id"] == wanted)
            .unwrap()["created_at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let pivot = by_id(&asc[2]);
    let count = |path: String| {
        let api = &api;
        async move {
            let page = api.get(&path).await.ok();
            ids(&page)
                .into_iter()
                .map(|i| by_id(&i))
                .collect::<Vec<String>>()
        }
    };
    let q =
        |op: &str| format!("/v1/sessions?order=asc&include_archived=true&created_at[{op}]={pivot}");
    for (op, keep) in [
        (
            "gte",
            &(|t: &String| t.as_str() >= pivot.as_str()) as &dyn Fn(&String) -> bool,
        ),
        ("gt", &|t: &String| t.as_str() > pivot.as_str()),
        ("lte", &|t: &String| t.as_str() <= pivot.as_str()),
        ("lt", &|t: &String| t.as_str() < pivot.as_str()),
    ] {
        let got = count(q(op)).await;
        let want: Vec<String> = asc.iter().map(|i| by_id(i)).filter(|t| keep(t)).collect();
        assert_eq!(got, want, "created_at[{op}]={pivot}");
        assert!(got.iter().all(keep));
    }
    let got = count(format!(
        "/v1/sessions?include_archived=true&created_at%5Bgte%5D={pivot}&created_at%5Blte%5D={pivot}"
    ))
    .await;
    assert!(
        !got.is_empty() && got.iter().all(|t| *t == pivot),
        "{got:?}"
    );

    // Bad parameters are 400s naming the parameter.
    for (query, field) in [
        ("page=garbage", "page"),
        ("page=page_zzzz", "page"),
        ("statuses[]=sleeping", "statuses"),
        ("statuses[]=idle&statuses[]=IDLE", "statuses"),
        ("order=sideways", "order"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=two", "limit"),
        ("include_archived=maybe", "include_archived"),
        ("agent_version=x", "agent_version"),
        ("created_at[gte]=yesterday", "created_at[gte]"),
        ("created_at[lt]=2026-13-01T00:00:00Z", "created_at[lt]"),
    ] {
        api.get(&format!("/v1/sessions?{query}"))
            .await
            .invalid(field);
    }
}
