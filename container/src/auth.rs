//! Authentication between the platform and this server.
//!
//! Each session has its own token ([`openma_core::sandbox::session_token`]).
//! A server that serves many sessions (local development) holds the
//! platform's root sandbox token: it accepts that, and each session's token
//! for requests about that session only. A one-session container is given
//! only its session's token and accepts exactly that.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use openma_core::sandbox::EXECUTE_PATH;

use crate::app::AppState;
use crate::error::ApiError;

/// Middleware: requires `Authorization: Bearer <token>` valid for the
/// session the request is about (named in the path, or in the body of a tool
/// call), compared in constant time.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let config = &state.config;
    if !presented.is_empty() && constant_time_eq(presented.as_bytes(), config.token.as_bytes()) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    let (request, session) = match session_of(request, config.limits.max_body_bytes).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let expected = session.as_deref().and_then(|id| config.session_token(id));
    match expected {
        Some(expected) if constant_time_eq(presented.as_bytes(), expected.as_bytes()) => {
            next.run(request).await
        }
        _ => {
            state
                .logger
                .warn("auth_rejected", serde_json::json!({"path": path}));
            ApiError::Unauthorized.into_response()
        }
    }
}

/// The session a request is about: `/v1/sessions/{id}/…`, or the
/// `session_id` of a tool call's body (read here and put back).
async fn session_of(request: Request, limit: usize) -> Result<(Request, Option<String>), ApiError> {
    let path = request.uri().path();
    if let Some(rest) = path.strip_prefix("/v1/sessions/") {
        let id = rest.split('/').next().unwrap_or_default();
        let id = percent_encoding::percent_decode_str(id)
            .decode_utf8_lossy()
            .into_owned();
        return Ok((request, Some(id)));
    }
    if path != EXECUTE_PATH {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    let session = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("session_id")?.as_str().map(str::to_owned));
    Ok((Request::from_parts(parts, Body::from(bytes)), session))
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, x) in b.iter().enumerate() {
        diff |= x ^ a.get(i).copied().unwrap_or(0);
    }
    diff == 0
}
