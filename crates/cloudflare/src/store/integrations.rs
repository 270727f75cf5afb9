//! Integrations in D1: `integrations` (a provider workspace bound to a
//! tenant's agent, with its sealed access token) and
//! `integration_deliveries` (the outbox of replies posted back to the
//! provider). main serves both through the API; the integrations worker
//! reads installs by workspace and drains the outbox. Queries a tenant
//! makes are scoped by `tenant_id`; the webhook path and the outbox, which
//! know only a workspace or a row id, have their own unscoped reads.

use std::collections::BTreeMap;

use serde::Deserialize;
use worker::Env;

use super::Param;

/// A delivery waiting for its next attempt.
pub const PENDING: &str = "pending";
/// A delivery the provider accepted.
pub const SENT: &str = "sent";
/// A delivery that exhausted its attempts (or was refused for good).
pub const DEAD: &str = "dead";
/// Every delivery status.
pub const STATUSES: [&str; 3] = [PENDING, SENT, DEAD];

/// One install. Its access token is only ever in `token_ciphertext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationRow {
    /// `intg_` id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// `slack`, `linear` or `github`.
    pub provider: String,
    /// The workspace: Slack team id, Linear organization id, GitHub `owner/name`.
    pub external_id: String,
    /// The keyring key that sealed the token.
    pub token_key_id: String,
    /// The access token, sealed with `openma_core::integrations::token_aad`.
    pub token_ciphertext: String,
    /// The agent that answers.
    pub agent_id: String,
    /// The environment its sessions run in.
    pub environment_id: String,
    /// Vaults its sessions get.
    pub vault_ids: Vec<String>,
    /// The bot's own login, whose comments are not triggers (GitHub).
    pub bot_login: Option<String>,
    /// The tenant's name for it.
    pub name: Option<String>,
    /// The tenant's labels.
    pub metadata: BTreeMap<String, String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// An integration as D1 returns it: JSON columns still text.
#[derive(Debug, Deserialize)]
struct IntegrationRecord {
    id: String,
    tenant_id: String,
    provider: String,
    external_id: String,
    token_key_id: String,
    token_ciphertext: String,
    agent_id: String,
    environment_id: String,
    vault_ids: String,
    bot_login: Option<String>,
    name: Option<String>,
    metadata: String,
    created_at: String,
    updated_at: String,
}

impl TryFrom<IntegrationRecord> for IntegrationRow {
    type Error = worker::Error;

    fn try_from(r: IntegrationRecord) -> worker::Result<Self> {
        Ok(Self {
            vault_ids: serde_json::from_str(&r.vault_ids)?,
            metadata: serde_json::from_str(&r.metadata)?,
            id: r.id,
            tenant_id: r.tenant_id,
            provider: r.provider,
            external_id: r.external_id,
            token_key_id: r.token_key_id,
            token_ciphertext: r.token_ciphertext,
            agent_id: r.agent_id,
            environment_id: r.environment_id,
            bot_login: r.bot_login,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// What [`insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The row is stored.
    Created,
    /// The workspace is installed already (by any tenant); nothing changed.
    Duplicate,
}

const INTEGRATION_COLUMNS: &str = "id, tenant_id, provider, external_id, token_key_id, \
     token_ciphertext, agent_id, environment_id, vault_ids, bot_login, name, metadata, \
     created_at, updated_at";

async fn one_integration(
    env: &Env,
    sql: &str,
    params: &[Param],
) -> worker::Result<Option<IntegrationRow>> {
    super::first::<IntegrationRecord>(env, sql, params)
        .await?
        .map(IntegrationRow::try_from)
        .transpose()
}

/// Stores an install, unless its `(provider, external_id)` is installed
/// already.
pub async fn insert(env: &Env, row: &IntegrationRow) -> worker::Result<Inserted> {
    let changed = super::run(
        env,
        &format!(
            "INSERT INTO integrations ({INTEGRATION_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (provider, external_id) DO NOTHING"
        ),
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.provider.as_str()),
            Param::from(row.external_id.as_str()),
            Param::from(row.token_key_id.as_str()),
            Param::from(row.token_ciphertext.as_str()),
            Param::from(row.agent_id.as_str()),
            Param::from(row.environment_id.as_str()),
            Param::from(serde_json::to_string(&row.vault_ids)?),
            Param::from(row.bot_login.clone()),
            Param::from(row.name.clone()),
            Param::from(serde_json::to_string(&row.metadata)?),
            Param::from(row.created_at.as_str()),
            Param::from(row.updated_at.as_str()),
        ],
    )
    .await?;
    Ok(if changed > 0 {
        Inserted::Created
    } else {
        Inserted::Duplicate
    })
}

/// A tenant's install.
pub async fn get(env: &Env, tenant_id: &str, id: &str) -> worker::Result<Option<IntegrationRow>> {
    one_integration(
        env,
        &format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE tenant_id = ?1 AND id = ?2"),
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await
}

/// The install of a provider workspace, whichever tenant made it (a
/// webhook names only the workspace).
pub async fn find(
    env: &Env,
    provider: &str,
    external_id: &str,
) -> worker::Result<Option<IntegrationRow>> {
    one_integration(
        env,
        &format!(
            "SELECT {INTEGRATION_COLUMNS} FROM integrations
             WHERE provider = ?1 AND external_id = ?2"
        ),
        &[Param::from(provider), Param::from(external_id)],
    )
    .await
}

/// An install by id alone (the outbox knows the id from its own row).
pub async fn get_any(env: &Env, id: &str) -> worker::Result<Option<IntegrationRow>> {
    one_integration(
        env,
        &format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE id = ?1"),
        &[Param::from(id)],
    )
    .await
}

/// Up to `limit` installs of a tenant with ids after `after`, oldest first.
pub async fn list(
    env: &Env,
    tenant_id: &str,
    limit: usize,
    after: Option<&str>,
) -> worker::Result<Vec<IntegrationRow>> {
    super::all::<IntegrationRecord>(
        env,
        &format!(
            "SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE tenant_id = ?1 AND id > ?2
             ORDER BY id LIMIT ?3"
        ),
        &[
            Param::from(tenant_id),
            Param::from(after.unwrap_or_default()),
            Param::from(limit),
        ],
    )
    .await?
    .into_iter()
    .map(IntegrationRow::try_from)
    .collect()
}

/// Deletes a tenant's install; `false` if there is none with that id.
pub async fn delete(env: &Env, tenant_id: &str, id: &str) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "DELETE FROM integrations WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    Ok(changed > 0)
}

/// One reply in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeliveryRow {
    /// `idlv_` id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The install it is posted with.
    pub integration_id: String,
    /// `slack`, `linear` or `github`.
    pub provider: String,
    /// The conversation (and the Durable Object that posts its replies).
    pub thread_key: String,
    /// Deterministic per reply, so a reply is never queued twice.
    pub reply_key: String,
    /// `thought`, `response` or `error`.
    pub kind: String,
    /// Where it is posted, JSON.
    pub target: String,
    /// The text posted.
    pub body: String,
    /// The session that wrote it.
    pub session_id: Option<String>,
    /// [`PENDING`], [`SENT`] or [`DEAD`].
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (unix ms; meaningful while pending).
    pub next_attempt_at: i64,
    /// Why the last attempt failed (never carries the token).
    pub last_error: Option<String>,
    /// The provider's id of the posted reply (Slack ts, GitHub comment id,
    /// Linear activity id).
    pub provider_ref: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// When the provider accepted it (RFC 3339).
    pub sent_at: Option<String>,
}

const DELIVERY_COLUMNS: &str = "id, tenant_id, integration_id, provider, thread_key, reply_key, \
     kind, target, body, session_id, status, attempts, next_attempt_at, last_error, \
     provider_ref, created_at, updated_at, sent_at";

/// Queues a reply; `false` when one with its `reply_key` is queued already.
pub async fn enqueue(env: &Env, row: &DeliveryRow) -> worker::Result<bool> {
    let changed = super::run(
        env,
        &format!(
            "INSERT INTO integration_deliveries ({DELIVERY_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18)
             ON CONFLICT (reply_key) DO NOTHING"
        ),
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.integration_id.as_str()),
            Param::from(row.provider.as_str()),
            Param::from(row.thread_key.as_str()),
            Param::from(row.reply_key.as_str()),
            Param::from(row.kind.as_str()),
            Param::from(row.target.as_str()),
            Param::from(row.body.as_str()),
            Param::from(row.session_id.clone()),
            Param::from(row.status.as_str()),
            Param::Int(row.attempts),
            Param::Int(row.next_attempt_at),
            Param::from(row.last_error.clone()),
            Param::from(row.provider_ref.clone()),
            Param::from(row.created_at.as_str()),
            Param::from(row.updated_at.as_str()),
            Param::from(row.sent_at.clone()),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// A delivery by id alone (the outbox's own reads).
pub async fn delivery(env: &Env, id: &str) -> worker::Result<Option<DeliveryRow>> {
    super::first(
        env,
        &format!("SELECT {DELIVERY_COLUMNS} FROM integration_deliveries WHERE id = ?1"),
        &[Param::from(id)],
    )
    .await
}

/// A tenant's delivery.
pub async fn tenant_delivery(
    env: &Env,
    tenant_id: &str,
    id: &str,
) -> worker::Result<Option<DeliveryRow>> {
    super::first(
        env,
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM integration_deliveries
             WHERE tenant_id = ?1 AND id = ?2"
        ),
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await
}

/// Records that the provider accepted a delivery after `attempts`
/// attempts; `false` if there is no such delivery.
pub async fn mark_sent(
    env: &Env,
    id: &str,
    provider_ref: Option<&str>,
    attempts: i64,
    now: &str,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE integration_deliveries
         SET status = 'sent', provider_ref = ?2, attempts = ?3, updated_at = ?4, sent_at = ?4
         WHERE id = ?1",
        &[
            Param::from(id),
            Param::from(provider_ref.map(str::to_owned)),
            Param::Int(attempts),
            Param::from(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Up to `limit` deliveries of a tenant with ids after `after`, oldest
/// first, only those in `status` when given.
pub async fn list_deliveries(
    env: &Env,
    tenant_id: &str,
    status: Option<&str>,
    limit: usize,
    after: Option<&str>,
) -> worker::Result<Vec<DeliveryRow>> {
    super::all(
        env,
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM integration_deliveries
             WHERE tenant_id = ?1 AND (?2 IS NULL OR status = ?2) AND id > ?3
             ORDER BY id LIMIT ?4"
        ),
        &[
            Param::from(tenant_id),
            Param::from(status.map(str::to_owned)),
            Param::from(after.unwrap_or_default()),
            Param::from(limit),
        ],
    )
    .await
}

/// Queues a tenant's dead delivery again (same `reply_key`, no attempts
/// made, due at `now_ms`); a delivery in another status is left as it is.
/// The delivery as it now stands, `None` if the tenant has none with that
/// id.
pub async fn redrive(
    env: &Env,
    tenant_id: &str,
    id: &str,
    now_ms: i64,
    now: &str,
) -> worker::Result<Option<DeliveryRow>> {
    super::run(
        env,
        "UPDATE integration_deliveries
         SET status = 'pending', attempts = 0, next_attempt_at = ?3, updated_at = ?4
         WHERE tenant_id = ?1 AND id = ?2 AND status = 'dead'",
        &[
            Param::from(tenant_id),
            Param::from(id),
            Param::Int(now_ms),
            Param::from(now),
        ],
    )
    .await?;
    tenant_delivery(env, tenant_id, id).await
}

/// Up to `limit` pending deliveries of a thread, oldest first, due or not:
/// a thread's replies go out in the order they were queued.
pub async fn pending(
    env: &Env,
    thread_key: &str,
    limit: usize,
) -> worker::Result<Vec<DeliveryRow>> {
    super::all(
        env,
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM integration_deliveries
             WHERE thread_key = ?1 AND status = 'pending'
             ORDER BY created_at, id LIMIT ?2"
        ),
        &[Param::from(thread_key), Param::from(limit)],
    )
    .await
}

/// The threads with a pending delivery due at `now_ms` (at most `limit`).
pub async fn due_threads(env: &Env, now_ms: i64, limit: usize) -> worker::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Thread {
        thread_key: String,
    }
    let rows: Vec<Thread> = super::all(
        env,
        "SELECT DISTINCT thread_key FROM integration_deliveries
         WHERE status = 'pending' AND next_attempt_at <= ?1 LIMIT ?2",
        &[Param::Int(now_ms), Param::from(limit)],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.thread_key).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(vault_ids: &str, metadata: &str) -> IntegrationRecord {
        IntegrationRecord {
            id: "intg_1".into(),
            tenant_id: "t".into(),
            provider: "github".into(),
            external_id: "acme/app".into(),
            token_key_id: "k1".into(),
            token_ciphertext: "sealed".into(),
            agent_id: "agent_1".into(),
            environment_id: "env_1".into(),
            vault_ids: vault_ids.into(),
            bot_login: Some("acme-bot".into()),
            name: None,
            metadata: metadata.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn an_integration_decodes_its_json_columns() {
        let row =
            IntegrationRow::try_from(record(r#"["vlt_1","vlt_2"]"#, r#"{"team":"a"}"#)).unwrap();
        assert_eq!(row.vault_ids, vec!["vlt_1".to_owned(), "vlt_2".to_owned()]);
        assert_eq!(row.metadata.get("team").map(String::as_str), Some("a"));
        assert_eq!(row.bot_login.as_deref(), Some("acme-bot"));
    }

    #[test]
    fn a_malformed_json_column_is_an_error_not_an_empty_value() {
        assert!(IntegrationRow::try_from(record("not json", "{}")).is_err());
        assert!(IntegrationRow::try_from(record("[]", r#"{"n":1}"#)).is_err());
    }
}
