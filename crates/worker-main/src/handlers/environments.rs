//! `/v1/environments`: sandbox templates, unique by name within a tenant.

use openma_core::control;
use openma_core::control::EnvironmentError;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Environment;
use serde_json::Value;
use serde_json::json;
use worker::Env;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::handlers::agents::include_archived;
use crate::handlers::agents::invalid;
use crate::handlers::pages::after;
use crate::handlers::pages::page;
use crate::handlers::webhooks::announce;
use crate::request::Query;
use crate::request::now;
use crate::store;
use crate::store::environments::WriteError;

fn to_value(environment: &Environment) -> ApiResult<Value> {
    serde_json::to_value(environment).map_err(ApiError::internal)
}

fn not_found(id: &str) -> ApiError {
    let mut err = ApiError::not_found("environment", id);
    err.code = Some("environment_not_found");
    err
}

fn name_taken(name: &str) -> ApiError {
    ApiError::new(
        ApiErrorType::ConflictError,
        format!("name: an environment named {name:?} already exists"),
    )
}

fn rejected(err: EnvironmentError) -> ApiError {
    let code = err.error_code();
    let mut api = match err {
        EnvironmentError::Invalid(err) | EnvironmentError::InvalidMetadata(err) => invalid(err),
        EnvironmentError::ConfigTypeChange { .. } | EnvironmentError::Archived => {
            ApiError::invalid(err.to_string())
        }
    };
    if code.is_some() {
        api.code = code;
    }
    api
}

fn write_error(err: WriteError, name: &str) -> ApiError {
    match err {
        WriteError::NameTaken => name_taken(name),
        WriteError::Store(err) => ApiError::internal(err),
    }
}

async fn current(env: &Env, caller: &Caller, id: &str) -> ApiResult<Environment> {
    store::environments::get(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| not_found(id))
}

pub(crate) async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    let params = control::parse_environment_create(body).map_err(rejected)?;
    if store::environments::name_taken(env, &caller.tenant_id, &params.name, "").await? {
        return Err(name_taken(&params.name));
    }
    let now = now();
    let id = openma_cloudflare::ids::mint_id("env_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    let environment = control::create_environment(params, id, now);
    store::environments::insert(env, &caller.tenant_id, &environment)
        .await
        .map_err(|e| write_error(e, &environment.name))?;
    announce(
        env,
        caller,
        "environment.created",
        &environment.id,
        None,
        json!({}),
    )
    .await;
    to_value(&environment)
}

/// The name of a tenant's default environment.
pub(crate) const DEFAULT_NAME: &str = "default";

/// The tenant's default environment: the one named [`DEFAULT_NAME`], which
/// a session created without `environment_id` runs in. Created on first use
/// as a cloud environment whose networking is `limited` with package
/// registries and the agent's MCP servers allowed; a tenant may edit it (or
/// create its own under that name first) like any other.
pub(crate) async fn tenant_default(env: &Env, caller: &Caller) -> ApiResult<Environment> {
    if let Some(found) = store::environments::by_name(env, &caller.tenant_id, DEFAULT_NAME).await? {
        return Ok(found);
    }
    let params = control::parse_environment_create(&json!({
        "name": DEFAULT_NAME,
        "description": "Used by sessions created without an environment_id.",
        "config": {
            "type": "cloud",
            "networking": {
                "type": "limited",
                "allowed_hosts": [],
                "allow_package_managers": true,
                "allow_mcp_servers": true,
            },
        },
    }))
    .map_err(rejected)?;
    let now = now();
    let id = openma_cloudflare::ids::mint_id("env_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    let environment = control::create_environment(params, id, now);
    match store::environments::insert(env, &caller.tenant_id, &environment).await {
        Ok(()) => {
            announce(
                env,
                caller,
                "environment.created",
                &environment.id,
                None,
                json!({}),
            )
            .await;
            Ok(environment)
        }
        // Another request created it first: use that one.
        Err(WriteError::NameTaken) => {
            store::environments::by_name(env, &caller.tenant_id, DEFAULT_NAME)
                .await?
                .ok_or_else(|| ApiError::internal("the default environment vanished"))
        }
        Err(WriteError::Store(e)) => Err(ApiError::internal(e)),
    }
}

pub(crate) async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let limit = query.limit(20, 100)?;
    let include_archived = include_archived(query)?;
    let after = after(query)?;
    let environments =
        store::environments::list(env, &caller.tenant_id, include_archived, &after, limit + 1)
            .await?;
    page(environments, limit, |environment| environment.id.clone())
}

pub(crate) async fn retrieve(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    to_value(&current(env, caller, id).await?)
}

pub(crate) async fn update(env: &Env, caller: &Caller, id: &str, body: &Value) -> ApiResult<Value> {
    let params = control::parse_environment_update(body).map_err(rejected)?;
    let current = current(env, caller, id).await?;
    let Some(next) =
        control::apply_environment_update(&current, params, now()).map_err(rejected)?
    else {
        return to_value(&current);
    };
    if next.name != current.name
        && store::environments::name_taken(env, &caller.tenant_id, &next.name, id).await?
    {
        return Err(name_taken(&next.name));
    }
    let stored = store::environments::replace(env, &caller.tenant_id, &next)
        .await
        .map_err(|e| write_error(e, &next.name))?;
    if !stored {
        return Err(not_found(id));
    }
    let change = next.updated_at.to_rfc3339();
    announce(
        env,
        caller,
        "environment.updated",
        id,
        Some(&change),
        json!({}),
    )
    .await;
    to_value(&next)
}

pub(crate) async fn delete(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    if store::environments::delete(env, &caller.tenant_id, id).await? {
        announce(env, caller, "environment.deleted", id, None, json!({})).await;
        // A self-hosted environment's keys stop working, and its queue goes.
        store::work::forget_environment(env, &caller.tenant_id, id).await?;
        Ok(json!({"id": id, "type": "environment_deleted"}))
    } else {
        Err(not_found(id))
    }
}

pub(crate) async fn archive(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    let mut environment = current(env, caller, id).await?;
    if environment.archived_at.is_some() {
        return to_value(&environment);
    }
    environment.archived_at = Some(now());
    let stored = store::environments::replace(env, &caller.tenant_id, &environment)
        .await
        .map_err(|e| write_error(e, &environment.name))?;
    if !stored {
        return Err(not_found(id));
    }
    announce(env, caller, "environment.archived", id, None, json!({})).await;
    to_value(&environment)
}
