//! Call-level errors (not tool errors) and their single mapping to HTTP.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openma_core::sandbox::{ErrorBody, ErrorResponse};

/// An error answering the HTTP call itself; tool failures are `ToolResult`s instead.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or wrong bearer token.
    #[error("missing or invalid sandbox token")]
    Unauthorized,
    /// The request envelope is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The session is unknown here.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the server's state (e.g. a second session in a one-session container).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the server accepts.
    #[error("request body too large")]
    TooLarge,
    /// The server failed; details are logged, not returned.
    #[error("internal error")]
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = match &self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "authentication_error"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request_error"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found_error"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict_error"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "api_error"),
        };
        let body = ErrorResponse {
            error: ErrorBody {
                kind: kind.to_owned(),
                message: self.to_string(),
            },
        };
        (status, Json(body)).into_response()
    }
}
