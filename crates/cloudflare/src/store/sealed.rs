//! Columns that hold a secret sealed with the platform's keyring (an
//! integration's access token, a webhook endpoint's signing secret), for
//! the operator's re-encryption pass: find the rows sealed under another
//! key, and reseal one unless it changed meanwhile.

use serde::Deserialize;
use worker::Env;

use super::Param;

/// A table's sealed-secret columns.
#[derive(Debug, Clone, Copy)]
pub struct SealedColumns {
    table: &'static str,
    key_id: &'static str,
    ciphertext: &'static str,
}

/// `integrations.token_*`.
pub const INTEGRATION_TOKENS: SealedColumns = SealedColumns {
    table: "integrations",
    key_id: "token_key_id",
    ciphertext: "token_ciphertext",
};

/// `webhook_endpoints.secret_*`.
pub const WEBHOOK_SECRETS: SealedColumns = SealedColumns {
    table: "webhook_endpoints",
    key_id: "secret_key_id",
    ciphertext: "secret_ciphertext",
};

/// A sealed secret of any tenant.
#[derive(Debug, Clone, Deserialize)]
pub struct SealedRow {
    pub id: String,
    pub tenant_id: String,
    pub key_id: String,
    pub ciphertext: String,
}

/// Up to `limit` rows whose secret is not sealed under `current_key_id`,
/// with ids after `after`, in id order.
pub async fn stale(
    env: &Env,
    columns: SealedColumns,
    current_key_id: &str,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<SealedRow>> {
    let SealedColumns {
        table,
        key_id,
        ciphertext,
    } = columns;
    super::all(
        env,
        &format!(
            "SELECT id, tenant_id, {key_id} AS key_id, {ciphertext} AS ciphertext FROM {table}
             WHERE {key_id} != ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ),
        &[
            Param::from(current_key_id),
            Param::from(after),
            Param::from(limit),
        ],
    )
    .await
}

/// Replaces a row's sealed secret if it is still the one sealed under
/// `old_key_id` (a change in between wins).
pub async fn reseal(
    env: &Env,
    columns: SealedColumns,
    id: &str,
    old_key_id: &str,
    key_id: &str,
    ciphertext: &str,
) -> worker::Result<bool> {
    let SealedColumns {
        table,
        key_id: key_column,
        ciphertext: ciphertext_column,
    } = columns;
    let changed = super::run(
        env,
        &format!(
            "UPDATE {table} SET {key_column} = ?3, {ciphertext_column} = ?4
             WHERE id = ?1 AND {key_column} = ?2"
        ),
        &[
            Param::from(id),
            Param::from(old_key_id),
            Param::from(key_id),
            Param::from(ciphertext),
        ],
    )
    .await?;
    Ok(changed > 0)
}
