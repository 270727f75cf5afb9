//! `POST /v1/tenants`: the operator creates a tenant and its first key.

use openma_core::wire::ApiErrorType;
use serde_json::Value;
use serde_json::json;
use worker::Env;

use crate::audit;
use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::handlers::api_keys;
use crate::request::now;
use crate::store;
use crate::store::tenants::Tenant;

pub(crate) async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    if !caller.operator {
        return Err(ApiError::new(
            ApiErrorType::PermissionError,
            "only the operator's key (API_KEY) can create tenants",
        ));
    }
    let name = match body.get("name") {
        Some(Value::String(name)) if (1..=256).contains(&name.chars().count()) => name.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::invalid("name: must be 1 to 256 characters"));
        }
        Some(_) => return Err(ApiError::invalid("name: expected a string")),
        None => return Err(ApiError::invalid("name: required")),
    };
    let now = now();
    let tenant = Tenant {
        id: openma_cloudflare::ids::mint_id("tenant_", now.0.unsigned_abs())
            .map_err(ApiError::internal)?,
        name,
        created_at: now.to_rfc3339(),
    };
    store::tenants::insert(env, &tenant).await?;
    audit::record(
        env,
        caller,
        Action::TenantCreated,
        Some(&tenant.id),
        &tenant.id,
        json!({}),
    )
    .await;
    let key = api_keys::issue(env, caller, &tenant.id, None, None).await?;
    Ok(json!({
        "type": "tenant",
        "id": tenant.id,
        "name": tenant.name,
        "created_at": tenant.created_at,
        "api_key": key,
    }))
}
