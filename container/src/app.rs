//! The HTTP API: routes, handlers and the shared state.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router, middleware};
use openma_core::sandbox::{
    ContentBlock, EXECUTE_PATH, FileEntry, FileListing, HEALTH_PATH, HealthResponse,
    SessionSetupParams, SessionSetupResponse, SessionTeardownResponse, ToolExecuteParams,
    ToolExecuteResponse, ToolInput, ToolResult, TreeParams, validate_id,
};
use serde::Deserialize;
use serde_json::json;

use crate::config::Config;
use crate::error::ApiError;
use crate::idempotency::{self, Begin};
use crate::log::{Logger, monotonic};
use crate::session::{Session, SessionError, Sessions};
use crate::workspace::PathError;
use crate::{auth, files, tools};

/// Largest file the platform places (the Files API's limit).
const MAX_PLACED_FILE_BYTES: usize = 500 * 1000 * 1000;

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
        .route(
            "/v1/sessions/{session_id}/files",
            put(place_file)
                .get(list_files)
                .layer(DefaultBodyLimit::max(MAX_PLACED_FILE_BYTES)),
        )
        .route("/v1/sessions/{session_id}/files/content", get(read_file))
        .route("/v1/sessions/{session_id}/tree", post(replace_tree))
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
    // The platform sends names and rules only; a value here means a caller
    // that substitutes at this server's own proxy.
    let secret_values = params.secrets.iter().filter(|s| s.value.is_some()).count();
    let response = state
        .sessions
        .setup(&session_id, params)
        .await
        .map_err(|e| session_error(&state, e))?;
    state.logger.info(
        "session_setup",
        json!({"session_id": session_id, "networking": policy, "secrets": secrets, "secret_values": secret_values}),
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

/// `?path=` of the single-file routes.
#[derive(Debug, Deserialize)]
struct PathQuery {
    path: String,
}

/// `?root=[&hash=true]` of the listing route.
#[derive(Debug, Deserialize)]
struct ListQuery {
    root: String,
    #[serde(default)]
    hash: bool,
}

/// The set-up session, by a validated id.
fn known_session(state: &AppState, session_id: &str) -> Result<Arc<Session>, ApiError> {
    validate_id("session_id", session_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state
        .sessions
        .get(session_id)
        .map_err(|e| session_error(state, e))
}

async fn place_file(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    Query(query): Query<PathQuery>,
    body: Bytes,
) -> Result<Json<FileEntry>, ApiError> {
    let session = known_session(&state, &session_id)?;
    let ws = session.workspace();
    let entry = blocking_files(&state, move || files::place(&ws, &query.path, &body)).await?;
    Ok(Json(entry))
}

async fn list_files(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<FileListing>, ApiError> {
    let session = known_session(&state, &session_id)?;
    let ws = session.workspace();
    let listing = blocking_files(&state, move || files::list(&ws, &query.root, query.hash)).await?;
    Ok(Json(listing))
}

async fn read_file(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    Query(query): Query<PathQuery>,
) -> Result<Vec<u8>, ApiError> {
    let session = known_session(&state, &session_id)?;
    let ws = session.workspace();
    blocking_files(&state, move || files::read(&ws, &query.path)).await
}

async fn replace_tree(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    body: Result<Json<TreeParams>, JsonRejection>,
) -> Result<Json<FileListing>, ApiError> {
    let session = known_session(&state, &session_id)?;
    let Json(params) = body.map_err(rejection)?;
    let ws = session.workspace();
    let listing = blocking_files(&state, move || files::replace_tree(&ws, &params)).await?;
    Ok(Json(listing))
}

/// Runs a platform file operation on a blocking thread; path errors are the
/// caller's (400/404), file-system failures are logged and answered 500.
async fn blocking_files<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> Result<T, PathError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(PathError::NotFound(path))) => {
            Err(ApiError::NotFound(format!("no such file: `{path}`")))
        }
        Ok(Err(e @ (PathError::Outside { .. } | PathError::ReadOnly(_)))) => {
            Err(ApiError::BadRequest(e.to_string()))
        }
        Ok(Err(e @ PathError::Io { .. })) => {
            state
                .logger
                .warn("platform_file_error", json!({"error": e.to_string()}));
            Err(ApiError::Internal)
        }
        Err(_) => Err(ApiError::Internal),
    }
}

async fn execute(
    State(state): State<AppState>,
    body: Result<Json<ToolExecuteParams>, JsonRejection>,
) -> Result<Json<ToolExecuteResponse>, ApiError> {
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
    let ws = session.workspace();
    let watch = params.watch;
    let watched = tokio::task::spawn_blocking(move || {
        watch
            .into_iter()
            .map(|root| {
                let print = files::fingerprint(&ws, &root);
                (root, print)
            })
            .collect()
    })
    .await
    .map_err(|_| ApiError::Internal)?;
    Ok(Json(ToolExecuteResponse { result, watched }))
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
