//! `/v1/model_providers`: a tenant's own model keys. A turn's model call goes
//! to the provider that lists the agent's model, else to the tenant's
//! default provider (the session runtime chooses, per call). The key is
//! sealed on the way in and never returned.

use openma_cloudflare::store::model_providers::ANTHROPIC;
use openma_cloudflare::store::model_providers::ANTHROPIC_BASE_URL;
use openma_cloudflare::store::model_providers::OPENAI_COMPATIBLE;
use openma_cloudflare::store::model_providers::ProviderRow;
use openma_cloudflare::store::model_providers::{self as store};
use openma_core::crypto::NONCE_LEN;
use openma_core::llm::ProviderCodec;
use openma_core::llm::anthropic::AnthropicCodec;
use openma_core::llm::openai::OpenAiCodec;
use serde_json::Map;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Fetch;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;

use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;
use crate::request::now;

/// The most model ids one provider may list.
const MAX_MODELS: usize = 100;

/// How long a validation waits for the provider's answer.
const VALIDATE_MS: u64 = 10_000;

/// `fetch`, or an error once [`VALIDATE_MS`] have passed without an answer.
async fn within_deadline(
    fetch: impl std::future::Future<Output = worker::Result<worker::Response>>,
) -> worker::Result<worker::Response> {
    let deadline = worker::Delay::from(std::time::Duration::from_millis(VALIDATE_MS));
    match futures_util::future::select(std::pin::pin!(fetch), std::pin::pin!(deadline)).await {
        futures_util::future::Either::Left((answer, _)) => answer,
        futures_util::future::Either::Right(_) => Err(worker::Error::RustError(format!(
            "no answer within {} s",
            VALIDATE_MS / 1000
        ))),
    }
}

fn field(name: &str, message: &str) -> ApiError {
    ApiError::invalid(format!("{name}: {message}"))
}

fn name_of(value: &Value) -> ApiResult<String> {
    match value {
        Value::String(name) if !name.trim().is_empty() && name.chars().count() <= 256 => {
            Ok(name.clone())
        }
        Value::String(_) => Err(field("name", "must be 1 to 256 characters")),
        _ => Err(field("name", "expected a string")),
    }
}

fn api_key_of(value: &Value) -> ApiResult<String> {
    match value {
        Value::String(key) if !key.trim().is_empty() && key.len() <= 4096 => {
            Ok(key.trim().to_owned())
        }
        Value::String(_) => Err(field("api_key", "must be 1 to 4096 characters")),
        _ => Err(field("api_key", "expected a string")),
    }
}

fn base_url_of(value: &Value) -> ApiResult<String> {
    let Value::String(url) = value else {
        return Err(field("base_url", "expected a string"));
    };
    let parsed =
        worker::Url::parse(url).map_err(|_| field("base_url", "expected an http or https URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(field("base_url", "expected an http or https URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(field(
            "base_url",
            "must not carry credentials, a query or a fragment",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn models_of(value: &Value) -> ApiResult<String> {
    let Value::Array(models) = value else {
        return Err(field("models", "expected an array of model ids"));
    };
    if models.len() > MAX_MODELS {
        return Err(field("models", "at most 100 model ids"));
    }
    let mut ids: Vec<&str> = Vec::with_capacity(models.len());
    for (i, model) in models.iter().enumerate() {
        match model.as_str() {
            Some(id) if !id.is_empty() && id.len() <= 256 => ids.push(id),
            _ => {
                return Err(field(
                    &format!("models[{i}]"),
                    "expected a model id of 1 to 256 characters",
                ));
            }
        }
    }
    serde_json::to_string(&ids).map_err(ApiError::internal)
}

fn default_of(value: &Value) -> ApiResult<i64> {
    value
        .as_bool()
        .map(i64::from)
        .ok_or_else(|| field("default", "expected true or false"))
}

fn object_body(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| ApiError::invalid("the body must be a JSON object"))
}

/// Records an action on one of the caller's tenant's providers.
async fn record(env: &Env, caller: &Caller, action: Action, id: &str, details: Value) {
    crate::audit::record(env, caller, action, Some(id), &caller.tenant_id, details).await;
}

/// Seals `api_key` for provider `row` (its tenant and id), setting the
/// ciphertext, key id and hint.
fn seal_key(env: &Env, row: &mut ProviderRow, api_key: &str) -> ApiResult<()> {
    let ring = super::vaults::keyring(env, None)?;
    let mut nonce = [0u8; NONCE_LEN];
    openma_cloudflare::ids::random_bytes(&mut nonce).map_err(ApiError::internal)?;
    let sealed = ring
        .seal(
            api_key.as_bytes(),
            &store::aad(&row.tenant_id, &row.id),
            nonce,
        )
        .map_err(|e| ApiError::internal(format!("sealing a model key: {e}")))?;
    row.key_id = sealed.key_id;
    row.ciphertext = sealed.ciphertext;
    let chars: Vec<char> = api_key.chars().collect();
    row.key_hint = chars[chars.len().saturating_sub(4)..].iter().collect();
    Ok(())
}

/// `POST /v1/model_providers`.
pub(crate) async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    let body = object_body(body)?;
    for key in body.keys() {
        if !["type", "name", "api_key", "base_url", "models", "default"].contains(&key.as_str()) {
            return Err(field(key, "unknown field"));
        }
    }
    let provider_type = match body.get("type").and_then(Value::as_str) {
        Some(ANTHROPIC) => ANTHROPIC,
        Some(OPENAI_COMPATIBLE) => OPENAI_COMPATIBLE,
        Some(_) => return Err(field("type", "expected anthropic or openai_compatible")),
        None => return Err(field("type", "required")),
    };
    let name = name_of(body.get("name").ok_or_else(|| field("name", "required"))?)?;
    let api_key = api_key_of(
        body.get("api_key")
            .ok_or_else(|| field("api_key", "required"))?,
    )?;
    let base_url = match (body.get("base_url"), provider_type) {
        (Some(url), _) if !url.is_null() => base_url_of(url)?,
        (_, ANTHROPIC) => ANTHROPIC_BASE_URL.to_owned(),
        _ => {
            return Err(field(
                "base_url",
                "required for an openai_compatible provider",
            ));
        }
    };
    let models = match body.get("models") {
        None | Some(Value::Null) => "[]".to_owned(),
        Some(models) => models_of(models)?,
    };
    let is_default = match body.get("default") {
        None | Some(Value::Null) => 0,
        Some(value) => default_of(value)?,
    };
    let now = now();
    let mut row = ProviderRow {
        id: openma_cloudflare::ids::mint_id("mprov_", now.0.unsigned_abs())
            .map_err(ApiError::internal)?,
        tenant_id: caller.tenant_id.clone(),
        provider_type: provider_type.to_owned(),
        name,
        base_url,
        models,
        is_default,
        key_id: String::new(),
        ciphertext: String::new(),
        key_hint: String::new(),
        status: "unverified".to_owned(),
        last_error: None,
        last_validated_at: None,
        created_at: now.to_rfc3339(),
        updated_at: now.to_rfc3339(),
    };
    seal_key(env, &mut row, &api_key)?;
    store::save(env, &row).await?;
    let details = json!({"type": row.provider_type});
    record(env, caller, Action::ModelProviderCreated, &row.id, details).await;
    Ok(row.object())
}

/// `GET /v1/model_providers`.
pub(crate) async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let limit = query.limit(20, 100)?;
    let after = super::pages::after(query)?;
    let rows = store::page(env, &caller.tenant_id, &after, limit + 1).await?;
    let providers: Vec<Value> = rows.iter().map(ProviderRow::object).collect();
    super::pages::page(providers, limit, |p| {
        p["id"].as_str().unwrap_or_default().to_owned()
    })
}

async fn found(env: &Env, caller: &Caller, id: &str) -> ApiResult<ProviderRow> {
    store::get(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("model provider", id))
}

/// `GET /v1/model_providers/{id}`.
pub(crate) async fn retrieve(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    Ok(found(env, caller, id).await?.object())
}

/// `POST /v1/model_providers/{id}`: `name`, `base_url`, `models`, `default`,
/// or a new `api_key` (which makes the provider `unverified` again).
pub(crate) async fn update(env: &Env, caller: &Caller, id: &str, body: &Value) -> ApiResult<Value> {
    let body = object_body(body)?;
    for key in body.keys() {
        if !["name", "api_key", "base_url", "models", "default"].contains(&key.as_str()) {
            let message = if key == "type" {
                "cannot be changed; create another provider"
            } else {
                "unknown field"
            };
            return Err(field(key, message));
        }
    }
    let mut row = found(env, caller, id).await?;
    if let Some(name) = body.get("name") {
        row.name = name_of(name)?;
    }
    if let Some(url) = body.get("base_url") {
        row.base_url = base_url_of(url)?;
    }
    if let Some(models) = body.get("models") {
        row.models = models_of(models)?;
    }
    if let Some(value) = body.get("default") {
        row.is_default = default_of(value)?;
    }
    let key_rotated = body.contains_key("api_key");
    if let Some(key) = body.get("api_key") {
        let key = api_key_of(key)?;
        seal_key(env, &mut row, &key)?;
        row.status = "unverified".to_owned();
        row.last_error = None;
        row.last_validated_at = None;
    }
    row.updated_at = now().to_rfc3339();
    store::save(env, &row).await?;
    let details = json!({"key_rotated": key_rotated});
    record(env, caller, Action::ModelProviderUpdated, &row.id, details).await;
    Ok(row.object())
}

/// `DELETE /v1/model_providers/{id}`.
pub(crate) async fn delete(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    if store::delete(env, &caller.tenant_id, id).await? {
        record(env, caller, Action::ModelProviderDeleted, id, json!({})).await;
        Ok(json!({"id": id, "type": "model_provider_deleted"}))
    } else {
        Err(ApiError::not_found("model provider", id))
    }
}

/// `POST /v1/model_providers/{id}/validate`: lists the provider's models
/// with its key (the smallest real call, which spends no tokens) and
/// records the outcome: `valid`, `invalid` when the key is refused (401 or
/// 403), and otherwise the status unchanged with the error recorded.
pub(crate) async fn validate(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    let row = found(env, caller, id).await?;
    let ring = super::vaults::keyring(env, None)?;
    let api_key = row.open_key(&ring).map_err(ApiError::internal)?;
    let headers = if row.provider_type == ANTHROPIC {
        openma_core::llm::anthropic::headers(&api_key)
    } else {
        openma_core::llm::openai::headers(&api_key)
    };
    let request_headers = Headers::new();
    for (name, value) in &headers {
        if name != "content-type" && name != "accept" {
            request_headers.set(name, value)?;
        }
    }
    request_headers.set("accept", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(request_headers);
    let url = format!("{}/v1/models", row.base_url);
    let (status, last_error) = match Request::new_with_init(&url, &init) {
        Err(e) => (row.status.clone(), Some(format!("request failed: {e}"))),
        Ok(request) => match within_deadline(Fetch::Request(request).send()).await {
            Err(e) => (
                row.status.clone(),
                Some(store::scrub(&format!("request failed: {e}"), &api_key)),
            ),
            Ok(mut resp) => {
                let code = resp.status_code();
                let text = resp.text().await.unwrap_or_default();
                if (200..300).contains(&code) {
                    ("valid".to_owned(), None)
                } else {
                    let error = if row.provider_type == ANTHROPIC {
                        AnthropicCodec.classify_error(code, &text, None)
                    } else {
                        OpenAiCodec::default().classify_error(code, &text, None)
                    };
                    let message =
                        store::scrub(&format!("HTTP {code}: {}", error.message), &api_key);
                    let status = if matches!(code, 401 | 403) {
                        "invalid".to_owned()
                    } else {
                        row.status.clone()
                    };
                    (status, Some(message))
                }
            }
        },
    };
    let mut row = row;
    row.status = status;
    row.last_error = last_error;
    row.last_validated_at = Some(now().to_rfc3339());
    store::set_status(
        env,
        &caller.tenant_id,
        &row.id,
        &row.status,
        row.last_error.as_deref(),
        row.last_validated_at.as_deref().unwrap_or_default(),
    )
    .await?;
    Ok(row.object())
}
