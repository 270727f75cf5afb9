//! The sessions index (listing and filtering); each session's own state is in
//! its SessionDO. Every query is scoped by `tenant_id`.

use serde::Deserialize;
use worker::Env;

use super::Param;

/// A row of the index.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SessionRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) agent_id: String,
    pub(crate) agent_version: i64,
    pub(crate) environment_id: String,
    pub(crate) title: Option<String>,
    pub(crate) status: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) archived_at: Option<String>,
    /// The deployment that created the session.
    #[serde(default)]
    pub(crate) deployment_id: Option<String>,
    /// The session record as JSON, kept by the SessionDO.
    #[serde(default)]
    pub(crate) record: Option<String>,
    /// The summary of the log as JSON, kept by the SessionDO.
    #[serde(default)]
    pub(crate) summary: Option<String>,
}

/// How many of the tenant's sessions other than `except_id` the index shows
/// running (or rescheduling).
pub(crate) async fn running_besides(
    env: &Env,
    tenant_id: &str,
    except_id: &str,
) -> worker::Result<u64> {
    #[derive(Deserialize)]
    struct Count {
        running: u64,
    }
    let count: Option<Count> = super::first(
        env,
        "SELECT COUNT(*) AS running FROM sessions
         WHERE tenant_id = ?1 AND id != ?2 AND status IN ('running', 'rescheduling')
           AND archived_at IS NULL",
        &[Param::from(tenant_id), Param::from(except_id)],
    )
    .await?;
    Ok(count.map_or(0, |c| c.running))
}

/// Adds a session to the index.
pub(crate) async fn insert(env: &Env, row: &SessionRow) -> worker::Result<()> {
    super::run(
        env,
        "INSERT INTO sessions (id, tenant_id, agent_id, agent_version, environment_id, title,
                               status, created_at, updated_at, archived_at, record, summary,
                               deployment_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.agent_id.as_str()),
            Param::Int(row.agent_version),
            Param::from(row.environment_id.as_str()),
            Param::from(row.title.clone()),
            Param::from(row.status.as_str()),
            Param::from(row.created_at.as_str()),
            Param::from(row.updated_at.as_str()),
            Param::from(row.archived_at.clone()),
            Param::from(row.record.clone()),
            Param::from(row.summary.clone()),
            Param::from(row.deployment_id.clone()),
        ],
    )
    .await
    .map(|_| ())
}

/// Removes a session from the index.
pub(crate) async fn delete(env: &Env, tenant_id: &str, id: &str) -> worker::Result<()> {
    super::run(
        env,
        "DELETE FROM sessions WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await
    .map(|_| ())
}

/// A filtered, ordered window of a tenant's sessions.
#[derive(Debug, Default)]
pub(crate) struct ListFilter {
    pub(crate) agent_id: Option<String>,
    pub(crate) deployment_id: Option<String>,
    pub(crate) agent_version: Option<i64>,
    pub(crate) statuses: Vec<String>,
    pub(crate) created: Vec<(&'static str, String)>,
    pub(crate) include_archived: bool,
}

/// Up to `limit` sessions strictly past `cursor` in the direction `ascending`.
pub(crate) async fn list(
    env: &Env,
    tenant_id: &str,
    filter: &ListFilter,
    cursor: Option<&str>,
    ascending: bool,
    limit: usize,
) -> worker::Result<Vec<SessionRow>> {
    let mut sql = String::from(
        "SELECT id, tenant_id, agent_id, agent_version, environment_id, title, status,
                created_at, updated_at, archived_at, deployment_id, record, summary
         FROM sessions WHERE tenant_id = ?1",
    );
    let mut params = vec![Param::from(tenant_id)];
    let mut bind = |sql: &mut String, clause: &str, value: Param| {
        params.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", params.len())));
    };
    if let Some(agent_id) = &filter.agent_id {
        bind(
            &mut sql,
            " AND agent_id = ?",
            Param::from(agent_id.as_str()),
        );
    }
    if let Some(deployment_id) = &filter.deployment_id {
        bind(
            &mut sql,
            " AND deployment_id = ?",
            Param::from(deployment_id.as_str()),
        );
    }
    if let Some(version) = filter.agent_version {
        bind(&mut sql, " AND agent_version = ?", Param::Int(version));
    }
    if !filter.include_archived {
        sql.push_str(" AND archived_at IS NULL");
    }
    if !filter.statuses.is_empty() {
        sql.push_str(" AND status IN (");
        for (i, status) in filter.statuses.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            bind(&mut sql, "?", Param::from(status.as_str()));
        }
        sql.push(')');
    }
    for (op, at) in &filter.created {
        bind(
            &mut sql,
            &format!(" AND created_at {op} ?"),
            Param::from(at.as_str()),
        );
    }
    if let Some(cursor) = cursor {
        let op = if ascending { ">" } else { "<" };
        bind(&mut sql, &format!(" AND id {op} ?"), Param::from(cursor));
    }
    sql.push_str(if ascending {
        " ORDER BY id ASC"
    } else {
        " ORDER BY id DESC"
    });
    bind(
        &mut sql,
        " LIMIT ?",
        Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
    );
    super::all(env, &sql, &params).await
}
