//! Memory stores, memories and memory versions in D1 (content included: a
//! memory is at most 100 KB). Every query is scoped by `tenant_id`; a
//! memory change and its version are written in one D1 batch, guarded by
//! the memory's current version so that concurrent writers cannot both win.

use openma_core::wire::Timestamp;
pub use openma_core::wire::resources::MemoryStore;
use serde::Deserialize;
use worker::Env;

use super::Param;

fn rust_error(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

#[derive(Debug, Deserialize)]
struct SnapshotRow {
    snapshot: String,
}

fn parse_store(row: &SnapshotRow) -> worker::Result<MemoryStore> {
    serde_json::from_str(&row.snapshot).map_err(rust_error)
}

/// A tenant's store.
pub async fn get_store(
    env: &Env,
    tenant_id: &str,
    id: &str,
) -> worker::Result<Option<MemoryStore>> {
    let row: Option<SnapshotRow> = super::first(
        env,
        "SELECT snapshot FROM memory_stores WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    row.as_ref().map(parse_store).transpose()
}

/// Stores a new store, or replaces one; `false` if a replaced one is gone.
pub async fn put_store(
    env: &Env,
    tenant_id: &str,
    store: &MemoryStore,
    insert: bool,
) -> worker::Result<bool> {
    let snapshot = serde_json::to_string(store).map_err(rust_error)?;
    let sql = if insert {
        "INSERT INTO memory_stores (id, tenant_id, created_at, archived_at, snapshot)
         VALUES (?2, ?1, ?3, ?4, ?5)"
    } else {
        "UPDATE memory_stores SET archived_at = ?4, snapshot = ?5
         WHERE tenant_id = ?1 AND id = ?2 AND created_at = ?3"
    };
    let changed = super::run(
        env,
        sql,
        &[
            Param::from(tenant_id),
            Param::from(store.id.as_str()),
            Param::from(store.created_at.to_rfc3339()),
            Param::from(store.archived_at.map(|t| t.to_rfc3339())),
            Param::from(snapshot),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Deletes a store with its memories and versions; `false` if none.
pub async fn delete_store(env: &Env, tenant_id: &str, id: &str) -> worker::Result<bool> {
    let params = [Param::from(tenant_id), Param::from(id)];
    super::run(
        env,
        "DELETE FROM memory_versions WHERE tenant_id = ?1 AND store_id = ?2",
        &params,
    )
    .await?;
    super::run(
        env,
        "DELETE FROM memories WHERE tenant_id = ?1 AND store_id = ?2",
        &params,
    )
    .await?;
    let changed = super::run(
        env,
        "DELETE FROM memory_stores WHERE tenant_id = ?1 AND id = ?2",
        &params,
    )
    .await?;
    Ok(changed > 0)
}

/// Filters of the store list.
#[derive(Debug, Default)]
pub struct StoreFilter {
    pub include_archived: bool,
    pub created_gte: Option<Timestamp>,
    pub created_lte: Option<Timestamp>,
}

/// Up to `limit` stores with ids after `after`, oldest first.
pub async fn list_stores(
    env: &Env,
    tenant_id: &str,
    filter: &StoreFilter,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<MemoryStore>> {
    let rows: Vec<SnapshotRow> = super::all(
        env,
        "SELECT snapshot FROM memory_stores
         WHERE tenant_id = ?1 AND id > ?2 AND (?3 = 1 OR archived_at IS NULL)
           AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at <= ?5)
         ORDER BY id LIMIT ?6",
        &[
            Param::from(tenant_id),
            Param::from(after),
            Param::Int(i64::from(filter.include_archived)),
            Param::from(filter.created_gte.map(|t| t.to_rfc3339())),
            Param::from(filter.created_lte.map(|t| t.to_rfc3339())),
            Param::from(limit),
        ],
    )
    .await?;
    rows.iter().map(parse_store).collect()
}

// ---- memories -----------------------------------------------------------

/// A memory row; `content` is only read when asked for.
#[derive(Debug, Clone, Deserialize)]
pub struct MemoryRow {
    pub id: String,
    pub path: String,
    pub content: Option<String>,
    pub content_sha256: String,
    pub content_size_bytes: f64,
    pub memory_version_id: String,
    pub created_at: String,
    pub updated_at: String,
}

fn memory_columns(with_content: bool) -> String {
    let content = if with_content {
        "content"
    } else {
        "NULL AS content"
    };
    format!(
        "id, path, {content}, content_sha256, content_size_bytes, memory_version_id, created_at, updated_at"
    )
}

/// A memory of a tenant's store.
pub async fn get_memory(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    id: &str,
    with_content: bool,
) -> worker::Result<Option<MemoryRow>> {
    super::first(
        env,
        &format!(
            "SELECT {} FROM memories WHERE tenant_id = ?1 AND store_id = ?2 AND id = ?3",
            memory_columns(with_content)
        ),
        &[
            Param::from(tenant_id),
            Param::from(store_id),
            Param::from(id),
        ],
    )
    .await
}

/// The memory of a tenant's store at `path`.
pub async fn get_memory_by_path(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    path: &str,
) -> worker::Result<Option<MemoryRow>> {
    super::first(
        env,
        &format!(
            "SELECT {} FROM memories WHERE tenant_id = ?1 AND store_id = ?2 AND path = ?3",
            memory_columns(false)
        ),
        &[
            Param::from(tenant_id),
            Param::from(store_id),
            Param::from(path),
        ],
    )
    .await
}

/// A memory of the store whose path conflicts with `path` (the same path,
/// an ancestor, or a descendant), other than `except_id`.
pub async fn find_conflict(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    path: &str,
    except_id: &str,
) -> worker::Result<Option<String>> {
    #[derive(Deserialize)]
    struct Found {
        id: String,
    }
    let ancestors = serde_json::to_string(&openma_core::control::memory::ancestors(path))
        .map_err(rust_error)?;
    let found: Option<Found> = super::first(
        env,
        "SELECT id FROM memories
         WHERE tenant_id = ?1 AND store_id = ?2 AND id != ?3
           AND (path = ?4 OR path IN (SELECT value FROM json_each(?5))
                OR substr(path, 1, length(?4) + 1) = ?4 || '/')
         ORDER BY path LIMIT 1",
        &[
            Param::from(tenant_id),
            Param::from(store_id),
            Param::from(except_id),
            Param::from(path),
            Param::from(ancestors),
        ],
    )
    .await?;
    Ok(found.map(|f| f.id))
}

/// Memories under `prefix` with paths after `after`, in path order (at
/// most `cap`).
pub async fn list_memories(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    prefix: &str,
    after: &str,
    with_content: bool,
    cap: usize,
) -> worker::Result<Vec<MemoryRow>> {
    super::all(
        env,
        &format!(
            "SELECT {} FROM memories
             WHERE tenant_id = ?1 AND store_id = ?2 AND substr(path, 1, length(?3)) = ?3
               AND path > ?4
             ORDER BY path LIMIT ?5",
            memory_columns(with_content)
        ),
        &[
            Param::from(tenant_id),
            Param::from(store_id),
            Param::from(prefix),
            Param::from(after),
            Param::from(cap),
        ],
    )
    .await
}

/// A new version, as written alongside a memory change.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub id: String,
    pub memory_id: String,
    pub operation: &'static str,
    pub path: String,
    /// `None` for `deleted`.
    pub content: Option<String>,
    pub content_sha256: Option<String>,
    pub content_size_bytes: Option<usize>,
    pub created_at: String,
    /// The writer's `apikey_` id, if known.
    pub api_key_id: Option<String>,
    /// The writing session, for an agent's change through its mount.
    pub session_id: Option<String>,
}

fn insert_version_sql(condition: &str) -> String {
    format!(
        "INSERT INTO memory_versions
         (id, tenant_id, store_id, memory_id, operation, path, content, content_sha256, content_size_bytes, created_at, api_key_id, session_id)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 WHERE {condition}"
    )
}

fn version_params(tenant_id: &str, store_id: &str, v: &NewVersion) -> Vec<Param> {
    vec![
        Param::from(v.id.as_str()),
        Param::from(tenant_id),
        Param::from(store_id),
        Param::from(v.memory_id.as_str()),
        Param::from(v.operation),
        Param::from(v.path.as_str()),
        Param::from(v.content.clone()),
        Param::from(v.content_sha256.clone()),
        v.content_size_bytes.map_or(Param::Null, Param::from),
        Param::from(v.created_at.as_str()),
        Param::from(v.api_key_id.clone()),
        Param::from(v.session_id.clone()),
    ]
}

/// Why a memory write did not apply.
#[derive(Debug)]
pub enum WriteError {
    /// Another memory holds the path.
    PathTaken,
    /// The memory changed (or went away) since it was read.
    Stale,
    /// The database failed.
    Store(worker::Error),
}

impl From<worker::Error> for WriteError {
    fn from(err: worker::Error) -> Self {
        if err.to_string().contains("UNIQUE constraint failed") {
            Self::PathTaken
        } else {
            Self::Store(err)
        }
    }
}

async fn batch(env: &Env, statements: Vec<(String, Vec<Param>)>) -> Result<Vec<usize>, WriteError> {
    let db = super::db(env)?;
    let prepared = statements
        .iter()
        .map(|(sql, params)| super::statement(&db, sql, params))
        .collect::<worker::Result<Vec<_>>>()?;
    let results = db.batch(prepared).await?;
    results
        .iter()
        .map(|r| Ok(r.meta()?.and_then(|m| m.changes).unwrap_or_default()))
        .collect::<worker::Result<Vec<usize>>>()
        .map_err(WriteError::Store)
}

/// Creates a memory and its `created` version.
pub async fn create_memory(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    version: &NewVersion,
) -> Result<(), WriteError> {
    let insert_params = version_params(tenant_id, store_id, version);
    // The memory row takes the version's first ten values.
    let mut memory_params = insert_params.clone();
    memory_params.truncate(10);
    batch(
        env,
        vec![
            (
                "INSERT INTO memories (id, tenant_id, store_id, path, content, content_sha256, content_size_bytes, memory_version_id, created_at, updated_at)
                 VALUES (?4, ?2, ?3, ?6, ?7, ?8, ?9, ?1, ?10, ?10)"
                    .to_owned(),
                memory_params,
            ),
            (insert_version_sql("1"), insert_params),
        ],
    )
    .await?;
    Ok(())
}

/// Applies a `modified` version to a memory whose current version is
/// `expected_version`.
pub async fn update_memory(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    expected_version: &str,
    version: &NewVersion,
) -> Result<(), WriteError> {
    let mut params = version_params(tenant_id, store_id, version);
    params.push(Param::from(expected_version));
    let changes = batch(
        env,
        vec![
            (
                insert_version_sql(
                    "EXISTS (SELECT 1 FROM memories WHERE tenant_id = ?2 AND store_id = ?3 AND id = ?4 AND memory_version_id = ?13)",
                ),
                params.clone(),
            ),
            (
                "UPDATE memories SET path = ?6, content = ?7, content_sha256 = ?8, content_size_bytes = ?9,
                     memory_version_id = ?1, updated_at = ?10
                 WHERE tenant_id = ?2 AND store_id = ?3 AND id = ?4 AND memory_version_id = ?13"
                    .to_owned(),
                params,
            ),
        ],
    )
    .await?;
    if changes.get(1).copied().unwrap_or_default() == 0 {
        return Err(WriteError::Stale);
    }
    Ok(())
}

/// Deletes a memory whose current version is `expected_version`, recording
/// a `deleted` version.
pub async fn delete_memory(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    expected_version: &str,
    version: &NewVersion,
) -> Result<(), WriteError> {
    let mut params = version_params(tenant_id, store_id, version);
    params.push(Param::from(expected_version));
    let changes = batch(
        env,
        vec![
            (
                insert_version_sql(
                    "EXISTS (SELECT 1 FROM memories WHERE tenant_id = ?2 AND store_id = ?3 AND id = ?4 AND memory_version_id = ?13)",
                ),
                params.clone(),
            ),
            (
                "DELETE FROM memories
                 WHERE tenant_id = ?2 AND store_id = ?3 AND id = ?4 AND memory_version_id = ?13"
                    .to_owned(),
                params,
            ),
        ],
    )
    .await?;
    if changes.get(1).copied().unwrap_or_default() == 0 {
        return Err(WriteError::Stale);
    }
    Ok(())
}

// ---- versions -----------------------------------------------------------

/// A version row.
#[derive(Debug, Clone, Deserialize)]
pub struct VersionRow {
    pub id: String,
    pub memory_id: String,
    pub operation: String,
    pub path: Option<String>,
    pub content: Option<String>,
    pub content_sha256: Option<String>,
    pub content_size_bytes: Option<f64>,
    pub created_at: String,
    pub api_key_id: Option<String>,
    pub session_id: Option<String>,
    pub redacted_at: Option<String>,
    pub redacted_by_api_key_id: Option<String>,
}

fn version_columns(with_content: bool) -> String {
    let content = if with_content {
        "content"
    } else {
        "NULL AS content"
    };
    format!(
        "id, memory_id, operation, path, {content}, content_sha256, content_size_bytes, created_at, api_key_id, session_id, redacted_at, redacted_by_api_key_id"
    )
}

/// Filters of the version list.
#[derive(Debug, Default)]
pub struct VersionFilter {
    pub memory_id: Option<String>,
    pub operation: Option<String>,
    pub api_key_id: Option<String>,
    pub session_id: Option<String>,
    pub created_gte: Option<Timestamp>,
    pub created_lte: Option<Timestamp>,
    /// Service accounts never write here: a filter on one matches nothing.
    pub service_account: bool,
}

/// A version of a tenant's store.
pub async fn get_version(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    id: &str,
    with_content: bool,
) -> worker::Result<Option<VersionRow>> {
    super::first(
        env,
        &format!(
            "SELECT {} FROM memory_versions WHERE tenant_id = ?1 AND store_id = ?2 AND id = ?3",
            version_columns(with_content)
        ),
        &[
            Param::from(tenant_id),
            Param::from(store_id),
            Param::from(id),
        ],
    )
    .await
}

/// Up to `limit` versions, newest first, with ids before `before`.
pub async fn list_versions(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    filter: &VersionFilter,
    before: &str,
    with_content: bool,
    limit: usize,
) -> worker::Result<Vec<VersionRow>> {
    super::all(
        env,
        &format!(
            "SELECT {} FROM memory_versions
             WHERE tenant_id = ?1 AND store_id = ?2 AND (?3 = '' OR id < ?3)
               AND ?4 IS NULL AND (?5 IS NULL OR memory_id = ?5) AND (?6 IS NULL OR operation = ?6)
               AND (?7 IS NULL OR api_key_id = ?7) AND (?8 IS NULL OR session_id = ?8)
               AND (?9 IS NULL OR created_at >= ?9) AND (?10 IS NULL OR created_at <= ?10)
               AND ?11 = 0
             ORDER BY id DESC LIMIT ?12",
            version_columns(with_content)
        ),
        &[
            Param::from(tenant_id),
            Param::from(store_id),
            Param::from(before),
            Param::Null,
            Param::from(filter.memory_id.clone()),
            Param::from(filter.operation.clone()),
            Param::from(filter.api_key_id.clone()),
            Param::from(filter.session_id.clone()),
            Param::from(filter.created_gte.map(|t| t.to_rfc3339())),
            Param::from(filter.created_lte.map(|t| t.to_rfc3339())),
            Param::Int(i64::from(filter.service_account)),
            Param::from(limit),
        ],
    )
    .await
}

/// Redacts a version: its content, digest, size and path are erased.
pub async fn redact_version(
    env: &Env,
    tenant_id: &str,
    store_id: &str,
    id: &str,
    at: &str,
    by_api_key_id: Option<String>,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE memory_versions
         SET content = NULL, content_sha256 = NULL, content_size_bytes = NULL, path = NULL,
             redacted_at = COALESCE(redacted_at, ?4),
             redacted_by_api_key_id = CASE WHEN redacted_at IS NULL THEN ?5 ELSE redacted_by_api_key_id END
         WHERE tenant_id = ?1 AND store_id = ?2 AND id = ?3",
        &[
            Param::from(tenant_id),
            Param::from(store_id),
            Param::from(id),
            Param::from(at),
            Param::from(by_api_key_id),
        ],
    )
    .await?;
    Ok(changed > 0)
}
