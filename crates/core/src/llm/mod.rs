//! Model calls, provider-neutral: requests, streamed events, classified
//! errors, retry backoff, and the provider codecs: the Anthropic Messages
//! API ([`anthropic`]) and the OpenAI-compatible Chat Completions API
//! ([`openai`]).

pub mod anthropic;
mod client;
mod codec;
mod error;
pub mod openai;
mod retry;
pub mod sse;
mod transport;
mod types;

pub use client::CodecModelClient;
pub use client::CodecStream;
pub use codec::ProviderCodec;
pub use codec::StreamDecoder;
pub use error::ModelError;
pub use error::ModelErrorKind;
pub use error::classify_status;
pub use retry::RetryPolicy;
pub use transport::ByteStream;
pub use transport::HttpRequest;
pub use transport::HttpResponse;
pub use transport::HttpTransport;
pub use transport::TransportError;
pub use types::Message;
pub use types::ModelEvent;
pub use types::ModelRequest;
pub use types::ModelStopReason;
pub use types::Part;
pub use types::Role;
pub use types::ToolSpec;
