//! Where a session's model calls go. For every call the tenant's model
//! providers are read and the chosen one's key opened, so a replaced key
//! takes effect from the next call of every session and no key outlives one
//! call: the provider that lists the agent's model, else the tenant's
//! default provider, else the deployment's own key (`ANTHROPIC_API_KEY`)
//! where the operator allows it (`PLATFORM_MODEL_KEY_FOR_TENANTS`: `true`
//! for every tenant, `false` for none, unset for tenant `default` only).
//!
//! A provider that refuses its key (401 or 403) is marked `invalid` and the
//! turn ends with an error naming the provider, never the key.

use openma_cloudflare::store::model_providers::OPENAI_COMPATIBLE;
use openma_cloudflare::store::model_providers::ProviderRow;
use openma_cloudflare::store::model_providers::{self as store};
use openma_core::crypto::Keyring;
use openma_core::llm::CodecModelClient;
use openma_core::llm::CodecStream;
use openma_core::llm::ModelError;
use openma_core::llm::ModelErrorKind;
use openma_core::llm::ModelEvent;
use openma_core::llm::ModelRequest;
use openma_core::llm::anthropic::AnthropicCodec;
use openma_core::llm::anthropic::AnthropicDecoder;
use openma_core::llm::openai::OpenAiCodec;
use openma_core::llm::openai::OpenAiDecoder;
use openma_core::ports::ModelClient;
use openma_core::ports::ModelStream;
use worker::Env;

use crate::model::FetchBody;
use crate::model::FetchTransport;

/// The tenant whose calls may use the deployment's key when
/// `PLATFORM_MODEL_KEY_FOR_TENANTS` is unset.
const DEFAULT_TENANT: &str = "default";

/// A model client that picks its provider for each call.
#[derive(Debug)]
pub(crate) struct RoutedModelClient {
    env: Env,
    tenant_id: String,
    transport: FetchTransport,
    /// Where calls on the deployment's key go (`ANTHROPIC_BASE_URL`).
    platform_base_url: String,
}

/// The stream of one call, in the chosen provider's format.
#[derive(Debug)]
pub(crate) enum RoutedStream {
    /// The Messages API.
    Anthropic(CodecStream<FetchBody, AnthropicDecoder>),
    /// The Chat Completions API.
    OpenAi(CodecStream<FetchBody, OpenAiDecoder>),
}

impl ModelStream for RoutedStream {
    async fn next(&mut self) -> Option<Result<ModelEvent, ModelError>> {
        match self {
            Self::Anthropic(stream) => stream.next().await,
            Self::OpenAi(stream) => stream.next().await,
        }
    }
}

/// Where one call goes.
enum Target {
    /// A provider of the tenant, with its key opened for this call.
    Provider(Box<ProviderRow>, String),
    /// The deployment's key.
    Platform(String),
}

impl RoutedModelClient {
    /// A client for the calls of `tenant_id`'s sessions.
    pub(crate) fn new(
        env: Env,
        tenant_id: String,
        transport: FetchTransport,
        platform_base_url: String,
    ) -> Self {
        Self {
            env,
            tenant_id,
            transport,
            platform_base_url,
        }
    }

    fn platform_key_allowed(&self) -> bool {
        match openma_cloudflare::setting(&self.env, "PLATFORM_MODEL_KEY_FOR_TENANTS").as_deref() {
            Some("true") => true,
            Some(_) => false,
            None => self.tenant_id == DEFAULT_TENANT,
        }
    }

    async fn target(&self, model: &str) -> Result<Target, ModelError> {
        // Unreadable providers are a passing failure: the call is retried.
        let providers = store::all(&self.env, &self.tenant_id).await.map_err(|e| {
            ModelError::new(
                ModelErrorKind::Network,
                format!("reading the tenant's model providers: {e}"),
            )
        })?;
        if let Some(provider) = store::choose(&providers, model) {
            let root =
                openma_cloudflare::setting(&self.env, "PLATFORM_ROOT_SECRET").unwrap_or_default();
            let previous = openma_cloudflare::setting(&self.env, "PLATFORM_ROOT_SECRET_PREVIOUS");
            let key = Keyring::new(&root, previous.as_deref())
                .map_err(|e| e.to_string())
                .and_then(|ring| provider.open_key(&ring))
                .map_err(|e| ModelError::new(ModelErrorKind::Authentication, e))?;
            return Ok(Target::Provider(Box::new(provider.clone()), key));
        }
        if self.platform_key_allowed()
            && let Some(key) = openma_cloudflare::setting(&self.env, "ANTHROPIC_API_KEY")
        {
            return Ok(Target::Platform(key));
        }
        Err(ModelError::new(
            ModelErrorKind::Authentication,
            format!(
                "no model provider is configured for tenant {}: none lists model {model} and none \
                 is the default; add one with POST /v1/model_providers",
                self.tenant_id
            ),
        ))
    }

    /// Records that `provider` refused its key, and says so without it.
    async fn refused(&self, provider: &ProviderRow, key: &str, error: ModelError) -> ModelError {
        let message = store::scrub(&error.message, key);
        let now = openma_core::wire::Timestamp(worker::Date::now().as_millis() as i64);
        if let Err(e) = store::set_status(
            &self.env,
            &self.tenant_id,
            &provider.id,
            "invalid",
            Some(&message),
            &now.to_rfc3339(),
        )
        .await
        {
            worker::console_error!(
                "{}",
                serde_json::json!({"level": "error", "event": "model_provider_status_failed",
                                   "provider_id": provider.id, "error": e.to_string()})
            );
        }
        ModelError {
            message: format!(
                "model provider {} ({}) refused its key: {message}",
                provider.name, provider.id
            ),
            ..error
        }
    }
}

impl ModelClient for RoutedModelClient {
    type Stream = RoutedStream;

    async fn stream(&self, request: ModelRequest) -> Result<Self::Stream, ModelError> {
        match self.target(&request.model).await? {
            Target::Platform(key) => CodecModelClient::new(
                self.transport.clone(),
                AnthropicCodec,
                self.platform_base_url.clone(),
                openma_core::llm::anthropic::headers(&key),
            )
            .stream(request)
            .await
            .map(RoutedStream::Anthropic),
            Target::Provider(provider, key) => {
                let outcome = if provider.provider_type == OPENAI_COMPATIBLE {
                    CodecModelClient::new(
                        self.transport.clone(),
                        OpenAiCodec::for_base_url(&provider.base_url),
                        provider.base_url.clone(),
                        openma_core::llm::openai::headers(&key),
                    )
                    .stream(request)
                    .await
                    .map(RoutedStream::OpenAi)
                } else {
                    CodecModelClient::new(
                        self.transport.clone(),
                        AnthropicCodec,
                        provider.base_url.clone(),
                        openma_core::llm::anthropic::headers(&key),
                    )
                    .stream(request)
                    .await
                    .map(RoutedStream::Anthropic)
                };
                match outcome {
                    Err(error)
                        if matches!(
                            error.kind,
                            ModelErrorKind::Authentication | ModelErrorKind::PermissionDenied
                        ) =>
                    {
                        Err(self.refused(&provider, &key, error).await)
                    }
                    Err(error) => Err(ModelError {
                        message: store::scrub(&error.message, &key),
                        ..error
                    }),
                    Ok(stream) => Ok(stream),
                }
            }
        }
    }
}
