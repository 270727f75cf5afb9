//! Vaults and credentials in D1. Credential secrets are stored only as
//! ciphertext (sealed by the handler), beside the id of the sealing key.
//! Every query a tenant can reach is scoped by `tenant_id`; the rotation
//! queries at the end are the operator's and span tenants.

use openma_cloudflare::store::sealed::SealedRow;
use openma_core::control::vaults::Credential;
use openma_core::control::vaults::Vault;
use openma_core::crypto::Sealed;
use serde::Deserialize;
use worker::Env;

use super::Param;

fn parse<T: serde::de::DeserializeOwned>(snapshot: &str, what: &str) -> worker::Result<T> {
    serde_json::from_str(snapshot)
        .map_err(|e| worker::Error::RustError(format!("stored {what} snapshot: {e}")))
}

fn json<T: serde::Serialize>(value: &T) -> worker::Result<String> {
    serde_json::to_string(value).map_err(|e| worker::Error::RustError(e.to_string()))
}

#[derive(Debug, Deserialize)]
struct SnapshotRow {
    snapshot: String,
}

// ---- vaults -------------------------------------------------------------

/// A tenant's vault, archived ones included.
pub(crate) async fn get_vault(
    env: &Env,
    tenant_id: &str,
    id: &str,
) -> worker::Result<Option<Vault>> {
    let row: Option<SnapshotRow> = super::first(
        env,
        "SELECT snapshot FROM vaults WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    row.map(|r| parse(&r.snapshot, "vault")).transpose()
}

/// Stores a new vault.
pub(crate) async fn insert_vault(env: &Env, tenant_id: &str, vault: &Vault) -> worker::Result<()> {
    super::run(
        env,
        "INSERT INTO vaults (id, tenant_id, archived_at, snapshot) VALUES (?1, ?2, NULL, ?3)",
        &[
            Param::from(vault.id.as_str()),
            Param::from(tenant_id),
            Param::from(json(vault)?),
        ],
    )
    .await?;
    Ok(())
}

/// Replaces a vault; `false` if it no longer exists.
pub(crate) async fn replace_vault(
    env: &Env,
    tenant_id: &str,
    vault: &Vault,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE vaults SET archived_at = ?3, snapshot = ?4 WHERE tenant_id = ?1 AND id = ?2",
        &[
            Param::from(tenant_id),
            Param::from(vault.id.as_str()),
            Param::from(vault.archived_at.map(|t| t.to_rfc3339())),
            Param::from(json(vault)?),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Deletes a vault and its credentials; `false` if there was none.
pub(crate) async fn delete_vault(env: &Env, tenant_id: &str, id: &str) -> worker::Result<bool> {
    super::run(
        env,
        "DELETE FROM vault_credentials WHERE tenant_id = ?1 AND vault_id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    let changed = super::run(
        env,
        "DELETE FROM vaults WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    Ok(changed > 0)
}

/// Up to `limit` vaults with ids after `after`, oldest first.
pub(crate) async fn list_vaults(
    env: &Env,
    tenant_id: &str,
    include_archived: bool,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<Vault>> {
    let rows: Vec<SnapshotRow> = super::all(
        env,
        "SELECT snapshot FROM vaults
         WHERE tenant_id = ?1 AND id > ?2 AND (?3 = 1 OR archived_at IS NULL)
         ORDER BY id LIMIT ?4",
        &[
            Param::from(tenant_id),
            Param::from(after),
            Param::Int(i64::from(include_archived)),
            Param::from(limit),
        ],
    )
    .await?;
    rows.iter().map(|r| parse(&r.snapshot, "vault")).collect()
}

// ---- credentials --------------------------------------------------------

/// A stored credential and its sealed secrets (absent once archived).
#[derive(Debug, Clone)]
pub(crate) struct StoredCredential {
    pub(crate) credential: Credential,
    pub(crate) sealed: Option<Sealed>,
}

#[derive(Debug, Deserialize)]
struct CredentialRow {
    snapshot: String,
    key_id: Option<String>,
    ciphertext: Option<String>,
}

impl CredentialRow {
    fn stored(self) -> worker::Result<StoredCredential> {
        let sealed = match (self.key_id, self.ciphertext) {
            (Some(key_id), Some(ciphertext)) => Some(Sealed { key_id, ciphertext }),
            _ => None,
        };
        Ok(StoredCredential {
            credential: parse(&self.snapshot, "credential")?,
            sealed,
        })
    }
}

/// Why a credential write was refused.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// Another active credential of the vault has the same server URL or
    /// secret name.
    Duplicate,
    /// The vault already holds the most active credentials allowed.
    Full,
    /// The database failed.
    Store(worker::Error),
}

impl From<worker::Error> for WriteError {
    fn from(err: worker::Error) -> Self {
        if err.to_string().contains("UNIQUE constraint failed") {
            Self::Duplicate
        } else {
            Self::Store(err)
        }
    }
}

/// A credential of a tenant's vault.
pub(crate) async fn get_credential(
    env: &Env,
    tenant_id: &str,
    vault_id: &str,
    id: &str,
) -> worker::Result<Option<StoredCredential>> {
    let row: Option<CredentialRow> = super::first(
        env,
        "SELECT snapshot, key_id, ciphertext FROM vault_credentials
         WHERE tenant_id = ?1 AND vault_id = ?2 AND id = ?3",
        &[
            Param::from(tenant_id),
            Param::from(vault_id),
            Param::from(id),
        ],
    )
    .await?;
    row.map(CredentialRow::stored).transpose()
}

/// Whether the vault holds an active `environment_variable` credential.
pub(crate) async fn has_environment_variables(
    env: &Env,
    tenant_id: &str,
    vault_id: &str,
) -> worker::Result<bool> {
    let found: Option<serde_json::Value> = super::first(
        env,
        "SELECT id FROM vault_credentials
         WHERE tenant_id = ?1 AND vault_id = ?2 AND archived_at IS NULL
           AND unique_key LIKE 'env:%' LIMIT 1",
        &[Param::from(tenant_id), Param::from(vault_id)],
    )
    .await?;
    Ok(found.is_some())
}

/// How many active credentials the vault holds.
pub(crate) async fn count_active(
    env: &Env,
    tenant_id: &str,
    vault_id: &str,
) -> worker::Result<usize> {
    #[derive(Deserialize)]
    struct Count {
        n: f64,
    }
    let count: Option<Count> = super::first(
        env,
        "SELECT COUNT(*) AS n FROM vault_credentials
         WHERE tenant_id = ?1 AND vault_id = ?2 AND archived_at IS NULL",
        &[Param::from(tenant_id), Param::from(vault_id)],
    )
    .await?;
    Ok(count.map_or(0, |c| c.n as usize))
}

/// Stores a new credential with its sealed secrets, unless the vault
/// already holds `max_active` active credentials (checked in the same
/// statement, so concurrent creates cannot overshoot).
pub(crate) async fn insert_credential(
    env: &Env,
    tenant_id: &str,
    credential: &Credential,
    sealed: &Sealed,
    max_active: usize,
) -> Result<(), WriteError> {
    let changed = super::run(
        env,
        "INSERT INTO vault_credentials
         (id, tenant_id, vault_id, unique_key, archived_at, snapshot, key_id, ciphertext)
         SELECT ?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7
         WHERE (SELECT COUNT(*) FROM vault_credentials
                WHERE tenant_id = ?2 AND vault_id = ?3 AND archived_at IS NULL) < ?8",
        &[
            Param::from(credential.id.as_str()),
            Param::from(tenant_id),
            Param::from(credential.vault_id.as_str()),
            Param::from(credential.auth.unique_key()),
            Param::from(json(credential)?),
            Param::from(sealed.key_id.as_str()),
            Param::from(sealed.ciphertext.as_str()),
            Param::from(max_active),
        ],
    )
    .await?;
    if changed == 0 {
        return Err(WriteError::Full);
    }
    Ok(())
}

/// Replaces a credential's snapshot and, when given, its sealed secrets;
/// an archived credential loses its secrets. `false` if it is gone.
pub(crate) async fn replace_credential(
    env: &Env,
    tenant_id: &str,
    credential: &Credential,
    sealed: Option<&Sealed>,
) -> Result<bool, WriteError> {
    let archived = credential.archived_at.map(|t| t.to_rfc3339());
    let changed = match (sealed, &archived) {
        (_, Some(_)) => {
            super::run(
                env,
                "UPDATE vault_credentials
                 SET archived_at = ?4, snapshot = ?5, key_id = NULL, ciphertext = NULL
                 WHERE tenant_id = ?1 AND vault_id = ?2 AND id = ?3",
                &[
                    Param::from(tenant_id),
                    Param::from(credential.vault_id.as_str()),
                    Param::from(credential.id.as_str()),
                    Param::from(archived.clone()),
                    Param::from(json(credential)?),
                ],
            )
            .await?
        }
        (Some(sealed), None) => {
            super::run(
                env,
                "UPDATE vault_credentials SET snapshot = ?4, key_id = ?5, ciphertext = ?6
                 WHERE tenant_id = ?1 AND vault_id = ?2 AND id = ?3 AND archived_at IS NULL",
                &[
                    Param::from(tenant_id),
                    Param::from(credential.vault_id.as_str()),
                    Param::from(credential.id.as_str()),
                    Param::from(json(credential)?),
                    Param::from(sealed.key_id.as_str()),
                    Param::from(sealed.ciphertext.as_str()),
                ],
            )
            .await?
        }
        (None, None) => {
            super::run(
                env,
                "UPDATE vault_credentials SET snapshot = ?4
                 WHERE tenant_id = ?1 AND vault_id = ?2 AND id = ?3 AND archived_at IS NULL",
                &[
                    Param::from(tenant_id),
                    Param::from(credential.vault_id.as_str()),
                    Param::from(credential.id.as_str()),
                    Param::from(json(credential)?),
                ],
            )
            .await?
        }
    };
    Ok(changed > 0)
}

/// Archives every active credential of a vault, purging their secrets.
pub(crate) async fn archive_all(
    env: &Env,
    tenant_id: &str,
    vault_id: &str,
    at: openma_core::wire::Timestamp,
) -> worker::Result<()> {
    let rows: Vec<CredentialRow> = super::all(
        env,
        "SELECT snapshot, key_id, ciphertext FROM vault_credentials
         WHERE tenant_id = ?1 AND vault_id = ?2 AND archived_at IS NULL",
        &[Param::from(tenant_id), Param::from(vault_id)],
    )
    .await?;
    for row in rows {
        let mut credential = row.stored()?.credential;
        credential.archived_at = Some(at);
        credential.updated_at = at;
        replace_credential(env, tenant_id, &credential, None)
            .await
            .map_err(|e| match e {
                WriteError::Duplicate | WriteError::Full => {
                    worker::Error::RustError("archive conflict".into())
                }
                WriteError::Store(e) => e,
            })?;
    }
    Ok(())
}

/// Deletes a credential; `false` if there was none.
pub(crate) async fn delete_credential(
    env: &Env,
    tenant_id: &str,
    vault_id: &str,
    id: &str,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "DELETE FROM vault_credentials WHERE tenant_id = ?1 AND vault_id = ?2 AND id = ?3",
        &[
            Param::from(tenant_id),
            Param::from(vault_id),
            Param::from(id),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Up to `limit` credentials of a vault with ids after `after`.
pub(crate) async fn list_credentials(
    env: &Env,
    tenant_id: &str,
    vault_id: &str,
    include_archived: bool,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<Credential>> {
    let rows: Vec<SnapshotRow> = super::all(
        env,
        "SELECT snapshot FROM vault_credentials
         WHERE tenant_id = ?1 AND vault_id = ?2 AND id > ?3 AND (?4 = 1 OR archived_at IS NULL)
         ORDER BY id LIMIT ?5",
        &[
            Param::from(tenant_id),
            Param::from(vault_id),
            Param::from(after),
            Param::Int(i64::from(include_archived)),
            Param::from(limit),
        ],
    )
    .await?;
    rows.iter()
        .map(|r| parse(&r.snapshot, "credential"))
        .collect()
}

/// Replaces the sealed secrets of an active credential if they are still
/// the ones sealed under `old_key_id` (so a concurrent update wins).
pub(crate) async fn reseal(
    env: &Env,
    tenant_id: &str,
    id: &str,
    old_key_id: &str,
    sealed: &Sealed,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE vault_credentials SET key_id = ?4, ciphertext = ?5
         WHERE tenant_id = ?1 AND id = ?2 AND key_id = ?3 AND archived_at IS NULL",
        &[
            Param::from(tenant_id),
            Param::from(id),
            Param::from(old_key_id),
            Param::from(sealed.key_id.as_str()),
            Param::from(sealed.ciphertext.as_str()),
        ],
    )
    .await?;
    Ok(changed > 0)
}

// ---- rotation (operator; spans tenants) ---------------------------------

/// Up to `limit` sealed credentials not sealed under `current_key_id`,
/// with ids after `after`.
pub(crate) async fn stale_sealed(
    env: &Env,
    current_key_id: &str,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<SealedRow>> {
    super::all(
        env,
        "SELECT id, tenant_id, key_id, ciphertext FROM vault_credentials
         WHERE key_id IS NOT NULL AND ciphertext IS NOT NULL AND key_id != ?1 AND id > ?2
         ORDER BY id LIMIT ?3",
        &[
            Param::from(current_key_id),
            Param::from(after),
            Param::from(limit),
        ],
    )
    .await
}

/// How many sealed credentials each key id holds.
pub(crate) async fn count_by_key(env: &Env) -> worker::Result<Vec<(String, usize)>> {
    #[derive(Deserialize)]
    struct Row {
        key_id: String,
        n: f64,
    }
    let rows: Vec<Row> = super::all(
        env,
        "SELECT key_id, COUNT(*) AS n FROM vault_credentials
         WHERE key_id IS NOT NULL GROUP BY key_id ORDER BY key_id",
        &[],
    )
    .await?;
    Ok(rows.into_iter().map(|r| (r.key_id, r.n as usize)).collect())
}
