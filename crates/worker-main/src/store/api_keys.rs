//! API keys, stored as SHA-256 digests; the key itself is shown once.

use serde::Deserialize;
use serde::Serialize;
use worker::Env;

use super::Param;

/// A stored key (never the key itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ApiKeyRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) name: Option<String>,
    pub(crate) key_hint: Option<String>,
    pub(crate) created_at: String,
    /// When the key last authenticated a request (to the minute).
    #[serde(default)]
    pub(crate) last_used_at: Option<String>,
    /// When the key stops working, if it does.
    #[serde(default)]
    pub(crate) expires_at: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, name, key_hint, created_at, last_used_at, expires_at";

/// The key with this digest, if it is neither revoked nor expired at `now`.
pub(crate) async fn find_active(
    env: &Env,
    key_hash: &str,
    now: &str,
) -> worker::Result<Option<ApiKeyRow>> {
    super::first(
        env,
        &format!(
            "SELECT {COLUMNS} FROM api_keys
             WHERE key_hash = ?1 AND revoked_at IS NULL
               AND (expires_at IS NULL OR expires_at > ?2)"
        ),
        &[Param::from(key_hash), Param::from(now)],
    )
    .await
}

/// Records a use of the key at `now`, unless one was recorded after
/// `stale_before`.
pub(crate) async fn touch(
    env: &Env,
    id: &str,
    now: &str,
    stale_before: &str,
) -> worker::Result<()> {
    super::run(
        env,
        "UPDATE api_keys SET last_used_at = ?2
         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
        &[Param::from(id), Param::from(now), Param::from(stale_before)],
    )
    .await
    .map(|_| ())
}

/// Stores a new key.
pub(crate) async fn insert(env: &Env, row: &ApiKeyRow, key_hash: &str) -> worker::Result<()> {
    super::run(
        env,
        "INSERT INTO api_keys (id, tenant_id, name, key_hash, key_hint, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.name.clone()),
            Param::from(key_hash),
            Param::from(row.key_hint.clone()),
            Param::from(row.created_at.as_str()),
            Param::from(row.expires_at.clone()),
        ],
    )
    .await
    .map(|_| ())
}

/// Up to `limit` keys of a tenant not revoked, with ids after `after`,
/// oldest first (expired keys are listed, with their `expires_at`).
pub(crate) async fn list(
    env: &Env,
    tenant_id: &str,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<ApiKeyRow>> {
    super::all(
        env,
        &format!(
            "SELECT {COLUMNS} FROM api_keys
             WHERE tenant_id = ?1 AND revoked_at IS NULL AND id > ?2
             ORDER BY id LIMIT ?3"
        ),
        &[
            Param::from(tenant_id),
            Param::from(after),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
    .await
}

/// Revokes a tenant's active key; `false` if there is none with that id.
pub(crate) async fn revoke(
    env: &Env,
    tenant_id: &str,
    id: &str,
    now: &str,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE api_keys SET revoked_at = ?3
         WHERE tenant_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        &[Param::from(tenant_id), Param::from(id), Param::from(now)],
    )
    .await?;
    Ok(changed > 0)
}
