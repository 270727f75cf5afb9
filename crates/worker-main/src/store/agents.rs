//! Agents: the latest snapshot in `agents`, every version's full JSON
//! snapshot in `agent_versions`. Every query is scoped by `tenant_id`.

use openma_core::wire::Agent;
use openma_core::wire::Timestamp;
use serde::Deserialize;
use worker::Env;

use super::Param;

/// A stored snapshot and the agent's archive time.
#[derive(Debug, Deserialize)]
struct Row {
    snapshot: String,
    archived_at: Option<String>,
}

impl Row {
    fn agent(self) -> worker::Result<Agent> {
        let mut agent: Agent = serde_json::from_str(&self.snapshot)
            .map_err(|e| worker::Error::RustError(format!("stored agent snapshot: {e}")))?;
        agent.archived_at = self
            .archived_at
            .as_deref()
            .and_then(Timestamp::parse_rfc3339);
        Ok(agent)
    }
}

fn snapshot(agent: &Agent) -> worker::Result<String> {
    let mut stored = agent.clone();
    stored.archived_at = None;
    serde_json::to_string(&stored).map_err(|e| worker::Error::RustError(e.to_string()))
}

fn int(n: u64) -> Param {
    Param::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A tenant's agent: the latest version when `version` is `None`. Archived
/// agents are returned too, with `archived_at` set.
pub(crate) async fn get(
    env: &Env,
    tenant_id: &str,
    id: &str,
    version: Option<u64>,
) -> worker::Result<Option<Agent>> {
    let row: Option<Row> = match version {
        None => {
            super::first(
                env,
                "SELECT snapshot, archived_at FROM agents WHERE tenant_id = ?1 AND id = ?2",
                &[Param::from(tenant_id), Param::from(id)],
            )
            .await?
        }
        Some(version) => {
            super::first(
                env,
                "SELECT v.snapshot AS snapshot, a.archived_at AS archived_at
                 FROM agent_versions v JOIN agents a ON a.id = v.agent_id
                 WHERE a.tenant_id = ?1 AND v.tenant_id = ?1 AND v.agent_id = ?2 AND v.version = ?3",
                &[Param::from(tenant_id), Param::from(id), int(version)],
            )
            .await?
        }
    };
    row.map(Row::agent).transpose()
}

/// Stores a new agent (its version 1).
pub(crate) async fn insert(env: &Env, tenant_id: &str, agent: &Agent) -> worker::Result<()> {
    let db = super::db(env)?;
    let json = snapshot(agent)?;
    let statements = vec![
        super::statement(
            &db,
            "INSERT INTO agents (id, tenant_id, version, created_at_ms, archived_at, snapshot)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5)",
            &[
                Param::from(agent.id.as_str()),
                Param::from(tenant_id),
                int(agent.version),
                Param::Int(agent.created_at.0),
                Param::from(json.as_str()),
            ],
        )?,
        super::statement(
            &db,
            "INSERT INTO agent_versions (agent_id, version, tenant_id, snapshot)
             VALUES (?1, ?2, ?3, ?4)",
            &[
                Param::from(agent.id.as_str()),
                int(agent.version),
                Param::from(tenant_id),
                Param::from(json),
            ],
        )?,
    ];
    db.batch(statements).await.map(drop)
}

/// Stores `next` as the new latest version if the agent is still at
/// `previous` and not archived; `false` when it was not (a lost race).
pub(crate) async fn update(
    env: &Env,
    tenant_id: &str,
    previous: u64,
    next: &Agent,
) -> worker::Result<bool> {
    let db = super::db(env)?;
    let json = snapshot(next)?;
    // One batch is one transaction; the insert only happens while the
    // agent is still at `previous`, so a concurrent writer changes nothing.
    let statements = vec![
        super::statement(
            &db,
            "INSERT INTO agent_versions (agent_id, version, tenant_id, snapshot)
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (
                 SELECT 1 FROM agents WHERE id = ?1 AND tenant_id = ?3 AND version = ?5
                 AND archived_at IS NULL)",
            &[
                Param::from(next.id.as_str()),
                int(next.version),
                Param::from(tenant_id),
                Param::from(json.as_str()),
                int(previous),
            ],
        )?,
        super::statement(
            &db,
            "UPDATE agents SET version = ?4, snapshot = ?5
             WHERE id = ?1 AND tenant_id = ?2 AND version = ?3 AND archived_at IS NULL",
            &[
                Param::from(next.id.as_str()),
                Param::from(tenant_id),
                int(previous),
                int(next.version),
                Param::from(json),
            ],
        )?,
    ];
    let results = db.batch(statements).await?;
    let changed = match results.last() {
        Some(result) => result.meta()?.and_then(|m| m.changes).unwrap_or_default(),
        None => 0,
    };
    Ok(changed > 0)
}

/// Archives an agent; `false` if it is missing or already archived.
pub(crate) async fn archive(
    env: &Env,
    tenant_id: &str,
    id: &str,
    now: Timestamp,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE agents SET archived_at = ?3
         WHERE tenant_id = ?1 AND id = ?2 AND archived_at IS NULL",
        &[
            Param::from(tenant_id),
            Param::from(id),
            Param::from(now.to_rfc3339()),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Filters of `GET /v1/agents`.
#[derive(Debug, Default)]
pub(crate) struct ListFilter {
    pub(crate) include_archived: bool,
    pub(crate) created_gte: Option<Timestamp>,
    pub(crate) created_lte: Option<Timestamp>,
}

/// Up to `limit` latest agents with ids after `after`, oldest first.
pub(crate) async fn list(
    env: &Env,
    tenant_id: &str,
    filter: &ListFilter,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<Agent>> {
    let rows: Vec<Row> = super::all(
        env,
        "SELECT snapshot, archived_at FROM agents
         WHERE tenant_id = ?1 AND id > ?2 AND (?3 = 1 OR archived_at IS NULL)
         AND created_at_ms >= ?4 AND created_at_ms <= ?5
         ORDER BY id LIMIT ?6",
        &[
            Param::from(tenant_id),
            Param::from(after),
            Param::Int(i64::from(filter.include_archived)),
            Param::Int(filter.created_gte.map_or(i64::MIN / 2, |t| t.0)),
            Param::Int(filter.created_lte.map_or(i64::MAX / 2, |t| t.0)),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
    .await?;
    rows.into_iter().map(Row::agent).collect()
}

/// Up to `limit` versions of a tenant's agent after `after`, oldest first.
pub(crate) async fn versions(
    env: &Env,
    tenant_id: &str,
    id: &str,
    after: u64,
    limit: usize,
) -> worker::Result<Vec<Agent>> {
    let rows: Vec<Row> = super::all(
        env,
        "SELECT v.snapshot AS snapshot, a.archived_at AS archived_at
         FROM agent_versions v JOIN agents a ON a.id = v.agent_id
         WHERE a.tenant_id = ?1 AND v.tenant_id = ?1 AND v.agent_id = ?2 AND v.version > ?3
         ORDER BY v.version LIMIT ?4",
        &[
            Param::from(tenant_id),
            Param::from(id),
            int(after),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
    .await?;
    rows.into_iter().map(Row::agent).collect()
}
