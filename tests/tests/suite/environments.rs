//! Environments over raw HTTP: config validation, unique names, updates
//! (metadata patch, config merge, no type change), archive, delete, lists.

use openma_e2e::Platform;
use serde_json::Value;
use serde_json::json;

use super::agents::Api;

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn environments_validate_update_archive_and_delete() {
    let platform = Platform::start().unwrap();
    let api = Api::new(&platform, platform.api_key());

    // Defaults: an unrestricted cloud sandbox.
    let basic = api
        .post("/v1/environments", json!({"name": "basic"}))
        .await
        .ok();
    let basic_id = basic["id"].as_str().unwrap().to_owned();
    assert!(basic_id.starts_with("env_"), "{basic_id}");
    assert_eq!(basic["type"], "environment");
    assert_eq!(basic["config"]["type"], "cloud");
    assert_eq!(
        basic["config"]["networking"],
        json!({"type": "unrestricted"})
    );
    assert_eq!(basic["config"]["packages"]["pip"], json!([]));
    assert_eq!(basic["metadata"], json!({}));
    assert_eq!(basic["archived_at"], Value::Null);
    assert_eq!(
        api.get(&format!("/v1/environments/{basic_id}")).await.ok(),
        basic
    );

    // Validation names the field.
    api.post("/v1/environments", json!({}))
        .await
        .invalid("name");
    api.post("/v1/environments", json!({"name": 3}))
        .await
        .invalid("name");
    api.post(
        "/v1/environments",
        json!({"name": "x", "config": {"type": "vm"}}),
    )
    .await
    .invalid("config.type");
    api.post("/v1/environments", json!({"name": "x", "config": {}}))
        .await
        .invalid("config.type");
    api.post(
        "/v1/environments",
        json!({"name": "x", "config": {"type": "cloud", "networking": {"type": "open"}}}),
    )
    .await
    .invalid("config.networking.type");
    api.post(
        "/v1/environments",
        json!({"name": "x", "config": {"type": "cloud", "networking": {"type": "limited", "allowed_hosts": ["ok.com", 7]}}}),
    )
    .await
    .invalid("config.networking.allowed_hosts[1]");
    api.post(
        "/v1/environments",
        json!({"name": "x", "config": {"type": "cloud", "networking": {"type": "limited", "allowed_hosts": "ok.com"}}}),
    )
    .await
    .invalid("config.networking.allowed_hosts");
    api.post(
        "/v1/environments",
        json!({"name": "x", "config": {"type": "cloud", "networking": {"type": "limited", "allow_mcp_servers": "yes"}}}),
    )
    .await
    .invalid("config.networking.allow_mcp_servers");
    api.post(
        "/v1/environments",
        json!({"name": "x", "config": {"type": "cloud", "packages": {"pip": "numpy"}}}),
    )
    .await
    .invalid("config.packages.pip");
    api.post(
        "/v1/environments",
        json!({"name": "x", "config": {"type": "cloud", "packages": {"npm": [1]}}}),
    )
    .await
    .invalid("config.packages.npm[0]");
    api.post(
        "/v1/environments",
        json!({"name": "x", "config": {"type": "cloud",
            "networking": {"type": "limited", "allowed_hosts": ["pypi.org"]},
            "packages": {"pip": ["numpy"]}}}),
    )
    .await
    .invalid("config.packages");
    let resp = api
        .post(
            "/v1/environments",
            json!({"name": "x", "metadata": {"k": "v".repeat(513)}}),
        )
        .await;
    resp.invalid("metadata.k");
    assert_eq!(resp.code(), "invalid_metadata");

    // A limited sandbox with packages.
    let limited = api
        .post(
            "/v1/environments",
            json!({
                "name": "limited",
                "description": "tight",
                "metadata": {"owner": "a", "stage": "dev"},
                "config": {"type": "cloud",
                    "networking": {"type": "limited", "allowed_hosts": ["api.example.com"], "allow_package_managers": true},
                    "packages": {"type": "packages", "pip": ["numpy==2.0.0"], "apt": ["git"]}}
            }),
        )
        .await
        .ok();
    let id = limited["id"].as_str().unwrap().to_owned();
    assert_eq!(
        limited["config"]["networking"],
        json!({"type": "limited", "allowed_hosts": ["api.example.com"], "allow_mcp_servers": false, "allow_package_managers": true})
    );
    assert_eq!(
        limited["config"]["packages"]["pip"],
        json!(["numpy==2.0.0"])
    );
    assert_eq!(limited["config"]["packages"]["apt"], json!(["git"]));

    // Names are unique per tenant: 409, not to be retried.
    api.post("/v1/environments", json!({"name": "limited"}))
        .await
        .error(409, "conflict_error");
    api.post(
        &format!("/v1/environments/{basic_id}"),
        json!({"name": "limited"}),
    )
    .await
    .error(409, "conflict_error");

    // Racing creates of one name: exactly one wins.
    let racing = (0..4).map(|_| api.post("/v1/environments", json!({"name": "contested"})));
    let results = futures_util::future::join_all(racing).await;
    assert_eq!(results.iter().filter(|resp| resp.status == 200).count(), 1);
    for resp in results.iter().filter(|resp| resp.status != 200) {
        resp.error(409, "conflict_error");
    }
    let contested = results
        .iter()
        .find(|resp| resp.status == 200)
        .map(|resp| resp.body["id"].as_str().unwrap().to_owned())
        .unwrap();
    api.delete(&format!("/v1/environments/{contested}"))
        .await
        .ok();

    // A no-op update changes nothing.
    let same = api
        .post(
            &format!("/v1/environments/{id}"),
            json!({"name": "limited", "metadata": {"owner": "a"}}),
        )
        .await
        .ok();
    assert_eq!(same, limited);

    // Metadata is a patch (null deletes); omitted config fields are kept.
    let updated = api
        .post(
            &format!("/v1/environments/{id}"),
            json!({
                "description": null,
                "metadata": {"owner": null, "team": "core"},
                "config": {"type": "cloud", "networking": {"type": "limited", "allow_mcp_servers": true}}
            }),
        )
        .await
        .ok();
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["metadata"], json!({"stage": "dev", "team": "core"}));
    assert_eq!(
        updated["config"]["networking"],
        json!({"type": "limited", "allowed_hosts": ["api.example.com"], "allow_mcp_servers": true, "allow_package_managers": true})
    );
    assert_eq!(
        updated["config"]["packages"]["pip"],
        json!(["numpy==2.0.0"])
    );
    assert_eq!(updated["created_at"], limited["created_at"]);
    assert_eq!(
        api.get(&format!("/v1/environments/{id}")).await.ok(),
        updated
    );

    // Rules on update.
    let resp = api
        .post(
            &format!("/v1/environments/{id}"),
            json!({"config": {"type": "self_hosted"}}),
        )
        .await;
    resp.error(400, "invalid_request_error");
    assert_eq!(resp.code(), "invalid_config_type_change", "{:#}", resp.body);
    api.post(
        &format!("/v1/environments/{id}"),
        json!({"config": {"type": "cloud", "networking": {"type": "limited", "allow_package_managers": false}}}),
    )
    .await
    .invalid("config.packages");
    let resp = api
        .post(
            &format!("/v1/environments/{id}"),
            json!({"metadata": (0..15).map(|i| (format!("n{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
        )
        .await;
    resp.error(400, "invalid_request_error");
    assert_eq!(resp.code(), "invalid_metadata");
    api.post(
        &format!("/v1/environments/{id}"),
        json!({"metadata": {"k": 1}}),
    )
    .await
    .invalid("metadata.k");

    // Lists: pagination, limits, cursors.
    let hosted = api
        .post(
            "/v1/environments",
            json!({"name": "hosted", "config": {"type": "self_hosted"}}),
        )
        .await
        .ok();
    assert_eq!(hosted["config"], json!({"type": "self_hosted"}));
    let hosted_id = hosted["id"].as_str().unwrap().to_owned();
    let expected = vec![basic_id.clone(), id.clone(), hosted_id.clone()];
    assert_eq!(ids(&api.walk("/v1/environments", 1).await), expected);
    assert_eq!(ids(&api.walk("/v1/environments", 2).await), expected);
    for bad in ["limit=0", "limit=101", "limit=-1"] {
        api.get(&format!("/v1/environments?{bad}"))
            .await
            .invalid("limit");
    }
    api.get("/v1/environments?page=nope").await.invalid("page");

    // Archive: read-only, hidden unless include_archived.
    let archived = api
        .post(&format!("/v1/environments/{hosted_id}/archive"), json!({}))
        .await
        .ok();
    assert!(archived["archived_at"].is_string(), "{archived:#}");
    let resp = api
        .post(
            &format!("/v1/environments/{hosted_id}"),
            json!({"name": "renamed"}),
        )
        .await;
    resp.error(400, "invalid_request_error");
    assert_eq!(resp.code(), "environment_archived");
    assert_eq!(
        ids(&api.walk("/v1/environments", 1).await),
        vec![basic_id.clone(), id.clone()]
    );
    assert_eq!(
        ids(&api.walk("/v1/environments?include_archived=true", 1).await),
        expected
    );
    assert_eq!(
        api.get(&format!("/v1/environments/{hosted_id}")).await.ok(),
        archived
    );

    // Delete frees the id (and the name).
    let deleted = api
        .delete(&format!("/v1/environments/{basic_id}"))
        .await
        .ok();
    assert_eq!(
        deleted,
        json!({"id": basic_id, "type": "environment_deleted"})
    );
    for resp in [
        api.get(&format!("/v1/environments/{basic_id}")).await,
        api.delete(&format!("/v1/environments/{basic_id}")).await,
        api.post(
            &format!("/v1/environments/{basic_id}"),
            json!({"name": "x"}),
        )
        .await,
        api.post(&format!("/v1/environments/{basic_id}/archive"), json!({}))
            .await,
        api.get("/v1/environments/env_unknown").await,
    ] {
        resp.error(404, "not_found_error");
    }
    api.post("/v1/environments", json!({"name": "basic"}))
        .await
        .ok();
}
