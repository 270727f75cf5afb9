//! D1 access shared by the workers: bound parameters and the query helpers,
//! plus the stores both the control plane and the session runtime use
//! (files, memory). Every query that reads or writes a tenant's objects is
//! scoped by `tenant_id`.

pub mod deployments;
pub mod files;
pub mod integrations;
pub mod memory;
pub mod metrics;
pub mod model_providers;
pub mod outbox;
pub mod sealed;
pub mod vault_credentials;
pub mod webhooks;

use serde::de::DeserializeOwned;
use worker::D1Database;
use worker::D1PreparedStatement;
use worker::Env;
use worker::wasm_bindgen::JsValue;

/// The control-plane database.
pub fn db(env: &Env) -> worker::Result<D1Database> {
    env.d1("DB")
}

/// A bound parameter.
#[derive(Debug, Clone)]
pub enum Param {
    Text(String),
    Int(i64),
    Real(f64),
    Null,
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Param {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<i64> for Param {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<usize> for Param {
    /// A count or a limit (saturating at `i64::MAX`).
    fn from(n: usize) -> Self {
        Self::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<Option<String>> for Param {
    fn from(s: Option<String>) -> Self {
        s.map_or(Self::Null, Self::Text)
    }
}

/// `sql` with `params` bound in order (`?1`, `?2`, …).
pub fn statement(
    db: &D1Database,
    sql: &str,
    params: &[Param],
) -> worker::Result<D1PreparedStatement> {
    let values: Vec<JsValue> = params
        .iter()
        .map(|p| match p {
            Param::Text(s) => JsValue::from_str(s),
            // D1 integers travel as JS numbers: exact up to 2^53.
            Param::Int(n) => JsValue::from_f64(*n as f64),
            Param::Real(x) => JsValue::from_f64(*x),
            Param::Null => JsValue::NULL,
        })
        .collect();
    db.prepare(sql).bind(&values)
}

/// The first row of a query, if any.
pub async fn first<T: DeserializeOwned>(
    env: &Env,
    sql: &str,
    params: &[Param],
) -> worker::Result<Option<T>> {
    statement(&db(env)?, sql, params)?.first(None).await
}

/// Every row of a query.
pub async fn all<T: DeserializeOwned>(
    env: &Env,
    sql: &str,
    params: &[Param],
) -> worker::Result<Vec<T>> {
    statement(&db(env)?, sql, params)?.all().await?.results()
}

/// Runs a statement; returns how many rows it changed.
pub async fn run(env: &Env, sql: &str, params: &[Param]) -> worker::Result<usize> {
    let result = statement(&db(env)?, sql, params)?.run().await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or_default())
}
