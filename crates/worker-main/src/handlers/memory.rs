//! `/v1/memory_stores`: stores, their memories (text documents at paths)
//! and every memory's version history. Content is kept in D1 (a memory is
//! at most 100 KB); the pure rules (paths, conflicts, digests, the `depth`
//! roll-up) are in `openma_core::control::memory`.

use std::collections::BTreeMap;

use openma_core::control;
use openma_core::control::memory;
use openma_core::control::memory::ListItem;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Page;
use openma_core::wire::PageCursor;
use openma_core::wire::Timestamp;
use openma_core::wire::ValidationError;
use openma_core::wire::object_type::MemoryStoreType;
use openma_core::wire::page::Order;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::Response;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::handlers::agents::include_archived;
use crate::handlers::agents::invalid;
use crate::handlers::pages::after;
use crate::handlers::pages::page;
use crate::request::Query;
use crate::request::now;
use crate::store;
use crate::store::memory::MemoryRow;
use crate::store::memory::MemoryStore;
use crate::store::memory::NewVersion;
use crate::store::memory::VersionRow;
use crate::store::memory::WriteError;

/// Memories read per listing when `depth` rolls deeper ones up.
const ROLL_UP_CAP: usize = 10_000;
/// With `view=full`, a page holds at most this many items.
const FULL_VIEW_LIMIT: usize = 20;

/// A route under `/v1/memory_stores`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MemoryRoute {
    CreateStore,
    ListStores,
    GetStore(String),
    UpdateStore(String),
    DeleteStore(String),
    ArchiveStore(String),
    CreateMemory(String),
    ListMemories(String),
    GetMemory(String, String),
    UpdateMemory(String, String),
    DeleteMemory(String, String),
    ListVersions(String),
    GetVersion(String, String),
    RedactVersion(String, String),
}

impl MemoryRoute {
    /// Parses the segments after `/v1/memory_stores`.
    pub(crate) fn parse(method: &Method, rest: &[&str]) -> Option<Self> {
        let s = |s: &str| s.to_owned();
        Some(match (method, rest) {
            (Method::Post, []) => Self::CreateStore,
            (Method::Get, []) => Self::ListStores,
            (Method::Get, [m]) => Self::GetStore(s(m)),
            (Method::Post, [m]) => Self::UpdateStore(s(m)),
            (Method::Delete, [m]) => Self::DeleteStore(s(m)),
            (Method::Post, [m, "archive"]) => Self::ArchiveStore(s(m)),
            (Method::Post, [m, "memories"]) => Self::CreateMemory(s(m)),
            (Method::Get, [m, "memories"]) => Self::ListMemories(s(m)),
            (Method::Get, [m, "memories", id]) => Self::GetMemory(s(m), s(id)),
            (Method::Post | Method::Patch, [m, "memories", id]) => Self::UpdateMemory(s(m), s(id)),
            (Method::Delete, [m, "memories", id]) => Self::DeleteMemory(s(m), s(id)),
            (Method::Get, [m, "memory_versions"]) => Self::ListVersions(s(m)),
            (Method::Get, [m, "memory_versions", id]) => Self::GetVersion(s(m), s(id)),
            (Method::Post, [m, "memory_versions", id, "redact"]) => {
                Self::RedactVersion(s(m), s(id))
            }
            _ => return None,
        })
    }
}

/// Serves a memory-store route.
pub(crate) async fn serve(
    route: MemoryRoute,
    mut req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    let query = Query::of(&req);
    let ctx = Ctx { env, caller };
    let value = match route {
        MemoryRoute::CreateStore => ctx.create_store(&body(&mut req).await?).await?,
        MemoryRoute::ListStores => ctx.list_stores(&query).await?,
        MemoryRoute::GetStore(id) => to_value(&ctx.store(&id).await?)?,
        MemoryRoute::UpdateStore(id) => ctx.update_store(&id, &body(&mut req).await?).await?,
        MemoryRoute::DeleteStore(id) => ctx.delete_store(&id).await?,
        MemoryRoute::ArchiveStore(id) => ctx.archive_store(&id).await?,
        MemoryRoute::CreateMemory(m) => {
            ctx.create_memory(&m, &body(&mut req).await?, &query)
                .await?
        }
        MemoryRoute::ListMemories(m) => ctx.list_memories(&m, &query).await?,
        MemoryRoute::GetMemory(m, id) => {
            let full = view(&query, true)?;
            memory_json(&ctx.memory(&m, &id, full).await?, &m, full)
        }
        MemoryRoute::UpdateMemory(m, id) => {
            ctx.update_memory(&m, &id, &body(&mut req).await?, &query)
                .await?
        }
        MemoryRoute::DeleteMemory(m, id) => ctx.delete_memory(&m, &id, &query).await?,
        MemoryRoute::ListVersions(m) => ctx.list_versions(&m, &query).await?,
        MemoryRoute::GetVersion(m, id) => {
            let full = view(&query, true)?;
            version_json(&ctx.version(&m, &id, full).await?, &m)?
        }
        MemoryRoute::RedactVersion(m, id) => ctx.redact(&m, &id).await?,
    };
    Ok(openma_cloudflare::json(200, &value)?)
}

async fn body(req: &mut Request) -> ApiResult<Value> {
    crate::request::json_body(req).await
}

fn to_value<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// `view`: `full` or `basic`; `default_full` when absent.
fn view(query: &Query, default_full: bool) -> ApiResult<bool> {
    match query.get("view") {
        None | Some("") => Ok(default_full),
        Some("full") => Ok(true),
        Some("basic") => Ok(false),
        Some(_) => Err(ApiError::invalid("view: expected basic or full")),
    }
}

fn timestamp(query: &Query, names: &[&str]) -> ApiResult<Option<Timestamp>> {
    for name in names {
        if let Some(text) = query.get(name) {
            return Timestamp::parse_rfc3339(text).map(Some).ok_or_else(|| {
                ApiError::invalid(format!("{name}: expected an RFC 3339 timestamp"))
            });
        }
    }
    Ok(None)
}

fn memory_json(row: &MemoryRow, store_id: &str, full: bool) -> Value {
    json!({
        "id": row.id,
        "type": "memory",
        "memory_store_id": store_id,
        "path": row.path,
        "content": if full { row.content.clone() } else { None },
        "content_sha256": row.content_sha256,
        "content_size_bytes": row.content_size_bytes as u64,
        "memory_version_id": row.memory_version_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

fn actor(api_key_id: Option<&String>, session_id: Option<&String>) -> Value {
    match (api_key_id, session_id) {
        (_, Some(session)) => json!({"type": "session_actor", "session_id": session}),
        (Some(key), None) => json!({"type": "api_actor", "api_key_id": key}),
        (None, None) => Value::Null,
    }
}

fn version_json(row: &VersionRow, store_id: &str) -> ApiResult<Value> {
    Ok(json!({
        "id": row.id,
        "type": "memory_version",
        "memory_id": row.memory_id,
        "memory_store_id": store_id,
        "operation": row.operation,
        "path": row.path,
        "content": row.content,
        "content_sha256": row.content_sha256,
        "content_size_bytes": row.content_size_bytes.map(|n| n as u64),
        "created_at": row.created_at,
        "created_by": actor(row.api_key_id.as_ref(), row.session_id.as_ref()),
        "redacted_at": row.redacted_at,
        "redacted_by": row.redacted_at.as_ref().map(|_| actor(row.redacted_by_api_key_id.as_ref(), None)),
    }))
}

fn store_not_found(id: &str) -> ApiError {
    ApiError::not_found("memory store", id)
}

fn memory_not_found(id: &str) -> ApiError {
    ApiError::not_found("memory", id)
}

fn archived_store() -> ApiError {
    ApiError::invalid("the memory store is archived: its memories cannot be created or changed")
}

fn precondition_failed(message: &str) -> ApiError {
    ApiError::new(ApiErrorType::MemoryPreconditionFailedError, message)
}

fn path_conflict(path: &str, conflicting: String) -> ApiError {
    let mut err = ApiError::new(
        ApiErrorType::MemoryPathConflictError,
        format!("path: {path:?} conflicts with an existing memory"),
    );
    err.details.push((
        "conflicting_memory_id",
        serde_json::Value::String(conflicting),
    ));
    err
}

fn new_id(prefix: &str, at: Timestamp) -> ApiResult<String> {
    openma_cloudflare::ids::mint_id(prefix, at.0.unsigned_abs()).map_err(ApiError::internal)
}

fn string_field<'a>(body: &'a Value, name: &str) -> ApiResult<Option<&'a str>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!("{name}: expected a string"))),
    }
}

fn metadata(body: &Value) -> ApiResult<BTreeMap<String, String>> {
    let mut metadata = BTreeMap::new();
    match body.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let Value::String(value) = value else {
                    return Err(ApiError::invalid(format!(
                        "metadata.{key}: expected a string"
                    )));
                };
                metadata.insert(key.clone(), value.clone());
            }
        }
        Some(_) => return Err(ApiError::invalid("metadata: expected an object")),
    }
    control::validate_metadata(&metadata, "metadata").map_err(invalid)?;
    Ok(metadata)
}

struct Ctx<'a> {
    env: &'a Env,
    caller: &'a Caller,
}

impl Ctx<'_> {
    fn tenant(&self) -> &str {
        &self.caller.tenant_id
    }

    /// Tells the tenant's webhook endpoints about a memory store.
    async fn announce(&self, event_type: &str, store_id: &str) {
        let extra = json!({});
        super::webhooks::announce(self.env, self.caller, event_type, store_id, None, extra).await;
    }

    // ---- stores ----

    async fn store(&self, id: &str) -> ApiResult<MemoryStore> {
        store::memory::get_store(self.env, self.tenant(), id)
            .await?
            .ok_or_else(|| store_not_found(id))
    }

    async fn writable_store(&self, id: &str) -> ApiResult<MemoryStore> {
        let found = self.store(id).await?;
        if found.archived_at.is_some() {
            return Err(archived_store());
        }
        Ok(found)
    }

    async fn create_store(&self, body: &Value) -> ApiResult<Value> {
        let name =
            string_field(body, "name")?.ok_or_else(|| ApiError::invalid("name: is required"))?;
        memory::validate_store_name(name)?;
        let description = string_field(body, "description")?.unwrap_or_default();
        memory::validate_store_description(description)?;
        let metadata = metadata(body)?;
        let now = now();
        let created = MemoryStore {
            id: new_id("memstore_", now)?,
            kind: MemoryStoreType::Tag,
            name: name.to_owned(),
            description: description.to_owned(),
            metadata,
            created_at: now,
            updated_at: now,
            archived_at: None,
        };
        store::memory::put_store(self.env, self.tenant(), &created, true).await?;
        self.announce("memory_store.created", &created.id).await;
        to_value(&created)
    }

    async fn list_stores(&self, query: &Query) -> ApiResult<Value> {
        let limit = query.limit(20, 100)?;
        let filter = store::memory::StoreFilter {
            include_archived: include_archived(query)?,
            created_gte: timestamp(query, &["created_at[gte]", "created_at_gte"])?,
            created_lte: timestamp(query, &["created_at[lte]", "created_at_lte"])?,
        };
        let found =
            store::memory::list_stores(self.env, self.tenant(), &filter, &after(query)?, limit + 1)
                .await?;
        page(found, limit, |s| s.id.clone())
    }

    async fn update_store(&self, id: &str, body: &Value) -> ApiResult<Value> {
        if !body.is_object() {
            return Err(ApiError::invalid("the request body must be a JSON object"));
        }
        let current = self.writable_store(id).await?;
        let mut next = current.clone();
        if let Some(name) = string_field(body, "name")? {
            memory::validate_store_name(name)?;
            next.name = name.to_owned();
        }
        match body.get("description") {
            None => {}
            Some(Value::Null) => next.description = String::new(),
            Some(_) => {
                let description = string_field(body, "description")?.unwrap_or_default();
                memory::validate_store_description(description)?;
                next.description = description.to_owned();
            }
        }
        match body.get("metadata") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                let mut patch = BTreeMap::new();
                for (key, value) in map {
                    let value = match value {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        _ => {
                            return Err(ApiError::invalid(format!(
                                "metadata.{key}: expected a string or null"
                            )));
                        }
                    };
                    patch.insert(key.clone(), value);
                }
                next.metadata =
                    control::apply_metadata_patch(&current.metadata, &patch, "metadata")
                        .map_err(invalid)?;
            }
            Some(_) => return Err(ApiError::invalid("metadata: expected an object")),
        }
        if next == current {
            return to_value(&current);
        }
        next.updated_at = now();
        if !store::memory::put_store(self.env, self.tenant(), &next, false).await? {
            return Err(store_not_found(id));
        }
        to_value(&next)
    }

    async fn delete_store(&self, id: &str) -> ApiResult<Value> {
        if store::memory::delete_store(self.env, self.tenant(), id).await? {
            self.announce("memory_store.deleted", id).await;
            Ok(json!({"id": id, "type": "memory_store_deleted"}))
        } else {
            Err(store_not_found(id))
        }
    }

    async fn archive_store(&self, id: &str) -> ApiResult<Value> {
        let mut found = self.store(id).await?;
        if found.archived_at.is_none() {
            let at = now();
            found.archived_at = Some(at);
            found.updated_at = at;
            if !store::memory::put_store(self.env, self.tenant(), &found, false).await? {
                return Err(store_not_found(id));
            }
            self.announce("memory_store.archived", id).await;
        }
        to_value(&found)
    }

    // ---- memories ----

    async fn memory(&self, store_id: &str, id: &str, full: bool) -> ApiResult<MemoryRow> {
        self.store(store_id).await?;
        store::memory::get_memory(self.env, self.tenant(), store_id, id, full)
            .await?
            .ok_or_else(|| memory_not_found(id))
    }

    async fn check_conflict(&self, store_id: &str, path: &str, except: &str) -> ApiResult<()> {
        match store::memory::find_conflict(self.env, self.tenant(), store_id, path, except).await? {
            Some(conflicting) => Err(path_conflict(path, conflicting)),
            None => Ok(()),
        }
    }

    async fn write_error(&self, err: WriteError, store_id: &str, path: &str, id: &str) -> ApiError {
        match err {
            WriteError::PathTaken => {
                match store::memory::find_conflict(self.env, self.tenant(), store_id, path, id)
                    .await
                {
                    Ok(Some(conflicting)) => path_conflict(path, conflicting),
                    Ok(None) => ApiError::new(
                        ApiErrorType::MemoryPathConflictError,
                        format!("path: {path:?} conflicts with an existing memory"),
                    ),
                    Err(err) => ApiError::internal(err),
                }
            }
            WriteError::Stale => ApiError::new(
                ApiErrorType::ConflictError,
                "the memory was changed concurrently; read it again and retry",
            ),
            WriteError::Store(err) => ApiError::internal(err),
        }
    }

    async fn create_memory(&self, store_id: &str, body: &Value, query: &Query) -> ApiResult<Value> {
        let full = view(query, false)?;
        if !body.is_object() {
            return Err(ApiError::invalid("the request body must be a JSON object"));
        }
        let path =
            string_field(body, "path")?.ok_or_else(|| ApiError::invalid("path: is required"))?;
        memory::validate_path(path, "path")?;
        if !body
            .get("content")
            .is_some_and(|c| c.is_string() || c.is_null())
        {
            return Err(ApiError::from(ValidationError::new(
                "content",
                if body.get("content").is_none() {
                    "is required"
                } else {
                    "expected a string or null"
                },
            )));
        }
        let content = string_field(body, "content")?.unwrap_or_default();
        memory::validate_content(content)?;
        self.writable_store(store_id).await?;
        self.check_conflict(store_id, path, "").await?;
        let now = now();
        let memory_id = new_id("mem_", now)?;
        let version = NewVersion {
            id: new_id("memver_", now)?,
            memory_id: memory_id.clone(),
            operation: "created",
            path: path.to_owned(),
            content: Some(content.to_owned()),
            content_sha256: Some(memory::content_sha256(content)),
            content_size_bytes: Some(content.len()),
            created_at: now.to_rfc3339(),
            api_key_id: self.caller.api_key_id.clone(),
            session_id: None,
        };
        if let Err(err) =
            store::memory::create_memory(self.env, self.tenant(), store_id, &version).await
        {
            return Err(self.write_error(err, store_id, path, &memory_id).await);
        }
        let row = self.memory(store_id, &memory_id, full).await?;
        Ok(memory_json(&row, store_id, full))
    }

    async fn list_memories(&self, store_id: &str, query: &Query) -> ApiResult<Value> {
        let full = view(query, false)?;
        let mut limit = query.limit(20, 100)?;
        if full {
            limit = limit.min(FULL_VIEW_LIMIT);
        }
        let prefix = query
            .get("path_prefix")
            .filter(|p| !p.is_empty())
            .unwrap_or("/");
        memory::validate_prefix(prefix)?;
        let depth = match query.get("depth") {
            None | Some("") => 0,
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| ApiError::invalid("depth: expected a non-negative integer"))?,
        };
        let after = after(query)?;
        self.store(store_id).await?;
        let cap = if depth == 0 { limit + 1 } else { ROLL_UP_CAP };
        // A prefix cursor must not cut off its own subtree in SQL: the core
        // skips the subtree; SQL only skips what sorts before the cursor.
        let rows = store::memory::list_memories(
            self.env,
            self.tenant(),
            store_id,
            prefix,
            &after,
            full,
            cap,
        )
        .await?;
        let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
        let listed = memory::list_page(&paths, prefix, depth, &after, limit);
        let data: Vec<Value> = listed
            .items
            .iter()
            .filter_map(|item| match item {
                ListItem::Memory(i) => rows.get(*i).map(|row| memory_json(row, store_id, full)),
                ListItem::Prefix(dir) => Some(json!({"type": "memory_prefix", "path": dir})),
            })
            .collect();
        let next_page = listed.next.map(|after| {
            PageCursor {
                order: Order::Asc,
                after,
            }
            .encode()
        });
        to_value(&Page {
            data,
            next_page,
            prev_page: None,
        })
    }

    async fn update_memory(
        &self,
        store_id: &str,
        id: &str,
        body: &Value,
        query: &Query,
    ) -> ApiResult<Value> {
        let full = view(query, false)?;
        if !body.is_object() {
            return Err(ApiError::invalid("the request body must be a JSON object"));
        }
        let new_path = string_field(body, "path")?;
        if let Some(path) = new_path {
            memory::validate_path(path, "path")?;
        }
        let new_content = string_field(body, "content")?;
        if let Some(content) = new_content {
            memory::validate_content(content)?;
        }
        let expected = match body.get("precondition") {
            None | Some(Value::Null) => None,
            Some(Value::Object(pre)) => {
                if pre.get("type").and_then(Value::as_str) != Some("content_sha256") {
                    return Err(ApiError::invalid(
                        "precondition.type: expected content_sha256",
                    ));
                }
                match pre.get("content_sha256") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(sha)) => {
                        memory::validate_sha256(sha, "precondition.content_sha256")?;
                        Some(sha.clone())
                    }
                    Some(_) => {
                        return Err(ApiError::invalid(
                            "precondition.content_sha256: expected a string",
                        ));
                    }
                }
            }
            Some(_) => return Err(ApiError::invalid("precondition: expected an object")),
        };
        self.writable_store(store_id).await?;
        let current = self.memory(store_id, id, true).await?;
        if let Some(expected) = &expected
            && *expected != current.content_sha256
        {
            return Err(precondition_failed(
                "precondition.content_sha256: the memory's content has changed",
            ));
        }
        let path = new_path.unwrap_or(&current.path);
        let content = new_content
            .map(str::to_owned)
            .or_else(|| current.content.clone())
            .unwrap_or_default();
        if path == current.path && new_content.is_none_or(|c| Some(c) == current.content.as_deref())
        {
            let row = self.memory(store_id, id, full).await?;
            return Ok(memory_json(&row, store_id, full));
        }
        if path != current.path {
            self.check_conflict(store_id, path, id).await?;
        }
        let now = now();
        let version = NewVersion {
            id: new_id("memver_", now)?,
            memory_id: id.to_owned(),
            operation: "modified",
            path: path.to_owned(),
            content_sha256: Some(memory::content_sha256(&content)),
            content_size_bytes: Some(content.len()),
            content: Some(content),
            created_at: now.to_rfc3339(),
            api_key_id: self.caller.api_key_id.clone(),
            session_id: None,
        };
        if let Err(err) = store::memory::update_memory(
            self.env,
            self.tenant(),
            store_id,
            &current.memory_version_id,
            &version,
        )
        .await
        {
            return Err(match (err, &expected) {
                (WriteError::Stale, Some(_)) => precondition_failed(
                    "precondition.content_sha256: the memory was changed concurrently",
                ),
                (err, _) => self.write_error(err, store_id, path, id).await,
            });
        }
        let row = self.memory(store_id, id, full).await?;
        Ok(memory_json(&row, store_id, full))
    }

    async fn delete_memory(&self, store_id: &str, id: &str, query: &Query) -> ApiResult<Value> {
        let expected = query
            .get("expected_content_sha256")
            .filter(|s| !s.is_empty());
        if let Some(expected) = expected {
            memory::validate_sha256(expected, "expected_content_sha256")?;
        }
        let current = self.memory(store_id, id, false).await?;
        if let Some(expected) = expected
            && expected != current.content_sha256
        {
            return Err(precondition_failed(
                "expected_content_sha256: the memory's content has changed",
            ));
        }
        let now = now();
        let version = NewVersion {
            id: new_id("memver_", now)?,
            memory_id: id.to_owned(),
            operation: "deleted",
            path: current.path.clone(),
            content: None,
            content_sha256: None,
            content_size_bytes: None,
            created_at: now.to_rfc3339(),
            api_key_id: self.caller.api_key_id.clone(),
            session_id: None,
        };
        match store::memory::delete_memory(
            self.env,
            self.tenant(),
            store_id,
            &current.memory_version_id,
            &version,
        )
        .await
        {
            Ok(()) => Ok(json!({"id": id, "type": "memory_deleted"})),
            Err(WriteError::Stale) if expected.is_some() => Err(precondition_failed(
                "expected_content_sha256: the memory was changed concurrently",
            )),
            Err(err) => Err(self.write_error(err, store_id, &current.path, id).await),
        }
    }

    // ---- versions ----

    async fn version(&self, store_id: &str, id: &str, full: bool) -> ApiResult<VersionRow> {
        self.store(store_id).await?;
        store::memory::get_version(self.env, self.tenant(), store_id, id, full)
            .await?
            .ok_or_else(|| ApiError::not_found("memory version", id))
    }

    async fn list_versions(&self, store_id: &str, query: &Query) -> ApiResult<Value> {
        let full = view(query, false)?;
        let mut limit = query.limit(20, 100)?;
        if full {
            limit = limit.min(FULL_VIEW_LIMIT);
        }
        let operation = match query.get("operation").filter(|s| !s.is_empty()) {
            None => None,
            Some(op @ ("created" | "modified" | "deleted")) => Some(op.to_owned()),
            Some(_) => {
                return Err(ApiError::invalid(
                    "operation: expected created, modified or deleted",
                ));
            }
        };
        let text = |name: &str| query.get(name).filter(|s| !s.is_empty()).map(str::to_owned);
        let filter = store::memory::VersionFilter {
            memory_id: text("memory_id"),
            operation,
            api_key_id: text("api_key_id"),
            session_id: text("session_id"),
            created_gte: timestamp(query, &["created_at[gte]", "created_at_gte"])?,
            created_lte: timestamp(query, &["created_at[lte]", "created_at_lte"])?,
            service_account: text("service_account_id").is_some(),
        };
        let before = match query.get("page") {
            Some(page) if !page.is_empty() => PageCursor::decode(page, Order::Desc)?.after,
            _ => String::new(),
        };
        self.store(store_id).await?;
        let mut rows = store::memory::list_versions(
            self.env,
            self.tenant(),
            store_id,
            &filter,
            &before,
            full,
            limit + 1,
        )
        .await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_page = match (more, rows.last()) {
            (true, Some(last)) => Some(
                PageCursor {
                    order: Order::Desc,
                    after: last.id.clone(),
                }
                .encode(),
            ),
            _ => None,
        };
        let data = rows
            .iter()
            .map(|row| version_json(row, store_id))
            .collect::<ApiResult<Vec<Value>>>()?;
        to_value(&Page {
            data,
            next_page,
            prev_page: None,
        })
    }

    /// Redacts a version. The version that holds a live memory's current
    /// content cannot be redacted: update or delete the memory first.
    async fn redact(&self, store_id: &str, id: &str) -> ApiResult<Value> {
        let found = self.version(store_id, id, false).await?;
        if found.redacted_at.is_none() {
            let live = store::memory::get_memory(
                self.env,
                self.tenant(),
                store_id,
                &found.memory_id,
                false,
            )
            .await?;
            if live.is_some_and(|m| m.memory_version_id == found.id) {
                return Err(ApiError::invalid(
                    "this version holds the memory's current content; update or delete the memory before redacting it",
                ));
            }
            store::memory::redact_version(
                self.env,
                self.tenant(),
                store_id,
                id,
                &now().to_rfc3339(),
                self.caller.api_key_id.clone(),
            )
            .await?;
        }
        version_json(&self.version(store_id, id, true).await?, store_id)
    }
}
