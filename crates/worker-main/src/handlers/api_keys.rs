//! `/v1/api_keys`: a tenant's keys. A key is shown once, at creation.

use openma_cloudflare::ids::sha256_hex;
use openma_core::wire::Timestamp;
use serde_json::Value;
use serde_json::json;
use worker::Env;

use crate::audit;
use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;
use crate::request::now;
use crate::store;
use crate::store::api_keys::ApiKeyRow;

/// Key prefix; the rest is 32 random bytes, base64url.
const KEY_PREFIX: &str = "sk-oma-";

fn object(row: &ApiKeyRow) -> Value {
    json!({
        "type": "api_key",
        "id": row.id,
        "name": row.name,
        "key_hint": row.key_hint,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "expires_at": row.expires_at,
    })
}

/// Mints, stores (as a digest) and returns a new key for `tenant_id`, made
/// by `caller`; the returned object is the only place the key ever appears.
pub(crate) async fn issue(
    env: &Env,
    caller: &Caller,
    tenant_id: &str,
    name: Option<String>,
    expires_at: Option<String>,
) -> ApiResult<Value> {
    let now = now();
    let key = openma_cloudflare::ids::random_token(KEY_PREFIX).map_err(ApiError::internal)?;
    let hint: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let row = ApiKeyRow {
        id: openma_cloudflare::ids::mint_id("apikey_", now.0.unsigned_abs())
            .map_err(ApiError::internal)?,
        tenant_id: tenant_id.to_owned(),
        name,
        key_hint: Some(hint),
        created_at: now.to_rfc3339(),
        last_used_at: None,
        expires_at,
    };
    store::api_keys::insert(env, &row, &sha256_hex(key.as_bytes())).await?;
    audit::record(
        env,
        caller,
        Action::ApiKeyCreated,
        Some(&row.id),
        tenant_id,
        json!({"name": row.name, "expires_at": row.expires_at}),
    )
    .await;
    let mut value = object(&row);
    value["key"] = Value::String(key);
    Ok(value)
}

pub(crate) async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    if let Some(fields) = body.as_object()
        && let Some(unknown) = fields
            .keys()
            .find(|k| !["name", "expires_at"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!("{unknown}: unknown field")));
    }
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if name.chars().count() <= 256 => Some(name.clone()),
        Some(Value::String(_)) => return Err(ApiError::invalid("name: at most 256 characters")),
        Some(_) => return Err(ApiError::invalid("name: expected a string")),
    };
    let expires_at = match body.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(at)) => {
            let at = Timestamp::parse_rfc3339(at)
                .ok_or_else(|| ApiError::invalid("expires_at: expected an RFC 3339 timestamp"))?;
            if at <= now() {
                return Err(ApiError::invalid("expires_at: must be in the future"));
            }
            Some(at.to_rfc3339())
        }
        Some(_) => return Err(ApiError::invalid("expires_at: expected a string")),
    };
    issue(env, caller, &caller.tenant_id, name, expires_at).await
}

pub(crate) async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let limit = query.limit(20, 100)?;
    let after = crate::handlers::pages::after(query)?;
    let rows = store::api_keys::list(env, &caller.tenant_id, &after, limit + 1).await?;
    let keys: Vec<Value> = rows.iter().map(object).collect();
    crate::handlers::pages::page(keys, limit, |key| {
        key["id"].as_str().unwrap_or_default().to_owned()
    })
}

pub(crate) async fn delete(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    if store::api_keys::revoke(env, &caller.tenant_id, id, &now().to_rfc3339()).await? {
        audit::record(
            env,
            caller,
            Action::ApiKeyRevoked,
            Some(id),
            &caller.tenant_id,
            json!({}),
        )
        .await;
        Ok(json!({"id": id, "type": "api_key_deleted"}))
    } else {
        Err(ApiError::not_found("api key", id))
    }
}
