//! Session resources as given at creation (api-reference §3.3): each is
//! checked against the caller's files and memory stores and stored in its
//! response form, which is also what the agent worker mounts from.
//!
//! - `file`: `{id, type, file_id, mount_path, created_at, updated_at}`;
//!   `mount_path` defaults to `/mnt/session/uploads/<file_id>`.
//! - `memory_store`: `{type, memory_store_id, access, instructions, name,
//!   description, mount_path}`; `name` and `description` are snapshotted,
//!   `mount_path` is `/mnt/memory/<slug of the name>`.
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
use serde_json::Value;
use serde_json::json;
use worker::Env;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::store;

/// Most file resources on one session.
const MAX_FILES: usize = 999;
/// Most memory stores on one session.
const MAX_MEMORY_STORES: usize = 8;
/// Longest memory-store `instructions`, in characters.
const MAX_INSTRUCTIONS: usize = 4096;

fn field(path: String, message: &str) -> ApiError {
    ApiError::from(ValidationError::new(&path, message))
}

/// Checks `resources` and returns them in their stored (response) form.
pub(crate) async fn normalize(
    env: &Env,
    caller: &Caller,
    items: &[Value],
    now: Timestamp,
) -> ApiResult<Vec<Value>> {
    let mut out = Vec::with_capacity(items.len());
    let mut mount_paths = BTreeSet::new();
    let mut slugs = BTreeSet::new();
    let (mut files, mut stores) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let at = |name: &str| format!("resources[{i}].{name}");
        let Value::Object(map) = item else {
            return Err(field(format!("resources[{i}]"), "expected an object"));
        };
        let text = |name: &str| -> ApiResult<Option<String>> {
            match map.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(field(at(name), "expected a string")),
            }
        };
        let resource = match map.get("type").and_then(Value::as_str) {
            Some("file") => {
                files += 1;
                if files > MAX_FILES {
                    return Err(field(at("type"), "at most 999 file resources"));
                }
                let file_id = text("file_id")?.ok_or_else(|| field(at("file_id"), "required"))?;
                let file = store::files::get(env, &caller.tenant_id, &file_id).await?;
                if file.is_none_or(|f| f.expired(now)) {
                    return Err(ApiError::not_found("file", &file_id));
                }
                let mount_path = match text("mount_path")? {
                    Some(path) => {
                        validate_mount_path(&path).map_err(|e| field(at("mount_path"), &e))?;
                        if path.starts_with(&format!("{OUTPUTS_DIR}/"))
                            || path.starts_with(&format!("{MEMORY_DIR}/"))
                        {
                            return Err(field(
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
                    return Err(field(at("type"), "at most 8 memory stores"));
                }
                let store_id = text("memory_store_id")?
                    .ok_or_else(|| field(at("memory_store_id"), "required"))?;
                let access = match text("access")?.as_deref() {
                    None | Some("read_write") => "read_write",
                    Some("read_only") => "read_only",
                    Some(_) => {
                        return Err(field(at("access"), "expected `read_write` or `read_only`"));
                    }
                };
                let instructions = text("instructions")?;
                if instructions
                    .as_ref()
                    .is_some_and(|s| s.chars().count() > MAX_INSTRUCTIONS)
                {
                    return Err(field(at("instructions"), "at most 4096 characters"));
                }
                let memory_store = store::memory::get_store(env, &caller.tenant_id, &store_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("memory_store", &store_id))?;
                if memory_store.archived_at.is_some() {
                    return Err(field(at("memory_store_id"), "the memory store is archived"));
                }
                if out
                    .iter()
                    .any(|r: &Value| r["memory_store_id"].as_str() == Some(store_id.as_str()))
                {
                    return Err(field(
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
                    "type": "memory_store",
                    "memory_store_id": store_id,
                    "access": access,
                    "instructions": instructions,
                    "name": memory_store.name,
                    "description": memory_store.description,
                    "mount_path": format!("{MEMORY_DIR}/{slug}"),
                })
            }
            Some("github_repository") => {
                return Err(field(
                    at("type"),
                    "github_repository resources are not supported by this deployment",
                ));
            }
            Some(_) => {
                return Err(field(
                    at("type"),
                    "expected `file`, `memory_store` or `github_repository`",
                ));
            }
            None => return Err(field(at("type"), "required")),
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
            return Err(field(
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
