//! Self-hosted environments: their keys (`/v1/environments/{id}/keys`) and
//! their work queue (`/v1/environments/{id}/work`), as the official SDK's
//! environment worker drives it. The rules are `openma_core::control::work`;
//! the queue is D1's `work_items` (see `store::work`).

use std::time::Duration;

use openma_cloudflare::ids::sha256_hex;
use openma_core::control;
use openma_core::control::work::Ack;
use openma_core::control::work::Heartbeat;
use openma_core::control::work::Stop;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Environment;
use openma_core::wire::Timestamp;
use openma_core::wire::environment::EnvironmentConfig;
use openma_core::wire::object_type::EnvironmentKeyType;
use openma_core::wire::object_type::WorkHeartbeatType;
use openma_core::wire::object_type::WorkQueueStatsType;
use openma_core::wire::work::EnvironmentKey;
use openma_core::wire::work::WorkHeartbeat;
use openma_core::wire::work::WorkQueueStats;
use openma_core::wire::work::WorkState;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::Response;

use crate::audit;
use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;
use crate::request::now;
use crate::store;
use crate::store::environment_keys::EnvironmentKeyRow;
use crate::store::work::WorkRow;

/// How often a blocking poll looks at the queue again.
const POLL_INTERVAL_MS: u64 = 200;
/// A poller not seen for this long is forgotten.
const FORGET_POLLERS_MS: u64 = 3_600_000;
/// How many times a write that raced another is decided again.
const ATTEMPTS: usize = 3;

/// A route under `/v1/environments/{id}/work`, with the environment's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WorkRoute {
    /// `GET .../work`.
    List(String),
    /// `GET .../work/poll`.
    Poll(String),
    /// `GET .../work/stats`.
    Stats(String),
    /// `GET .../work/{work_id}`.
    Get(String, String),
    /// `POST .../work/{work_id}`: metadata.
    Update(String, String),
    /// `POST .../work/{work_id}/ack`.
    Ack(String, String),
    /// `POST .../work/{work_id}/heartbeat`.
    Heartbeat(String, String),
    /// `POST .../work/{work_id}/stop`.
    Stop(String, String),
}

impl WorkRoute {
    /// Parses the segments after `/v1/environments/{environment_id}/work`.
    pub(crate) fn parse(method: &Method, environment_id: &str, rest: &[&str]) -> Option<Self> {
        let env = environment_id.to_owned();
        let id = |s: &str| s.to_owned();
        Some(match (method, rest) {
            (Method::Get, []) => Self::List(env),
            (Method::Get, ["poll"]) => Self::Poll(env),
            (Method::Get, ["stats"]) => Self::Stats(env),
            (Method::Get, [w]) => Self::Get(env, id(w)),
            (Method::Post, [w]) => Self::Update(env, id(w)),
            (Method::Post, [w, "ack"]) => Self::Ack(env, id(w)),
            (Method::Post, [w, "heartbeat"]) => Self::Heartbeat(env, id(w)),
            (Method::Post, [w, "stop"]) => Self::Stop(env, id(w)),
            _ => return None,
        })
    }

    /// The environment whose queue the route reaches.
    pub(crate) fn environment_id(&self) -> &str {
        match self {
            Self::List(env)
            | Self::Poll(env)
            | Self::Stats(env)
            | Self::Get(env, _)
            | Self::Update(env, _)
            | Self::Ack(env, _)
            | Self::Heartbeat(env, _)
            | Self::Stop(env, _) => env,
        }
    }

    /// The work item the route reaches, if it reaches one.
    pub(crate) fn work_id(&self) -> Option<&str> {
        match self {
            Self::List(_) | Self::Poll(_) | Self::Stats(_) => None,
            Self::Get(_, id)
            | Self::Update(_, id)
            | Self::Ack(_, id)
            | Self::Heartbeat(_, id)
            | Self::Stop(_, id) => Some(id),
        }
    }
}

/// Serves a work route.
pub(crate) async fn serve(
    route: WorkRoute,
    mut req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    let query = Query::of(&req);
    // Unknown query parameters are ignored, as everywhere in the API
    // (documentation examples add `?beta=true`).
    let answer = match route {
        WorkRoute::List(environment_id) => list(env, caller, &environment_id, &query).await?,
        WorkRoute::Poll(environment_id) => {
            let worker_id = req.headers().get("anthropic-worker-id")?;
            poll(env, caller, &environment_id, &query, worker_id.as_deref()).await?
        }
        WorkRoute::Stats(environment_id) => stats(env, caller, &environment_id).await?,
        WorkRoute::Get(environment_id, id) => {
            to_value(item(env, caller, &environment_id, &id).await?.work())?
        }
        WorkRoute::Update(environment_id, id) => {
            let body = crate::request::json_body(&mut req).await?;
            update(env, caller, &environment_id, &id, &body).await?
        }
        WorkRoute::Ack(environment_id, id) => {
            let body = crate::request::json_body(&mut req).await?;
            if let Some(unknown) = body.as_object().and_then(|b| b.keys().next()) {
                return Err(ApiError::invalid(format!("{unknown}: unknown field")));
            }
            ack(env, caller, &environment_id, &id).await?
        }
        WorkRoute::Heartbeat(environment_id, id) => {
            let body = crate::request::json_body(&mut req).await?;
            if let Some(unknown) = body.as_object().and_then(|b| b.keys().next()) {
                return Err(ApiError::invalid(format!("{unknown}: unknown field")));
            }
            heartbeat(env, caller, &environment_id, &id, &query).await?
        }
        WorkRoute::Stop(environment_id, id) => {
            let body = crate::request::json_body(&mut req).await?;
            let force = control::work::parse_stop(&body)?;
            stop(env, caller, &environment_id, &id, force).await?
        }
    };
    Ok(openma_cloudflare::json(200, &answer)?)
}

fn to_value<T: serde::Serialize>(value: T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(ApiErrorType::ConflictError, message)
}

/// The caller's environment, which must exist.
async fn environment(env: &Env, caller: &Caller, id: &str) -> ApiResult<Environment> {
    store::environments::get(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| {
            let mut err = ApiError::not_found("environment", id);
            err.code = Some("environment_not_found");
            err
        })
}

/// The caller's environment, which must be self-hosted.
async fn self_hosted(env: &Env, caller: &Caller, id: &str, what: &str) -> ApiResult<Environment> {
    let environment = environment(env, caller, id).await?;
    if environment.config != EnvironmentConfig::SelfHosted {
        return Err(ApiError::invalid(format!(
            "environment {id} is not self_hosted: {what} only self_hosted environments"
        )));
    }
    Ok(environment)
}

/// A work item of the environment.
async fn item(env: &Env, caller: &Caller, environment_id: &str, id: &str) -> ApiResult<WorkRow> {
    store::work::get(env, &caller.tenant_id, environment_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("work", id))
}

/// The lease's TTL when a heartbeat asks for none: `WORK_LEASE_TTL_SECONDS`
/// (1 to 3600), else 300.
fn default_ttl(env: &Env) -> u32 {
    env.var("WORK_LEASE_TTL_SECONDS")
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u32>().ok())
        .filter(|s| (1..=control::work::MAX_LEASE_TTL_SECONDS).contains(s))
        .unwrap_or(control::work::DEFAULT_LEASE_TTL_SECONDS)
}

async fn poll(
    env: &Env,
    caller: &Caller,
    environment_id: &str,
    query: &Query,
    worker_id: Option<&str>,
) -> ApiResult<Value> {
    let params = control::work::parse_poll_params(
        query.get("block_ms"),
        query.get("reclaim_older_than_ms"),
    )?;
    let worker_id = control::work::parse_worker_id(worker_id)?;
    self_hosted(env, caller, environment_id, "work is queued for").await?;
    let started = now();
    store::work::before_claim(
        env,
        &caller.tenant_id,
        environment_id,
        worker_id.as_deref(),
        started,
        Timestamp(started.0 - FORGET_POLLERS_MS as i64),
    )
    .await?;
    let deadline = started.plus_ms(params.block_ms.unwrap_or(0));
    loop {
        let token = openma_cloudflare::ids::random_token(control::work::SESSIONS_TOKEN_PREFIX)
            .map_err(ApiError::internal)?;
        let at = now();
        let reclaim_before = Timestamp(
            at.0.saturating_sub(i64::try_from(params.reclaim_older_than_ms).unwrap_or(i64::MAX)),
        );
        let claimed = store::work::claim(
            env,
            &caller.tenant_id,
            environment_id,
            worker_id.as_deref(),
            &sha256_hex(token.as_bytes()),
            at,
            reclaim_before,
        )
        .await?;
        if let Some(row) = claimed {
            let mut work = row.work();
            work.secret = Some(control::work::encode_secret(&token));
            return to_value(work);
        }
        let left = deadline.millis_since(now());
        if left == 0 {
            return Ok(Value::Null);
        }
        worker::Delay::from(Duration::from_millis(left.min(POLL_INTERVAL_MS))).await;
    }
}

async fn ack(env: &Env, caller: &Caller, environment_id: &str, id: &str) -> ApiResult<Value> {
    for _ in 0..ATTEMPTS {
        let row = item(env, caller, environment_id, id).await?;
        match control::work::ack(&row.lease()) {
            Ack::Unchanged => return to_value(row.work()),
            Ack::Refuse(why) => return Err(conflict(why)),
            Ack::Acknowledge => {
                if store::work::ack(env, &row, default_ttl(env), now()).await? {
                    return to_value(item(env, caller, environment_id, id).await?.work());
                }
            }
        }
    }
    Err(conflict("the work item changed while it was acknowledged"))
}

fn precondition_failed(current: openma_core::wire::work::WorkLeaseState) -> ApiResult<ApiError> {
    let mut err = ApiError::invalid(
        "expected_last_heartbeat does not match the stored heartbeat: another worker may hold the lease",
    );
    err.status = Some(412);
    err.code = Some("heartbeat_precondition_failed");
    err.details.push(("current_state", to_value(current)?));
    Ok(err)
}

async fn heartbeat(
    env: &Env,
    caller: &Caller,
    environment_id: &str,
    id: &str,
    query: &Query,
) -> ApiResult<Value> {
    let params = control::work::parse_heartbeat_params(
        query.get("expected_last_heartbeat"),
        query.get("desired_ttl_seconds"),
    )?;
    let default_ttl = default_ttl(env);
    for _ in 0..ATTEMPTS {
        let row = item(env, caller, environment_id, id).await?;
        let at = now();
        match control::work::heartbeat(&row.lease(), &params, default_ttl, at) {
            Heartbeat::Decline(answer) => return to_value(answer),
            Heartbeat::PreconditionFailed(current) => return Err(precondition_failed(current)?),
            Heartbeat::NotHandedOut => {
                return Err(conflict("the work item has not been handed out by a poll"));
            }
            Heartbeat::Extend {
                last_heartbeat,
                ttl_seconds,
            } => {
                if store::work::heartbeat(env, &row, last_heartbeat, ttl_seconds, at).await? {
                    return to_value(WorkHeartbeat {
                        kind: WorkHeartbeatType::Tag,
                        last_heartbeat: last_heartbeat.to_rfc3339(),
                        lease_extended: true,
                        state: WorkState::Active,
                        ttl_seconds,
                    });
                }
            }
        }
    }
    Err(conflict(
        "the work item changed while the heartbeat was recorded",
    ))
}

async fn stop(
    env: &Env,
    caller: &Caller,
    environment_id: &str,
    id: &str,
    force: bool,
) -> ApiResult<Value> {
    for _ in 0..ATTEMPTS {
        let row = item(env, caller, environment_id, id).await?;
        let request_only = match control::work::stop(row.state(), force) {
            Stop::AlreadyStopped => return Err(conflict("the work item has already stopped")),
            Stop::Unchanged => return to_value(row.work()),
            Stop::Stop => false,
            Stop::RequestStop => true,
        };
        if store::work::stop(env, &row, request_only, now()).await? {
            return to_value(item(env, caller, environment_id, id).await?.work());
        }
    }
    Err(conflict("the work item changed while it was stopped"))
}

async fn update(
    env: &Env,
    caller: &Caller,
    environment_id: &str,
    id: &str,
    body: &Value,
) -> ApiResult<Value> {
    let patch = control::work::parse_update(body)?;
    let row = item(env, caller, environment_id, id).await?;
    let work = row.work();
    let metadata = control::apply_metadata_patch(&work.metadata, &patch, "metadata")?;
    if metadata != work.metadata && !store::work::set_metadata(env, &row, &metadata).await? {
        return Err(ApiError::not_found("work", id));
    }
    to_value(item(env, caller, environment_id, id).await?.work())
}

async fn list(env: &Env, caller: &Caller, environment_id: &str, query: &Query) -> ApiResult<Value> {
    environment(env, caller, environment_id).await?;
    let limit = query.limit(20, 100)?;
    let after = super::pages::after(query)?;
    let rows = store::work::list(env, &caller.tenant_id, environment_id, &after, limit + 1).await?;
    let items: Vec<_> = rows.iter().map(WorkRow::work).collect();
    super::pages::page(items, limit, |work| work.id.clone())
}

async fn stats(env: &Env, caller: &Caller, environment_id: &str) -> ApiResult<Value> {
    environment(env, caller, environment_id).await?;
    let now = now();
    let since = Timestamp(now.0 - control::work::POLLING_WINDOW_MS as i64);
    let counts = store::work::counts(env, &caller.tenant_id, environment_id, since).await?;
    let count = |n: Option<f64>| n.map_or(0, |n| n.max(0.0) as u64);
    to_value(WorkQueueStats {
        kind: WorkQueueStatsType::Tag,
        depth: count(counts.depth),
        pending: count(counts.pending),
        oldest_queued_at: counts
            .oldest_queued_at
            .as_deref()
            .and_then(Timestamp::parse_rfc3339),
        workers_polling: Some(count(counts.workers_polling)),
    })
}

/// Queues work for a session just created in a self-hosted environment.
pub(crate) async fn queue_for_new_session(
    env: &Env,
    caller: &Caller,
    environment_id: &str,
    session_id: &str,
) -> ApiResult<()> {
    let now = now();
    let id = openma_cloudflare::ids::mint_id("work_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    store::work::enqueue(env, &caller.tenant_id, environment_id, session_id, &id, now).await?;
    Ok(())
}

/// Queues work for a session that received input a worker must see, when
/// its environment is self-hosted and no item of it is live (the last
/// worker let it go after its idle time).
pub(crate) async fn queue_for_input(env: &Env, caller: &Caller, session_id: &str) -> ApiResult<()> {
    let now = now();
    let id = openma_cloudflare::ids::mint_id("work_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    store::work::enqueue_if_self_hosted(env, &caller.tenant_id, session_id, &id, now).await?;
    Ok(())
}

fn key_object(row: &EnvironmentKeyRow, key: Option<String>) -> ApiResult<Value> {
    to_value(EnvironmentKey {
        id: row.id.clone(),
        kind: EnvironmentKeyType::Tag,
        environment_id: row.environment_id.clone(),
        key,
        created_at: Timestamp::parse_rfc3339(&row.created_at).unwrap_or_default(),
    })
}

/// `POST /v1/environments/{id}/keys`: mints a key, stores its digest, and
/// answers it this once.
pub(crate) async fn create_key(
    env: &Env,
    caller: &Caller,
    environment_id: &str,
    body: &Value,
) -> ApiResult<Value> {
    if let Some(unknown) = body.as_object().and_then(|b| b.keys().next()) {
        return Err(ApiError::invalid(format!("{unknown}: unknown field")));
    }
    let environment = self_hosted(env, caller, environment_id, "environment keys open").await?;
    if environment.archived_at.is_some() {
        let mut err = ApiError::invalid(format!("environment {environment_id} is archived"));
        err.code = Some("environment_archived");
        return Err(err);
    }
    let now = now();
    let key = openma_cloudflare::ids::random_token(control::work::ENVIRONMENT_KEY_PREFIX)
        .map_err(ApiError::internal)?;
    let row = EnvironmentKeyRow {
        id: openma_cloudflare::ids::mint_id("envkey_", now.0.unsigned_abs())
            .map_err(ApiError::internal)?,
        tenant_id: caller.tenant_id.clone(),
        environment_id: environment_id.to_owned(),
        created_at: now.to_rfc3339(),
        last_used_at: None,
    };
    store::environment_keys::insert(env, &row, &sha256_hex(key.as_bytes())).await?;
    audit::record(
        env,
        caller,
        Action::EnvironmentKeyCreated,
        Some(&row.id),
        &caller.tenant_id,
        json!({"environment_id": environment_id}),
    )
    .await;
    key_object(&row, Some(key))
}

/// `GET /v1/environments/{id}/keys`: the environment's keys, without the keys.
pub(crate) async fn list_keys(
    env: &Env,
    caller: &Caller,
    environment_id: &str,
    query: &Query,
) -> ApiResult<Value> {
    environment(env, caller, environment_id).await?;
    let limit = query.limit(20, 100)?;
    let after = super::pages::after(query)?;
    let rows =
        store::environment_keys::list(env, &caller.tenant_id, environment_id, &after, limit + 1)
            .await?;
    let keys = rows
        .iter()
        .map(|row| key_object(row, None))
        .collect::<ApiResult<Vec<_>>>()?;
    super::pages::page(keys, limit, |key| {
        key["id"].as_str().unwrap_or_default().to_owned()
    })
}

/// `DELETE /v1/environments/{id}/keys/{key_id}`: the key stops working.
pub(crate) async fn delete_key(
    env: &Env,
    caller: &Caller,
    environment_id: &str,
    id: &str,
) -> ApiResult<Value> {
    environment(env, caller, environment_id).await?;
    let revoked = store::environment_keys::revoke(
        env,
        &caller.tenant_id,
        environment_id,
        id,
        &now().to_rfc3339(),
    )
    .await?;
    if !revoked {
        return Err(ApiError::not_found("environment key", id));
    }
    audit::record(
        env,
        caller,
        Action::EnvironmentKeyRevoked,
        Some(id),
        &caller.tenant_id,
        json!({"environment_id": environment_id}),
    )
    .await;
    Ok(json!({"id": id, "type": "environment_key_deleted"}))
}
