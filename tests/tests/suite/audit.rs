//! The audit trail: who created and revoked keys, changed credentials and
//! called the operator's routes, newest first and paginated; a tenant sees
//! its own rows only, the operator every tenant's; no key or secret is in a
//! row.

use openma_e2e::Api;
use openma_e2e::Platform;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

const TOKEN: &str = "audit-bearer-token-0001";
const ROTATED_TOKEN: &str = "audit-bearer-token-0002";
const PROVIDER_KEY: &str = "sk-ant-audit-provider-key-0003";

/// Every audit event `api` sees for `query`, following `next_page` with
/// pages of `limit`.
async fn trail(api: &Api, query: &str, limit: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut path = format!("/v1/audit_events?limit={limit}{query}");
    loop {
        let page = api.ok(Method::GET, &path, None).await.unwrap();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit, "{page:#}");
        all.extend(data.iter().cloned());
        match page["next_page"].as_str() {
            Some(cursor) => path = format!("/v1/audit_events?limit={limit}{query}&page={cursor}"),
            None => return all,
        }
    }
}

/// `(action, object_id)` of each event.
fn actions(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["object_id"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

/// A request that must answer 200; returns the body and its `request-id`.
async fn ok_with_id(api: &Api, method: Method, path: &str, body: Option<Value>) -> (Value, String) {
    let (status, headers, body) = api.call_with_headers(method, path, body).await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    let id = headers["request-id"].to_str().unwrap().to_owned();
    (body, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_trail_records_who_did_what_newest_first_per_tenant_and_no_secret() {
    let platform = Platform::start().unwrap();
    let operator = Api::new(&platform);

    // The operator creates two tenants (and their first keys).
    let (one, create_one) = ok_with_id(
        &operator,
        Method::POST,
        "/v1/tenants",
        Some(json!({"name": "audit-one"})),
    )
    .await;
    let two = operator
        .ok(
            Method::POST,
            "/v1/tenants",
            Some(json!({"name": "audit-two"})),
        )
        .await
        .unwrap();
    // A refused operator call is recorded too.
    let (status, _) = operator
        .call(Method::POST, "/v1/tenants", Some(json!({"name": 7})))
        .await
        .unwrap();
    assert_eq!(status, 400);
    let one_id = one["id"].as_str().unwrap().to_owned();
    let one_key_id = one["api_key"]["id"].as_str().unwrap().to_owned();
    let two_id = two["id"].as_str().unwrap().to_owned();
    let mut secrets = vec![
        platform.api_key().to_owned(),
        platform.root_secret().to_owned(),
        one["api_key"]["key"].as_str().unwrap().to_owned(),
        two["api_key"]["key"].as_str().unwrap().to_owned(),
        TOKEN.to_owned(),
        ROTATED_TOKEN.to_owned(),
        PROVIDER_KEY.to_owned(),
    ];
    let tenant = Api::with_key(&platform, one["api_key"]["key"].as_str().unwrap());
    let other = Api::with_key(&platform, two["api_key"]["key"].as_str().unwrap());

    // Tenant one makes a key and revokes it.
    let extra = tenant
        .ok(Method::POST, "/v1/api_keys", Some(json!({"name": "ci"})))
        .await
        .unwrap();
    secrets.push(extra["key"].as_str().unwrap().to_owned());
    let extra_id = extra["id"].as_str().unwrap().to_owned();
    let (_, revoke_request) = ok_with_id(
        &tenant,
        Method::DELETE,
        &format!("/v1/api_keys/{extra_id}"),
        None,
    )
    .await;

    // A credential: created, its token rotated, archived.
    let vault = tenant
        .ok(
            Method::POST,
            "/v1/vaults",
            Some(json!({"display_name": "audit"})),
        )
        .await
        .unwrap();
    let vault_id = vault["id"].as_str().unwrap().to_owned();
    let credential = tenant
        .ok(
            Method::POST,
            &format!("/v1/vaults/{vault_id}/credentials"),
            Some(json!({"auth": {"type": "static_bearer",
                "mcp_server_url": "https://mcp.audit.example/mcp", "token": TOKEN}})),
        )
        .await
        .unwrap();
    let credential_id = credential["id"].as_str().unwrap().to_owned();
    let credential_path = format!("/v1/vaults/{vault_id}/credentials/{credential_id}");
    tenant
        .ok(
            Method::POST,
            &credential_path,
            Some(json!({"auth": {"type": "static_bearer", "token": ROTATED_TOKEN}})),
        )
        .await
        .unwrap();
    tenant
        .ok(Method::POST, &format!("{credential_path}/archive"), None)
        .await
        .unwrap();

    // A model provider, added and removed.
    let provider = tenant
        .ok(
            Method::POST,
            "/v1/model_providers",
            Some(json!({"type": "anthropic", "name": "audit", "api_key": PROVIDER_KEY})),
        )
        .await
        .unwrap();
    let provider_id = provider["id"].as_str().unwrap().to_owned();
    tenant
        .ok(
            Method::DELETE,
            &format!("/v1/model_providers/{provider_id}"),
            None,
        )
        .await
        .unwrap();

    // The operator makes and revokes a key of its own tenant, reads the
    // key ids and re-encrypts.
    let operator_key = operator
        .ok(Method::POST, "/v1/api_keys", Some(json!({})))
        .await
        .unwrap();
    secrets.push(operator_key["key"].as_str().unwrap().to_owned());
    let operator_key_id = operator_key["id"].as_str().unwrap().to_owned();
    operator
        .ok(
            Method::DELETE,
            &format!("/v1/api_keys/{operator_key_id}"),
            None,
        )
        .await
        .unwrap();
    operator
        .ok(Method::GET, "/v1/operator/credentials/keys", None)
        .await
        .unwrap();
    let reencrypted = operator
        .ok(Method::POST, "/v1/operator/credentials/reencrypt", None)
        .await
        .unwrap();

    // Tenant one sees its own story, newest first, the same in pages of 2.
    let seen = trail(&tenant, "", 100).await;
    let expected: Vec<(String, String)> = [
        ("model_provider.deleted", provider_id.as_str()),
        ("model_provider.created", &provider_id),
        ("vault_credential.archived", &credential_id),
        ("vault_credential.updated", &credential_id),
        ("vault_credential.created", &credential_id),
        ("api_key.revoked", &extra_id),
        ("api_key.created", &extra_id),
        ("api_key.created", &one_key_id),
        ("tenant.created", &one_id),
    ]
    .iter()
    .map(|(a, o)| ((*a).to_owned(), (*o).to_owned()))
    .collect();
    assert_eq!(actions(&seen), expected, "{seen:#?}");
    assert_eq!(
        trail(&tenant, "", 2).await,
        seen,
        "pages of 2 list the same"
    );
    let times: Vec<&str> = seen
        .iter()
        .map(|e| e["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    for event in &seen {
        assert_eq!(event["type"], "audit_event");
        assert!(event["id"].as_str().unwrap().starts_with("audevt_"));
        assert_eq!(event["tenant_id"], one_id.as_str());
        assert!(event["request_id"].as_str().unwrap().starts_with("req_"));
    }
    // The actor: the tenant's key by its id, or the operator.
    let by_tenant = json!({"type": "api_key", "api_key_id": one_key_id});
    for event in &seen[..7] {
        assert_eq!(event["actor"], by_tenant, "{event:#}");
    }
    for event in &seen[7..] {
        assert_eq!(event["actor"], json!({"type": "operator"}), "{event:#}");
    }
    assert_eq!(seen[5]["request_id"], revoke_request.as_str());
    assert_eq!(seen[8]["request_id"], create_one.as_str());
    assert_eq!(seen[3]["details"]["secrets_rotated"], true);
    assert_eq!(seen[3]["details"]["vault_id"], vault_id.as_str());

    // Filters: one action; a tenant key cannot read another tenant's trail.
    let revoked = trail(&tenant, "&action=api_key.revoked", 100).await;
    assert_eq!(actions(&revoked), vec![expected[5].clone()]);
    let (status, body) = tenant
        .call(
            Method::GET,
            &format!("/v1/audit_events?tenant_id={two_id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");

    // Tenant two sees only its own rows.
    let seen_by_two = trail(&other, "", 100).await;
    assert_eq!(
        actions(&seen_by_two),
        vec![
            (
                "api_key.created".to_owned(),
                two["api_key"]["id"].as_str().unwrap().to_owned()
            ),
            ("tenant.created".to_owned(), two_id.clone()),
        ]
    );

    // The operator sees every tenant's rows, its own operator calls among
    // them, and can narrow to one tenant.
    let everything = trail(&operator, "", 100).await;
    let own: Vec<&Value> = everything
        .iter()
        .filter(|e| e["tenant_id"] == "default")
        .collect();
    let own_actions: Vec<(String, String)> = own
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["details"]["path"]
                    .as_str()
                    .or(e["object_id"].as_str())
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let key_id = reencrypted["current_key_id"].as_str().unwrap();
    let expected_own: Vec<(String, String)> = [
        ("operator.call", "/v1/operator/credentials/reencrypt"),
        ("credentials.reencrypted", key_id),
        ("operator.call", "/v1/operator/credentials/keys"),
        ("api_key.revoked", &operator_key_id),
        ("api_key.created", &operator_key_id),
        ("operator.call", "/v1/tenants"),
        ("operator.call", "/v1/tenants"),
        ("operator.call", "/v1/tenants"),
    ]
    .iter()
    .map(|(a, o)| ((*a).to_owned(), (*o).to_owned()))
    .collect();
    assert_eq!(own_actions, expected_own, "{own:#?}");
    let calls: Vec<(&str, u64)> = own
        .iter()
        .filter(|e| e["action"] == "operator.call")
        .map(|e| {
            (
                e["details"]["method"].as_str().unwrap(),
                e["details"]["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("POST", 200),
            ("GET", 200),
            ("POST", 400),
            ("POST", 200),
            ("POST", 200)
        ]
    );
    for event in &own {
        assert_eq!(event["actor"], json!({"type": "operator"}));
    }
    assert_eq!(
        trail(&operator, &format!("&tenant_id={one_id}"), 3).await,
        seen
    );
    assert!(
        everything.len() >= seen.len() + seen_by_two.len() + own.len(),
        "{everything:#?}"
    );

    // No key, token or secret anywhere in the trail.
    let text = serde_json::to_string(&everything).unwrap();
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret is in the trail");
    }

    // Bad queries: 400 in the error envelope.
    for query in [
        "limit=0",
        "limit=101",
        "page=nope",
        "action=key.stolen",
        "order=asc",
    ] {
        let (status, body) = tenant
            .call(Method::GET, &format!("/v1/audit_events?{query}"), None)
            .await
            .unwrap();
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{query}");
    }
}
