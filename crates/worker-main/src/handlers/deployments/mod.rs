//! `/v1/deployments` and `/v1/deployment_runs`: an agent version bound to
//! an environment, vaults, resources and the events each session starts
//! with, run by hand (`POST .../run`) or on a cron schedule. The schedule
//! is kept here (`next_run_at`, computed from the expression in its time
//! zone) and fired by the integrations worker's `DeploymentScheduler`,
//! which main wakes whenever that time changes; each firing comes back as
//! a run request for its scheduled time. See docs/deployments.md.

mod params;
mod run;

use openma_cloudflare::store::deployments::DeploymentRow;
use openma_cloudflare::store::deployments::ListFilter;
use openma_cloudflare::store::deployments::RunFilter;
use openma_cloudflare::store::deployments::RunRow;
use openma_cloudflare::store::deployments::{self as store};
use openma_core::schedule::Cron;
use openma_core::schedule::Schedule;
use openma_core::schedule::TimeZone;
use openma_core::schedule::UPCOMING;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Timestamp;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::Response;

use self::params::AgentSpec;
use self::params::ScheduleSpec;
use self::params::field;
use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::handlers::pages::after;
use crate::handlers::pages::page;
use crate::request::Query;
use crate::request::now;

/// The header with which the integrations worker's scheduler names the
/// scheduled time it fires for; honoured only on a service call.
pub(crate) const SCHEDULED_AT_HEADER: &str = "x-openma-scheduled-at";

/// Where the integrations worker is told that a deployment's next
/// scheduled time changed.
const KICK_URL: &str = "https://integrations/internal/deployments/kick";

/// A route under `/v1/deployments` or `/v1/deployment_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeploymentRoute {
    /// `POST /v1/deployments`.
    Create,
    /// `GET /v1/deployments`.
    List,
    /// `GET /v1/deployments/{id}`.
    Get(String),
    /// `POST /v1/deployments/{id}`.
    Update(String),
    /// `POST /v1/deployments/{id}/archive`.
    Archive(String),
    /// `POST /v1/deployments/{id}/pause`.
    Pause(String),
    /// `POST /v1/deployments/{id}/unpause`.
    Unpause(String),
    /// `POST /v1/deployments/{id}/run`.
    Run(String),
    /// `GET /v1/deployment_runs`.
    ListRuns,
    /// `GET /v1/deployment_runs/{id}`.
    GetRun(String),
}

impl DeploymentRoute {
    /// Parses the segments after `/v1/deployments`.
    pub(crate) fn parse(method: &Method, rest: &[&str]) -> Option<Self> {
        let s = |s: &str| s.to_owned();
        Some(match (method, rest) {
            (Method::Post, []) => Self::Create,
            (Method::Get, []) => Self::List,
            (Method::Get, [id]) => Self::Get(s(id)),
            (Method::Post, [id]) => Self::Update(s(id)),
            (Method::Post, [id, "archive"]) => Self::Archive(s(id)),
            (Method::Post, [id, "pause"]) => Self::Pause(s(id)),
            (Method::Post, [id, "unpause"]) => Self::Unpause(s(id)),
            (Method::Post, [id, "run"]) => Self::Run(s(id)),
            _ => return None,
        })
    }

    /// Parses the segments after `/v1/deployment_runs`.
    pub(crate) fn parse_runs(method: &Method, rest: &[&str]) -> Option<Self> {
        Some(match (method, rest) {
            (Method::Get, []) => Self::ListRuns,
            (Method::Get, [id]) => Self::GetRun((*id).to_owned()),
            _ => return None,
        })
    }
}

/// Serves a deployment route.
pub(crate) async fn serve(
    route: DeploymentRoute,
    mut req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    let query = Query::of(&req);
    let value = match route {
        DeploymentRoute::Create => {
            let body = crate::request::json_body(&mut req).await?;
            create(env, caller, &body).await?
        }
        DeploymentRoute::List => list(env, caller, &query).await?,
        DeploymentRoute::Get(id) => object(&found(env, caller, &id).await?, now()),
        DeploymentRoute::Update(id) => {
            let body = crate::request::json_body(&mut req).await?;
            update(env, caller, &id, &body).await?
        }
        DeploymentRoute::Archive(id) => {
            no_fields(&mut req).await?;
            archive(env, caller, &id).await?
        }
        DeploymentRoute::Pause(id) => {
            no_fields(&mut req).await?;
            pause(env, caller, &id).await?
        }
        DeploymentRoute::Unpause(id) => {
            no_fields(&mut req).await?;
            unpause(env, caller, &id).await?
        }
        DeploymentRoute::Run(id) => {
            no_fields(&mut req).await?;
            let scheduled_at = scheduled_at(&req, caller)?;
            run::run(env, caller, &id, scheduled_at).await?
        }
        DeploymentRoute::ListRuns => list_runs(env, caller, &query).await?,
        DeploymentRoute::GetRun(id) => run_object(
            &store::get_run(env, &caller.tenant_id, &id)
                .await?
                .ok_or_else(|| ApiError::not_found("deployment run", &id))?,
        ),
    };
    Ok(openma_cloudflare::json(200, &value)?)
}

/// The actions take no body: none, or `{}`; a field is refused, not
/// ignored.
async fn no_fields(req: &mut Request) -> ApiResult<()> {
    let body = crate::request::json_body(req).await?;
    match body.as_object().and_then(|b| b.keys().next()) {
        Some(key) => Err(field(key, "unknown field: this action takes no body")),
        None => Ok(()),
    }
}

/// The scheduled time a service call fires for; `None` for every other
/// caller, whose runs are manual.
fn scheduled_at(req: &Request, caller: &Caller) -> ApiResult<Option<Timestamp>> {
    if !caller.service {
        return Ok(None);
    }
    match req.headers().get(SCHEDULED_AT_HEADER)? {
        None => Ok(None),
        Some(text) => Timestamp::parse_rfc3339(text.trim())
            .map(Some)
            .ok_or_else(|| field(SCHEDULED_AT_HEADER, "expected an RFC 3339 timestamp")),
    }
}

// ---- the deployment object ----------------------------------------------

/// The deployment's schedule, when it has one that still parses.
pub(super) fn schedule_of(row: &DeploymentRow) -> Option<Schedule<TimeZone>> {
    let cron = Cron::parse(row.schedule_expression.as_deref()?).ok()?;
    let zone = TimeZone::get(row.schedule_timezone.as_deref()?)?;
    Some(Schedule::new(cron, zone))
}

/// The next scheduled time after `after` of an active deployment.
fn next_run(row: &DeploymentRow, after: Timestamp) -> Option<i64> {
    if row.archived_at.is_some() || row.paused_reason.is_some() {
        return None;
    }
    schedule_of(row)?.next_after(after).map(|t| t.0)
}

/// A deployment as the API returns it at `now`.
fn object(row: &DeploymentRow, now: Timestamp) -> Value {
    let schedule = match (&row.schedule_expression, &row.schedule_timezone) {
        (Some(expression), Some(timezone)) => {
            let upcoming: Vec<String> = match (&row.archived_at, schedule_of(row)) {
                (None, Some(schedule)) => schedule
                    .upcoming(now, UPCOMING)
                    .into_iter()
                    .map(Timestamp::to_rfc3339)
                    .collect(),
                _ => Vec::new(),
            };
            json!({
                "type": "cron",
                "expression": expression,
                "timezone": timezone,
                "last_run_at": row.last_run_at,
                "upcoming_runs_at": upcoming,
            })
        }
        _ => Value::Null,
    };
    let paused = row.archived_at.is_none() && row.paused_reason.is_some();
    json!({
        "id": row.id,
        "type": "deployment",
        "name": row.name,
        "description": row.description,
        "agent": {"type": "agent", "id": row.agent_id, "version": row.agent_version},
        "environment_id": row.environment_id,
        "vault_ids": row.vault_ids,
        "resources": row.resources,
        "initial_events": row.initial_events,
        "metadata": row.metadata,
        "schedule": schedule,
        "status": if paused { "paused" } else { "active" },
        "paused_reason": if paused { row.paused_reason.clone() } else { None },
        "archived_at": row.archived_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

/// A run as the API returns it.
pub(super) fn run_object(row: &RunRow) -> Value {
    let trigger = match row.scheduled_at {
        Some(at) => json!({"type": "schedule", "scheduled_at": Timestamp(at).to_rfc3339()}),
        None => json!({"type": "manual"}),
    };
    json!({
        "id": row.id,
        "type": "deployment_run",
        "deployment_id": row.deployment_id,
        "agent": row.agent,
        "session_id": row.session_id,
        "error": row.error,
        "trigger_context": trigger,
        "created_at": row.created_at,
    })
}

async fn found(env: &Env, caller: &Caller, id: &str) -> ApiResult<DeploymentRow> {
    store::get(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("deployment", id))
}

fn refuse_archived(row: &DeploymentRow) -> ApiResult<()> {
    match row.archived_at {
        Some(_) => Err(ApiError::invalid(format!(
            "deployment {} is archived and cannot be changed or run",
            row.id
        ))),
        None => Ok(()),
    }
}

// ---- references ---------------------------------------------------------

fn not_found_field(name: &str, message: String) -> ApiError {
    ApiError::new(ApiErrorType::NotFoundError, format!("{name}: {message}"))
}

/// The version of `spec` to pin: the one named, or the latest; refused when
/// the agent (or that version) does not exist or is archived.
async fn pin_agent(env: &Env, caller: &Caller, spec: &AgentSpec) -> ApiResult<i64> {
    let tenant = &caller.tenant_id;
    let agent = crate::store::agents::get(env, tenant, &spec.id, spec.version).await?;
    let agent = match (agent, spec.version) {
        (Some(agent), _) => agent,
        (None, Some(version))
            if crate::store::agents::get(env, tenant, &spec.id, None)
                .await?
                .is_some() =>
        {
            return Err(not_found_field(
                "agent.version",
                format!("agent {} has no version {version}", spec.id),
            ));
        }
        (None, _) => {
            return Err(not_found_field(
                "agent",
                format!("agent {} not found", spec.id),
            ));
        }
    };
    if agent.archived_at.is_some() {
        return Err(field("agent", &format!("agent {} is archived", spec.id)));
    }
    Ok(i64::try_from(agent.version).unwrap_or(i64::MAX))
}

async fn check_environment(env: &Env, caller: &Caller, id: &str) -> ApiResult<()> {
    let environment = crate::store::environments::get(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| {
            let mut err = not_found_field("environment_id", format!("environment {id} not found"));
            err.code = Some("environment_not_found");
            err
        })?;
    if environment.archived_at.is_some() {
        let mut err = field("environment_id", &format!("environment {id} is archived"));
        err.code = Some("environment_archived");
        return Err(err);
    }
    Ok(())
}

async fn check_vaults(env: &Env, caller: &Caller, vault_ids: &[String]) -> ApiResult<()> {
    for (i, vault_id) in vault_ids.iter().enumerate() {
        let path = format!("vault_ids[{i}]");
        let vault = crate::store::vaults::get_vault(env, &caller.tenant_id, vault_id)
            .await?
            .ok_or_else(|| not_found_field(&path, format!("vault {vault_id} not found")))?;
        if vault.archived_at.is_some() {
            return Err(field(&path, &format!("vault {vault_id} is archived")));
        }
    }
    Ok(())
}

/// Checks resources as a session would (the files and memory stores exist
/// and are usable, mount paths are valid and distinct).
async fn check_resources(env: &Env, caller: &Caller, resources: &[Value]) -> ApiResult<()> {
    crate::handlers::resources::normalize(
        env,
        caller,
        resources,
        &[],
        &|i| format!("resources[{i}]"),
        now(),
    )
    .await
    .map(drop)
}

/// Refuses a schedule that never fires (`0 0 30 2 *`).
fn check_fires(row: &DeploymentRow, now: Timestamp) -> ApiResult<()> {
    match schedule_of(row) {
        Some(schedule) if schedule.next_after(now).is_none() => Err(field(
            "schedule.expression",
            "never fires: no date matches it",
        )),
        _ => Ok(()),
    }
}

fn set_schedule(row: &mut DeploymentRow, schedule: Option<ScheduleSpec>) {
    let (expression, timezone) = schedule.map(|s| (s.expression, s.timezone)).unzip();
    row.schedule_expression = expression;
    row.schedule_timezone = timezone;
}

// ---- side effects -------------------------------------------------------

/// Records an action on one of the caller's tenant's deployments.
async fn record(env: &Env, caller: &Caller, action: Action, id: &str, details: Value) {
    crate::audit::record(env, caller, action, Some(id), &caller.tenant_id, details).await;
}

/// Queues webhook `event_type` about `id` (`source` makes it unique).
pub(super) async fn notify(env: &Env, tenant_id: &str, event_type: &str, id: &str, source: &str) {
    let key = format!("{event_type}:{id}:{source}");
    openma_cloudflare::webhooks::notify(env, tenant_id, event_type, id, json!({}), &key).await;
}

/// Tells the integrations worker that the deployment's next scheduled time
/// changed, so its scheduler re-arms. A failure is logged, not answered:
/// the worker's per-minute backstop finds an overdue deployment anyway.
async fn kick(env: &Env, tenant_id: &str, deployment_id: &str) {
    let outcome = async {
        let headers = openma_cloudflare::service::headers_for(env, tenant_id)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(
                json!({"deployment_id": deployment_id}).to_string().into(),
            ));
        let req = Request::new_with_init(KICK_URL, &init)?;
        let resp = env.service("INTEGRATIONS")?.fetch_request(req).await?;
        match resp.status_code() {
            200..=299 => Ok(()),
            status => Err(worker::Error::RustError(format!("answered {status}"))),
        }
    }
    .await;
    if let Err(e) = outcome {
        worker::console_warn!(
            "{}",
            json!({"level": "warn", "event": "deployment_kick_failed",
                   "deployment_id": deployment_id, "error": e.to_string()})
        );
    }
}

/// Writes a changed deployment, wakes its scheduler when its next
/// scheduled time moved, and answers it.
async fn save(
    env: &Env,
    before: &DeploymentRow,
    row: &DeploymentRow,
    now: Timestamp,
) -> ApiResult<Value> {
    if !store::replace(env, row).await? {
        return Err(ApiError::not_found("deployment", &row.id));
    }
    if before.next_run_at != row.next_run_at {
        kick(env, &row.tenant_id, &row.id).await;
    }
    Ok(object(row, now))
}

// ---- deployments --------------------------------------------------------

/// `POST /v1/deployments`.
async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    let params = params::create_params(body)?;
    let agent_version = pin_agent(env, caller, &params.agent).await?;
    check_environment(env, caller, &params.environment_id).await?;
    check_vaults(env, caller, &params.vault_ids).await?;
    check_resources(env, caller, &params.resources).await?;
    let now = now();
    let mut row = DeploymentRow {
        id: openma_cloudflare::ids::mint_id("depl_", now.0.unsigned_abs())
            .map_err(ApiError::internal)?,
        tenant_id: caller.tenant_id.clone(),
        name: params.name,
        description: params.description,
        agent_id: params.agent.id,
        agent_version,
        environment_id: params.environment_id,
        vault_ids: params.vault_ids,
        resources: params.resources,
        initial_events: params.initial_events,
        metadata: params.metadata,
        schedule_expression: None,
        schedule_timezone: None,
        next_run_at: None,
        last_run_at: None,
        paused_reason: None,
        archived_at: None,
        created_at: now.to_rfc3339(),
        updated_at: now.to_rfc3339(),
    };
    set_schedule(&mut row, params.schedule);
    check_fires(&row, now)?;
    row.next_run_at = next_run(&row, now);
    store::insert(env, &row).await?;
    if row.next_run_at.is_some() {
        kick(env, &row.tenant_id, &row.id).await;
    }
    let details = json!({"agent_id": row.agent_id, "agent_version": row.agent_version,
                         "schedule": row.schedule_expression});
    record(env, caller, Action::DeploymentCreated, &row.id, details).await;
    notify(env, &row.tenant_id, "deployment.created", &row.id, "").await;
    Ok(object(&row, now))
}

fn include_archived(query: &Query) -> ApiResult<bool> {
    match query.get("include_archived") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(field("include_archived", "expected true or false")),
    }
}

fn timestamp_param(query: &Query, name: &str) -> ApiResult<Option<String>> {
    query
        .get(name)
        .map(|text| {
            Timestamp::parse_rfc3339(text)
                .map(Timestamp::to_rfc3339)
                .ok_or_else(|| field(name, "expected an RFC 3339 timestamp"))
        })
        .transpose()
}

/// `GET /v1/deployments`: oldest first, with the forward `page` cursor.
async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    query.only(&[
        "agent_id",
        "created_at[gte]",
        "created_at[lte]",
        "include_archived",
        "limit",
        "page",
        "status",
    ])?;
    let paused = match query.get("status") {
        None => None,
        Some("active") => Some(false),
        Some("paused") => Some(true),
        Some(_) => return Err(field("status", "expected active or paused")),
    };
    let include_archived = include_archived(query)?;
    if include_archived && paused.is_some() {
        return Err(field(
            "status",
            "cannot be combined with include_archived=true",
        ));
    }
    let filter = ListFilter {
        agent_id: query.get("agent_id").map(str::to_owned),
        created_gte: timestamp_param(query, "created_at[gte]")?,
        created_lte: timestamp_param(query, "created_at[lte]")?,
        include_archived,
        paused,
    };
    let limit = query.limit(20, 100)?;
    let after = after(query)?;
    let rows = store::list(env, &caller.tenant_id, &filter, &after, limit + 1).await?;
    let now = now();
    let items: Vec<Value> = rows.iter().map(|row| object(row, now)).collect();
    page(items, limit, |i| {
        i["id"].as_str().unwrap_or_default().to_owned()
    })
}

/// `POST /v1/deployments/{id}`: each field named replaces (or, for
/// `metadata`, patches) the deployment's.
async fn update(env: &Env, caller: &Caller, id: &str, body: &Value) -> ApiResult<Value> {
    let params = params::update_params(body)?;
    let before = found(env, caller, id).await?;
    refuse_archived(&before)?;
    let mut row = before.clone();
    if let Some(agent) = &params.agent {
        row.agent_version = pin_agent(env, caller, agent).await?;
        row.agent_id = agent.id.clone();
    }
    if let Some(environment_id) = params.environment_id {
        check_environment(env, caller, &environment_id).await?;
        row.environment_id = environment_id;
    }
    if let Some(vault_ids) = params.vault_ids {
        check_vaults(env, caller, &vault_ids).await?;
        row.vault_ids = vault_ids;
    }
    if let Some(resources) = params.resources {
        check_resources(env, caller, &resources).await?;
        row.resources = resources;
    }
    if let Some(events) = params.initial_events {
        row.initial_events = events;
    }
    if let Some(name) = params.name {
        row.name = name;
    }
    if let Some(description) = params.description {
        row.description = description;
    }
    if let Some(patch) = &params.metadata {
        row.metadata = openma_core::control::apply_metadata_patch(&row.metadata, patch, "metadata")
            .map_err(crate::handlers::agents::invalid)?;
    }
    let now = now();
    if let Some(schedule) = params.schedule {
        set_schedule(&mut row, schedule);
        check_fires(&row, now)?;
        // A new schedule starts from now; an unchanged one keeps its time.
        if row.schedule_expression != before.schedule_expression
            || row.schedule_timezone != before.schedule_timezone
        {
            row.next_run_at = next_run(&row, now);
        }
    }
    if row == before {
        return Ok(object(&row, now));
    }
    row.updated_at = now.to_rfc3339();
    let value = save(env, &before, &row, now).await?;
    let fields: Vec<&str> = body
        .as_object()
        .map(|b| b.keys().map(String::as_str).collect())
        .unwrap_or_default();
    record(
        env,
        caller,
        Action::DeploymentUpdated,
        id,
        json!({ "fields": fields }),
    )
    .await;
    notify(
        env,
        &row.tenant_id,
        "deployment.updated",
        id,
        &row.updated_at,
    )
    .await;
    Ok(value)
}

/// `POST /v1/deployments/{id}/archive`: permanent; the schedule stops.
/// Archiving again answers the deployment as it is.
async fn archive(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    let before = found(env, caller, id).await?;
    let now = now();
    if before.archived_at.is_some() {
        return Ok(object(&before, now));
    }
    let mut row = before.clone();
    row.archived_at = Some(now.to_rfc3339());
    row.paused_reason = None;
    row.next_run_at = None;
    row.updated_at = now.to_rfc3339();
    let value = save(env, &before, &row, now).await?;
    record(env, caller, Action::DeploymentArchived, id, json!({})).await;
    notify(env, &row.tenant_id, "deployment.archived", id, "").await;
    Ok(value)
}

/// `POST /v1/deployments/{id}/pause`: the schedule stops firing until
/// unpaused. Pausing a paused deployment answers it as it is.
async fn pause(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    let before = found(env, caller, id).await?;
    refuse_archived(&before)?;
    let now = now();
    if before.paused_reason.is_some() {
        return Ok(object(&before, now));
    }
    let mut row = before.clone();
    row.paused_reason = Some(json!({"type": "manual"}));
    row.next_run_at = None;
    row.updated_at = now.to_rfc3339();
    let value = save(env, &before, &row, now).await?;
    record(env, caller, Action::DeploymentPaused, id, json!({})).await;
    notify(
        env,
        &row.tenant_id,
        "deployment.paused",
        id,
        &row.updated_at,
    )
    .await;
    Ok(value)
}

/// `POST /v1/deployments/{id}/unpause`: the schedule fires again from its
/// next time after now (times missed while paused are not made up).
async fn unpause(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    let before = found(env, caller, id).await?;
    refuse_archived(&before)?;
    let now = now();
    if before.paused_reason.is_none() {
        return Ok(object(&before, now));
    }
    let mut row = before.clone();
    row.paused_reason = None;
    row.next_run_at = next_run(&row, now);
    row.updated_at = now.to_rfc3339();
    let value = save(env, &before, &row, now).await?;
    record(env, caller, Action::DeploymentUnpaused, id, json!({})).await;
    notify(
        env,
        &row.tenant_id,
        "deployment.unpaused",
        id,
        &row.updated_at,
    )
    .await;
    Ok(value)
}

// ---- runs ---------------------------------------------------------------

fn bool_param(query: &Query, name: &str) -> ApiResult<Option<bool>> {
    match query.get(name) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(field(name, "expected true or false")),
    }
}

/// `GET /v1/deployment_runs`: oldest first, with the forward `page` cursor.
async fn list_runs(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    const CREATED: [(&str, &str); 4] = [
        ("created_at[gt]", ">"),
        ("created_at[gte]", ">="),
        ("created_at[lt]", "<"),
        ("created_at[lte]", "<="),
    ];
    query.only(&[
        "created_at[gt]",
        "created_at[gte]",
        "created_at[lt]",
        "created_at[lte]",
        "deployment_id",
        "has_error",
        "limit",
        "page",
        "trigger_type",
    ])?;
    let trigger_type = match query.get("trigger_type") {
        None => None,
        Some(kind @ (store::MANUAL | store::SCHEDULE)) => Some(kind.to_owned()),
        Some(_) => return Err(field("trigger_type", "expected schedule or manual")),
    };
    let mut created = Vec::new();
    for (name, op) in CREATED {
        if let Some(at) = timestamp_param(query, name)? {
            created.push((op, at));
        }
    }
    let filter = RunFilter {
        deployment_id: query.get("deployment_id").map(str::to_owned),
        has_error: bool_param(query, "has_error")?,
        trigger_type,
        created,
    };
    let limit = query.limit(20, 1000)?;
    let after = after(query)?;
    let rows = store::list_runs(env, &caller.tenant_id, &filter, &after, limit + 1).await?;
    let items: Vec<Value> = rows.iter().map(run_object).collect();
    page(items, limit, |i| {
        i["id"].as_str().unwrap_or_default().to_owned()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use worker::Method;

    use super::DeploymentRoute;
    use super::DeploymentRow;
    use super::object;
    use super::run_object;
    use super::store::RunRow;
    use openma_core::wire::Timestamp;

    fn row() -> DeploymentRow {
        DeploymentRow {
            id: "depl_1".into(),
            tenant_id: "t".into(),
            name: "nightly".into(),
            description: None,
            agent_id: "agent_1".into(),
            agent_version: 2,
            environment_id: "env_1".into(),
            vault_ids: Vec::new(),
            resources: Vec::new(),
            initial_events: Vec::new(),
            metadata: Default::default(),
            schedule_expression: Some("0 9 * * *".into()),
            schedule_timezone: Some("UTC".into()),
            next_run_at: None,
            last_run_at: None,
            paused_reason: None,
            archived_at: None,
            created_at: "2026-05-01T00:00:00.000Z".into(),
            updated_at: "2026-05-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn routes_name_every_action() {
        let parse = |method, rest: &[&str]| DeploymentRoute::parse(&method, rest);
        assert_eq!(parse(Method::Post, &[]), Some(DeploymentRoute::Create));
        assert_eq!(
            parse(Method::Post, &["depl_1", "unpause"]),
            Some(DeploymentRoute::Unpause("depl_1".into()))
        );
        assert_eq!(
            parse(Method::Post, &["depl_1", "run"]),
            Some(DeploymentRoute::Run("depl_1".into()))
        );
        assert_eq!(parse(Method::Delete, &["depl_1"]), None);
        assert_eq!(parse(Method::Get, &["depl_1", "run"]), None);
        assert_eq!(
            DeploymentRoute::parse_runs(&Method::Get, &["drun_1"]),
            Some(DeploymentRoute::GetRun("drun_1".into()))
        );
        assert_eq!(DeploymentRoute::parse_runs(&Method::Post, &[]), None);
    }

    #[test]
    fn the_object_reports_status_and_upcoming_runs() {
        let now = Timestamp::parse_rfc3339("2026-05-01T10:00:00Z").unwrap();
        let active = object(&row(), now);
        assert_eq!(active["status"], "active");
        assert_eq!(active["paused_reason"], json!(null));
        assert_eq!(
            active["agent"],
            json!({"type": "agent", "id": "agent_1", "version": 2})
        );
        let upcoming = active["schedule"]["upcoming_runs_at"].as_array().unwrap();
        assert_eq!(upcoming.len(), 5);
        assert_eq!(upcoming[0], "2026-05-02T09:00:00.000Z");
        let mut paused = row();
        paused.paused_reason = Some(json!({"type": "manual"}));
        let paused = object(&paused, now);
        assert_eq!(paused["status"], "paused");
        assert_eq!(paused["paused_reason"], json!({"type": "manual"}));
        assert_eq!(
            paused["schedule"]["upcoming_runs_at"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        let mut archived = row();
        archived.archived_at = Some("2026-05-01T11:00:00.000Z".into());
        archived.paused_reason = Some(json!({"type": "manual"}));
        let archived = object(&archived, now);
        assert_eq!(archived["status"], "active");
        assert_eq!(archived["paused_reason"], json!(null));
        assert_eq!(archived["schedule"]["upcoming_runs_at"], json!([]));
        let mut manual = row();
        manual.schedule_expression = None;
        manual.schedule_timezone = None;
        assert_eq!(object(&manual, now)["schedule"], json!(null));
    }

    #[test]
    fn a_run_names_its_trigger() {
        let run = RunRow {
            id: "drun_1".into(),
            tenant_id: "t".into(),
            deployment_id: "depl_1".into(),
            agent: json!({"type": "agent", "id": "agent_1", "version": 2}),
            session_id: Some("sesn_1".into()),
            error: None,
            trigger_type: "schedule".into(),
            scheduled_at: Timestamp::parse_rfc3339("2026-05-01T09:00:00Z").map(|t| t.0),
            created_at: "2026-05-01T09:00:01.000Z".into(),
        };
        let value = run_object(&run);
        assert_eq!(
            value["trigger_context"],
            json!({"type": "schedule", "scheduled_at": "2026-05-01T09:00:00.000Z"})
        );
        assert_eq!(value["type"], "deployment_run");
        let manual = RunRow {
            scheduled_at: None,
            ..run
        };
        assert_eq!(
            run_object(&manual)["trigger_context"],
            json!({"type": "manual"})
        );
    }
}
