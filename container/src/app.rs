//! The HTTP API: routes, handlers and the shared state.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use openma_core::sandbox::{
    ContentBlock, EXECUTE_PATH, HEALTH_PATH, HealthResponse, SessionSetupParams,
    SessionSetupResponse, SessionTeardownResponse, ToolExecuteParams, ToolInput, ToolResult,
    validate_id,
};
use serde_json::json;

use crate::config::Config;
use crate::error::ApiError;
use crate::idempotency::{self, Begin};
use crate::log::{Logger, monotonic};
use crate::session::{Session, SessionError, Sessions};
use crate::{auth, tools};

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Server configuration.
    pub config: Arc<Config>,
    /// The sessions.
    pub sessions: Arc<Sessions>,
    /// Structured logs.
    pub logger: Logger,
}

/// The router: `/health` open, everything under `/v1` behind the token.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/sessions/{session_id}", put(setup).delete(teardown))
        .route(EXECUTE_PATH, post(execute))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route(HEALTH_PATH, get(health))
        .merge(api)
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"error": {"type": "not_found_error", "message": "no such route"}})),
            )
        })
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .with_state(state)
}

async fn health() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
        version: openma_core::VERSION.into(),
    })
}

async fn setup(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    body: Result<Json<SessionSetupParams>, JsonRejection>,
) -> Result<Json<SessionSetupResponse>, ApiError> {
    validate_id("session_id", &session_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let Json(params) = body.map_err(rejection)?;
    let policy = params.egress.networking.kind();
    let secrets = params.secrets.len();
    let response = state
        .sessions
        .setup(&session_id, params)
        .await
        .map_err(|e| session_error(&state, e))?;
    state.logger.info(
        "session_setup",
        json!({"session_id": session_id, "networking": policy, "secrets": secrets}),
    );
    Ok(Json(response))
}

async fn teardown(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Json<SessionTeardownResponse>, ApiError> {
    validate_id("session_id", &session_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let stopped = state.sessions.teardown(&session_id).await;
    state.logger.info(
        "session_teardown",
        json!({"session_id": session_id, "stopped": stopped}),
    );
    Ok(Json(SessionTeardownResponse {
        session_id,
        stopped,
    }))
}

async fn execute(
    State(state): State<AppState>,
    body: Result<Json<ToolExecuteParams>, JsonRejection>,
) -> Result<Json<ToolResult>, ApiError> {
    let Json(params) = body.map_err(rejection)?;
    validate_id("session_id", &params.session_id)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    validate_id("tool_use_id", &params.tool_use_id)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let session = state
        .sessions
        .get(&params.session_id)
        .map_err(|e| session_error(&state, e))?;
    let started = monotonic();
    // A task of its own: a dropped connection must not abandon a half-run call.
    let task_state = state.clone();
    let task_session = Arc::clone(&session);
    let task_params = params.clone();
    let (result, outcome) =
        tokio::spawn(async move { run_once(&task_state, &task_session, task_params).await })
            .await
            .map_err(|_| ApiError::Internal)??;
    state.logger.info(
        "tool_call",
        json!({
            "session_id": params.session_id,
            "tool_use_id": params.tool_use_id,
            "tool": params.name.chars().take(64).collect::<String>(),
            "outcome": outcome,
            "is_error": result.is_error,
            "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
    );
    Ok(Json(result))
}

async fn run_once(
    state: &AppState,
    session: &Session,
    params: ToolExecuteParams,
) -> Result<(ToolResult, &'static str), ApiError> {
    let begin = session.journal.begin(&params.tool_use_id).map_err(|e| {
        state.logger.warn(
            "journal_error",
            json!({"session_id": session.id, "error": e.to_string()}),
        );
        ApiError::Internal
    })?;
    let ticket = match begin {
        Begin::Recorded(result) => {
            return Ok((
                ToolResult {
                    replayed: true,
                    ..result
                },
                "replayed",
            ));
        }
        Begin::InFlight(rx) => {
            let result = idempotency::wait(rx).await.ok_or(ApiError::Internal)?;
            return Ok((
                ToolResult {
                    replayed: true,
                    ..result
                },
                "replayed",
            ));
        }
        Begin::Run(ticket) => ticket,
    };
    let result = match ToolInput::parse(&params.name, &params.input) {
        Ok(input) => tools::run(session, input, &state.config.limits).await,
        Err(e) => ToolResult::error(e.to_string()),
    };
    let result = redact(session, result);
    if let Err(e) = session.journal.finish(ticket, &result) {
        state.logger.warn(
            "journal_error",
            json!({"session_id": session.id, "error": e.to_string()}),
        );
    }
    let outcome = if result.is_error { "error" } else { "ok" };
    Ok((result, outcome))
}

/// Secrets never enter the sandbox; this is defence in depth for text that
/// might have carried one back anyway.
fn redact(session: &Session, mut result: ToolResult) -> ToolResult {
    let injector = session.egress().injector;
    for block in &mut result.content {
        if let ContentBlock::Text { text } = block {
            *text = injector.redact(text).into_owned();
        }
    }
    result
}

fn rejection(r: JsonRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge
    } else {
        ApiError::BadRequest(r.body_text())
    }
}

fn session_error(state: &AppState, e: SessionError) -> ApiError {
    match e {
        SessionError::NotSetUp(_) => ApiError::NotFound(e.to_string()),
        SessionError::Invalid(_) => ApiError::BadRequest(e.to_string()),
        SessionError::OtherSession { .. } => ApiError::Conflict(e.to_string()),
        SessionError::Io(_) | SessionError::Journal(_) => {
            state
                .logger
                .warn("session_error", json!({"error": e.to_string()}));
            ApiError::Internal
        }
    }
}
