//! Deployments in D1: `deployments` (an agent version bound to an
//! environment, vaults, resources and initial events, with an optional cron
//! schedule and the next scheduled time not yet fired) and
//! `deployment_runs` (one row per run: its session, or why it failed).
//! main serves both through the API; the integrations worker's scheduler
//! reads a deployment by id alone and finds the overdue ones. Queries a
//! tenant makes are scoped by `tenant_id`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use worker::Env;

use super::Param;

/// One deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRow {
    /// `depl_` id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Human-readable name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// The agent its sessions run.
    pub agent_id: String,
    /// The pinned version of that agent.
    pub agent_version: i64,
    /// The environment its sessions run in.
    pub environment_id: String,
    /// Vaults its sessions get.
    pub vault_ids: Vec<String>,
    /// Resources its sessions get, as the API echoes them.
    pub resources: Vec<Value>,
    /// The events each session starts with.
    pub initial_events: Vec<Value>,
    /// The tenant's labels.
    pub metadata: BTreeMap<String, String>,
    /// The cron expression; `None`: manual runs only.
    pub schedule_expression: Option<String>,
    /// The schedule's IANA time zone.
    pub schedule_timezone: Option<String>,
    /// The next scheduled time not yet fired (unix ms); `None` when none is
    /// due: no schedule, paused or archived.
    pub next_run_at: Option<i64>,
    /// When the latest scheduled run started (RFC 3339).
    pub last_run_at: Option<String>,
    /// Why it is paused (`{type: manual}` or `{type: error, error}`).
    pub paused_reason: Option<Value>,
    /// Archive time (RFC 3339).
    pub archived_at: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A deployment as D1 returns it: JSON columns still text.
#[derive(Debug, Deserialize)]
struct DeploymentRecord {
    id: String,
    tenant_id: String,
    name: String,
    description: Option<String>,
    agent_id: String,
    agent_version: i64,
    environment_id: String,
    vault_ids: String,
    resources: String,
    initial_events: String,
    metadata: String,
    schedule_expression: Option<String>,
    schedule_timezone: Option<String>,
    next_run_at: Option<i64>,
    last_run_at: Option<String>,
    paused_reason: Option<String>,
    archived_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl TryFrom<DeploymentRecord> for DeploymentRow {
    type Error = worker::Error;

    fn try_from(r: DeploymentRecord) -> worker::Result<Self> {
        Ok(Self {
            vault_ids: serde_json::from_str(&r.vault_ids)?,
            resources: serde_json::from_str(&r.resources)?,
            initial_events: serde_json::from_str(&r.initial_events)?,
            metadata: serde_json::from_str(&r.metadata)?,
            paused_reason: r
                .paused_reason
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?,
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            description: r.description,
            agent_id: r.agent_id,
            agent_version: r.agent_version,
            environment_id: r.environment_id,
            schedule_expression: r.schedule_expression,
            schedule_timezone: r.schedule_timezone,
            next_run_at: r.next_run_at,
            last_run_at: r.last_run_at,
            archived_at: r.archived_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const DEPLOYMENT_COLUMNS: &str = "id, tenant_id, name, description, agent_id, agent_version, \
     environment_id, vault_ids, resources, initial_events, metadata, schedule_expression, \
     schedule_timezone, next_run_at, last_run_at, paused_reason, archived_at, created_at, \
     updated_at";

fn int(n: usize) -> Param {
    Param::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn optional_int(n: Option<i64>) -> Param {
    n.map_or(Param::Null, Param::Int)
}

fn json_text(value: &impl serde::Serialize) -> worker::Result<Param> {
    Ok(Param::from(serde_json::to_string(value)?))
}

fn optional_json(value: Option<&Value>) -> Param {
    value.map_or(Param::Null, |v| Param::from(v.to_string()))
}

async fn one(env: &Env, sql: &str, params: &[Param]) -> worker::Result<Option<DeploymentRow>> {
    super::first::<DeploymentRecord>(env, sql, params)
        .await?
        .map(DeploymentRow::try_from)
        .transpose()
}

/// Stores a new deployment.
pub async fn insert(env: &Env, row: &DeploymentRow) -> worker::Result<()> {
    super::run(
        env,
        &format!(
            "INSERT INTO deployments ({DEPLOYMENT_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19)"
        ),
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.name.as_str()),
            Param::from(row.description.clone()),
            Param::from(row.agent_id.as_str()),
            Param::Int(row.agent_version),
            Param::from(row.environment_id.as_str()),
            json_text(&row.vault_ids)?,
            json_text(&row.resources)?,
            json_text(&row.initial_events)?,
            json_text(&row.metadata)?,
            Param::from(row.schedule_expression.clone()),
            Param::from(row.schedule_timezone.clone()),
            optional_int(row.next_run_at),
            Param::from(row.last_run_at.clone()),
            optional_json(row.paused_reason.as_ref()),
            Param::from(row.archived_at.clone()),
            Param::from(row.created_at.as_str()),
            Param::from(row.updated_at.as_str()),
        ],
    )
    .await
    .map(drop)
}

/// A tenant's deployment.
pub async fn get(env: &Env, tenant_id: &str, id: &str) -> worker::Result<Option<DeploymentRow>> {
    one(
        env,
        &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE tenant_id = ?1 AND id = ?2"),
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await
}

/// A deployment by id alone (its scheduler knows only the id).
pub async fn get_any(env: &Env, id: &str) -> worker::Result<Option<DeploymentRow>> {
    one(
        env,
        &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?1"),
        &[Param::from(id)],
    )
    .await
}

/// Which of a tenant's deployments a list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this agent's.
    pub agent_id: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_gte: Option<String>,
    /// Created at or before (RFC 3339).
    pub created_lte: Option<String>,
    /// Archived ones too.
    pub include_archived: bool,
    /// `Some(true)`: only paused ones; `Some(false)`: only active ones.
    pub paused: Option<bool>,
}

/// Up to `limit` of a tenant's deployments with ids after `after`, oldest
/// first.
pub async fn list(
    env: &Env,
    tenant_id: &str,
    filter: &ListFilter,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<DeploymentRow>> {
    let paused = match filter.paused {
        None => "",
        Some(true) => " AND paused_reason IS NOT NULL",
        Some(false) => " AND paused_reason IS NULL",
    };
    super::all::<DeploymentRecord>(
        env,
        &format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments
             WHERE tenant_id = ?1 AND id > ?2 AND (?3 = 1 OR archived_at IS NULL)
               AND (?4 IS NULL OR agent_id = ?4)
               AND (?5 IS NULL OR created_at >= ?5) AND (?6 IS NULL OR created_at <= ?6){paused}
             ORDER BY id LIMIT ?7"
        ),
        &[
            Param::from(tenant_id),
            Param::from(after),
            Param::Int(i64::from(filter.include_archived)),
            Param::from(filter.agent_id.clone()),
            Param::from(filter.created_gte.clone()),
            Param::from(filter.created_lte.clone()),
            int(limit),
        ],
    )
    .await?
    .into_iter()
    .map(DeploymentRow::try_from)
    .collect()
}

/// Writes a tenant's deployment back after a change by its API (every
/// column but `last_run_at`, which only scheduled runs move).
pub async fn replace(env: &Env, row: &DeploymentRow) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE deployments SET name = ?3, description = ?4, agent_id = ?5, agent_version = ?6,
                environment_id = ?7, vault_ids = ?8, resources = ?9, initial_events = ?10,
                metadata = ?11, schedule_expression = ?12, schedule_timezone = ?13,
                next_run_at = ?14, paused_reason = ?15, archived_at = ?16, updated_at = ?17
         WHERE tenant_id = ?1 AND id = ?2",
        &[
            Param::from(row.tenant_id.as_str()),
            Param::from(row.id.as_str()),
            Param::from(row.name.as_str()),
            Param::from(row.description.clone()),
            Param::from(row.agent_id.as_str()),
            Param::Int(row.agent_version),
            Param::from(row.environment_id.as_str()),
            json_text(&row.vault_ids)?,
            json_text(&row.resources)?,
            json_text(&row.initial_events)?,
            json_text(&row.metadata)?,
            Param::from(row.schedule_expression.clone()),
            Param::from(row.schedule_timezone.clone()),
            optional_int(row.next_run_at),
            optional_json(row.paused_reason.as_ref()),
            Param::from(row.archived_at.clone()),
            Param::from(row.updated_at.as_str()),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Records that a scheduled run started at `started_at` and moves the next
/// scheduled time to `next_run_at`, unless the deployment was paused,
/// archived or rescheduled meanwhile (its own write decided it) or is
/// already further on.
pub async fn advance(
    env: &Env,
    row: &DeploymentRow,
    started_at: &str,
    next_run_at: Option<i64>,
) -> worker::Result<()> {
    super::run(
        env,
        "UPDATE deployments SET last_run_at = ?2 WHERE id = ?1",
        &[Param::from(row.id.as_str()), Param::from(started_at)],
    )
    .await?;
    super::run(
        env,
        "UPDATE deployments SET next_run_at = ?2
         WHERE id = ?1 AND paused_reason IS NULL AND archived_at IS NULL
           AND schedule_expression IS ?3 AND schedule_timezone IS ?4
           AND next_run_at IS NOT NULL AND (?2 IS NULL OR next_run_at < ?2)",
        &[
            Param::from(row.id.as_str()),
            optional_int(next_run_at),
            Param::from(row.schedule_expression.clone()),
            Param::from(row.schedule_timezone.clone()),
        ],
    )
    .await
    .map(drop)
}

/// Pauses an active deployment for `reason` (a failed scheduled run);
/// `false` when it was paused or archived already.
pub async fn pause_for(env: &Env, id: &str, reason: &Value, now: &str) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE deployments SET paused_reason = ?2, next_run_at = NULL, updated_at = ?3
         WHERE id = ?1 AND paused_reason IS NULL AND archived_at IS NULL",
        &[
            Param::from(id),
            Param::from(reason.to_string()),
            Param::from(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// A deployment whose next scheduled time has passed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Due {
    /// `depl_` id (its scheduler's name).
    pub id: String,
    /// When it was due (unix ms).
    pub next_run_at: i64,
}

/// Up to `limit` deployments due at or before `before` (unix ms), most
/// overdue first.
pub async fn due(env: &Env, before: i64, limit: usize) -> worker::Result<Vec<Due>> {
    super::all(
        env,
        "SELECT id, next_run_at FROM deployments
         WHERE next_run_at IS NOT NULL AND next_run_at <= ?1
         ORDER BY next_run_at LIMIT ?2",
        &[Param::Int(before), int(limit)],
    )
    .await
}

/// A manual run.
pub const MANUAL: &str = "manual";
/// A run fired by the schedule.
pub const SCHEDULE: &str = "schedule";

/// One run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    /// `drun_` id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// The deployment that ran.
    pub deployment_id: String,
    /// `{type: agent, id, version}` at fire time.
    pub agent: Value,
    /// The session it created.
    pub session_id: Option<String>,
    /// `{type, message}`: why no session was created.
    pub error: Option<Value>,
    /// [`MANUAL`] or [`SCHEDULE`].
    pub trigger_type: String,
    /// The scheduled time (unix ms) of a scheduled run.
    pub scheduled_at: Option<i64>,
    /// When the run was recorded (RFC 3339).
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
struct RunRecord {
    id: String,
    tenant_id: String,
    deployment_id: String,
    agent: String,
    session_id: Option<String>,
    error: Option<String>,
    trigger_type: String,
    scheduled_at: Option<i64>,
    created_at: String,
}

impl TryFrom<RunRecord> for RunRow {
    type Error = worker::Error;

    fn try_from(r: RunRecord) -> worker::Result<Self> {
        Ok(Self {
            agent: serde_json::from_str(&r.agent)?,
            error: r.error.as_deref().map(serde_json::from_str).transpose()?,
            id: r.id,
            tenant_id: r.tenant_id,
            deployment_id: r.deployment_id,
            session_id: r.session_id,
            trigger_type: r.trigger_type,
            scheduled_at: r.scheduled_at,
            created_at: r.created_at,
        })
    }
}

const RUN_COLUMNS: &str = "id, tenant_id, deployment_id, agent, session_id, error, trigger_type, scheduled_at, created_at";

async fn one_run(env: &Env, sql: &str, params: &[Param]) -> worker::Result<Option<RunRow>> {
    super::first::<RunRecord>(env, sql, params)
        .await?
        .map(RunRow::try_from)
        .transpose()
}

/// Records a run; `false` when the deployment has a run for its scheduled
/// time already (nothing written).
pub async fn insert_run(env: &Env, row: &RunRow) -> worker::Result<bool> {
    let changed = super::run(
        env,
        &format!(
            "INSERT INTO deployment_runs ({RUN_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (deployment_id, scheduled_at) DO NOTHING"
        ),
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.deployment_id.as_str()),
            Param::from(row.agent.to_string()),
            Param::from(row.session_id.clone()),
            optional_json(row.error.as_ref()),
            Param::from(row.trigger_type.as_str()),
            optional_int(row.scheduled_at),
            Param::from(row.created_at.as_str()),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// The run of a deployment for its scheduled time `scheduled_at`.
pub async fn scheduled_run(
    env: &Env,
    deployment_id: &str,
    scheduled_at: i64,
) -> worker::Result<Option<RunRow>> {
    one_run(
        env,
        &format!(
            "SELECT {RUN_COLUMNS} FROM deployment_runs
             WHERE deployment_id = ?1 AND scheduled_at = ?2"
        ),
        &[Param::from(deployment_id), Param::Int(scheduled_at)],
    )
    .await
}

/// Records how a run ended (its session, or its error), once: `false`
/// when it had ended already.
pub async fn finish_run(
    env: &Env,
    id: &str,
    session_id: Option<&str>,
    error: Option<&Value>,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE deployment_runs SET session_id = ?2, error = ?3
         WHERE id = ?1 AND session_id IS NULL AND error IS NULL",
        &[
            Param::from(id),
            Param::from(session_id.map(str::to_owned)),
            optional_json(error),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Whether the deployment's last `count` scheduled runs all failed.
pub async fn failed_in_a_row(env: &Env, deployment_id: &str, count: usize) -> worker::Result<bool> {
    #[derive(Deserialize)]
    struct Outcome {
        failed: i64,
    }
    let last: Vec<Outcome> = super::all(
        env,
        "SELECT (error IS NOT NULL) AS failed FROM deployment_runs
         WHERE deployment_id = ?1 AND trigger_type = 'schedule'
         ORDER BY created_at DESC, id DESC LIMIT ?2",
        &[Param::from(deployment_id), Param::from(count)],
    )
    .await?;
    Ok(last.len() == count && last.iter().all(|run| run.failed != 0))
}

/// A tenant's run.
pub async fn get_run(env: &Env, tenant_id: &str, id: &str) -> worker::Result<Option<RunRow>> {
    one_run(
        env,
        &format!("SELECT {RUN_COLUMNS} FROM deployment_runs WHERE tenant_id = ?1 AND id = ?2"),
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await
}

/// Which of a tenant's runs a list shows.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this deployment's.
    pub deployment_id: Option<String>,
    /// `Some(true)`: only failed runs; `Some(false)`: only runs with a session.
    pub has_error: Option<bool>,
    /// Only runs of this trigger ([`MANUAL`] or [`SCHEDULE`]).
    pub trigger_type: Option<String>,
    /// `created_at` comparisons (`>`, `>=`, `<`, `<=`) with RFC 3339 times.
    pub created: Vec<(&'static str, String)>,
}

/// Up to `limit` of a tenant's runs with ids after `after`, oldest first.
pub async fn list_runs(
    env: &Env,
    tenant_id: &str,
    filter: &RunFilter,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<RunRow>> {
    let mut sql =
        format!("SELECT {RUN_COLUMNS} FROM deployment_runs WHERE tenant_id = ?1 AND id > ?2");
    let mut params = vec![Param::from(tenant_id), Param::from(after)];
    let mut bind = |sql: &mut String, clause: &str, value: Param| {
        params.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", params.len())));
    };
    if let Some(deployment_id) = &filter.deployment_id {
        bind(
            &mut sql,
            " AND deployment_id = ?",
            Param::from(deployment_id.as_str()),
        );
    }
    match filter.has_error {
        Some(true) => sql.push_str(" AND error IS NOT NULL"),
        Some(false) => sql.push_str(" AND session_id IS NOT NULL"),
        None => {}
    }
    if let Some(trigger) = &filter.trigger_type {
        bind(
            &mut sql,
            " AND trigger_type = ?",
            Param::from(trigger.as_str()),
        );
    }
    for (op, at) in &filter.created {
        bind(
            &mut sql,
            &format!(" AND created_at {op} ?"),
            Param::from(at.as_str()),
        );
    }
    sql.push_str(" ORDER BY id");
    bind(&mut sql, " LIMIT ?", int(limit));
    super::all::<RunRecord>(env, &sql, &params)
        .await?
        .into_iter()
        .map(RunRow::try_from)
        .collect()
}
