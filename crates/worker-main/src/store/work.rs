//! The work queues of self-hosted environments. Every query is scoped by
//! `tenant_id` and the environment; every change is one conditional
//! statement, so a claim, an ack, a heartbeat or a stop that raced another
//! changes nothing and is decided again.

use std::collections::BTreeMap;

use openma_core::control::work::Lease;
use openma_core::wire::Timestamp;
use openma_core::wire::object_type::WorkType;
use openma_core::wire::work::Work;
use openma_core::wire::work::WorkData;
use openma_core::wire::work::WorkState;
use serde::Deserialize;
use worker::Env;

use super::Param;

/// A stored work item.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WorkRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) environment_id: String,
    pub(crate) session_id: String,
    pub(crate) state: String,
    pub(crate) metadata: String,
    pub(crate) created_at: String,
    #[serde(default)]
    pub(crate) handed_out_at: Option<String>,
    #[serde(default)]
    pub(crate) acknowledged_at: Option<String>,
    #[serde(default)]
    pub(crate) started_at: Option<String>,
    #[serde(default)]
    pub(crate) latest_heartbeat_at: Option<String>,
    #[serde(default)]
    pub(crate) lease_ttl_seconds: Option<f64>,
    #[serde(default)]
    pub(crate) stop_requested_at: Option<String>,
    #[serde(default)]
    pub(crate) stopped_at: Option<String>,
    /// How many times a poll handed it out: a write conditional on it
    /// fails when the item was reclaimed meanwhile.
    pub(crate) hand_outs: f64,
}

const COLUMNS: &str = "id, tenant_id, environment_id, session_id, state, metadata, created_at, \
    handed_out_at, acknowledged_at, started_at, latest_heartbeat_at, lease_ttl_seconds, \
    stop_requested_at, stopped_at, hand_outs";

fn time(text: Option<&str>) -> Option<Timestamp> {
    text.and_then(Timestamp::parse_rfc3339)
}

impl WorkRow {
    /// The stored state (an unknown one reads as `stopped`, which nothing
    /// can change).
    pub(crate) fn state(&self) -> WorkState {
        WorkState::parse(&self.state).unwrap_or(WorkState::Stopped)
    }

    /// The lease, for the core's decisions.
    pub(crate) fn lease(&self) -> Lease {
        Lease {
            state: self.state(),
            handed_out: self.handed_out_at.is_some(),
            last_heartbeat: time(self.latest_heartbeat_at.as_deref()),
            ttl_seconds: self
                .lease_ttl_seconds
                .map(|s| u32::try_from(s as i64).unwrap_or(u32::MAX)),
        }
    }

    /// The item as the API answers it (`secret` unset).
    pub(crate) fn work(&self) -> Work {
        Work {
            id: self.id.clone(),
            kind: WorkType::Tag,
            environment_id: self.environment_id.clone(),
            state: self.state(),
            data: WorkData {
                kind: "session".to_owned(),
                id: self.session_id.clone(),
            },
            metadata: serde_json::from_str::<BTreeMap<String, String>>(&self.metadata)
                .unwrap_or_default(),
            secret: None,
            created_at: time(Some(&self.created_at)).unwrap_or_default(),
            acknowledged_at: time(self.acknowledged_at.as_deref()),
            started_at: time(self.started_at.as_deref()),
            latest_heartbeat_at: time(self.latest_heartbeat_at.as_deref()),
            stop_requested_at: time(self.stop_requested_at.as_deref()),
            stopped_at: time(self.stopped_at.as_deref()),
        }
    }

    fn hand_outs(&self) -> i64 {
        self.hand_outs as i64
    }
}

fn ms(at: Timestamp) -> Param {
    Param::from(at.to_rfc3339())
}

/// Queues an item for the session unless it has one that is not stopped;
/// `true` if one was queued.
pub(crate) async fn enqueue(
    env: &Env,
    tenant_id: &str,
    environment_id: &str,
    session_id: &str,
    id: &str,
    now: Timestamp,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "INSERT OR IGNORE INTO work_items (id, tenant_id, environment_id, session_id, state, created_at)
         VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
        &[
            Param::from(id),
            Param::from(tenant_id),
            Param::from(environment_id),
            Param::from(session_id),
            ms(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// [`enqueue`] for a session of the tenant whose environment is
/// self-hosted (nothing otherwise), in one statement.
pub(crate) async fn enqueue_if_self_hosted(
    env: &Env,
    tenant_id: &str,
    session_id: &str,
    id: &str,
    now: Timestamp,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "INSERT OR IGNORE INTO work_items (id, tenant_id, environment_id, session_id, state, created_at)
         SELECT ?1, s.tenant_id, s.environment_id, s.id, 'queued', ?4
         FROM sessions s JOIN environments e ON e.id = s.environment_id AND e.tenant_id = s.tenant_id
         WHERE s.tenant_id = ?2 AND s.id = ?3
           AND json_extract(e.snapshot, '$.config.type') = 'self_hosted'",
        &[
            Param::from(id),
            Param::from(tenant_id),
            Param::from(session_id),
            ms(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Before a poll claims: stops the items whose stop was asked for and
/// whose lease ran out, and notes the worker as polling.
pub(crate) async fn before_claim(
    env: &Env,
    tenant_id: &str,
    environment_id: &str,
    worker_id: Option<&str>,
    now: Timestamp,
    forget_pollers_before: Timestamp,
) -> worker::Result<()> {
    let db = super::db(env)?;
    let mut statements = vec![super::statement(
        &db,
        "UPDATE work_items SET state = 'stopped', stopped_at = ?3
         WHERE tenant_id = ?1 AND environment_id = ?2 AND state = 'stopping'
           AND lease_expires_at <= ?3",
        &[Param::from(tenant_id), Param::from(environment_id), ms(now)],
    )?];
    if let Some(worker_id) = worker_id {
        statements.push(super::statement(
            &db,
            "INSERT INTO work_pollers (tenant_id, environment_id, worker_id, polled_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant_id, environment_id, worker_id)
             DO UPDATE SET polled_at = excluded.polled_at",
            &[
                Param::from(tenant_id),
                Param::from(environment_id),
                Param::from(worker_id),
                ms(now),
            ],
        )?);
        statements.push(super::statement(
            &db,
            "DELETE FROM work_pollers
             WHERE tenant_id = ?1 AND environment_id = ?2 AND polled_at < ?3",
            &[
                Param::from(tenant_id),
                Param::from(environment_id),
                ms(forget_pollers_before),
            ],
        )?);
    }
    db.batch(statements).await?;
    Ok(())
}

/// Hands out the environment's oldest claimable item, in one statement:
/// queued and never handed out, queued and handed out at or before
/// `reclaim_before` without an ack, or held with its lease run out. The
/// item starts over (no ack, no heartbeat) with the new token's digest.
pub(crate) async fn claim(
    env: &Env,
    tenant_id: &str,
    environment_id: &str,
    worker_id: Option<&str>,
    token_hash: &str,
    now: Timestamp,
    reclaim_before: Timestamp,
) -> worker::Result<Option<WorkRow>> {
    super::first(
        env,
        &format!(
            "UPDATE work_items
             SET state = 'queued', handed_out_at = ?3, worker_id = ?4, token_hash = ?5,
                 acknowledged_at = NULL, started_at = NULL, latest_heartbeat_at = NULL,
                 lease_ttl_seconds = NULL, lease_expires_at = NULL, hand_outs = hand_outs + 1
             WHERE id = (
                 SELECT id FROM work_items
                 WHERE tenant_id = ?1 AND environment_id = ?2
                   AND ((state = 'queued' AND (handed_out_at IS NULL OR handed_out_at <= ?6))
                        OR (state IN ('starting', 'active') AND lease_expires_at <= ?3))
                 ORDER BY created_at, id LIMIT 1)
             RETURNING {COLUMNS}"
        ),
        &[
            Param::from(tenant_id),
            Param::from(environment_id),
            ms(now),
            Param::from(worker_id.map(str::to_owned)),
            Param::from(token_hash),
            ms(reclaim_before),
        ],
    )
    .await
}

/// An item of the environment.
pub(crate) async fn get(
    env: &Env,
    tenant_id: &str,
    environment_id: &str,
    id: &str,
) -> worker::Result<Option<WorkRow>> {
    super::first(
        env,
        &format!(
            "SELECT {COLUMNS} FROM work_items
             WHERE tenant_id = ?1 AND environment_id = ?2 AND id = ?3"
        ),
        &[
            Param::from(tenant_id),
            Param::from(environment_id),
            Param::from(id),
        ],
    )
    .await
}

/// The item whose current hand-out minted the token with this digest,
/// while it is not stopped.
pub(crate) async fn by_token(env: &Env, token_hash: &str) -> worker::Result<Option<WorkRow>> {
    super::first(
        env,
        &format!("SELECT {COLUMNS} FROM work_items WHERE token_hash = ?1 AND state != 'stopped'"),
        &[Param::from(token_hash)],
    )
    .await
}

fn row_params(row: &WorkRow) -> [Param; 4] {
    [
        Param::from(row.tenant_id.as_str()),
        Param::from(row.environment_id.as_str()),
        Param::from(row.id.as_str()),
        Param::Int(row.hand_outs()),
    ]
}

/// Acknowledges `row` (read as queued and handed out): `starting`, with a
/// lease of `ttl_seconds`. `false` if it changed meanwhile.
pub(crate) async fn ack(
    env: &Env,
    row: &WorkRow,
    ttl_seconds: u32,
    now: Timestamp,
) -> worker::Result<bool> {
    let [tenant, environment, id, hand_outs] = row_params(row);
    let changed = super::run(
        env,
        "UPDATE work_items
         SET state = 'starting', acknowledged_at = ?5, lease_ttl_seconds = ?6, lease_expires_at = ?7
         WHERE tenant_id = ?1 AND environment_id = ?2 AND id = ?3 AND hand_outs = ?4
           AND state = 'queued' AND handed_out_at IS NOT NULL",
        &[
            tenant,
            environment,
            id,
            hand_outs,
            ms(now),
            Param::Int(i64::from(ttl_seconds)),
            ms(now.plus_ms(u64::from(ttl_seconds) * 1000)),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Records a heartbeat on `row` (read with its stored heartbeat): `active`,
/// its lease running `ttl_seconds` from `now`. `false` if it changed
/// meanwhile (another heartbeat, a reclaim, a stop).
pub(crate) async fn heartbeat(
    env: &Env,
    row: &WorkRow,
    last_heartbeat: Timestamp,
    ttl_seconds: u32,
    now: Timestamp,
) -> worker::Result<bool> {
    let [tenant, environment, id, hand_outs] = row_params(row);
    let changed = super::run(
        env,
        "UPDATE work_items
         SET state = 'active', latest_heartbeat_at = ?6, lease_ttl_seconds = ?7, lease_expires_at = ?8,
             acknowledged_at = COALESCE(acknowledged_at, ?9), started_at = COALESCE(started_at, ?9)
         WHERE tenant_id = ?1 AND environment_id = ?2 AND id = ?3 AND hand_outs = ?4
           AND state IN ('queued', 'starting', 'active') AND latest_heartbeat_at IS ?5",
        &[
            tenant,
            environment,
            id,
            hand_outs,
            Param::from(row.latest_heartbeat_at.clone()),
            ms(last_heartbeat),
            Param::Int(i64::from(ttl_seconds)),
            ms(now.plus_ms(u64::from(ttl_seconds) * 1000)),
            ms(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Stops `row` (read in its current state): `stopped` now, or `stopping`
/// when `request_only`. `false` if it changed meanwhile.
pub(crate) async fn stop(
    env: &Env,
    row: &WorkRow,
    request_only: bool,
    now: Timestamp,
) -> worker::Result<bool> {
    let [tenant, environment, id, hand_outs] = row_params(row);
    let sql = if request_only {
        "UPDATE work_items SET state = 'stopping', stop_requested_at = ?6
         WHERE tenant_id = ?1 AND environment_id = ?2 AND id = ?3 AND hand_outs = ?4 AND state = ?5"
    } else {
        "UPDATE work_items
         SET state = 'stopped', stop_requested_at = COALESCE(stop_requested_at, ?6), stopped_at = ?6
         WHERE tenant_id = ?1 AND environment_id = ?2 AND id = ?3 AND hand_outs = ?4 AND state = ?5"
    };
    let changed = super::run(
        env,
        sql,
        &[
            tenant,
            environment,
            id,
            hand_outs,
            Param::from(row.state.as_str()),
            ms(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Replaces an item's metadata; `false` if it is gone.
pub(crate) async fn set_metadata(
    env: &Env,
    row: &WorkRow,
    metadata: &BTreeMap<String, String>,
) -> worker::Result<bool> {
    let json =
        serde_json::to_string(metadata).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let changed = super::run(
        env,
        "UPDATE work_items SET metadata = ?4
         WHERE tenant_id = ?1 AND environment_id = ?2 AND id = ?3",
        &[
            Param::from(row.tenant_id.as_str()),
            Param::from(row.environment_id.as_str()),
            Param::from(row.id.as_str()),
            Param::from(json),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Up to `limit` items of the environment with ids after `after`, oldest
/// first.
pub(crate) async fn list(
    env: &Env,
    tenant_id: &str,
    environment_id: &str,
    after: &str,
    limit: usize,
) -> worker::Result<Vec<WorkRow>> {
    super::all(
        env,
        &format!(
            "SELECT {COLUMNS} FROM work_items
             WHERE tenant_id = ?1 AND environment_id = ?2 AND id > ?3
             ORDER BY id LIMIT ?4"
        ),
        &[
            Param::from(tenant_id),
            Param::from(environment_id),
            Param::from(after),
            Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)),
        ],
    )
    .await
}

/// The queue's numbers: items waiting, items handed out and not
/// acknowledged, the oldest of either, and the workers that polled since
/// `polling_since`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct QueueCounts {
    #[serde(default)]
    pub(crate) depth: Option<f64>,
    #[serde(default)]
    pub(crate) pending: Option<f64>,
    #[serde(default)]
    pub(crate) oldest_queued_at: Option<String>,
    #[serde(default)]
    pub(crate) workers_polling: Option<f64>,
}

/// Counts the environment's queue.
pub(crate) async fn counts(
    env: &Env,
    tenant_id: &str,
    environment_id: &str,
    polling_since: Timestamp,
) -> worker::Result<QueueCounts> {
    let counts: Option<QueueCounts> = super::first(
        env,
        "SELECT
           (SELECT COUNT(*) FROM work_items WHERE tenant_id = ?1 AND environment_id = ?2
              AND state = 'queued' AND handed_out_at IS NULL) AS depth,
           (SELECT COUNT(*) FROM work_items WHERE tenant_id = ?1 AND environment_id = ?2
              AND state = 'queued' AND handed_out_at IS NOT NULL) AS pending,
           (SELECT MIN(created_at) FROM work_items WHERE tenant_id = ?1 AND environment_id = ?2
              AND state = 'queued') AS oldest_queued_at,
           (SELECT COUNT(*) FROM work_pollers WHERE tenant_id = ?1 AND environment_id = ?2
              AND polled_at >= ?3) AS workers_polling",
        &[
            Param::from(tenant_id),
            Param::from(environment_id),
            ms(polling_since),
        ],
    )
    .await?;
    Ok(counts.unwrap_or_default())
}

/// Stops every live item of a session (it was deleted): no worker is to
/// serve it any more, and their tokens stop working.
pub(crate) async fn stop_for_session(
    env: &Env,
    tenant_id: &str,
    session_id: &str,
    now: Timestamp,
) -> worker::Result<()> {
    super::run(
        env,
        "UPDATE work_items
         SET state = 'stopped', stop_requested_at = COALESCE(stop_requested_at, ?3), stopped_at = ?3
         WHERE tenant_id = ?1 AND session_id = ?2 AND state != 'stopped'",
        &[Param::from(tenant_id), Param::from(session_id), ms(now)],
    )
    .await
    .map(|_| ())
}

/// Forgets an environment's queue and keys (the environment is deleted).
pub(crate) async fn forget_environment(
    env: &Env,
    tenant_id: &str,
    environment_id: &str,
) -> worker::Result<()> {
    let db = super::db(env)?;
    let params = [Param::from(tenant_id), Param::from(environment_id)];
    let statements = [
        "DELETE FROM work_items WHERE tenant_id = ?1 AND environment_id = ?2",
        "DELETE FROM work_pollers WHERE tenant_id = ?1 AND environment_id = ?2",
        "DELETE FROM environment_keys WHERE tenant_id = ?1 AND environment_id = ?2",
    ]
    .into_iter()
    .map(|sql| super::statement(&db, sql, &params))
    .collect::<worker::Result<Vec<_>>>()?;
    db.batch(statements).await?;
    Ok(())
}
