//! Tenants.

use serde::Deserialize;
use serde::Serialize;
use worker::Env;

use super::Param;

/// A tenant as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created_at: String,
}

/// Inserts a tenant.
pub(crate) async fn insert(env: &Env, tenant: &Tenant) -> worker::Result<()> {
    super::run(
        env,
        "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
        &[
            Param::from(tenant.id.as_str()),
            Param::from(tenant.name.as_str()),
            Param::from(tenant.created_at.as_str()),
        ],
    )
    .await
    .map(|_| ())
}

/// Whether a tenant with id `id` exists.
pub(crate) async fn exists(env: &Env, id: &str) -> worker::Result<bool> {
    let found: Option<serde_json::Value> = super::first(
        env,
        "SELECT 1 AS found FROM tenants WHERE id = ?1",
        &[Param::from(id)],
    )
    .await?;
    Ok(found.is_some())
}
