//! `POST /v1/deployments/{id}/run`: one run of a deployment, by hand or
//! for a scheduled time. The run is recorded before its session is
//! created, and a scheduled time's run at most once (a unique index on the
//! deployment and the time), so a trigger that fires twice or late starts
//! one session. A run that cannot start its session records why (the
//! schema's typed errors); a scheduled run whose error would make every
//! later one fail too pauses the deployment.

use openma_cloudflare::store::deployments::DeploymentRow;
use openma_cloudflare::store::deployments::MANUAL;
use openma_cloudflare::store::deployments::RunRow;
use openma_cloudflare::store::deployments::SCHEDULE;
use openma_cloudflare::store::deployments::{self as store};
use openma_core::wire::ApiErrorType;
use openma_core::wire::Timestamp;
use openma_core::wire::environment::EnvironmentConfig;
use serde_json::Value;
use serde_json::json;
use worker::Env;

use super::found;
use super::notify;
use super::refuse_archived;
use super::run_object;
use super::schedule_of;
use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::now;

/// Failed scheduled runs in a row after which any error pauses the
/// deployment.
pub(super) const FAILURES_TO_PAUSE: usize = 3;

/// How far ahead of main's clock a scheduled time may be (the clocks of
/// the scheduler's alarm and of main differ a little).
const CLOCK_SLACK_MS: u64 = 5_000;

/// How long a recorded run may go without its session or its error before
/// a later firing for the same time takes it as interrupted (the request
/// that recorded it ended before it could finish).
const INTERRUPTED_AFTER_MS: u64 = 120_000;

/// Why a run created no session: the error's `type` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunError {
    pub(super) kind: &'static str,
    pub(super) message: String,
}

impl RunError {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Whether every later run would fail the same way (something the
    /// deployment names is archived or gone), so that a scheduled run with
    /// this error pauses the deployment at once. The others (a rate limit,
    /// a session refused for its own reasons, the platform's own failure)
    /// pause it only after [`FAILURES_TO_PAUSE`] scheduled runs in a row.
    pub(super) fn pauses(&self) -> bool {
        !matches!(
            self.kind,
            "session_rate_limited_error" | "session_creation_rejected_error" | "unknown_error"
        )
    }

    fn value(&self) -> Value {
        json!({"type": self.kind, "message": self.message})
    }
}

/// A failed session create as a run error: a rate limit, a refusal, or
/// the platform's own failure.
pub(super) fn from_api_error(kind: ApiErrorType, message: &str) -> RunError {
    match kind {
        ApiErrorType::RateLimitError => RunError::new("session_rate_limited_error", message),
        ApiErrorType::ApiError | ApiErrorType::OverloadedError | ApiErrorType::TimeoutError => {
            RunError::new("unknown_error", "the session could not be created")
        }
        _ => RunError::new("session_creation_rejected_error", message),
    }
}

/// Runs deployment `id`: by hand when `scheduled_at` is `None`, else for
/// the latest of its scheduled times between `scheduled_at` and now.
pub(super) async fn run(
    env: &Env,
    caller: &Caller,
    id: &str,
    scheduled_at: Option<Timestamp>,
) -> ApiResult<Value> {
    let row = found(env, caller, id).await?;
    refuse_archived(&row)?;
    let now = now();
    let fire = match scheduled_at {
        None => None,
        Some(asked) => Some(due_time(&row, asked, now)?),
    };
    let agent = json!({"type": "agent", "id": row.agent_id, "version": row.agent_version});
    let mut run = RunRow {
        id: openma_cloudflare::ids::mint_id("drun_", now.0.unsigned_abs())
            .map_err(ApiError::internal)?,
        tenant_id: row.tenant_id.clone(),
        deployment_id: row.id.clone(),
        agent,
        session_id: None,
        error: None,
        trigger_type: if fire.is_some() { SCHEDULE } else { MANUAL }.to_owned(),
        scheduled_at: fire.map(|t| t.0),
        created_at: now.to_rfc3339(),
    };
    if !store::insert_run(env, &run).await? {
        // This scheduled time has its run already: answer it, and make
        // sure the schedule moved past it.
        let at = fire.unwrap_or(now);
        let existing = store::scheduled_run(env, &row.id, at.0)
            .await?
            .ok_or_else(|| ApiError::internal("a scheduled run that conflicts but is not found"))?;
        let existing = interrupted(env, existing, now).await?;
        advance(env, &row, at, now).await?;
        return Ok(run_object(&existing));
    }
    notify(env, &row.tenant_id, "deployment_run.started", &run.id, "").await;
    match start_session(env, caller, &row).await {
        Ok(session_id) => {
            store::finish_run(env, &run.id, Some(&session_id), None).await?;
            run.session_id = Some(session_id);
            notify(env, &row.tenant_id, "deployment_run.succeeded", &run.id, "").await;
        }
        Err(error) => {
            store::finish_run(env, &run.id, None, Some(&error.value())).await?;
            run.error = Some(error.value());
            notify(env, &row.tenant_id, "deployment_run.failed", &run.id, "").await;
            let pause = fire.is_some()
                && (error.pauses()
                    || store::failed_in_a_row(env, &row.id, FAILURES_TO_PAUSE).await?);
            if pause {
                let reason = json!({"type": "error", "error": {"type": error.kind}});
                if store::pause_for(env, &row.id, &reason, &now.to_rfc3339()).await? {
                    notify(env, &row.tenant_id, "deployment.paused", &row.id, &run.id).await;
                }
            }
        }
    }
    if let Some(fire) = fire {
        advance(env, &row, fire, now).await?;
    }
    let details = json!({"run_id": run.id, "trigger": run.trigger_type,
                         "session_id": run.session_id, "error": run.error});
    crate::audit::record(
        env,
        caller,
        Action::DeploymentRun,
        Some(&row.id),
        &caller.tenant_id,
        details,
    )
    .await;
    Ok(run_object(&run))
}

/// Records that the scheduled run for `fire` started at `now`, and moves
/// the deployment's next scheduled time past both.
async fn advance(env: &Env, row: &DeploymentRow, fire: Timestamp, now: Timestamp) -> ApiResult<()> {
    let next = schedule_of(row)
        .and_then(|s| s.next_after(Timestamp(fire.0.max(now.0))))
        .map(|t| t.0);
    store::advance(env, row, &now.to_rfc3339(), next).await?;
    Ok(())
}

/// `run` as it stands, or, when it has neither its session nor its error
/// long after it was recorded (its request ended midway), failed as
/// interrupted: a scheduled time is never run twice.
async fn interrupted(env: &Env, mut run: RunRow, now: Timestamp) -> ApiResult<RunRow> {
    let stale = Timestamp::parse_rfc3339(&run.created_at)
        .is_some_and(|at| now.millis_since(at) > INTERRUPTED_AFTER_MS);
    if run.session_id.is_some() || run.error.is_some() || !stale {
        return Ok(run);
    }
    let error = RunError::new(
        "unknown_error",
        "the run was interrupted before its session was created",
    );
    if store::finish_run(env, &run.id, None, Some(&error.value())).await? {
        notify(env, &run.tenant_id, "deployment_run.failed", &run.id, "").await;
        run.error = Some(error.value());
        Ok(run)
    } else {
        // Finished meanwhile: read it again.
        Ok(store::get_run(env, &run.tenant_id, &run.id)
            .await?
            .unwrap_or(run))
    }
}

/// The scheduled time a run for `asked` fires for: of the deployment's
/// times from `asked` to now, the latest (times missed while the platform
/// was down are fired once, late, as that one). Refused when the
/// deployment is paused or has no schedule, or nothing is due yet.
fn due_time(row: &DeploymentRow, asked: Timestamp, now: Timestamp) -> ApiResult<Timestamp> {
    let conflict = |message: String| ApiError::new(ApiErrorType::ConflictError, message);
    if row.paused_reason.is_some() {
        return Err(conflict(format!("deployment {} is paused", row.id)));
    }
    let schedule = schedule_of(row)
        .ok_or_else(|| conflict(format!("deployment {} has no schedule", row.id)))?;
    schedule
        .latest_between(asked, now.plus_ms(CLOCK_SLACK_MS))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{}: no scheduled time of deployment {} is due between it and now",
                super::SCHEDULED_AT_HEADER,
                row.id
            ))
        })
}

/// Why the deployment's references cannot start a session now, checked
/// before the session is asked for so that the run says which one.
async fn check_references(env: &Env, caller: &Caller, row: &DeploymentRow) -> Result<(), RunError> {
    let tenant = &caller.tenant_id;
    let failed = |e: worker::Error| RunError::new("unknown_error", e.to_string());
    let version = u64::try_from(row.agent_version).ok();
    match crate::store::agents::get(env, tenant, &row.agent_id, version)
        .await
        .map_err(failed)?
    {
        None => {
            return Err(RunError::new(
                "session_resource_not_found_error",
                format!(
                    "agent {} version {} no longer exists",
                    row.agent_id, row.agent_version
                ),
            ));
        }
        Some(agent) if agent.archived_at.is_some() => {
            return Err(RunError::new(
                "agent_archived_error",
                format!("agent {} is archived", row.agent_id),
            ));
        }
        Some(_) => {}
    }
    let environment = crate::store::environments::get(env, tenant, &row.environment_id)
        .await
        .map_err(failed)?
        .ok_or_else(|| {
            RunError::new(
                "environment_not_found_error",
                format!("environment {} no longer exists", row.environment_id),
            )
        })?;
    if environment.archived_at.is_some() {
        return Err(RunError::new(
            "environment_archived_error",
            format!("environment {} is archived", row.environment_id),
        ));
    }
    if matches!(environment.config, EnvironmentConfig::SelfHosted) && !row.resources.is_empty() {
        return Err(RunError::new(
            "self_hosted_resources_unsupported_error",
            format!(
                "environment {} is self-hosted and cannot mount the deployment's resources",
                row.environment_id
            ),
        ));
    }
    for vault_id in &row.vault_ids {
        match crate::store::vaults::get_vault(env, tenant, vault_id)
            .await
            .map_err(failed)?
        {
            None => {
                return Err(RunError::new(
                    "vault_not_found_error",
                    format!("vault {vault_id} no longer exists"),
                ));
            }
            Some(vault) if vault.archived_at.is_some() => {
                return Err(RunError::new(
                    "vault_archived_error",
                    format!("vault {vault_id} is archived"),
                ));
            }
            Some(_) => {}
        }
    }
    for resource in &row.resources {
        if let Some(file_id) = resource["file_id"].as_str() {
            let file = crate::store::files::get(env, tenant, file_id)
                .await
                .map_err(failed)?;
            if file.is_none_or(|f| f.expired(now())) {
                return Err(RunError::new(
                    "file_not_found_error",
                    format!("file {file_id} no longer exists"),
                ));
            }
        }
        if let Some(store_id) = resource["memory_store_id"].as_str() {
            match crate::store::memory::get_store(env, tenant, store_id)
                .await
                .map_err(failed)?
            {
                None => {
                    return Err(RunError::new(
                        "session_resource_not_found_error",
                        format!("memory store {store_id} no longer exists"),
                    ));
                }
                Some(store) if store.archived_at.is_some() => {
                    return Err(RunError::new(
                        "memory_store_archived_error",
                        format!("memory store {store_id} is archived"),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Creates the deployment's session (titled with its name, marked with its
/// id); its id, or why not.
async fn start_session(
    env: &Env,
    caller: &Caller,
    row: &DeploymentRow,
) -> Result<String, RunError> {
    check_references(env, caller, row).await?;
    let body = json!({
        "agent": {"type": "agent", "id": row.agent_id, "version": row.agent_version},
        "environment_id": row.environment_id,
        "title": row.name,
        "vault_ids": row.vault_ids,
        "resources": row.resources,
        "initial_events": row.initial_events,
    });
    let created =
        crate::handlers::sessions::create_session(env, caller, &body, Some(&row.id)).await;
    match created {
        Ok(mut resp) => {
            let session: Value = resp
                .json()
                .await
                .map_err(|e| RunError::new("unknown_error", e.to_string()))?;
            session["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| RunError::new("unknown_error", "the session has no id"))
        }
        Err(err) => Err(from_api_error(err.kind, &err.message)),
    }
}

#[cfg(test)]
mod tests {
    use openma_core::wire::ApiErrorType;

    use super::RunError;
    use super::from_api_error;

    #[test]
    fn only_errors_that_would_repeat_pause_a_deployment() {
        for kind in [
            "agent_archived_error",
            "environment_archived_error",
            "environment_not_found_error",
            "vault_not_found_error",
            "vault_archived_error",
            "file_not_found_error",
            "memory_store_archived_error",
            "session_resource_not_found_error",
            "self_hosted_resources_unsupported_error",
        ] {
            assert!(RunError::new(kind, "").pauses(), "{kind}");
        }
        for kind in [
            "session_rate_limited_error",
            "session_creation_rejected_error",
            "unknown_error",
        ] {
            assert!(!RunError::new(kind, "").pauses(), "{kind}");
        }
    }

    #[test]
    fn a_refused_session_create_becomes_a_typed_run_error() {
        assert_eq!(
            from_api_error(ApiErrorType::RateLimitError, "slow down").kind,
            "session_rate_limited_error"
        );
        let rejected = from_api_error(ApiErrorType::InvalidRequestError, "resources[0]: bad");
        assert_eq!(rejected.kind, "session_creation_rejected_error");
        assert_eq!(rejected.message, "resources[0]: bad");
        let failed = from_api_error(ApiErrorType::ApiError, "internal error");
        assert_eq!(failed.kind, "unknown_error");
    }
}
