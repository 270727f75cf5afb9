//! The one place where failures become HTTP responses: the API's error
//! envelope, the `request-id` header and `x-should-retry` for conflicts.

use openma_core::wire::ApiErrorEnvelope;
use openma_core::wire::ApiErrorType;
use openma_core::wire::ValidationError;

/// A request failure, as the client will see it.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) kind: ApiErrorType,
    pub(crate) message: String,
    /// `error.details.error_code`, where the SDK knows a specific code.
    pub(crate) code: Option<&'static str>,
    /// Further `error.details` fields (e.g. `conflicting_memory_id`).
    pub(crate) details: Vec<(&'static str, serde_json::Value)>,
    /// Seconds for a `retry-after` header.
    pub(crate) retry_after_s: Option<u64>,
    /// A status other than the type's own (412 for a heartbeat whose
    /// precondition failed, which has no error type of its own).
    pub(crate) status: Option<u16>,
}

impl ApiError {
    pub(crate) fn new(kind: ApiErrorType, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            code: None,
            details: Vec::new(),
            retry_after_s: None,
            status: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ApiErrorType::InvalidRequestError, message)
    }

    pub(crate) fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            ApiErrorType::NotFoundError,
            format!("{what} {id} not found"),
        )
    }

    /// A failure of the platform itself. The cause is logged, never sent:
    /// it may name internals.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        worker::console_error!(
            "{}",
            serde_json::json!({"level": "error", "event": "internal_error", "cause": cause.to_string()})
        );
        Self::new(ApiErrorType::ApiError, "internal error")
    }

    /// The HTTP status the error is sent with.
    pub(crate) fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.kind.status())
    }

    /// The response, carrying `request_id`.
    pub(crate) fn into_response(self, request_id: &str) -> worker::Result<worker::Response> {
        let status = self.status();
        let mut envelope = ApiErrorEnvelope::new(self.kind, self.message, request_id);
        if let Some(code) = self.code {
            envelope = envelope.with_error_code(code);
        }
        for (key, value) in self.details {
            envelope
                .error
                .details
                .get_or_insert_with(serde_json::Map::new)
                .insert(key.into(), value);
        }
        let mut resp = openma_cloudflare::json(status, &envelope)?;
        if let Some(seconds) = self.retry_after_s {
            resp.headers_mut()
                .set("retry-after", &seconds.to_string())?;
        }
        // The SDKs retry 409s by default; a real conflict must not be retried.
        if !self.kind.should_retry() {
            resp.headers_mut().set("x-should-retry", "false")?;
        }
        Ok(resp)
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::invalid(err.to_string())
    }
}

impl From<worker::Error> for ApiError {
    fn from(err: worker::Error) -> Self {
        Self::internal(err)
    }
}

/// A handler's result.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
