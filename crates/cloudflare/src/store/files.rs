//! File metadata in D1 (the bytes are in the `FILES` R2 bucket under
//! [`object_key`]). Every query is scoped by `tenant_id`.

use openma_core::wire::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use worker::Env;

use super::Param;

/// The R2 key of a file's bytes.
pub fn object_key(tenant_id: &str, id: &str) -> String {
    format!("tenants/{tenant_id}/files/{id}")
}

/// The content type of a file named `name`, guessed from its extension.
pub fn mime_for(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt") => "text/plain",
        Some("md") => "text/markdown",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

/// One file's metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct FileRow {
    pub id: String,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: f64,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub scope_id: Option<String>,
    pub downloadable: f64,
}

impl FileRow {
    /// Whether the file has expired at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at
            .as_deref()
            .and_then(Timestamp::parse_rfc3339)
            .is_some_and(|at| at <= now)
    }

    /// The `file` object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": "file",
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size_bytes": self.size_bytes as u64,
            "created_at": self.created_at,
            "downloadable": self.downloadable != 0.0,
            "expires_at": self.expires_at,
            "scope": self.scope_id.as_ref().map(|id| json!({"type": "session", "id": id})),
        })
    }
}

const COLUMNS: &str =
    "id, filename, mime_type, size_bytes, created_at, expires_at, scope_id, downloadable";

/// A tenant's file.
pub async fn get(env: &Env, tenant_id: &str, id: &str) -> worker::Result<Option<FileRow>> {
    super::first(
        env,
        &format!("SELECT {COLUMNS} FROM files WHERE tenant_id = ?1 AND id = ?2"),
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await
}

/// Stores a file's metadata.
pub async fn insert(env: &Env, tenant_id: &str, file: &FileRow) -> worker::Result<()> {
    super::run(
        env,
        "INSERT INTO files (id, tenant_id, filename, mime_type, size_bytes, created_at, expires_at, scope_id, downloadable)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[
            Param::from(file.id.as_str()),
            Param::from(tenant_id),
            Param::from(file.filename.as_str()),
            Param::from(file.mime_type.as_str()),
            Param::Int(file.size_bytes as i64),
            Param::from(file.created_at.as_str()),
            Param::from(file.expires_at.clone()),
            Param::from(file.scope_id.clone()),
            Param::Int(i64::from(file.downloadable != 0.0)),
        ],
    )
    .await?;
    Ok(())
}

/// Deletes a file's metadata; `false` if there was none.
pub async fn delete(env: &Env, tenant_id: &str, id: &str) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "DELETE FROM files WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    Ok(changed > 0)
}

/// Up to `limit` unexpired files, newest first, with ids before `before`
/// (empty: from the newest), optionally only those of `scope_id`.
pub async fn list(
    env: &Env,
    tenant_id: &str,
    scope_id: Option<&str>,
    before: &str,
    now: Timestamp,
    limit: usize,
) -> worker::Result<Vec<FileRow>> {
    super::all(
        env,
        &format!(
            "SELECT {COLUMNS} FROM files
             WHERE tenant_id = ?1 AND (?2 = '' OR id < ?2)
               AND (?3 IS NULL OR scope_id = ?3)
               AND (expires_at IS NULL OR expires_at > ?4)
             ORDER BY id DESC LIMIT ?5"
        ),
        &[
            Param::from(tenant_id),
            Param::from(before),
            Param::from(scope_id.map(str::to_owned)),
            Param::from(now.to_rfc3339()),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
    .await
}

/// The unexpired files among `ids` (at most 100), newest first.
pub async fn by_ids(
    env: &Env,
    tenant_id: &str,
    ids: &[String],
    now: Timestamp,
) -> worker::Result<Vec<FileRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("?{}", i + 3)).collect();
    let mut params = vec![Param::from(tenant_id), Param::from(now.to_rfc3339())];
    params.extend(ids.iter().map(|id| Param::from(id.as_str())));
    super::all(
        env,
        &format!(
            "SELECT {COLUMNS} FROM files
             WHERE tenant_id = ?1 AND (expires_at IS NULL OR expires_at > ?2)
               AND id IN ({})
             ORDER BY id DESC",
            placeholders.join(", ")
        ),
        &params,
    )
    .await
}

/// A file of any tenant (for housekeeping).
#[derive(Debug, Deserialize)]
pub struct ExpiredFile {
    pub id: String,
    pub tenant_id: String,
}

/// Up to `limit` files of any tenant that expired before `now`.
pub async fn expired(env: &Env, now: Timestamp, limit: usize) -> worker::Result<Vec<ExpiredFile>> {
    super::all(
        env,
        "SELECT id, tenant_id FROM files
         WHERE expires_at IS NOT NULL AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
        &[
            Param::from(now.to_rfc3339()),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
    .await
}
