//! Session resources as given at creation (api-reference §3.3): each is
//! checked against the caller's files and memory stores and stored in its
//! response form, which is also what the agent worker mounts from.
//!
//! - `file`: `{id, type, file_id, mount_path, created_at, updated_at}`;
//!   `mount_path` defaults to `/mnt/session/uploads/<file_id>`.
//! - `memory_store`: `{id, type, memory_store_id, access, instructions, name,
//!   description, mount_path, created_at, updated_at}`; `name` and
//!   `description` are snapshotted, `mount_path` is
//!   `/mnt/memory/<slug of the name>`.
//! - `github_repository` is refused with a clear error: this deployment does
//!   not clone repositories, and accepting one it will not mount would
//!   mislead the agent.

use std::collections::BTreeSet;

use openma_core::sandbox::MEMORY_DIR;
use openma_core::sandbox::OUTPUTS_DIR;
use openma_core::sandbox::UPLOADS_DIR;
use openma_core::sandbox::memory_slug;
use openma_core::sandbox::validate_mount_path;
use openma_core::wire::Timestamp;
use openma_core::wire::ValidationError;
use openma_core::wire::environment::EnvironmentConfig;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Response;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;
use crate::store;

/// Most file resources on one session.
const MAX_FILES: usize = 999;
/// Most memory stores on one session.
const MAX_MEMORY_STORES: usize = 8;
/// Longest memory-store `instructions`, in characters.
const MAX_INSTRUCTIONS: usize = 4096;

fn invalid(path: String, message: &str) -> ApiError {
    ApiError::from(ValidationError::new(&path, message))
}

/// Checks `resources` and returns them in their stored (response) form.
/// `existing` are the session's resources already stored (for limits, mount
/// paths and duplicates); `field` names the request's field in errors
/// (`resources[i]` on creation, the body on `resources.add`).
pub(crate) async fn normalize(
    env: &Env,
    caller: &Caller,
    items: &[Value],
    existing: &[Value],
    field: &dyn Fn(usize) -> String,
    now: Timestamp,
) -> ApiResult<Vec<Value>> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    let mut mount_paths: BTreeSet<String> = existing
        .iter()
        .filter_map(|r| r["mount_path"].as_str().map(str::to_owned))
        .collect();
    let mut slugs: BTreeSet<String> = existing
        .iter()
        .filter_map(|r| {
            r["mount_path"]
                .as_str()?
                .strip_prefix(&format!("{MEMORY_DIR}/"))
        })
        .map(str::to_owned)
        .collect();
    let count = |kind: &str| existing.iter().filter(|r| r["type"] == kind).count();
    let (mut files, mut stores) = (count("file"), count("memory_store"));
    for (i, item) in items.iter().enumerate() {
        let at = |name: &str| {
            let base = field(i);
            if base.is_empty() {
                name.to_owned()
            } else {
                format!("{base}.{name}")
            }
        };
        let whole = || {
            let base = field(i);
            if base.is_empty() {
                "body".to_owned()
            } else {
                base
            }
        };
        let Value::Object(map) = item else {
            return Err(invalid(whole(), "expected an object"));
        };
        let text = |name: &str| -> ApiResult<Option<String>> {
            match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(at(name), "expected a string")),
            }
        };
        let resource = match map.get("type").and_then(Value::as_str) {
            Some("file") => {
                files += 1;
                if files > MAX_FILES {
                    return Err(invalid(at("type"), "at most 999 file resources"));
                }
                let file_id = text("file_id")?.ok_or_else(|| invalid(at("file_id"), "required"))?;
                let file = store::files::get(env, &caller.tenant_id, &file_id).await?;
                if file.is_none_or(|f| f.expired(now)) {
                    return Err(ApiError::not_found("file", &file_id));
                }
                let mount_path = match text("mount_path")? {
                    Some(path) => {
                        validate_mount_path(&path).map_err(|e| invalid(at("mount_path"), &e))?;
                        if path.starts_with(&format!("{OUTPUTS_DIR}/"))
                            || path.starts_with(&format!("{MEMORY_DIR}/"))
                        {
                            return Err(invalid(
                                at("mount_path"),
                                "must not be under /mnt/session/outputs or /mnt/memory",
                            ));
                        }
                        path
                    }
                    None => format!("{UPLOADS_DIR}/{file_id}"),
                };
                json!({
                    "id": new_resource_id(now)?,
                    "type": "file",
                    "file_id": file_id,
                    "mount_path": mount_path,
                    "created_at": now,
                    "updated_at": now,
                })
            }
            Some("memory_store") => {
                stores += 1;
                if stores > MAX_MEMORY_STORES {
                    return Err(invalid(at("type"), "at most 8 memory stores"));
                }
                let store_id = text("memory_store_id")?
                    .ok_or_else(|| invalid(at("memory_store_id"), "required"))?;
                let access = match text("access")?.as_deref() {
                    None | Some("read_write") => "read_write",
                    Some("read_only") => "read_only",
                    Some(_) => {
                        return Err(invalid(
                            at("access"),
                            "expected `read_write` or `read_only`",
                        ));
                    }
                };
                let instructions = text("instructions")?;
                if instructions
                    .as_ref()
                    .is_some_and(|s| s.chars().count() > MAX_INSTRUCTIONS)
                {
                    return Err(invalid(at("instructions"), "at most 4096 characters"));
                }
                let memory_store = store::memory::get_store(env, &caller.tenant_id, &store_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("memory_store", &store_id))?;
                if memory_store.archived_at.is_some() {
                    return Err(invalid(
                        at("memory_store_id"),
                        "the memory store is archived",
                    ));
                }
                if out
                    .iter()
                    .chain(existing)
                    .any(|r: &Value| r["memory_store_id"].as_str() == Some(store_id.as_str()))
                {
                    return Err(invalid(
                        at("memory_store_id"),
                        "the memory store is already attached",
                    ));
                }
                // Two stores with the same name still get their own directory.
                let base = memory_slug(&memory_store.name, &store_id);
                let mut slug = base.clone();
                let mut n = 2;
                while !slugs.insert(slug.clone()) {
                    slug = format!("{base}-{n}");
                    n += 1;
                }
                json!({
                    "id": new_resource_id(now)?,
                    "type": "memory_store",
                    "memory_store_id": store_id,
                    "access": access,
                    "instructions": instructions,
                    "name": memory_store.name,
                    "description": memory_store.description,
                    "mount_path": format!("{MEMORY_DIR}/{slug}"),
                    "created_at": now,
                    "updated_at": now,
                })
            }
            Some("github_repository") => {
                return Err(invalid(
                    at("type"),
                    "github_repository resources are not supported by this deployment",
                ));
            }
            Some(_) => {
                return Err(invalid(
                    at("type"),
                    "expected `file`, `memory_store` or `github_repository`",
                ));
            }
            None => return Err(invalid(at("type"), "required")),
        };
        let mount_path = resource["mount_path"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let overlaps = mount_paths.iter().any(|p: &String| {
            p == &mount_path
                || mount_path.starts_with(&format!("{p}/"))
                || p.starts_with(&format!("{mount_path}/"))
        });
        if overlaps {
            return Err(invalid(
                at("mount_path"),
                "overlaps another resource's mount path",
            ));
        }
        mount_paths.insert(mount_path);
        out.push(resource);
    }
    Ok(out)
}

fn new_resource_id(now: Timestamp) -> ApiResult<String> {
    openma_cloudflare::ids::mint_id("sesrsc_", now.0.unsigned_abs()).map_err(ApiError::internal)
}

/// `GET /v1/sessions/{id}/resources`: oldest first, `limit` (default 20,
/// at most 100) and the forward `page` cursor.
pub(crate) async fn list(env: &Env, caller: &Caller, id: &str, query: &Query) -> ApiResult<Value> {
    let limit = query.limit(20, 100)?;
    let after = super::pages::after(query)?;
    let session = super::sessions::session_object(env, caller, id).await?;
    let resources = stored(&session);
    let start = if after.is_empty() {
        0
    } else {
        resources
            .iter()
            .position(|r| r["id"].as_str() == Some(after.as_str()))
            .map_or(resources.len(), |i| i + 1)
    };
    let window: Vec<Value> = resources.into_iter().skip(start).take(limit + 1).collect();
    super::pages::page(window, limit, |r| {
        r["id"].as_str().unwrap_or_default().to_owned()
    })
}

/// `GET /v1/sessions/{id}/resources/{resource_id}`.
pub(crate) async fn get(
    env: &Env,
    caller: &Caller,
    id: &str,
    resource_id: &str,
) -> ApiResult<Value> {
    let session = super::sessions::session_object(env, caller, id).await?;
    stored(&session)
        .into_iter()
        .find(|r| r["id"].as_str() == Some(resource_id))
        .ok_or_else(|| ApiError::not_found("session_resource", resource_id))
}

/// `POST /v1/sessions/{id}/resources`: attaches one more file or memory
/// store; it is placed in the sandbox before the session's next tool call.
pub(crate) async fn add(env: &Env, caller: &Caller, id: &str, body: &Value) -> ApiResult<Response> {
    let session = super::sessions::session_object(env, caller, id).await?;
    if let Some(environment_id) = session["environment_id"].as_str()
        && store::environments::get(env, &caller.tenant_id, environment_id)
            .await?
            .is_some_and(|e| e.config == EnvironmentConfig::SelfHosted)
    {
        openma_core::control::work::check_self_hosted_resources(
            std::slice::from_ref(body),
            &|_| String::new(),
        )?;
    }
    let existing = stored(&session);
    let added = normalize(
        env,
        caller,
        std::slice::from_ref(body),
        &existing,
        &|_| String::new(),
        crate::request::now(),
    )
    .await?;
    let resource = added
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("no resource was added"))?;
    let bytes = serde_json::to_vec(&resource).map_err(ApiError::internal)?;
    super::sessions::session_command(env, caller, id, Method::Post, "resources", Some(bytes)).await
}

/// `POST /v1/sessions/{id}/resources/{resource_id}`: rotates a
/// `github_repository` token, which this deployment does not support.
pub(crate) async fn update(
    env: &Env,
    caller: &Caller,
    id: &str,
    resource_id: &str,
) -> ApiResult<Response> {
    get(env, caller, id, resource_id).await?;
    Err(ApiError::invalid(format!(
        "resource {resource_id} cannot be updated: only github_repository resources have an updatable token, and they are not supported by this deployment"
    )))
}

/// `DELETE /v1/sessions/{id}/resources/{resource_id}`: detaches it; the
/// sandbox stops offering it from the session's next tool call.
pub(crate) async fn delete(
    env: &Env,
    caller: &Caller,
    id: &str,
    resource_id: &str,
) -> ApiResult<Response> {
    get(env, caller, id, resource_id).await?;
    super::sessions::session_command(
        env,
        caller,
        id,
        Method::Delete,
        &format!("resources/{resource_id}"),
        None,
    )
    .await
}

fn stored(session: &Value) -> Vec<Value> {
    session["resources"].as_array().cloned().unwrap_or_default()
}
