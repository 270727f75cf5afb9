//! The API error envelope `{"type":"error","error":{...},"request_id":...}`.

use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use super::object_type::ErrorEnvelopeType;

/// `error.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApiErrorType {
    /// 400 (and 409 for generic conflicts, per the docs).
    InvalidRequestError,
    /// 401.
    AuthenticationError,
    /// 402.
    BillingError,
    /// 403.
    PermissionError,
    /// 404.
    NotFoundError,
    /// 413.
    RequestTooLarge,
    /// 429, with `retry-after`.
    RateLimitError,
    /// 504.
    TimeoutError,
    /// 500 and unknown server errors.
    ApiError,
    /// 529.
    OverloadedError,
    /// 409 on a memory precondition mismatch.
    MemoryPreconditionFailedError,
    /// 409 on a memory path conflict.
    MemoryPathConflictError,
    /// 409 on a version or name conflict.
    ConflictError,
}

impl ApiErrorType {
    /// The HTTP status this error type is sent with.
    #[must_use]
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequestError => 400,
            Self::AuthenticationError => 401,
            Self::BillingError => 402,
            Self::PermissionError => 403,
            Self::NotFoundError => 404,
            Self::MemoryPreconditionFailedError
            | Self::MemoryPathConflictError
            | Self::ConflictError => 409,
            Self::RequestTooLarge => 413,
            Self::RateLimitError => 429,
            Self::ApiError => 500,
            Self::TimeoutError => 504,
            Self::OverloadedError => 529,
        }
    }

    /// Whether the SDK should retry: semantic conflicts carry
    /// `x-should-retry: false`, everything ≥ 500 and 429 are retryable.
    #[must_use]
    pub fn should_retry(self) -> bool {
        matches!(
            self,
            Self::RateLimitError | Self::ApiError | Self::TimeoutError | Self::OverloadedError
        )
    }
}

/// The error envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorEnvelope {
    /// Always `"error"`.
    #[serde(rename = "type")]
    pub kind: ErrorEnvelopeType,
    /// The error.
    pub error: ApiErrorBody,
    /// The `req_` id, also sent as the `request-id` header.
    pub request_id: String,
}

/// `error` inside the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// The error type.
    #[serde(rename = "type")]
    pub kind: ApiErrorType,
    /// Human-readable message.
    pub message: String,
    /// `{error_code, ...}` when a specific code applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Map<String, Value>>,
}

impl ApiErrorEnvelope {
    /// An envelope without details.
    #[must_use]
    pub fn new(
        kind: ApiErrorType,
        message: impl Into<String>,
        request_id: impl Into<String>,
    ) -> Self {
        Self {
            kind: ErrorEnvelopeType::Tag,
            error: ApiErrorBody {
                kind,
                message: message.into(),
                details: None,
            },
            request_id: request_id.into(),
        }
    }

    /// Adds `details.error_code`.
    #[must_use]
    pub fn with_error_code(mut self, code: &str) -> Self {
        self.error
            .details
            .get_or_insert_with(Map::new)
            .insert("error_code".into(), Value::String(code.into()));
        self
    }
}
