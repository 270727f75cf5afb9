//! The session runtime's reads of D1 `vault_credentials`: the active
//! credentials of a session's vaults, still sealed.

use serde::Deserialize;
use worker::Env;

use super::Param;

/// One stored credential: its public snapshot and its sealed secrets.
#[derive(Debug, Clone, Deserialize)]
pub struct CredentialRow {
    /// `vcrd_...`.
    pub id: String,
    /// The credential as its JSON snapshot (no secret).
    pub snapshot: String,
    /// The key its secrets are sealed under (none once archived).
    pub key_id: Option<String>,
    /// The sealed secrets (none once archived).
    pub ciphertext: Option<String>,
}

/// The active credentials of the vaults `vault_ids` of a tenant, by id.
pub async fn active(
    env: &Env,
    tenant_id: &str,
    vault_ids: &[String],
) -> worker::Result<Vec<CredentialRow>> {
    if vault_ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..vault_ids.len())
        .map(|i| format!("?{}", i + 2))
        .collect();
    let sql = format!(
        "SELECT id, snapshot, key_id, ciphertext FROM vault_credentials
         WHERE tenant_id = ?1 AND archived_at IS NULL AND vault_id IN ({})
         ORDER BY id",
        placeholders.join(", ")
    );
    let mut params = vec![Param::from(tenant_id)];
    params.extend(vault_ids.iter().map(|id| Param::from(id.as_str())));
    super::all(env, &sql, &params).await
}
