//! The audit trail in D1: one row per recorded action, numbered in the order
//! it was written (`seq`), which is the order `GET /v1/audit_events` lists
//! them in (newest first). Nothing secret is ever in a row.

use serde::Deserialize;
use worker::Env;

use super::Param;

/// A stored audit event.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AuditRow {
    /// Position in the trail (assigned by D1; 0 before the row is stored).
    #[serde(default)]
    pub(crate) seq: i64,
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    /// `api_key` or `operator`.
    pub(crate) actor_type: String,
    pub(crate) api_key_id: Option<String>,
    pub(crate) action: String,
    pub(crate) object_id: Option<String>,
    pub(crate) request_id: String,
    /// A JSON object with what else the action tells (never a secret).
    pub(crate) details: String,
    pub(crate) created_at: String,
}

/// Appends a row to the trail.
pub(crate) async fn insert(env: &Env, row: &AuditRow) -> worker::Result<()> {
    super::run(
        env,
        "INSERT INTO audit_events (id, tenant_id, actor_type, api_key_id, action, object_id,
                                   request_id, details, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.actor_type.as_str()),
            Param::from(row.api_key_id.clone()),
            Param::from(row.action.as_str()),
            Param::from(row.object_id.clone()),
            Param::from(row.request_id.as_str()),
            Param::from(row.details.as_str()),
            Param::from(row.created_at.as_str()),
        ],
    )
    .await
    .map(|_| ())
}

/// Which rows a page lists.
#[derive(Debug, Default)]
pub(crate) struct ListFilter {
    /// Only this tenant's rows (every tenant's when `None`: the operator).
    pub(crate) tenant_id: Option<String>,
    /// Only rows of this action.
    pub(crate) action: Option<String>,
    /// Only rows written before this one (the page cursor).
    pub(crate) before_seq: Option<i64>,
}

/// Up to `limit` rows that pass `filter`, newest first.
pub(crate) async fn list(
    env: &Env,
    filter: &ListFilter,
    limit: usize,
) -> worker::Result<Vec<AuditRow>> {
    let mut sql = String::from(
        "SELECT seq, id, tenant_id, actor_type, api_key_id, action, object_id, request_id,
                details, created_at
         FROM audit_events WHERE 1 = 1",
    );
    let mut params = Vec::new();
    let mut bind = |sql: &mut String, clause: &str, value: Param| {
        params.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", params.len())));
    };
    if let Some(tenant_id) = &filter.tenant_id {
        bind(
            &mut sql,
            " AND tenant_id = ?",
            Param::from(tenant_id.as_str()),
        );
    }
    if let Some(action) = &filter.action {
        bind(&mut sql, " AND action = ?", Param::from(action.as_str()));
    }
    if let Some(before) = filter.before_seq {
        bind(&mut sql, " AND seq < ?", Param::Int(before));
    }
    bind(
        &mut sql,
        " ORDER BY seq DESC LIMIT ?",
        Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
    );
    super::all(env, &sql, &params).await
}
