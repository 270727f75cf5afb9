//! Environment keys, stored as SHA-256 digests; the key itself is shown
//! once. Every query is scoped by `tenant_id`.

use serde::Deserialize;
use worker::Env;

use super::Param;

/// A stored key (never the key itself).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EnvironmentKeyRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) environment_id: String,
    pub(crate) created_at: String,
    #[serde(default)]
    pub(crate) last_used_at: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, environment_id, created_at, last_used_at";

/// The key with this digest, unless it is revoked.
pub(crate) async fn find_active(
    env: &Env,
    key_hash: &str,
) -> worker::Result<Option<EnvironmentKeyRow>> {
    super::first(
        env,
        &format!(
            "SELECT {COLUMNS} FROM environment_keys WHERE key_hash = ?1 AND revoked_at IS NULL"
        ),
        &[Param::from(key_hash)],
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
        "UPDATE environment_keys SET last_used_at = ?2
         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?3)",
        &[Param::from(id), Param::from(now), Param::from(stale_before)],
    )
    .await
    .map(|_| ())
}

/// Stores a new key.
pub(crate) async fn insert(
    env: &Env,
    row: &EnvironmentKeyRow,
    key_hash: &str,
) -> worker::Result<()> {
    super::run(
        env,
        "INSERT INTO environment_keys (id, tenant_id, environment_id, key_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.environment_id.as_str()),
            Param::from(key_hash),
            Param::from(row.created_at.as_str()),
        ],
    )
    .await
    .map(|_| ())
}

/// Up to `limit` active keys of an environment with ids after `after`,
/// oldest first.
pub(crate) async fn list(
    env: &Env,
    tenant_id: &str,
    environment_id: &str,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<EnvironmentKeyRow>> {
    super::all(
        env,
        &format!(
            "SELECT {COLUMNS} FROM environment_keys
             WHERE tenant_id = ?1 AND environment_id = ?2 AND revoked_at IS NULL AND id > ?3
             ORDER BY id LIMIT ?4"
        ),
        &[
            Param::from(tenant_id),
            Param::from(environment_id),
            Param::from(after),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
    .await
}

/// Revokes an environment's active key; `false` if there is none with
/// that id.
pub(crate) async fn revoke(
    env: &Env,
    tenant_id: &str,
    environment_id: &str,
    id: &str,
    now: &str,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE environment_keys SET revoked_at = ?4
         WHERE tenant_id = ?1 AND environment_id = ?2 AND id = ?3 AND revoked_at IS NULL",
        &[
            Param::from(tenant_id),
            Param::from(environment_id),
            Param::from(id),
            Param::from(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}
