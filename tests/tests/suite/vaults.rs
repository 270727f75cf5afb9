//! Vaults and credentials over raw HTTP: every route and error path, the
//! 20-credential limit, uniqueness among active credentials, tenant
//! isolation, write-only secrets (absent from every response and from the
//! platform's logs), and root-secret rotation across restarts.

use openma_e2e::Api;
use openma_e2e::Platform;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

/// Calls that keep every response body, to prove no secret leaks.
struct Client {
    api: Api,
    seen: std::sync::Mutex<String>,
}

impl Client {
    fn new(platform: &Platform, key: &str) -> Self {
        Self {
            api: Api::with_key(platform, key),
            seen: std::sync::Mutex::new(String::new()),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let (status, headers, body) = self
            .api
            .call_with_headers(method, path, body)
            .await
            .unwrap();
        self.seen.lock().unwrap().push_str(&body.to_string());
        (status, headers, body)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, _, value) = self.call(method.clone(), path, body).await;
        assert_eq!(status, 200, "{method} {path}: {value:#}");
        value
    }

    /// Asserts an error envelope; returns its message.
    async fn err(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
        kind: &str,
    ) -> String {
        let (got, headers, value) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {value:#}");
        assert_eq!(value["type"], "error", "{value:#}");
        assert_eq!(value["error"]["type"], kind, "{value:#}");
        assert!(headers.contains_key("request-id"));
        if status == 409 {
            assert_eq!(headers["x-should-retry"], "false");
        }
        value["error"]["message"].as_str().unwrap().to_owned()
    }

    fn seen(&self) -> String {
        self.seen.lock().unwrap().clone()
    }
}

/// The platform's output without xtask's ready line (which prints the
/// operator key by design).
fn logs(platform: &Platform) -> String {
    platform
        .output()
        .lines()
        .filter(|line| !line.starts_with("openma ready "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn secret(tag: &str) -> String {
    format!("SECRET-{tag}-{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread")]
async fn vaults_and_credentials_enforce_their_rules_and_never_reveal_secrets() {
    let platform = Platform::start().unwrap();
    let api = Client::new(&platform, platform.api_key());
    let secrets = [
        secret("bearer"),
        secret("access"),
        secret("refresh"),
        secret("client"),
        secret("envvalue"),
        secret("rotated"),
        secret("rejected"),
    ];

    // ---- vaults ----
    let msg = api
        .err(
            Method::POST,
            "/v1/vaults",
            Some(json!({})),
            400,
            "invalid_request_error",
        )
        .await;
    assert!(msg.starts_with("display_name:"), "{msg}");
    let (status, _, body) = api
        .call(
            Method::POST,
            "/v1/vaults",
            Some(json!({"display_name": "x", "metadata": {"k": "v".repeat(513)}})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["details"]["error_code"], "invalid_metadata");
    let vault = api
        .ok(
            Method::POST,
            "/v1/vaults",
            Some(json!({"display_name": "Prod", "metadata": {"team": "a"}})),
        )
        .await;
    let vid = vault["id"].as_str().unwrap().to_owned();
    assert!(vid.starts_with("vlt_"));
    assert_eq!(vault["type"], "vault");
    assert_eq!(vault["archived_at"], Value::Null);
    let second = api
        .ok(
            Method::POST,
            "/v1/vaults",
            Some(json!({"display_name": "Second"})),
        )
        .await;
    let page = api.ok(Method::GET, "/v1/vaults?limit=1", None).await;
    assert_eq!(page["data"][0]["id"], vid.as_str());
    let cursor = page["next_page"].as_str().unwrap().to_owned();
    let page = api
        .ok(
            Method::GET,
            &format!("/v1/vaults?limit=1&page={cursor}"),
            None,
        )
        .await;
    assert_eq!(page["data"][0]["id"], second["id"]);
    api.err(
        Method::GET,
        "/v1/vaults?limit=101",
        None,
        400,
        "invalid_request_error",
    )
    .await;
    api.err(
        Method::GET,
        "/v1/vaults?page=bogus",
        None,
        400,
        "invalid_request_error",
    )
    .await;
    let updated = api
        .ok(
            Method::POST,
            &format!("/v1/vaults/{vid}"),
            Some(json!({"display_name": "Production", "metadata": {"team": null, "env": "prod"}})),
        )
        .await;
    assert_eq!(updated["display_name"], "Production");
    assert_eq!(updated["metadata"], json!({"env": "prod"}));
    assert_eq!(
        api.ok(Method::GET, &format!("/v1/vaults/{vid}"), None)
            .await,
        updated
    );
    api.err(
        Method::GET,
        "/v1/vaults/vlt_nope",
        None,
        404,
        "not_found_error",
    )
    .await;

    // ---- credentials: the three types, secrets never returned ----
    let creds = format!("/v1/vaults/{vid}/credentials");
    let bearer = api
        .ok(
            Method::POST,
            &creds,
            Some(
                json!({"display_name": "GitHub", "auth": {"type": "static_bearer",
                "mcp_server_url": "https://mcp.github.example/mcp", "token": secrets[0]}}),
            ),
        )
        .await;
    assert!(bearer["id"].as_str().unwrap().starts_with("vcrd_"));
    assert_eq!(bearer["type"], "vault_credential");
    assert_eq!(bearer["vault_id"], vid.as_str());
    assert_eq!(
        bearer["auth"],
        json!({"type": "static_bearer", "mcp_server_url": "https://mcp.github.example/mcp"})
    );
    let oauth = api
        .ok(
            Method::POST,
            &creds,
            Some(json!({"auth": {"type": "mcp_oauth", "mcp_server_url": "https://mcp.linear.example",
                "access_token": secrets[1], "expires_at": "2099-01-01T00:00:00Z",
                "refresh": {"refresh_token": secrets[2], "client_id": "cid",
                    "token_endpoint": "https://auth.linear.example/token",
                    "token_endpoint_auth": {"type": "client_secret_basic", "client_secret": secrets[3]},
                    "scope": "read write"}}})),
        )
        .await;
    assert_eq!(
        oauth["auth"]["refresh"]["token_endpoint_auth"],
        json!({"type": "client_secret_basic"})
    );
    assert_eq!(oauth["auth"]["expires_at"], "2099-01-01T00:00:00.000Z");
    let envvar = api
        .ok(
            Method::POST,
            &creds,
            Some(json!({"auth": {"type": "environment_variable", "secret_name": "STRIPE_KEY",
                "secret_value": secrets[4],
                "networking": {"type": "limited", "allowed_hosts": ["api.stripe.com", "*.stripe.com"]}}})),
        )
        .await;
    assert_eq!(
        envvar["auth"]["injection_location"],
        json!({"header": true, "body": true})
    );
    let (bid, oid, eid) = (
        bearer["id"].as_str().unwrap().to_owned(),
        oauth["id"].as_str().unwrap().to_owned(),
        envvar["id"].as_str().unwrap().to_owned(),
    );

    // Validation errors name the field and never echo a value.
    let cases = [
        (
            json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://x.example"}}),
            "auth.token:",
        ),
        (
            json!({"auth": {"type": "static_bearer", "mcp_server_url": "not a url", "token": secrets[6]}}),
            "auth.mcp_server_url:",
        ),
        (
            json!({"auth": {"type": "kerberos", "token": secrets[6]}}),
            "auth.type:",
        ),
        (
            json!({"auth": {"type": "environment_variable", "secret_name": "1X", "secret_value": secrets[6], "networking": {"type": "unrestricted"}}}),
            "auth.secret_name:",
        ),
        (
            json!({"auth": {"type": "environment_variable", "secret_name": "X", "secret_value": secrets[6], "networking": {"type": "limited", "allowed_hosts": ["https://a.example"]}}}),
            "auth.networking.allowed_hosts[0]:",
        ),
        (
            json!({"auth": {"type": "environment_variable", "secret_name": "X", "secret_value": secrets[6], "networking": {"type": "unrestricted"}, "injection_location": {"header": false}}}),
            "auth.injection_location:",
        ),
        (
            json!({"auth": {"type": "mcp_oauth", "mcp_server_url": "https://y.example", "access_token": secrets[6], "expires_at": "2001-01-01T00:00:00Z"}}),
            "auth.expires_at:",
        ),
        (json!({"auth": "nope"}), "auth:"),
    ];
    for (body, field) in cases {
        let msg = api
            .err(
                Method::POST,
                &creds,
                Some(body),
                400,
                "invalid_request_error",
            )
            .await;
        assert!(msg.starts_with(field), "{field}: {msg}");
    }

    // Unique server URL / secret name among active credentials: 409, no retry.
    let msg = api
        .err(
            Method::POST,
            &creds,
            Some(json!({"auth": {"type": "mcp_oauth", "mcp_server_url": "https://mcp.github.example/mcp", "access_token": secrets[6]}})),
            409,
            "conflict_error",
        )
        .await;
    assert!(msg.starts_with("auth.mcp_server_url:"), "{msg}");
    let msg = api
        .err(
            Method::POST,
            &creds,
            Some(json!({"auth": {"type": "environment_variable", "secret_name": "STRIPE_KEY", "secret_value": secrets[6], "networking": {"type": "unrestricted"}}})),
            409,
            "conflict_error",
        )
        .await;
    assert!(msg.starts_with("auth.secret_name:"), "{msg}");

    // Listing, retrieving.
    let list = api.ok(Method::GET, &creds, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    assert_eq!(list["next_page"], Value::Null);
    let page = api.ok(Method::GET, &format!("{creds}?limit=2"), None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(page["next_page"].is_string());
    assert_eq!(
        api.ok(Method::GET, &format!("{creds}/{oid}"), None).await,
        oauth
    );
    api.err(
        Method::GET,
        &format!("{creds}/vcrd_nope"),
        None,
        404,
        "not_found_error",
    )
    .await;
    api.err(
        Method::GET,
        "/v1/vaults/vlt_nope/credentials",
        None,
        404,
        "not_found_error",
    )
    .await;

    // Updates: same type, immutable fields, merges.
    let msg = api
        .err(
            Method::POST,
            &format!("{creds}/{bid}"),
            Some(json!({"auth": {"type": "mcp_oauth"}})),
            400,
            "invalid_request_error",
        )
        .await;
    assert!(msg.starts_with("auth.type:"), "{msg}");
    let msg = api
        .err(
            Method::POST,
            &format!("{creds}/{bid}"),
            Some(json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://elsewhere.example"}})),
            400,
            "invalid_request_error",
        )
        .await;
    assert!(msg.starts_with("auth.mcp_server_url:"), "{msg}");
    let rotated = api
        .ok(
            Method::POST,
            &format!("{creds}/{bid}"),
            Some(
                json!({"display_name": "GitHub (rotated)", "metadata": {"owner": "ops"},
                "auth": {"type": "static_bearer", "token": secrets[5]}}),
            ),
        )
        .await;
    assert_eq!(rotated["display_name"], "GitHub (rotated)");
    assert_eq!(rotated["metadata"], json!({"owner": "ops"}));
    let merged = api
        .ok(
            Method::POST,
            &format!("{creds}/{eid}"),
            Some(json!({"auth": {"type": "environment_variable", "injection_location": {"body": false}}})),
        )
        .await;
    assert_eq!(
        merged["auth"]["injection_location"],
        json!({"header": true, "body": false})
    );
    for body in [
        json!({"auth": {"type": "environment_variable", "injection_location": null}}),
        json!({"auth": {"type": "environment_variable", "injection_location": {"header": false}}}),
        json!({"auth": {"type": "environment_variable", "secret_name": "OTHER"}}),
    ] {
        let msg = api
            .err(
                Method::POST,
                &format!("{creds}/{eid}"),
                Some(body),
                400,
                "invalid_request_error",
            )
            .await;
        assert!(msg.starts_with("auth."), "{msg}");
    }
    let msg = api
        .err(
            Method::POST,
            &format!("{creds}/{oid}"),
            Some(json!({"auth": {"type": "mcp_oauth", "refresh": {"client_id": "other"}}})),
            400,
            "invalid_request_error",
        )
        .await;
    assert!(msg.starts_with("auth.refresh.client_id:"), "{msg}");

    // mcp_oauth_validate: the documented shape, verdict unknown.
    let validation = api
        .ok(
            Method::POST,
            &format!("{creds}/{oid}/mcp_oauth_validate"),
            None,
        )
        .await;
    assert_eq!(validation["type"], "vault_credential_validation");
    assert_eq!(validation["status"], "unknown");
    assert_eq!(validation["has_refresh_token"], true);
    assert_eq!(validation["credential_id"], oid.as_str());
    assert_eq!(validation["vault_id"], vid.as_str());
    api.err(
        Method::POST,
        &format!("{creds}/{bid}/mcp_oauth_validate"),
        None,
        400,
        "invalid_request_error",
    )
    .await;

    // At most 20 active credentials per vault.
    for i in 3..20 {
        api.ok(
            Method::POST,
            &creds,
            Some(json!({"auth": {"type": "static_bearer", "mcp_server_url": format!("https://mcp{i}.example"), "token": secrets[6]}})),
        )
        .await;
    }
    let msg = api
        .err(
            Method::POST,
            &creds,
            Some(json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://mcp20.example", "token": secrets[6]}})),
            400,
            "invalid_request_error",
        )
        .await;
    assert!(msg.contains("at most 20"), "{msg}");

    // Archive purges the secret, frees the slot and the URL, and is read-only.
    let archived = api
        .ok(Method::POST, &format!("{creds}/{bid}/archive"), None)
        .await;
    assert!(archived["archived_at"].is_string());
    api.err(
        Method::POST,
        &format!("{creds}/{bid}"),
        Some(json!({"display_name": "again"})),
        400,
        "invalid_request_error",
    )
    .await;
    let active = api
        .ok(Method::GET, &format!("{creds}?limit=100"), None)
        .await;
    assert_eq!(active["data"].as_array().unwrap().len(), 19);
    let all = api
        .ok(
            Method::GET,
            &format!("{creds}?limit=100&include_archived=true"),
            None,
        )
        .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 20);
    let reused = api
        .ok(
            Method::POST,
            &creds,
            Some(json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://mcp.github.example/mcp", "token": secrets[6]}})),
        )
        .await;
    let deleted = api
        .ok(
            Method::DELETE,
            &format!("{creds}/{}", reused["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        deleted,
        json!({"id": reused["id"], "type": "vault_credential_deleted"})
    );
    api.err(
        Method::DELETE,
        &format!("{creds}/{}", reused["id"].as_str().unwrap()),
        None,
        404,
        "not_found_error",
    )
    .await;

    // ---- tenant isolation ----
    let tenant = api
        .ok(Method::POST, "/v1/tenants", Some(json!({"name": "other"})))
        .await;
    let other = Client::new(
        &platform,
        tenant["api_key"]["key"]
            .as_str()
            .unwrap_or_else(|| tenant["api_key"].as_str().expect("tenant api key")),
    );
    let list = other.ok(Method::GET, "/v1/vaults", None).await;
    assert_eq!(list["data"], json!([]));
    for (method, path, body) in [
        (Method::GET, format!("/v1/vaults/{vid}"), None),
        (
            Method::POST,
            format!("/v1/vaults/{vid}"),
            Some(json!({"display_name": "x"})),
        ),
        (Method::POST, format!("/v1/vaults/{vid}/archive"), None),
        (Method::DELETE, format!("/v1/vaults/{vid}"), None),
        (Method::GET, creds.clone(), None),
        (
            Method::POST,
            creds.clone(),
            Some(
                json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://z.example", "token": "t"}}),
            ),
        ),
        (Method::GET, format!("{creds}/{oid}"), None),
        (
            Method::POST,
            format!("{creds}/{oid}"),
            Some(json!({"display_name": "x"})),
        ),
        (Method::POST, format!("{creds}/{oid}/archive"), None),
        (
            Method::POST,
            format!("{creds}/{oid}/mcp_oauth_validate"),
            None,
        ),
        (Method::DELETE, format!("{creds}/{oid}"), None),
    ] {
        other.err(method, &path, body, 404, "not_found_error").await;
    }
    other
        .err(
            Method::GET,
            "/v1/operator/credentials/keys",
            None,
            403,
            "permission_error",
        )
        .await;
    other
        .err(
            Method::POST,
            "/v1/operator/credentials/reencrypt",
            None,
            403,
            "permission_error",
        )
        .await;
    // Still there for its owner.
    api.ok(Method::GET, &format!("{creds}/{oid}"), None).await;

    // ---- archiving and deleting the vault ----
    let archived_vault = api
        .ok(Method::POST, &format!("/v1/vaults/{vid}/archive"), None)
        .await;
    assert!(archived_vault["archived_at"].is_string());
    let after_archive = api.ok(Method::GET, &format!("{creds}/{oid}"), None).await;
    assert!(
        after_archive["archived_at"].is_string(),
        "{after_archive:#}"
    );
    api.err(
        Method::POST,
        &creds,
        Some(json!({"auth": {"type": "static_bearer", "mcp_server_url": "https://late.example", "token": "t"}})),
        400,
        "invalid_request_error",
    )
    .await;
    api.err(
        Method::POST,
        &format!("/v1/vaults/{vid}"),
        Some(json!({"display_name": "x"})),
        400,
        "invalid_request_error",
    )
    .await;
    let listed = api.ok(Method::GET, "/v1/vaults", None).await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["id"] != vid.as_str())
    );
    let listed = api
        .ok(Method::GET, "/v1/vaults?include_archived=true", None)
        .await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["id"] == vid.as_str())
    );
    let gone = api
        .ok(Method::DELETE, &format!("/v1/vaults/{vid}"), None)
        .await;
    assert_eq!(gone, json!({"id": vid, "type": "vault_deleted"}));
    api.err(
        Method::GET,
        &format!("/v1/vaults/{vid}"),
        None,
        404,
        "not_found_error",
    )
    .await;
    api.err(
        Method::GET,
        &format!("{creds}/{oid}"),
        None,
        404,
        "not_found_error",
    )
    .await;

    // ---- no secret anywhere ----
    let seen = format!("{}{}", api.seen(), other.seen());
    let logs = logs(&platform);
    for secret in &secrets {
        assert!(!seen.contains(secret.as_str()), "{secret} in a response");
        assert!(!logs.contains(secret.as_str()), "{secret} in the logs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn root_secret_rotation_keeps_credentials_usable() {
    let state = tempfile::Builder::new()
        .prefix("openma-rotation-")
        .tempdir()
        .unwrap();
    let api_key = format!("sk-oma-rotation-{}", std::process::id());
    let old_secret = "old-root-secret-0123456789abcdef0123456789abcdef".to_owned();
    let new_secret = "new-root-secret-fedcba9876543210fedcba9876543210".to_owned();
    let token = secret("rotation-access");

    // 1. Store a credential under the old root secret.
    let (vid, cid, old_key) = {
        let platform = Platform::builder()
            .state_dir(state.path())
            .keys(&api_key, &old_secret)
            .start()
            .unwrap();
        let api = Client::new(&platform, &api_key);
        let vault = api
            .ok(
                Method::POST,
                "/v1/vaults",
                Some(json!({"display_name": "rotating"})),
            )
            .await;
        let vid = vault["id"].as_str().unwrap().to_owned();
        let credential = api
            .ok(
                Method::POST,
                &format!("/v1/vaults/{vid}/credentials"),
                Some(json!({"auth": {"type": "mcp_oauth", "mcp_server_url": "https://mcp.example",
                    "access_token": token,
                    "refresh": {"refresh_token": token, "client_id": "c", "token_endpoint": "https://t.example",
                        "token_endpoint_auth": {"type": "none"}}}})),
            )
            .await;
        let keys = api
            .ok(Method::GET, "/v1/operator/credentials/keys", None)
            .await;
        let old_key = keys["current_key_id"].as_str().unwrap().to_owned();
        assert_eq!(old_key.len(), 8);
        assert_eq!(keys["credentials_by_key_id"], json!({old_key.clone(): 1}));
        assert!(!logs(&platform).contains(&token));
        (vid, credential["id"].as_str().unwrap().to_owned(), old_key)
    };
    let validate = format!("/v1/vaults/{vid}/credentials/{cid}/mcp_oauth_validate");

    // 2. Restart with a new root secret: the old ciphertext cannot be opened
    //    until the operator supplies the previous secret, after which it is
    //    re-encrypted under the new key and usable.
    {
        let platform = Platform::builder()
            .state_dir(state.path())
            .keys(&api_key, &new_secret)
            .start()
            .unwrap();
        let api = Client::new(&platform, &api_key);
        // Metadata reads never need the secret.
        api.ok(
            Method::GET,
            &format!("/v1/vaults/{vid}/credentials/{cid}"),
            None,
        )
        .await;
        let (status, _, body) = api.call(Method::POST, &validate, None).await;
        assert_eq!(status, 500, "{body:#}");
        let keys = api
            .ok(Method::GET, "/v1/operator/credentials/keys", None)
            .await;
        let new_key = keys["current_key_id"].as_str().unwrap().to_owned();
        assert_ne!(new_key, old_key);
        assert_eq!(keys["credentials_by_key_id"], json!({old_key.clone(): 1}));

        // A wrong previous secret re-encrypts nothing.
        let report = api
            .ok(
                Method::POST,
                "/v1/operator/credentials/reencrypt",
                Some(json!({"previous_root_secret": "not-the-old-secret-but-long-enough-0000"})),
            )
            .await;
        assert_eq!(report["reencrypted"], 0);
        assert_eq!(report["undecryptable"], 1);
        api.err(
            Method::POST,
            "/v1/operator/credentials/reencrypt",
            Some(json!({"previous_root_secret": "short"})),
            400,
            "invalid_request_error",
        )
        .await;

        let report = api
            .ok(
                Method::POST,
                "/v1/operator/credentials/reencrypt",
                Some(json!({"previous_root_secret": old_secret})),
            )
            .await;
        assert_eq!(report["type"], "credential_reencryption");
        assert_eq!(report["current_key_id"], new_key.as_str());
        assert_eq!(report["previous_key_id"], old_key.as_str());
        assert_eq!(report["reencrypted"], 1, "{report:#}");
        assert_eq!(report["undecryptable"], 0);
        let keys = api
            .ok(Method::GET, "/v1/operator/credentials/keys", None)
            .await;
        assert_eq!(keys["credentials_by_key_id"], json!({new_key.clone(): 1}));
        let validation = api.ok(Method::POST, &validate, None).await;
        assert_eq!(validation["has_refresh_token"], true);
        // Idempotent: nothing left to do.
        let report = api
            .ok(
                Method::POST,
                "/v1/operator/credentials/reencrypt",
                Some(json!({})),
            )
            .await;
        assert_eq!(report["reencrypted"], 0);
        assert_eq!(report["undecryptable"], 0);
        assert!(!api.seen().contains(&token));
        assert!(!api.seen().contains(&old_secret));
        assert!(!logs(&platform).contains(&token));
        assert!(!logs(&platform).contains(&old_secret));
    }

    // 3. Without the previous secret the credential still works.
    let platform = Platform::builder()
        .state_dir(state.path())
        .keys(&api_key, &new_secret)
        .start()
        .unwrap();
    let api = Client::new(&platform, &api_key);
    let validation = api.ok(Method::POST, &validate, None).await;
    assert_eq!(validation["status"], "unknown");
    assert_eq!(validation["has_refresh_token"], true);
    let keys = api
        .ok(Method::GET, "/v1/operator/credentials/keys", None)
        .await;
    assert_eq!(keys["previous_key_id"], Value::Null);
    assert!(!logs(&platform).contains(&token));
}

/// The rotation path through `PLATFORM_ROOT_SECRET_PREVIOUS`: old ciphertext
/// opens and is re-sealed on use.
#[tokio::test(flavor = "multi_thread")]
async fn previous_root_secret_reseals_credentials_on_use() {
    let state = tempfile::Builder::new()
        .prefix("openma-rotation-env-")
        .tempdir()
        .unwrap();
    let api_key = format!("sk-oma-rotation-env-{}", std::process::id());
    let old_secret = "old-root-secret-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let new_secret = "new-root-secret-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let (validate, old_key) = {
        let platform = Platform::builder()
            .state_dir(state.path())
            .keys(&api_key, old_secret)
            .start()
            .unwrap();
        let api = Client::new(&platform, &api_key);
        let vault = api
            .ok(
                Method::POST,
                "/v1/vaults",
                Some(json!({"display_name": "v"})),
            )
            .await;
        let vid = vault["id"].as_str().unwrap();
        let credential = api
            .ok(
                Method::POST,
                &format!("/v1/vaults/{vid}/credentials"),
                Some(json!({"auth": {"type": "mcp_oauth", "mcp_server_url": "https://m.example", "access_token": "a"}})),
            )
            .await;
        let keys = api
            .ok(Method::GET, "/v1/operator/credentials/keys", None)
            .await;
        (
            format!(
                "/v1/vaults/{vid}/credentials/{}/mcp_oauth_validate",
                credential["id"].as_str().unwrap()
            ),
            keys["current_key_id"].as_str().unwrap().to_owned(),
        )
    };
    {
        let platform = Platform::builder()
            .state_dir(state.path())
            .keys(&api_key, new_secret)
            .env("PLATFORM_ROOT_SECRET_PREVIOUS", old_secret)
            .start()
            .unwrap();
        let api = Client::new(&platform, &api_key);
        let keys = api
            .ok(Method::GET, "/v1/operator/credentials/keys", None)
            .await;
        assert_eq!(keys["previous_key_id"], old_key.as_str(), "{keys:#}");
        api.ok(Method::POST, &validate, None).await;
        let keys = api
            .ok(Method::GET, "/v1/operator/credentials/keys", None)
            .await;
        let new_key = keys["current_key_id"].as_str().unwrap();
        assert_eq!(keys["credentials_by_key_id"], json!({new_key: 1}));
    }
    let platform = Platform::builder()
        .state_dir(state.path())
        .keys(&api_key, new_secret)
        .start()
        .unwrap();
    Client::new(&platform, &api_key)
        .ok(Method::POST, &validate, None)
        .await;
    drop(platform);

    // A previous secret too short to be one fails the health check, so the
    // platform never reports ready; its output names the setting.
    let err = Platform::builder()
        .env("PLATFORM_ROOT_SECRET_PREVIOUS", "short")
        .start()
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("PLATFORM_ROOT_SECRET_PREVIOUS is set but too short"),
        "{err:#}"
    );
}
