//! The outbox: replies queued in D1 with a deterministic key, posted to the
//! provider by the thread's object, retried with back-off, dead after too
//! many failures or a permanent refusal.

use openma_cloudflare::store::integrations as store;
use openma_cloudflare::store::integrations::DeliveryRow;
use openma_cloudflare::store::outbox;
use openma_core::crypto::Keyring;
use openma_core::integrations::Provider;
use openma_core::integrations::ReplyKind;
use openma_core::integrations::ReplyOutcome;
use openma_core::integrations::Thread;
use openma_core::integrations::classify_reply;
use openma_core::integrations::reply_key;
use openma_core::integrations::reply_request;
use openma_core::integrations::retry_delay_ms;
use openma_core::integrations::token_aad;
use serde_json::json;
use worker::Env;
use worker::Fetch;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;

use crate::config::Config;
use crate::log;

/// How long a provider has to answer one reply.
const SEND_TIMEOUT_MS: u64 = 15_000;

/// The `User-Agent` of every request to a provider (GitHub refuses
/// requests without one).
fn user_agent() -> String {
    format!("openma-integrations/{}", openma_core::VERSION)
}

/// A reply to queue.
pub(crate) struct Reply<'a> {
    pub(crate) tenant_id: &'a str,
    pub(crate) integration_id: &'a str,
    pub(crate) thread_name: &'a str,
    pub(crate) thread: &'a Thread,
    pub(crate) session_id: Option<&'a str>,
    pub(crate) kind: ReplyKind,
    /// What makes this reply unique in its thread (the event it answers).
    pub(crate) anchor: &'a str,
    pub(crate) text: &'a str,
}

/// Queues `reply` unless a reply with its key is queued already. The key
/// is derived from the thread, the anchor and the kind, so a replayed turn
/// never queues a second copy.
pub(crate) async fn enqueue(env: &Env, reply: &Reply<'_>) -> worker::Result<bool> {
    let now = openma_cloudflare::now_ms();
    let at = timestamp(now);
    let row = DeliveryRow {
        id: openma_cloudflare::ids::mint_id("idlv_", now_u64(now))
            .map_err(worker::Error::RustError)?,
        tenant_id: reply.tenant_id.to_owned(),
        integration_id: reply.integration_id.to_owned(),
        provider: reply.thread.provider().as_str().to_owned(),
        thread_key: reply.thread_name.to_owned(),
        reply_key: reply_key(reply.thread_name, reply.anchor, reply.kind),
        kind: reply.kind.as_str().to_owned(),
        target: serde_json::to_string(reply.thread)?,
        body: reply.text.to_owned(),
        session_id: reply.session_id.map(str::to_owned),
        status: "pending".to_owned(),
        attempts: 0,
        next_attempt_at: now_i64(now),
        last_error: None,
        provider_ref: None,
        created_at: at.clone(),
        updated_at: at,
        sent_at: None,
    };
    store::enqueue(env, &row).await
}

/// Posts the thread's replies in the order they were queued, each when it
/// is due: one waiting for its retry holds back those after it. Answers
/// when the next one is due (ms), if any is pending.
pub(crate) async fn deliver_due(
    env: &Env,
    config: &Config,
    thread_name: &str,
) -> worker::Result<Option<i64>> {
    loop {
        let Some(row) = store::pending(env, thread_name, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        if row.next_attempt_at > now_i64(openma_cloudflare::now_ms()) {
            return Ok(Some(row.next_attempt_at));
        }
        deliver(env, config, row).await?;
    }
}

/// Posts one reply and records what came of it.
async fn deliver(env: &Env, config: &Config, row: DeliveryRow) -> worker::Result<()> {
    let attempts = row.attempts + 1;
    let now = openma_cloudflare::now_ms();
    let at = timestamp(now);
    let outcome = match prepare(env, config, &row).await {
        Ok(request) => send(request, row.provider.as_str()).await,
        Err(error) => ReplyOutcome::Dead { error },
    };
    let provider = row.provider.as_str();
    match outcome {
        ReplyOutcome::Sent { provider_ref } => {
            store::mark_sent(env, &row.id, provider_ref.as_deref(), attempts, &at).await?;
            log::reply(env, provider, "sent", &row, attempts, None);
        }
        ReplyOutcome::Retry { error, .. } if attempts >= i64::from(config.max_attempts) => {
            let error = format!("{error} (attempt {attempts} of {})", config.max_attempts);
            outbox::dead(
                env,
                outbox::INTEGRATION_DELIVERIES,
                &row.id,
                attempts,
                &error,
                &at,
            )
            .await?;
            log::reply(env, provider, "dead", &row, attempts, Some(&error));
        }
        ReplyOutcome::Retry { error, after_ms } => {
            let delay = after_ms.unwrap_or_else(|| {
                retry_delay_ms(
                    u32::try_from(attempts).unwrap_or(u32::MAX),
                    config.retry_base_ms,
                    js_sys::Math::random(),
                )
            });
            let next = now_i64(now) + i64::try_from(delay).unwrap_or(i64::MAX / 2);
            outbox::retry(
                env,
                outbox::INTEGRATION_DELIVERIES,
                &row.id,
                attempts,
                next,
                &error,
                &at,
            )
            .await?;
            log::reply(env, provider, "retried", &row, attempts, Some(&error));
        }
        ReplyOutcome::Dead { error } => {
            outbox::dead(
                env,
                outbox::INTEGRATION_DELIVERIES,
                &row.id,
                attempts,
                &error,
                &at,
            )
            .await?;
            log::reply(env, provider, "dead", &row, attempts, Some(&error));
        }
    }
    Ok(())
}

/// The provider request for `row`, with the integration's token; an error
/// (which makes the reply dead) when the integration or its token is gone.
async fn prepare(env: &Env, config: &Config, row: &DeliveryRow) -> Result<Request, String> {
    let provider = Provider::parse(&row.provider)
        .ok_or_else(|| format!("unknown provider {}", row.provider))?;
    let integration = store::get_any(env, &row.integration_id)
        .await
        .map_err(|e| format!("reading the integration: {e}"))?
        .ok_or_else(|| format!("integration {} was deleted", row.integration_id))?;
    let thread: Thread =
        serde_json::from_str(&row.target).map_err(|e| format!("the reply's thread: {e}"))?;
    let kind = ReplyKind::parse(&row.kind).ok_or_else(|| format!("unknown kind {}", row.kind))?;
    let token = open_token(env, &integration)?;
    let spec = reply_request(
        &thread,
        config.api_base(provider),
        kind,
        &row.body,
        &row.reply_key,
    );
    let build = || -> worker::Result<Request> {
        let headers = Headers::new();
        headers.set("authorization", &format!("Bearer {token}"))?;
        headers.set("user-agent", &user_agent())?;
        headers.set("content-type", "application/json; charset=utf-8")?;
        for (name, value) in &spec.headers {
            headers.set(name, value)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(spec.body.to_string().into()));
        Request::new_with_init(&spec.url, &init)
    };
    build().map_err(|e| format!("building the request to {}: {e}", spec.url))
}

/// The integration's access token, opened.
fn open_token(env: &Env, integration: &store::IntegrationRow) -> Result<String, String> {
    let root = openma_cloudflare::setting(env, "PLATFORM_ROOT_SECRET").unwrap_or_default();
    let previous = openma_cloudflare::setting(env, "PLATFORM_ROOT_SECRET_PREVIOUS");
    let ring = Keyring::new(&root, previous.as_deref())
        .map_err(|e| format!("the credential keyring: {e}"))?;
    let opened = ring
        .open(
            &integration.token_key_id,
            &integration.token_ciphertext,
            &token_aad(&integration.tenant_id, &integration.id),
        )
        .map_err(|e| format!("opening the integration's token: {e}"))?;
    String::from_utf8(opened.plaintext)
        .map_err(|_| "the integration's token is not text".to_owned())
}

/// Sends the request and classifies the answer.
async fn send(request: Request, provider: &str) -> ReplyOutcome {
    let Some(provider) = Provider::parse(provider) else {
        return ReplyOutcome::Dead {
            error: format!("unknown provider {provider}"),
        };
    };
    let answered = openma_cloudflare::mcp::within(SEND_TIMEOUT_MS, async {
        let mut resp = Fetch::Request(request).send().await?;
        let status = resp.status_code();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        Ok((status, headers, body))
    })
    .await;
    match answered {
        Ok((status, headers, body)) => {
            let header = |name: &str| headers.get(name).ok().flatten();
            classify_reply(
                provider,
                status,
                &header,
                &body,
                now_i64(openma_cloudflare::now_ms()),
            )
        }
        Err(e) => ReplyOutcome::Retry {
            error: format!("no answer: {e}"),
            after_ms: None,
        },
    }
}

fn timestamp(ms: f64) -> String {
    openma_core::wire::Timestamp(now_i64(ms)).to_rfc3339()
}

#[allow(clippy::cast_possible_truncation)]
fn now_i64(ms: f64) -> i64 {
    ms as i64
}

fn now_u64(ms: f64) -> u64 {
    u64::try_from(now_i64(ms)).unwrap_or_default()
}

/// The delivery as logs show it (never a token).
pub(crate) fn describe(row: &DeliveryRow) -> serde_json::Value {
    json!({
        "delivery_id": row.id,
        "integration_id": row.integration_id,
        "reply_key": row.reply_key,
        "kind": row.kind,
        "session_id": row.session_id,
    })
}
