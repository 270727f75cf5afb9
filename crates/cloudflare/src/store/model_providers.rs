//! Tenants' model providers (`model_providers`): where a tenant's model
//! calls go and with which key. main serves them through the API; the
//! session runtime reads them for every model call, so a replaced key takes
//! effect from the next call of every session. The key is sealed like a
//! vault credential's secrets and bound to its tenant and provider id.

use openma_core::crypto::Keyring;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use worker::Env;

use super::Param;

/// The Anthropic Messages API.
pub const ANTHROPIC: &str = "anthropic";
/// The OpenAI Chat Completions API, as OpenAI and compatible servers speak it.
pub const OPENAI_COMPATIBLE: &str = "openai_compatible";
/// Where an `anthropic` provider without a `base_url` sends its calls.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";

/// A stored provider. Its key is only ever in `ciphertext`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderRow {
    /// `mprov_` id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// [`ANTHROPIC`] or [`OPENAI_COMPATIBLE`].
    pub provider_type: String,
    /// The tenant's name for it.
    pub name: String,
    /// Where calls go (`{base_url}/v1/messages` or `/v1/chat/completions`).
    pub base_url: String,
    /// JSON array of the model ids it serves.
    pub models: String,
    /// 1 when the tenant's calls for unlisted models go here.
    pub is_default: i64,
    /// The id of the key that sealed `ciphertext`.
    pub key_id: String,
    /// The sealed API key.
    pub ciphertext: String,
    /// The key's last four characters.
    pub key_hint: String,
    /// `unverified`, `valid` or `invalid`.
    pub status: String,
    /// Why the last validation or call failed (never carries the key).
    pub last_error: Option<String>,
    /// When a validation or call last settled the status.
    pub last_validated_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl ProviderRow {
    /// The model ids it serves.
    #[must_use]
    pub fn models(&self) -> Vec<String> {
        serde_json::from_str(&self.models).unwrap_or_default()
    }

    /// The provider as the API returns it: never the key.
    #[must_use]
    pub fn object(&self) -> Value {
        json!({
            "type": "model_provider",
            "id": self.id,
            "provider_type": self.provider_type,
            "name": self.name,
            "base_url": self.base_url,
            "models": self.models(),
            "default": self.is_default == 1,
            "key_hint": self.key_hint,
            "status": self.status,
            "last_error": self.last_error,
            "last_validated_at": self.last_validated_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The API key, opened with `ring`.
    pub fn open_key(&self, ring: &Keyring) -> Result<String, String> {
        let opened = ring
            .open(
                &self.key_id,
                &self.ciphertext,
                &aad(&self.tenant_id, &self.id),
            )
            .map_err(|e| format!("model provider {}: {e}", self.id))?;
        String::from_utf8(opened.plaintext)
            .map_err(|_| format!("model provider {}: the sealed key is malformed", self.id))
    }
}

/// What binds a sealed key to its tenant and provider.
#[must_use]
pub fn aad(tenant_id: &str, provider_id: &str) -> Vec<u8> {
    format!("openma/model_provider/{tenant_id}/{provider_id}").into_bytes()
}

/// The provider a call for `model` goes to: the first (oldest) that lists
/// the model, else the tenant's default.
#[must_use]
pub fn choose<'a>(providers: &'a [ProviderRow], model: &str) -> Option<&'a ProviderRow> {
    providers
        .iter()
        .find(|p| p.models().iter().any(|m| m == model))
        .or_else(|| providers.iter().find(|p| p.is_default == 1))
}

const COLUMNS: &str = "id, tenant_id, provider_type, name, base_url, models, is_default, key_id, \
                       ciphertext, key_hint, status, last_error, last_validated_at, created_at, \
                       updated_at";

/// Every provider of a tenant, oldest first.
pub async fn all(env: &Env, tenant_id: &str) -> worker::Result<Vec<ProviderRow>> {
    super::all(
        env,
        &format!("SELECT {COLUMNS} FROM model_providers WHERE tenant_id = ?1 ORDER BY id"),
        &[Param::from(tenant_id)],
    )
    .await
}

/// Up to `limit` providers of a tenant with ids after `after`, oldest first.
pub async fn page(
    env: &Env,
    tenant_id: &str,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<ProviderRow>> {
    super::all(
        env,
        &format!(
            "SELECT {COLUMNS} FROM model_providers WHERE tenant_id = ?1 AND id > ?2
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

/// One provider of a tenant.
pub async fn get(env: &Env, tenant_id: &str, id: &str) -> worker::Result<Option<ProviderRow>> {
    super::first(
        env,
        &format!("SELECT {COLUMNS} FROM model_providers WHERE tenant_id = ?1 AND id = ?2"),
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await
}

/// Stores a provider, or replaces the stored one with the same id; a
/// default provider takes the default from the tenant's others in the same
/// batch.
pub async fn save(env: &Env, row: &ProviderRow) -> worker::Result<()> {
    let db = super::db(env)?;
    let upsert = super::statement(
        &db,
        &format!(
            "INSERT INTO model_providers ({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT(id) DO UPDATE SET
               name = excluded.name, base_url = excluded.base_url, models = excluded.models,
               is_default = excluded.is_default, key_id = excluded.key_id,
               ciphertext = excluded.ciphertext, key_hint = excluded.key_hint,
               status = excluded.status, last_error = excluded.last_error,
               last_validated_at = excluded.last_validated_at, updated_at = excluded.updated_at"
        ),
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.provider_type.as_str()),
            Param::from(row.name.as_str()),
            Param::from(row.base_url.as_str()),
            Param::from(row.models.as_str()),
            Param::Int(row.is_default),
            Param::from(row.key_id.as_str()),
            Param::from(row.ciphertext.as_str()),
            Param::from(row.key_hint.as_str()),
            Param::from(row.status.as_str()),
            Param::from(row.last_error.clone()),
            Param::from(row.last_validated_at.clone()),
            Param::from(row.created_at.as_str()),
            Param::from(row.updated_at.as_str()),
        ],
    )?;
    let mut batch = vec![upsert];
    if row.is_default == 1 {
        batch.push(super::statement(
            &db,
            "UPDATE model_providers SET is_default = 0 WHERE tenant_id = ?1 AND id != ?2",
            &[
                Param::from(row.tenant_id.as_str()),
                Param::from(row.id.as_str()),
            ],
        )?);
    }
    db.batch(batch).await?;
    Ok(())
}

/// Records the outcome of a validation or of a call the provider refused.
pub async fn set_status(
    env: &Env,
    tenant_id: &str,
    id: &str,
    status: &str,
    last_error: Option<&str>,
    at: &str,
) -> worker::Result<()> {
    super::run(
        env,
        "UPDATE model_providers SET status = ?3, last_error = ?4, last_validated_at = ?5
         WHERE tenant_id = ?1 AND id = ?2",
        &[
            Param::from(tenant_id),
            Param::from(id),
            Param::from(status),
            Param::from(last_error.map(str::to_owned)),
            Param::from(at),
        ],
    )
    .await
    .map(|_| ())
}

/// Deletes a tenant's provider; `false` if there is none with that id.
pub async fn delete(env: &Env, tenant_id: &str, id: &str) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "DELETE FROM model_providers WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    Ok(changed > 0)
}

/// Removes the key itself, and what leaks of it, from a provider's message.
#[must_use]
pub fn scrub(message: &str, api_key: &str) -> String {
    let mut message = if api_key.is_empty() {
        message.to_owned()
    } else {
        message.replace(api_key, "[redacted]")
    };
    if message.chars().count() > 300 {
        message = message.chars().take(300).collect::<String>() + "…";
    }
    message
}
