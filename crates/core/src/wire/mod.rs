//! The wire vocabulary of the Managed Agents API (beta
//! `managed-agents-2026-04-01`): objects, events, params, errors, pages.
//!
//! Field names, `type` discriminators and id prefixes match the API exactly.
//! Unknown fields are ignored on input; inbound event bodies are validated
//! with errors that name the field.

pub mod agent;
pub mod body;
pub mod content;
pub mod content_validate;
pub mod environment;
pub mod error;
pub mod event;
pub mod event_params;
pub mod ids;
pub mod list_query;
pub mod object_type;
pub mod page;
pub mod preview;
pub mod resources;
pub mod session;
pub mod stop;
pub mod time;
pub mod usage;
pub mod validate;
pub mod work;

pub use agent::Agent;
pub use agent::AgentTool;
pub use agent::CustomTool;
pub use agent::ModelConfig;
pub use agent::PermissionPolicy;
pub use agent::SessionAgent;
pub use content::ContentBlock;
pub use environment::Environment;
pub use error::ApiErrorEnvelope;
pub use error::ApiErrorType;
pub use event::Event;
pub use event::EventPayload;
pub use event::SessionEvent;
pub use event_params::EventSendParams;
pub use event_params::EventSendResponse;
pub use event_params::UserEventParams;
pub use event_params::parse_send_params;
pub use ids::EventSeq;
pub use ids::event_id;
pub use list_query::EventListQuery;
pub use page::Page;
pub use page::PageCursor;
pub use preview::StreamPreview;
pub use session::Session;
pub use session::SessionStatus;
pub use stop::RetryStatus;
pub use stop::SessionError;
pub use stop::SessionErrorType;
pub use stop::StopReason;
pub use time::Timestamp;
pub use usage::ModelUsage;
pub use usage::SessionUsage;
pub use validate::ValidationError;
