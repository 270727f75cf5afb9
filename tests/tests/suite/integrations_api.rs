//! `/v1/integrations` on the real platform: installing Slack, Linear and
//! GitHub workspaces for a tenant's agent (the access token sealed, shown
//! nowhere), one install per workspace, tenant isolation, the outbox's
//! listing and retry, and the service token other workers call main with.

use openma_e2e::Api;
use openma_e2e::Platform;
use openma_e2e::unique;
use reqwest::Method;
use serde_json::Value;
use serde_json::json;

use super::sessions::agent;

const SLACK_TOKEN: &str = "xoxb-integration-secret-0001";
const LINEAR_TOKEN: &str = "lin_oauth_integration_secret_0002";
const GITHUB_TOKEN: &str = "ghs_integration_secret_0003";

/// An environment and an agent of `api`'s tenant: their ids.
async fn agent_and_environment(api: &Api) -> (String, String) {
    let (environment, agent) = api.env_and_agent(agent("integrations")).await.unwrap();
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    (id(&agent), id(&environment))
}

/// Asserts that `answer` is the error envelope with `status` and `kind`;
/// returns its message.
fn assert_error(status: u16, answer: &Value, expected: u16, kind: &str) -> String {
    assert_eq!(status, expected, "{answer}");
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["error"]["type"], kind, "{answer}");
    answer["error"]["message"].as_str().unwrap().to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The service token of a deployment whose root secret is `root_secret`,
/// derived as the platform's workers derive it.
fn service_token(root_secret: &str) -> String {
    openma_core::crypto::hmac_sha256_hex(root_secret.as_bytes(), b"openma/service-token/v1")
}

/// `GET path` with only the service headers (no API key).
async fn service_get(platform: &Platform, path: &str, token: &str, tenant: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(platform.url(path))
        .header("x-openma-service", token)
        .header("x-openma-tenant", tenant)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn integrations_are_installed_listed_and_deleted_and_never_show_their_token() {
    let platform = Platform::start().unwrap();
    let operator = Api::new(&platform);
    let (api, _) = operator
        .new_tenant(&format!("intg-{}", unique()))
        .await
        .unwrap();
    let (agent_id, environment_id) = agent_and_environment(&api).await;
    let vault = api
        .ok(
            Method::POST,
            "/v1/vaults",
            Some(json!({"display_name": "intg"})),
        )
        .await
        .unwrap();
    let vault_id = vault["id"].as_str().unwrap().to_owned();
    let mut shown = Vec::new();

    // One install of each provider.
    let team = format!("T{}", unique().replace('-', ""));
    let slack = api
        .ok(
            Method::POST,
            "/v1/integrations",
            Some(
                json!({"provider": "slack", "external_id": team, "access_token": SLACK_TOKEN,
                        "agent_id": agent_id, "environment_id": environment_id,
                        "vault_ids": [vault_id], "name": "our slack",
                        "metadata": {"team": "support"}}),
            ),
        )
        .await
        .unwrap();
    shown.push(slack.to_string());
    assert!(
        slack["id"].as_str().unwrap().starts_with("intg_"),
        "{slack}"
    );
    assert_eq!(slack["type"], "integration");
    assert_eq!(slack["provider"], "slack");
    assert_eq!(slack["external_id"], team.as_str());
    assert_eq!(slack["agent_id"], agent_id.as_str());
    assert_eq!(slack["environment_id"], environment_id.as_str());
    assert_eq!(slack["vault_ids"], json!([vault_id]));
    assert_eq!(slack["bot_login"], Value::Null);
    assert_eq!(slack["name"], "our slack");
    assert_eq!(slack["metadata"], json!({"team": "support"}));
    assert_eq!(slack["webhook_path"], "/integrations/slack/events");
    assert!(slack["created_at"].as_str().is_some() && slack["updated_at"].as_str().is_some());

    let org = format!("org-{}", unique());
    let linear = api
        .ok(
            Method::POST,
            "/v1/integrations",
            Some(
                json!({"provider": "linear", "external_id": org, "access_token": LINEAR_TOKEN,
                        "agent_id": agent_id, "environment_id": environment_id}),
            ),
        )
        .await
        .unwrap();
    shown.push(linear.to_string());
    assert_eq!(linear["webhook_path"], "/integrations/linear/webhook");
    assert_eq!(linear["vault_ids"], json!([]));
    assert_eq!(linear["metadata"], json!({}));

    let repo = format!("acme/app-{}", unique());
    let github_body = json!({"provider": "github", "external_id": repo,
        "access_token": GITHUB_TOKEN, "agent_id": agent_id,
        "environment_id": environment_id, "bot_login": "acme-bot"});
    let github = api
        .ok(Method::POST, "/v1/integrations", Some(github_body.clone()))
        .await
        .unwrap();
    shown.push(github.to_string());
    assert_eq!(github["webhook_path"], "/integrations/github/webhook");
    assert_eq!(github["bot_login"], "acme-bot");
    let github_id = github["id"].as_str().unwrap().to_owned();

    // A workspace is installed once: again, by anyone, is a conflict.
    let (status, answer) = api
        .call(Method::POST, "/v1/integrations", Some(github_body.clone()))
        .await
        .unwrap();
    shown.push(answer.to_string());
    let message = assert_error(status, &answer, 409, "conflict_error");
    assert!(message.contains(&repo), "{message}");

    // Bad input is a 4xx that names the field, never a 5xx.
    let refused = [
        (
            json!({"provider": "github", "external_id": "acme/other", "access_token": GITHUB_TOKEN,
                   "agent_id": agent_id, "environment_id": environment_id}),
            400,
            "bot_login",
        ),
        (
            json!({"provider": "github", "external_id": "not-a-repo", "access_token": GITHUB_TOKEN,
                   "agent_id": agent_id, "environment_id": environment_id, "bot_login": "b"}),
            400,
            "external_id",
        ),
        (
            json!({"provider": "gitlab", "external_id": "x", "access_token": GITHUB_TOKEN,
                   "agent_id": agent_id, "environment_id": environment_id}),
            400,
            "provider",
        ),
        (
            json!({"provider": "slack", "external_id": "T1", "access_token": SLACK_TOKEN,
                   "agent_id": agent_id, "environment_id": environment_id, "token": "x"}),
            400,
            "token",
        ),
        (
            json!({"provider": "slack", "external_id": "T2", "access_token": SLACK_TOKEN,
                   "agent_id": "agent_nope", "environment_id": environment_id}),
            404,
            "agent_id",
        ),
        (
            json!({"provider": "slack", "external_id": "T3", "access_token": SLACK_TOKEN,
                   "agent_id": agent_id, "environment_id": "env_nope"}),
            404,
            "environment_id",
        ),
        (
            json!({"provider": "slack", "external_id": "T4", "access_token": SLACK_TOKEN,
                   "agent_id": agent_id, "environment_id": environment_id,
                   "vault_ids": [vault_id, "vlt_nope"]}),
            404,
            "vault_ids[1]",
        ),
    ];
    for (body, expected, field) in refused {
        let (status, answer) = api
            .call(Method::POST, "/v1/integrations", Some(body.clone()))
            .await
            .unwrap();
        shown.push(answer.to_string());
        let kind = if expected == 404 {
            "not_found_error"
        } else {
            "invalid_request_error"
        };
        let message = assert_error(status, &answer, expected, kind);
        assert!(message.starts_with(field), "{body}: {message}");
    }

    // Listing, paged oldest first; retrieving.
    let first = api
        .ok(Method::GET, "/v1/integrations?limit=2", None)
        .await
        .unwrap();
    shown.push(first.to_string());
    let slack_id = slack["id"].as_str().unwrap().to_owned();
    let linear_id = linear["id"].as_str().unwrap().to_owned();
    assert_eq!(ids(&first), vec![slack_id.clone(), linear_id.clone()]);
    let next = first["next_page"].as_str().unwrap();
    let rest = api
        .ok(Method::GET, &format!("/v1/integrations?page={next}"), None)
        .await
        .unwrap();
    assert_eq!(ids(&rest), vec![github_id.clone()]);
    assert_eq!(rest["next_page"], Value::Null);
    let (status, answer) = api
        .call(Method::GET, "/v1/integrations?provider=slack", None)
        .await
        .unwrap();
    assert_error(status, &answer, 400, "invalid_request_error");
    let got = api
        .ok(Method::GET, &format!("/v1/integrations/{github_id}"), None)
        .await
        .unwrap();
    shown.push(got.to_string());
    assert_eq!(got, github);

    // Another tenant sees none of it, cannot touch it, and cannot point an
    // integration at this tenant's agent.
    let (other, _) = operator
        .new_tenant(&format!("intg-other-{}", unique()))
        .await
        .unwrap();
    let listed = other
        .ok(Method::GET, "/v1/integrations", None)
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
    for method in [Method::GET, Method::DELETE] {
        let (status, answer) = other
            .call(method, &format!("/v1/integrations/{github_id}"), None)
            .await
            .unwrap();
        assert_error(status, &answer, 404, "not_found_error");
    }
    let (other_agent, other_environment) = agent_and_environment(&other).await;
    let (status, answer) = other
        .call(
            Method::POST,
            "/v1/integrations",
            Some(
                json!({"provider": "slack", "external_id": "T5", "access_token": SLACK_TOKEN,
                        "agent_id": agent_id, "environment_id": other_environment}),
            ),
        )
        .await
        .unwrap();
    assert_error(status, &answer, 404, "not_found_error");
    // The workspace is taken across the deployment.
    let mut taken = github_body.clone();
    taken["agent_id"] = json!(other_agent);
    taken["environment_id"] = json!(other_environment);
    let (status, answer) = other
        .call(Method::POST, "/v1/integrations", Some(taken))
        .await
        .unwrap();
    assert_error(status, &answer, 409, "conflict_error");

    // Deleting.
    let deleted = api
        .ok(
            Method::DELETE,
            &format!("/v1/integrations/{github_id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({"id": github_id, "type": "integration_deleted"})
    );
    for method in [Method::GET, Method::DELETE] {
        let (status, answer) = api
            .call(method, &format!("/v1/integrations/{github_id}"), None)
            .await
            .unwrap();
        assert_error(status, &answer, 404, "not_found_error");
    }
    let (status, answer) = api
        .call(Method::GET, "/v1/integrations/intg_unknown", None)
        .await
        .unwrap();
    assert_error(status, &answer, 404, "not_found_error");
    let listed = api.ok(Method::GET, "/v1/integrations", None).await.unwrap();
    assert_eq!(ids(&listed), vec![slack_id.clone(), linear_id]);
    // Once deleted, the workspace can be installed again.
    let again = api
        .ok(Method::POST, "/v1/integrations", Some(github_body))
        .await
        .unwrap();
    shown.push(again.to_string());
    assert_ne!(again["id"], github_id.as_str());

    // The audit trail records installs and deletions.
    let audit = api
        .ok(Method::GET, "/v1/audit_events?limit=100", None)
        .await
        .unwrap();
    shown.push(audit.to_string());
    let actions: Vec<(String, String)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["object_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(actions.contains(&("integration.created".to_owned(), slack_id)));
    assert!(actions.contains(&("integration.deleted".to_owned(), github_id)));

    // The tokens show nowhere: not in an answer, not in the platform's logs.
    shown.push(platform.output());
    for text in &shown {
        for token in [SLACK_TOKEN, LINEAR_TOKEN, GITHUB_TOKEN] {
            assert!(!text.contains(token), "a token shows in {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outbox_lists_by_status_and_service_calls_act_for_their_tenant_only_with_the_token() {
    let platform = Platform::start().unwrap();
    let operator = Api::new(&platform);
    let (api, tenant) = operator
        .new_tenant(&format!("outbox-{}", unique()))
        .await
        .unwrap();
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();

    // No reply has been queued: every status lists nothing.
    for query in [
        "",
        "?status=pending",
        "?status=sent",
        "?status=dead&limit=5",
    ] {
        let page = api
            .ok(
                Method::GET,
                &format!("/v1/integrations/deliveries{query}"),
                None,
            )
            .await
            .unwrap();
        assert_eq!(page["data"], json!([]), "{query}: {page}");
        assert_eq!(page["next_page"], Value::Null, "{query}: {page}");
    }
    for query in ["?status=failed", "?status=", "?limit=0", "?kind=response"] {
        let (status, answer) = api
            .call(
                Method::GET,
                &format!("/v1/integrations/deliveries{query}"),
                None,
            )
            .await
            .unwrap();
        assert_error(status, &answer, 400, "invalid_request_error");
    }
    for (method, path) in [
        (
            Method::POST,
            "/v1/integrations/deliveries/idlv_unknown/retry",
        ),
        (Method::GET, "/v1/integrations/deliveries/idlv_unknown"),
    ] {
        let (status, answer) = api.call(method, path, None).await.unwrap();
        let message = assert_error(status, &answer, 404, "not_found_error");
        assert!(message.contains("idlv_unknown"), "{message}");
    }

    // The service token, derived from the root secret, acts for the named
    // tenant with no API key.
    let token = service_token(platform.root_secret());
    let (agent_id, environment_id) = agent_and_environment(&api).await;
    api.ok(
        Method::POST,
        "/v1/integrations",
        Some(
            json!({"provider": "linear", "external_id": format!("org-{}", unique()),
                    "access_token": LINEAR_TOKEN, "agent_id": agent_id,
                    "environment_id": environment_id}),
        ),
    )
    .await
    .unwrap();
    let (status, listed) = service_get(&platform, "/v1/integrations", &token, &tenant_id).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    let (status, listed) = service_get(&platform, "/v1/integrations", &token, "default").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"], json!([]), "the default tenant has none");

    // A wrong token, an unknown tenant or no tenant is refused like a bad key.
    let wrong = service_token("not-this-deployments-root-secret-at-all");
    for (token, tenant) in [
        (wrong.as_str(), tenant_id.as_str()),
        ("", tenant_id.as_str()),
        (token.as_str(), "tenant_unknown"),
        (token.as_str(), ""),
    ] {
        let (status, answer) = service_get(&platform, "/v1/integrations", token, tenant).await;
        assert_error(status, &answer, 401, "authentication_error");
    }
    // The service header is decisive: a valid API key beside a wrong
    // service token does not get through.
    let resp = reqwest::Client::new()
        .get(platform.url("/v1/integrations"))
        .header("x-api-key", platform.api_key())
        .header("x-openma-service", &wrong)
        .header("x-openma-tenant", &tenant_id)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        !platform.output().contains(&token),
        "the service token is logged"
    );
}
