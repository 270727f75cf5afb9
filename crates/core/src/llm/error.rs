//! Classified model-call errors.

use crate::wire::RetryStatus;
use crate::wire::SessionErrorType;

/// What went wrong with a model call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelErrorKind {
    /// HTTP 429. Transient: retried after `retry-after` or backoff.
    RateLimited,
    /// HTTP 529 or an `overloaded_error` event. Transient.
    Overloaded,
    /// HTTP 5xx other than 529, and 408/409. Transient.
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// The connection failed or timed out. Transient.
    Network,
    /// The stream ended before `message_stop`. Transient.
    BrokenStream,
    /// The stream could not be decoded (bad JSON, events out of order).
    /// Treated as transient: a re-issued call usually decodes.
    MalformedStream,
    /// HTTP 401. Not retried; the turn ends.
    Authentication,
    /// HTTP 402 / `billing_error`. Not retried; the session terminates.
    Billing,
    /// HTTP 403. Not retried.
    PermissionDenied,
    /// Any other 4xx (bad request, not found, too large). Not retried.
    InvalidRequest {
        /// The HTTP status.
        status: u16,
    },
}

/// A classified error from a model call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct ModelError {
    /// The classification.
    pub kind: ModelErrorKind,
    /// Provider message, for the `session.error` event.
    pub message: String,
    /// Server-requested delay (`retry-after` / `retry-after-ms`), if any.
    pub retry_after_ms: Option<u64>,
}

impl ModelError {
    /// An error of `kind`.
    #[must_use]
    pub fn new(kind: ModelErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// Whether retrying the same call may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            ModelErrorKind::RateLimited
            | ModelErrorKind::Overloaded
            | ModelErrorKind::Server { .. }
            | ModelErrorKind::Network
            | ModelErrorKind::BrokenStream
            | ModelErrorKind::MalformedStream => true,
            ModelErrorKind::Authentication
            | ModelErrorKind::Billing
            | ModelErrorKind::PermissionDenied
            | ModelErrorKind::InvalidRequest { .. } => false,
        }
    }

    /// The `session.error` type this error is reported as.
    #[must_use]
    pub fn session_error_type(&self) -> SessionErrorType {
        match self.kind {
            ModelErrorKind::RateLimited => SessionErrorType::ModelRateLimitedError,
            ModelErrorKind::Overloaded => SessionErrorType::ModelOverloadedError,
            ModelErrorKind::Billing => SessionErrorType::BillingError,
            ModelErrorKind::Server { .. }
            | ModelErrorKind::Network
            | ModelErrorKind::BrokenStream
            | ModelErrorKind::MalformedStream
            | ModelErrorKind::Authentication
            | ModelErrorKind::PermissionDenied
            | ModelErrorKind::InvalidRequest { .. } => SessionErrorType::ModelRequestFailedError,
        }
    }

    /// The retry status once no retry will follow: billing problems end the
    /// session, everything else ends only the turn.
    #[must_use]
    pub fn final_retry_status(&self) -> RetryStatus {
        match self.kind {
            ModelErrorKind::Billing => RetryStatus::Terminal,
            ModelErrorKind::RateLimited
            | ModelErrorKind::Overloaded
            | ModelErrorKind::Server { .. }
            | ModelErrorKind::Network
            | ModelErrorKind::BrokenStream
            | ModelErrorKind::MalformedStream
            | ModelErrorKind::Authentication
            | ModelErrorKind::PermissionDenied
            | ModelErrorKind::InvalidRequest { .. } => RetryStatus::Exhausted,
        }
    }
}

/// Classifies a non-2xx HTTP response from a model provider.
///
/// `error_type` is the provider's `error.type` when the body had one (it
/// refines the status: a 500 carrying `overloaded_error` is an overload).
#[must_use]
pub fn classify_status(
    status: u16,
    error_type: Option<&str>,
    message: &str,
    retry_after_ms: Option<u64>,
) -> ModelError {
    let kind = match (status, error_type) {
        (_, Some("overloaded_error")) | (529, _) => ModelErrorKind::Overloaded,
        (_, Some("rate_limit_error")) | (429, _) => ModelErrorKind::RateLimited,
        (_, Some("billing_error")) | (402, _) => ModelErrorKind::Billing,
        (401, _) => ModelErrorKind::Authentication,
        (403, _) => ModelErrorKind::PermissionDenied,
        (408 | 409, _) => ModelErrorKind::Server { status },
        (500..=599, _) => ModelErrorKind::Server { status },
        _ => ModelErrorKind::InvalidRequest { status },
    };
    ModelError {
        kind,
        message: message.to_owned(),
        retry_after_ms,
    }
}
