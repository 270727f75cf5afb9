//! Environments, one JSON snapshot per row; names are unique per tenant.
//! Every query is scoped by `tenant_id`.

use openma_core::wire::Environment;
use serde::Deserialize;
use worker::Env;

use super::Param;

#[derive(Debug, Deserialize)]
struct Row {
    snapshot: String,
}

impl Row {
    fn environment(self) -> worker::Result<Environment> {
        serde_json::from_str(&self.snapshot)
            .map_err(|e| worker::Error::RustError(format!("stored environment snapshot: {e}")))
    }
}

fn snapshot(environment: &Environment) -> worker::Result<String> {
    serde_json::to_string(environment).map_err(|e| worker::Error::RustError(e.to_string()))
}

/// Why a write was refused.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// Another environment of the tenant has this name.
    NameTaken,
    /// The database failed.
    Store(worker::Error),
}

impl From<worker::Error> for WriteError {
    fn from(err: worker::Error) -> Self {
        if err.to_string().contains("UNIQUE constraint failed") {
            Self::NameTaken
        } else {
            Self::Store(err)
        }
    }
}

/// A tenant's environment, archived ones included (with `archived_at` set).
pub(crate) async fn get(
    env: &Env,
    tenant_id: &str,
    id: &str,
) -> worker::Result<Option<Environment>> {
    let row: Option<Row> = super::first(
        env,
        "SELECT snapshot FROM environments WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    row.map(Row::environment).transpose()
}

/// The tenant's environment named `name`, archived or not.
pub(crate) async fn by_name(
    env: &Env,
    tenant_id: &str,
    name: &str,
) -> worker::Result<Option<Environment>> {
    let row: Option<Row> = super::first(
        env,
        "SELECT snapshot FROM environments WHERE tenant_id = ?1 AND name = ?2",
        &[Param::from(tenant_id), Param::from(name)],
    )
    .await?;
    row.map(Row::environment).transpose()
}

/// Whether another environment of the tenant is named `name`.
pub(crate) async fn name_taken(
    env: &Env,
    tenant_id: &str,
    name: &str,
    except_id: &str,
) -> worker::Result<bool> {
    let found: Option<serde_json::Value> = super::first(
        env,
        "SELECT id FROM environments WHERE tenant_id = ?1 AND name = ?2 AND id != ?3",
        &[
            Param::from(tenant_id),
            Param::from(name),
            Param::from(except_id),
        ],
    )
    .await?;
    Ok(found.is_some())
}

/// Stores a new environment.
pub(crate) async fn insert(
    env: &Env,
    tenant_id: &str,
    environment: &Environment,
) -> Result<(), WriteError> {
    super::run(
        env,
        "INSERT INTO environments (id, tenant_id, name, archived_at, snapshot)
         VALUES (?1, ?2, ?3, NULL, ?4)",
        &[
            Param::from(environment.id.as_str()),
            Param::from(tenant_id),
            Param::from(environment.name.as_str()),
            Param::from(snapshot(environment)?),
        ],
    )
    .await?;
    Ok(())
}

/// Replaces a stored environment (name, archive time and snapshot);
/// `false` if it no longer exists.
pub(crate) async fn replace(
    env: &Env,
    tenant_id: &str,
    environment: &Environment,
) -> Result<bool, WriteError> {
    let changed = super::run(
        env,
        "UPDATE environments SET name = ?3, archived_at = ?4, snapshot = ?5
         WHERE tenant_id = ?1 AND id = ?2",
        &[
            Param::from(tenant_id),
            Param::from(environment.id.as_str()),
            Param::from(environment.name.as_str()),
            Param::from(environment.archived_at.map(|t| t.to_rfc3339())),
            Param::from(snapshot(environment)?),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Deletes an environment; `false` if there is none with that id.
pub(crate) async fn delete(env: &Env, tenant_id: &str, id: &str) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "DELETE FROM environments WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    Ok(changed > 0)
}

/// Up to `limit` environments with ids after `after`, oldest first.
pub(crate) async fn list(
    env: &Env,
    tenant_id: &str,
    include_archived: bool,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<Environment>> {
    let rows: Vec<Row> = super::all(
        env,
        "SELECT snapshot FROM environments
         WHERE tenant_id = ?1 AND id > ?2 AND (?3 = 1 OR archived_at IS NULL)
         ORDER BY id LIMIT ?4",
        &[
            Param::from(tenant_id),
            Param::from(after),
            Param::Int(i64::from(include_archived)),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
    .await?;
    rows.into_iter().map(Row::environment).collect()
}
