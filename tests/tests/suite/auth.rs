//! Authentication, tenants and API keys, over raw HTTP.

use openma_e2e::Platform;
use serde_json::Value;
use serde_json::json;

struct Api<'a> {
    platform: &'a Platform,
    client: reqwest::Client,
}

impl<'a> Api<'a> {
    fn new(platform: &'a Platform) -> Self {
        Self {
            platform,
            client: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .client
            .request(method, self.platform.url(path))
            .header("anthropic-version", "2023-06-01");
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }
}

fn assert_error(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
    code: u16,
    kind: &str,
) {
    assert_eq!(status, code, "{body:#}");
    assert_eq!(body["type"], "error", "{body:#}");
    assert_eq!(body["error"]["type"], kind, "{body:#}");
    let request_id = body["request_id"].as_str().expect("request_id");
    assert!(request_id.starts_with("req_"), "{request_id}");
    assert_eq!(headers["request-id"], request_id);
    assert_eq!(headers["x-should-retry"], "false");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_tenants_and_isolation() {
    use reqwest::Method;
    let platform = Platform::start().unwrap();
    let api = Api::new(&platform);
    let operator = platform.api_key();

    // No key, a wrong key: 401 in the error envelope.
    let (s, h, b) = api.call(Method::GET, "/v1/api_keys", None, None).await;
    assert_error(s, &h, &b, 401, "authentication_error");
    let (s, h, b) = api
        .call(Method::GET, "/v1/api_keys", Some("sk-oma-wrong"), None)
        .await;
    assert_error(s, &h, &b, 401, "authentication_error");

    // Bearer works as well as x-api-key, and any anthropic-version is accepted.
    let resp = api
        .client
        .get(platform.url("/v1/api_keys"))
        .header("authorization", format!("Bearer {operator}"))
        .header("anthropic-version", "2099-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );

    // The operator creates a tenant; its first key is returned once.
    let (s, _, tenant) = api
        .call(
            Method::POST,
            "/v1/tenants",
            Some(operator),
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(s, 200, "{tenant:#}");
    assert_eq!(tenant["type"], "tenant");
    assert!(tenant["id"].as_str().unwrap().starts_with("tenant_"));
    let acme_key = tenant["api_key"]["key"].as_str().unwrap().to_owned();
    assert!(acme_key.starts_with("sk-oma-"));
    assert_eq!(
        tenant["api_key"]["key_hint"],
        acme_key[acme_key.len() - 4..]
    );

    // A tenant's key cannot create tenants.
    let (s, h, b) = api
        .call(
            Method::POST,
            "/v1/tenants",
            Some(&acme_key),
            Some(json!({"name": "evil"})),
        )
        .await;
    assert_error(s, &h, &b, 403, "permission_error");

    // The tenant sees its own key, never the key itself.
    let (s, _, page) = api
        .call(Method::GET, "/v1/api_keys", Some(&acme_key), None)
        .await;
    assert_eq!(s, 200);
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], tenant["api_key"]["id"]);
    assert!(
        data[0].get("key").is_none(),
        "a listed key must not carry the key"
    );
    assert!(page["next_page"].is_null());
    assert!(!page.to_string().contains(&acme_key));

    // The operator's tenant does not see acme's key; deleting it is a 404, not a 403.
    let (_, _, page) = api
        .call(Method::GET, "/v1/api_keys", Some(operator), None)
        .await;
    assert!(
        !page
            .to_string()
            .contains(tenant["api_key"]["id"].as_str().unwrap())
    );
    let acme_key_id = tenant["api_key"]["id"].as_str().unwrap().to_owned();
    let (s, h, b) = api
        .call(
            Method::DELETE,
            &format!("/v1/api_keys/{acme_key_id}"),
            Some(operator),
            None,
        )
        .await;
    assert_error(s, &h, &b, 404, "not_found_error");

    // Pagination over more keys.
    let mut created = vec![acme_key_id.clone()];
    for n in 0..3 {
        let (s, _, key) = api
            .call(
                Method::POST,
                "/v1/api_keys",
                Some(&acme_key),
                Some(json!({"name": format!("k{n}")})),
            )
            .await;
        assert_eq!(s, 200, "{key:#}");
        assert_eq!(key["name"], format!("k{n}"));
        created.push(key["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/api_keys?limit=3".to_owned();
    loop {
        let (s, _, page) = api.call(Method::GET, &path, Some(&acme_key), None).await;
        assert_eq!(s, 200, "{page:#}");
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["id"].as_str().unwrap().to_owned()),
        );
        match page["next_page"].as_str() {
            Some(cursor) => path = format!("/v1/api_keys?limit=3&page={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, created, "every key once, oldest first");

    // Deleting a key revokes it.
    let (s, _, deleted) = api
        .call(
            Method::DELETE,
            &format!("/v1/api_keys/{}", created[1]),
            Some(&acme_key),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        deleted,
        json!({"id": created[1], "type": "api_key_deleted"})
    );
    let (s, h, b) = api
        .call(
            Method::DELETE,
            &format!("/v1/api_keys/{}", created[1]),
            Some(&acme_key),
            None,
        )
        .await;
    assert_error(s, &h, &b, 404, "not_found_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_errors() {
    use reqwest::Method;
    let platform = Platform::start().unwrap();
    let api = Api::new(&platform);
    let key = platform.api_key();

    let (s, h, b) = api
        .call(Method::GET, "/v1/api_keys?limit=0", Some(key), None)
        .await;
    assert_error(s, &h, &b, 400, "invalid_request_error");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("limit:"),
        "{b:#}"
    );
    let (s, h, b) = api
        .call(Method::GET, "/v1/api_keys?page=garbage", Some(key), None)
        .await;
    assert_error(s, &h, &b, 400, "invalid_request_error");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("page"),
        "{b:#}"
    );

    let (s, h, b) = api
        .call(
            Method::POST,
            "/v1/tenants",
            Some(key),
            Some(json!({"name": 42})),
        )
        .await;
    assert_error(s, &h, &b, 400, "invalid_request_error");
    assert_eq!(b["error"]["message"], "name: expected a string");
    let (s, h, b) = api
        .call(Method::POST, "/v1/tenants", Some(key), Some(json!({})))
        .await;
    assert_error(s, &h, &b, 400, "invalid_request_error");
    assert_eq!(b["error"]["message"], "name: required");

    let resp = api
        .client
        .post(platform.url("/v1/api_keys"))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let huge = vec![b' '; 32 * 1024 * 1024 + 1];
    let resp = api
        .client
        .post(platform.url("/v1/api_keys"))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "request_too_large");

    let (s, h, b) = api
        .call(Method::GET, "/v1/nothing-here", Some(key), None)
        .await;
    assert_error(s, &h, &b, 404, "not_found_error");

    // Nothing above broke the platform.
    let (s, _, _) = api.call(Method::GET, "/health", None, None).await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_record_their_last_use_expire_and_stop_at_once_when_revoked() {
    use reqwest::Method;
    let platform = Platform::start().unwrap();
    let api = Api::new(&platform);
    let operator = platform.api_key();
    let (s, _, tenant) = api
        .call(
            Method::POST,
            "/v1/tenants",
            Some(operator),
            Some(json!({"name": "keyring"})),
        )
        .await;
    assert_eq!(s, 200, "{tenant:#}");
    let key = tenant["api_key"]["key"].as_str().unwrap().to_owned();
    assert_eq!(tenant["api_key"]["last_used_at"], Value::Null);
    assert_eq!(tenant["api_key"]["expires_at"], Value::Null);

    // Using the key records when, to the minute: two uses, one write.
    let started = chrono_now_ms();
    for _ in 0..2 {
        let (s, _, _) = api
            .call(Method::GET, "/v1/api_keys", Some(&key), None)
            .await;
        assert_eq!(s, 200);
    }
    let (_, _, page) = api
        .call(Method::GET, "/v1/api_keys", Some(&key), None)
        .await;
    let listed = &page["data"][0];
    let used = listed["last_used_at"].as_str().expect("last_used_at");
    let used_ms = parse_ms(used);
    assert!(
        used_ms >= started - 1_000 && used_ms <= chrono_now_ms() + 1_000,
        "{used}"
    );

    // A key that expires works until then, and not after.
    let expires = format_ms(chrono_now_ms() + 2_000);
    let (s, _, short) = api
        .call(
            Method::POST,
            "/v1/api_keys",
            Some(&key),
            Some(json!({"name": "short-lived", "expires_at": expires})),
        )
        .await;
    assert_eq!(s, 200, "{short:#}");
    assert_eq!(short["expires_at"], expires);
    let short_key = short["key"].as_str().unwrap().to_owned();
    let (s, _, _) = api
        .call(Method::GET, "/v1/agents", Some(&short_key), None)
        .await;
    assert_eq!(s, 200);
    let wait = (parse_ms(&expires) - chrono_now_ms()).max(0) as u64 + 200;
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    let (s, h, b) = api
        .call(Method::GET, "/v1/agents", Some(&short_key), None)
        .await;
    assert_error(s, &h, &b, 401, "authentication_error");

    // A field keys do not have is refused, not ignored.
    let (s, h, b) = api
        .call(
            Method::POST,
            "/v1/api_keys",
            Some(&key),
            Some(json!({"name": "scoped", "scopes": ["read"]})),
        )
        .await;
    assert_error(s, &h, &b, 400, "invalid_request_error");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("scopes:"),
        "{b:#}"
    );

    // An expiry in the past, or not a time, is refused and nothing is made.
    for bad in [json!("2020-01-01T00:00:00Z"), json!("tomorrow"), json!(7)] {
        let (s, h, b) = api
            .call(
                Method::POST,
                "/v1/api_keys",
                Some(&key),
                Some(json!({"expires_at": bad})),
            )
            .await;
        assert_error(s, &h, &b, 400, "invalid_request_error");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("expires_at"),
            "{b:#}"
        );
    }
    let (_, _, page) = api
        .call(Method::GET, "/v1/api_keys", Some(&key), None)
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2, "{page:#}");

    // Revocation takes effect on the next request.
    let id = tenant["api_key"]["id"].as_str().unwrap();
    let (s, _, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/api_keys/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, h, b) = api.call(Method::GET, "/v1/agents", Some(&key), None).await;
    assert_error(s, &h, &b, 401, "authentication_error");
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn parse_ms(at: &str) -> i64 {
    openma_core::wire::Timestamp::parse_rfc3339(at)
        .unwrap_or_else(|| panic!("not a timestamp: {at}"))
        .0
}

fn format_ms(ms: i64) -> String {
    openma_core::wire::Timestamp(ms).to_rfc3339()
}
