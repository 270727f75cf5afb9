//! `/v1/integrations`: a provider workspace (Slack team, Linear
//! organization, GitHub repository) bound to one of the tenant's agents, and
//! the outbox of replies the integrations worker posts back. The access
//! token is sealed on the way in and never returned; webhooks themselves go
//! to the integrations worker (`/integrations/*`).

use std::collections::BTreeMap;

use openma_cloudflare::store::integrations::DEAD;
use openma_cloudflare::store::integrations::DeliveryRow;
use openma_cloudflare::store::integrations::Inserted;
use openma_cloudflare::store::integrations::IntegrationRow;
use openma_cloudflare::store::integrations::PENDING;
use openma_cloudflare::store::integrations::SENT;
use openma_cloudflare::store::integrations::STATUSES;
use openma_cloudflare::store::integrations::{self as store};
use openma_core::crypto::NONCE_LEN;
use openma_core::integrations::Provider;
use openma_core::integrations::token_aad;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Timestamp;
use openma_core::wire::ValidationError;
use serde_json::Map;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::Response;

use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::handlers::pages::after;
use crate::handlers::pages::page;
use crate::request::Query;
use crate::request::now;

/// The most vaults one integration's sessions may get.
const MAX_VAULTS: usize = 20;

/// Where the integrations worker is woken to drain a thread's outbox.
const KICK_URL: &str = "https://integrations/internal/threads/kick";

/// A route under `/v1/integrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IntegrationRoute {
    /// `POST /v1/integrations`.
    Create,
    /// `GET /v1/integrations`.
    List,
    /// `GET /v1/integrations/{id}`.
    Get(String),
    /// `DELETE /v1/integrations/{id}`.
    Delete(String),
    /// `GET /v1/integrations/deliveries`.
    ListDeliveries,
    /// `GET /v1/integrations/deliveries/{id}`.
    GetDelivery(String),
    /// `POST /v1/integrations/deliveries/{id}/retry`.
    RetryDelivery(String),
}

impl IntegrationRoute {
    /// Parses the segments after `/v1/integrations`; `deliveries` is never
    /// an integration's id.
    pub(crate) fn parse(method: &Method, rest: &[&str]) -> Option<Self> {
        let s = |s: &str| s.to_owned();
        Some(match (method, rest) {
            (Method::Post, []) => Self::Create,
            (Method::Get, []) => Self::List,
            (Method::Get, ["deliveries"]) => Self::ListDeliveries,
            (Method::Get, ["deliveries", d]) => Self::GetDelivery(s(d)),
            (Method::Post, ["deliveries", d, "retry"]) => Self::RetryDelivery(s(d)),
            (Method::Get, [i]) if *i != "deliveries" => Self::Get(s(i)),
            (Method::Delete, [i]) if *i != "deliveries" => Self::Delete(s(i)),
            _ => return None,
        })
    }
}

/// Serves an integration route.
pub(crate) async fn serve(
    route: IntegrationRoute,
    mut req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    let query = Query::of(&req);
    let value = match route {
        IntegrationRoute::Create => {
            let body = crate::request::json_body(&mut req).await?;
            create(env, caller, &body).await?
        }
        IntegrationRoute::List => list(env, caller, &query).await?,
        IntegrationRoute::Get(id) => object(&found(env, caller, &id).await?),
        IntegrationRoute::Delete(id) => delete(env, caller, &id).await?,
        IntegrationRoute::ListDeliveries => list_deliveries(env, caller, &query).await?,
        IntegrationRoute::GetDelivery(id) => delivery_object(&delivery(env, caller, &id).await?),
        IntegrationRoute::RetryDelivery(id) => retry(env, caller, &id).await?,
    };
    Ok(openma_cloudflare::json(200, &value)?)
}

// ---- the integration object and its validation --------------------------

/// An integration as the API returns it: never its token.
fn object(row: &IntegrationRow) -> Value {
    json!({
        "id": row.id,
        "type": "integration",
        "provider": row.provider,
        "external_id": row.external_id,
        "agent_id": row.agent_id,
        "environment_id": row.environment_id,
        "vault_ids": row.vault_ids,
        "bot_login": row.bot_login,
        "name": row.name,
        "metadata": row.metadata,
        "webhook_path": Provider::parse(&row.provider).map(Provider::webhook_path),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

fn field(name: &str, message: &str) -> ApiError {
    ApiError::invalid(format!("{name}: {message}"))
}

/// The fields of `POST /v1/integrations` once checked, before any lookup.
#[derive(Debug, PartialEq, Eq)]
struct CreateParams {
    provider: Provider,
    external_id: String,
    access_token: String,
    agent_id: String,
    environment_id: String,
    vault_ids: Vec<String>,
    bot_login: Option<String>,
    name: Option<String>,
    metadata: BTreeMap<String, String>,
}

const CREATE_FIELDS: [&str; 9] = [
    "provider",
    "external_id",
    "access_token",
    "agent_id",
    "environment_id",
    "vault_ids",
    "bot_login",
    "name",
    "metadata",
];

/// A required string field of `body`.
fn required<'a>(body: &'a Map<String, Value>, name: &str) -> ApiResult<&'a str> {
    match body.get(name) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => Err(field(name, "required")),
        Some(_) => Err(field(name, "expected a string")),
    }
}

/// An optional string field of `body` of 1 to `max` characters.
fn optional(body: &Map<String, Value>, name: &str, max: usize) -> ApiResult<Option<String>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.trim().is_empty() && text.chars().count() <= max => {
            Ok(Some(text.clone()))
        }
        Some(Value::String(_)) => Err(field(name, &format!("must be 1 to {max} characters"))),
        Some(_) => Err(field(name, "expected a string")),
    }
}

/// Whether `text` is one GitHub name: letters, digits, `-`, `_` and `.`.
fn github_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 100
        && text != "."
        && text != ".."
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The workspace id: a GitHub repository's `owner/name`, or a Slack team's
/// or Linear organization's id.
fn external_id_of(provider: Provider, text: &str) -> ApiResult<String> {
    match provider {
        Provider::Github => match text.split_once('/') {
            Some((owner, name)) if github_name(owner) && github_name(name) => Ok(text.to_owned()),
            _ => Err(field(
                "external_id",
                "expected the repository as owner/name",
            )),
        },
        Provider::Slack | Provider::Linear => {
            if text.is_empty()
                || text.len() > 256
                || text.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                Err(field(
                    "external_id",
                    "expected the workspace id: 1 to 256 characters, no spaces",
                ))
            } else {
                Ok(text.to_owned())
            }
        }
    }
}

/// Checks a create body's fields and limits (nothing is looked up).
fn create_params(body: &Value) -> ApiResult<CreateParams> {
    let body = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("the body must be a JSON object"))?;
    if let Some(key) = body.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
        return Err(field(key, "unknown field"));
    }
    let provider = Provider::parse(required(body, "provider")?)
        .ok_or_else(|| field("provider", "expected slack, linear or github"))?;
    let external_id = external_id_of(provider, required(body, "external_id")?)?;
    let access_token = required(body, "access_token")?.trim();
    if access_token.is_empty() || access_token.len() > 4096 {
        return Err(field("access_token", "must be 1 to 4096 characters"));
    }
    let agent_id = required(body, "agent_id")?.to_owned();
    let environment_id = required(body, "environment_id")?.to_owned();
    let vault_ids: Vec<String> = match body.get("vault_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|_| field("vault_ids", "expected an array of strings"))?,
    };
    if vault_ids.len() > MAX_VAULTS {
        return Err(field("vault_ids", &format!("at most {MAX_VAULTS} vaults")));
    }
    let bot_login = optional(body, "bot_login", 100)?;
    if provider == Provider::Github && bot_login.is_none() {
        return Err(field(
            "bot_login",
            "required for github: the login the replies are posted as",
        ));
    }
    let name = optional(body, "name", 256)?;
    let metadata: BTreeMap<String, String> = match body.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(value) => serde_json::from_value(value.clone()).map_err(|_| {
            crate::handlers::agents::invalid(ValidationError::new(
                "metadata",
                "expected an object of strings",
            ))
        })?,
    };
    openma_core::control::validate_metadata(&metadata, "metadata")
        .map_err(crate::handlers::agents::invalid)?;
    Ok(CreateParams {
        provider,
        external_id,
        access_token: access_token.to_owned(),
        agent_id,
        environment_id,
        vault_ids,
        bot_login,
        name,
        metadata,
    })
}

/// Refuses an integration whose agent, environment or vaults are not the
/// tenant's, or are archived (its sessions could not start).
async fn check_references(env: &Env, caller: &Caller, params: &CreateParams) -> ApiResult<()> {
    let tenant = &caller.tenant_id;
    let agent = crate::store::agents::get(env, tenant, &params.agent_id, None)
        .await?
        .ok_or_else(|| not_found_field("agent_id", "agent", &params.agent_id))?;
    if agent.archived_at.is_some() {
        return Err(field("agent_id", "the agent is archived"));
    }
    let environment = crate::store::environments::get(env, tenant, &params.environment_id)
        .await?
        .ok_or_else(|| not_found_field("environment_id", "environment", &params.environment_id))?;
    if environment.archived_at.is_some() {
        return Err(field("environment_id", "the environment is archived"));
    }
    for (i, vault_id) in params.vault_ids.iter().enumerate() {
        let path = format!("vault_ids[{i}]");
        let vault = crate::store::vaults::get_vault(env, tenant, vault_id)
            .await?
            .ok_or_else(|| not_found_field(&path, "vault", vault_id))?;
        if vault.archived_at.is_some() {
            return Err(field(&path, "the vault is archived"));
        }
    }
    Ok(())
}

fn not_found_field(name: &str, what: &str, id: &str) -> ApiError {
    ApiError::new(
        ApiErrorType::NotFoundError,
        format!("{name}: {what} {id} not found"),
    )
}

/// Seals `access_token` for integration `row` (its tenant and id).
fn seal_token(env: &Env, row: &mut IntegrationRow, access_token: &str) -> ApiResult<()> {
    let ring = super::vaults::keyring(env, None)?;
    let mut nonce = [0u8; NONCE_LEN];
    openma_cloudflare::ids::random_bytes(&mut nonce).map_err(ApiError::internal)?;
    let sealed = ring
        .seal(
            access_token.as_bytes(),
            &token_aad(&row.tenant_id, &row.id),
            nonce,
        )
        .map_err(|e| ApiError::internal(format!("sealing an integration token: {e}")))?;
    row.token_key_id = sealed.key_id;
    row.token_ciphertext = sealed.ciphertext;
    Ok(())
}

/// Records an action on one of the caller's tenant's integrations.
async fn record(env: &Env, caller: &Caller, action: Action, id: &str, details: Value) {
    crate::audit::record(env, caller, action, Some(id), &caller.tenant_id, details).await;
}

// ---- integrations -------------------------------------------------------

/// `POST /v1/integrations`.
async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    let params = create_params(body)?;
    check_references(env, caller, &params).await?;
    let now = now();
    let mut row = IntegrationRow {
        id: openma_cloudflare::ids::mint_id("intg_", now.0.unsigned_abs())
            .map_err(ApiError::internal)?,
        tenant_id: caller.tenant_id.clone(),
        provider: params.provider.as_str().to_owned(),
        external_id: params.external_id,
        token_key_id: String::new(),
        token_ciphertext: String::new(),
        agent_id: params.agent_id,
        environment_id: params.environment_id,
        vault_ids: params.vault_ids,
        bot_login: params.bot_login,
        name: params.name,
        metadata: params.metadata,
        created_at: now.to_rfc3339(),
        updated_at: now.to_rfc3339(),
    };
    seal_token(env, &mut row, &params.access_token)?;
    match store::insert(env, &row).await? {
        Inserted::Created => {}
        Inserted::Duplicate => {
            return Err(ApiError::new(
                ApiErrorType::ConflictError,
                format!(
                    "{} {} is installed already; delete that integration first",
                    row.provider, row.external_id
                ),
            ));
        }
    }
    let details = json!({"provider": row.provider, "external_id": row.external_id});
    record(env, caller, Action::IntegrationCreated, &row.id, details).await;
    Ok(object(&row))
}

/// `GET /v1/integrations`.
async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    query.only(&["limit", "page"])?;
    let limit = query.limit(20, 100)?;
    let after = after(query)?;
    let rows = store::list(env, &caller.tenant_id, limit + 1, Some(&after)).await?;
    let items: Vec<Value> = rows.iter().map(object).collect();
    page(items, limit, |i| {
        i["id"].as_str().unwrap_or_default().to_owned()
    })
}

async fn found(env: &Env, caller: &Caller, id: &str) -> ApiResult<IntegrationRow> {
    store::get(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("integration", id))
}

/// `DELETE /v1/integrations/{id}`. Replies already queued stay in the
/// outbox, which gives them up once their integration is gone.
async fn delete(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    if store::delete(env, &caller.tenant_id, id).await? {
        record(env, caller, Action::IntegrationDeleted, id, json!({})).await;
        Ok(json!({"id": id, "type": "integration_deleted"}))
    } else {
        Err(ApiError::not_found("integration", id))
    }
}

// ---- deliveries ---------------------------------------------------------

/// A delivery as the API returns it.
fn delivery_object(row: &DeliveryRow) -> Value {
    let next_attempt_at =
        (row.status == PENDING).then(|| Timestamp(row.next_attempt_at).to_rfc3339());
    json!({
        "id": row.id,
        "type": "integration_delivery",
        "integration_id": row.integration_id,
        "provider": row.provider,
        "kind": row.kind,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "session_id": row.session_id,
        "reply_key": row.reply_key,
        "provider_ref": row.provider_ref,
        "text": row.body,
        "next_attempt_at": next_attempt_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "sent_at": row.sent_at,
    })
}

/// `status`: one of [`STATUSES`], or every status when absent.
fn status_filter(query: &Query) -> ApiResult<Option<&str>> {
    match query.get("status") {
        None => Ok(None),
        Some(status) if STATUSES.contains(&status) => Ok(Some(status)),
        Some(_) => Err(field("status", "expected pending, sent or dead")),
    }
}

/// `GET /v1/integrations/deliveries`.
async fn list_deliveries(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    query.only(&["status", "limit", "page"])?;
    let status = status_filter(query)?;
    let limit = query.limit(20, 100)?;
    let after = after(query)?;
    let rows =
        store::list_deliveries(env, &caller.tenant_id, status, limit + 1, Some(&after)).await?;
    let items: Vec<Value> = rows.iter().map(delivery_object).collect();
    page(items, limit, |i| {
        i["id"].as_str().unwrap_or_default().to_owned()
    })
}

async fn delivery(env: &Env, caller: &Caller, id: &str) -> ApiResult<DeliveryRow> {
    store::tenant_delivery(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("integration delivery", id))
}

/// `POST /v1/integrations/deliveries/{id}/retry`: a dead delivery is queued
/// again under its same reply key (so it is still posted at most once) and
/// the integrations worker is woken; a pending one is answered as it is.
async fn retry(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    let row = delivery(env, caller, id).await?;
    match row.status.as_str() {
        SENT => Err(ApiError::new(
            ApiErrorType::ConflictError,
            format!("integration delivery {id} is already sent"),
        )),
        DEAD => {
            let now = now();
            let row = store::redrive(env, &caller.tenant_id, id, now.0, &now.to_rfc3339())
                .await?
                .ok_or_else(|| ApiError::not_found("integration delivery", id))?;
            kick(env, &caller.tenant_id, &row.thread_key).await;
            Ok(delivery_object(&row))
        }
        _ => Ok(delivery_object(&row)),
    }
}

/// Asks the integrations worker to drain a thread's outbox now. A failure is
/// logged, not answered: the worker's cron sweeps the outbox anyway.
async fn kick(env: &Env, tenant_id: &str, thread_key: &str) {
    let outcome = async {
        let headers = openma_cloudflare::service::headers_for(env, tenant_id)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(json!({"thread_key": thread_key}).to_string().into()));
        let req = Request::new_with_init(KICK_URL, &init)?;
        let resp = env.service("INTEGRATIONS")?.fetch_request(req).await?;
        match resp.status_code() {
            200..=299 => Ok(()),
            status => Err(worker::Error::RustError(format!("answered {status}"))),
        }
    }
    .await;
    if let Err(e) = outcome {
        worker::console_warn!(
            "{}",
            json!({"level": "warn", "event": "integration_kick_failed", "error": e.to_string()})
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use worker::Method;

    use super::IntegrationRoute;
    use super::Provider;
    use super::create_params;
    use super::external_id_of;

    fn body() -> serde_json::Value {
        json!({"provider": "github", "external_id": "acme/app", "access_token": " ghs_x ",
               "agent_id": "agent_1", "environment_id": "env_1", "bot_login": "acme-bot"})
    }

    fn message(body: &serde_json::Value) -> String {
        create_params(body).unwrap_err().message
    }

    #[test]
    fn deliveries_is_a_route_not_an_integration_id() {
        let parse = |method, rest: &[&str]| IntegrationRoute::parse(&method, rest);
        assert_eq!(
            parse(Method::Get, &["deliveries"]),
            Some(IntegrationRoute::ListDeliveries)
        );
        assert_eq!(
            parse(Method::Post, &["deliveries", "idlv_1", "retry"]),
            Some(IntegrationRoute::RetryDelivery("idlv_1".into()))
        );
        assert_eq!(
            parse(Method::Get, &["deliveries", "idlv_1"]),
            Some(IntegrationRoute::GetDelivery("idlv_1".into()))
        );
        assert_eq!(parse(Method::Delete, &["deliveries"]), None);
        assert_eq!(
            parse(Method::Get, &["intg_1"]),
            Some(IntegrationRoute::Get("intg_1".into()))
        );
        assert_eq!(
            parse(Method::Delete, &["intg_1"]),
            Some(IntegrationRoute::Delete("intg_1".into()))
        );
        assert_eq!(parse(Method::Post, &["intg_1"]), None);
    }

    #[test]
    fn a_github_integration_names_its_repository_and_bot() {
        let params = create_params(&body()).unwrap();
        assert_eq!(params.provider, Provider::Github);
        assert_eq!(params.access_token, "ghs_x");
        assert_eq!(params.bot_login.as_deref(), Some("acme-bot"));
        let mut no_bot = body();
        no_bot.as_object_mut().unwrap().remove("bot_login");
        assert!(message(&no_bot).starts_with("bot_login:"));
        for bad in ["acme", "acme/", "/app", "a/b/c", "acme/a pp", "../x"] {
            let mut repo = body();
            repo["external_id"] = json!(bad);
            assert!(message(&repo).starts_with("external_id:"), "{bad}");
        }
    }

    #[test]
    fn slack_and_linear_take_a_workspace_id_and_no_bot() {
        for provider in ["slack", "linear"] {
            let params = create_params(&json!({"provider": provider, "external_id": "T0123",
                "access_token": "xoxb-1", "agent_id": "a", "environment_id": "e"}))
            .unwrap();
            assert_eq!(params.bot_login, None);
            assert!(params.vault_ids.is_empty());
        }
        assert!(external_id_of(Provider::Slack, "T 1").is_err());
        assert!(external_id_of(Provider::Linear, "").is_err());
    }

    #[test]
    fn unknown_or_malformed_fields_are_refused_by_name() {
        let mut unknown = body();
        unknown["token"] = json!("x");
        assert_eq!(message(&unknown), "token: unknown field");
        let cases = [
            ("provider", json!("gitlab")),
            ("access_token", json!("  ")),
            ("agent_id", json!(7)),
            ("vault_ids", json!("vlt_1")),
            ("metadata", json!({"k": 1})),
            ("name", json!("")),
        ];
        for (name, value) in cases {
            let mut bad = body();
            bad[name] = value;
            assert!(message(&bad).starts_with(&format!("{name}:")), "{name}");
        }
        let mut missing = body();
        missing.as_object_mut().unwrap().remove("environment_id");
        assert_eq!(message(&missing), "environment_id: required");
    }
}
