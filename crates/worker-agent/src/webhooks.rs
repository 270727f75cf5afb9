//! `WebhookSender`: one Durable Object per webhook endpoint, which posts
//! the endpoint's queued deliveries (D1 `webhook_deliveries`), signed per
//! Standard Webhooks, retries failures with back-off on its alarm, and
//! disables an endpoint that redirects, points at a private address, or
//! keeps failing. Rows are queued by whoever saw the change (main for
//! objects, the session objects for their status events) and this object
//! is woken; its alarm and the hourly cron catch whatever a wake missed.

use std::cell::Cell;
use std::cell::RefCell;
use std::rc::Rc;

use openma_cloudflare::store::outbox;
use openma_cloudflare::store::webhooks as store;
use openma_cloudflare::store::webhooks::DeliveryRow;
use openma_cloudflare::store::webhooks::EndpointRow;
use openma_core::crypto::Keyring;
use openma_core::integrations::retry_delay_ms;
use openma_core::webhooks::check_url;
use openma_core::webhooks::signature;
use openma_core::wire::Timestamp;
use serde::Deserialize;
use serde_json::json;
use worker::Env;
use worker::Fetch;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::RequestRedirect;
use worker::Response;
use worker::Result;
use worker::State;
use worker::durable_object;

/// Attempts per delivery before it is dead (`WEBHOOK_MAX_ATTEMPTS`).
const MAX_ATTEMPTS: u32 = 3;
/// The first retry's delay (`WEBHOOK_RETRY_BASE_MS`); later ones double,
/// up to [`MAX_DELAY_MS`].
const RETRY_BASE_MS: u64 = 5_000;
const MAX_DELAY_MS: u64 = 120_000;
/// Failed deliveries in a row after which the endpoint is disabled.
const DISABLE_AFTER_FAILURES: i64 = 20;
/// How long a receiver has to answer.
const SEND_TIMEOUT_MS: u64 = 10_000;
/// Deliveries read per round.
const BATCH: usize = 20;

/// The delivery side of one webhook endpoint.
#[durable_object]
pub struct WebhookSender {
    inner: Rc<Inner>,
}

struct Inner {
    state: State,
    env: Env,
    endpoint_id: RefCell<Option<String>>,
    sending: Cell<bool>,
    dirty: Cell<bool>,
}

#[derive(Deserialize)]
struct Kick {
    endpoint_id: String,
}

impl worker::DurableObject for WebhookSender {
    fn new(state: State, env: Env) -> Self {
        Self {
            inner: Rc::new(Inner {
                state,
                env,
                endpoint_id: RefCell::new(None),
                sending: Cell::new(false),
                dirty: Cell::new(false),
            }),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() != "/kick" {
            return openma_cloudflare::json(404, &json!({"error": "no such route"}));
        }
        let Kick { endpoint_id } = req.json().await?;
        if self.inner.endpoint_id.borrow().as_deref() != Some(endpoint_id.as_str()) {
            self.inner
                .state
                .storage()
                .put("endpoint_id", &endpoint_id)
                .await?;
            *self.inner.endpoint_id.borrow_mut() = Some(endpoint_id);
        }
        self.inner.kick();
        openma_cloudflare::json(200, &json!({"ok": true}))
    }

    async fn alarm(&self) -> Result<Response> {
        if self.inner.endpoint_id.borrow().is_none() {
            let stored: Option<String> = self.inner.state.storage().get("endpoint_id").await?;
            *self.inner.endpoint_id.borrow_mut() = stored;
        }
        if self.inner.sending.replace(true) {
            self.inner.dirty.set(true);
        } else {
            self.inner.pump().await;
            self.inner.sending.set(false);
        }
        Response::ok("ok")
    }
}

/// What came of one attempt.
enum Attempt {
    Sent,
    Failed(String),
    /// The endpoint must not get more deliveries.
    Disable(String),
}

impl Inner {
    fn kick(self: &Rc<Self>) {
        self.dirty.set(true);
        if self.sending.replace(true) {
            return;
        }
        let inner = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            inner.pump().await;
            inner.sending.set(false);
        });
    }

    async fn pump(&self) {
        loop {
            self.dirty.set(false);
            let next = match self.send_due().await {
                Ok(next) => next,
                Err(e) => {
                    log("webhook_send_failed", &json!({"error": e.to_string()}));
                    Some(now_ms() + 5_000)
                }
            };
            if self.dirty.get() {
                continue;
            }
            let storage = self.state.storage();
            let armed = match next {
                Some(at) => storage.set_alarm((at - now_ms()).max(0)).await,
                None => storage.delete_alarm().await,
            };
            if let Err(e) = armed {
                log("webhook_alarm_failed", &json!({"error": e.to_string()}));
            }
            if !self.dirty.get() {
                return;
            }
        }
    }

    /// Sends every due delivery; answers when the next one is due.
    async fn send_due(&self) -> Result<Option<i64>> {
        let Some(endpoint_id) = self.endpoint_id.borrow().clone() else {
            return Ok(None);
        };
        loop {
            let Some(endpoint) = store::endpoint_any(&self.env, &endpoint_id).await? else {
                return Ok(None);
            };
            let pending = store::pending(&self.env, &endpoint_id, BATCH).await?;
            let now = now_ms();
            if endpoint.state != "enabled" {
                let reason = "the endpoint is disabled; events are not delivered while it is";
                store::drop_pending(&self.env, &endpoint_id, reason, &timestamp(now)).await?;
                return Ok(None);
            }
            let (due, later): (Vec<DeliveryRow>, Vec<DeliveryRow>) = pending
                .into_iter()
                .partition(|row| row.next_attempt_at <= now);
            if due.is_empty() {
                return Ok(later.iter().map(|row| row.next_attempt_at).min());
            }
            for row in due {
                if !self.deliver(&endpoint, row).await? {
                    return Ok(None);
                }
            }
        }
    }

    /// Attempts one delivery and records it; `false` once the endpoint
    /// has been disabled.
    async fn deliver(&self, endpoint: &EndpointRow, row: DeliveryRow) -> Result<bool> {
        let attempts = row.attempts + 1;
        let now = now_ms();
        let at = timestamp(now);
        let outcome = match allowed_url(
            &endpoint.url,
            openma_cloudflare::webhooks::allow_private(&self.env),
        ) {
            Err(reason) => Attempt::Disable(format!("the URL is refused: {reason}")),
            Ok(()) => match self.secret(endpoint) {
                Ok(secret) => send(endpoint, &row, &secret).await,
                Err(e) => Attempt::Failed(e),
            },
        };
        let detail = json!({
            "endpoint_id": endpoint.id,
            "delivery_id": row.id,
            "event_id": row.event_id,
            "event_type": row.event_type,
            "attempts": attempts,
        });
        match outcome {
            Attempt::Sent => {
                store::mark_sent(&self.env, &row.id, attempts, &at).await?;
                store::record_success(&self.env, &endpoint.id, &at).await?;
                log("webhook_sent", &detail);
                Ok(true)
            }
            Attempt::Disable(reason) => {
                self.disable(endpoint, &row, attempts, &reason, &reason, &detail)
                    .await?;
                Ok(false)
            }
            Attempt::Failed(error) => {
                let failures = store::record_failure(&self.env, &endpoint.id, &at).await?;
                if failures >= DISABLE_AFTER_FAILURES {
                    let reason =
                        format!("{failures} deliveries failed in a row; the last: {error}");
                    self.disable(endpoint, &row, attempts, &error, &reason, &detail)
                        .await?;
                    return Ok(false);
                }
                let max = setting(&self.env, "WEBHOOK_MAX_ATTEMPTS", u64::from(MAX_ATTEMPTS));
                if u64::try_from(attempts).unwrap_or(u64::MAX) >= max {
                    outbox::dead(
                        &self.env,
                        outbox::WEBHOOK_DELIVERIES,
                        &row.id,
                        attempts,
                        &error,
                        &at,
                    )
                    .await?;
                    log("webhook_dead", &json!({"detail": detail, "error": error}));
                } else {
                    let base = setting(&self.env, "WEBHOOK_RETRY_BASE_MS", RETRY_BASE_MS);
                    let delay = retry_delay_ms(
                        u32::try_from(attempts).unwrap_or(u32::MAX),
                        base,
                        worker::js_sys::Math::random(),
                    )
                    .min(MAX_DELAY_MS);
                    let next = now + i64::try_from(delay).unwrap_or(i64::MAX / 2);
                    outbox::retry(
                        &self.env,
                        outbox::WEBHOOK_DELIVERIES,
                        &row.id,
                        attempts,
                        next,
                        &error,
                        &at,
                    )
                    .await?;
                    log(
                        "webhook_retried",
                        &json!({"detail": detail, "error": error}),
                    );
                }
                Ok(true)
            }
        }
    }

    /// Gives up on `row` (with `error`) and disables its endpoint (with
    /// `reason`), dropping what else it had queued.
    async fn disable(
        &self,
        endpoint: &EndpointRow,
        row: &DeliveryRow,
        attempts: i64,
        error: &str,
        reason: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let at = timestamp(now_ms());
        outbox::dead(
            &self.env,
            outbox::WEBHOOK_DELIVERIES,
            &row.id,
            attempts,
            error,
            &at,
        )
        .await?;
        store::disable(&self.env, &endpoint.id, reason, &at).await?;
        store::drop_pending(&self.env, &endpoint.id, reason, &at).await?;
        log(
            "webhook_endpoint_disabled",
            &json!({"detail": detail, "reason": reason}),
        );
        Ok(())
    }

    /// The endpoint's signing secret, opened.
    fn secret(&self, endpoint: &EndpointRow) -> std::result::Result<String, String> {
        let root =
            openma_cloudflare::setting(&self.env, "PLATFORM_ROOT_SECRET").unwrap_or_default();
        let previous = openma_cloudflare::setting(&self.env, "PLATFORM_ROOT_SECRET_PREVIOUS");
        let ring = Keyring::new(&root, previous.as_deref()).map_err(|e| e.to_string())?;
        let opened = ring
            .open(
                &endpoint.secret_key_id,
                &endpoint.secret_ciphertext,
                &openma_cloudflare::webhooks::secret_aad(&endpoint.tenant_id, &endpoint.id),
            )
            .map_err(|e| format!("opening the signing secret: {e}"))?;
        String::from_utf8(opened.plaintext).map_err(|_| "the signing secret is not text".to_owned())
    }
}

/// The URL rule on the URL as registered and as a URL parser normalises it
/// (`https://0x7f.1/` is loopback too).
fn allowed_url(url: &str, allow_private: bool) -> std::result::Result<(), String> {
    check_url(url, allow_private)?;
    let parsed = worker::Url::parse(url).map_err(|e| e.to_string())?;
    check_url(parsed.as_str(), allow_private)
}

/// Posts one delivery, signed, without following redirects.
async fn send(endpoint: &EndpointRow, row: &DeliveryRow, secret: &str) -> Attempt {
    #[allow(clippy::cast_possible_truncation)]
    let timestamp_s = (worker::Date::now().as_millis() / 1000) as i64;
    let Some(signed) = signature(secret, &row.event_id, timestamp_s, &row.payload) else {
        return Attempt::Failed("the signing secret is not valid base64".to_owned());
    };
    let request = || -> Result<Request> {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        headers.set(
            "user-agent",
            &format!("openma-webhooks/{}", openma_core::VERSION),
        )?;
        headers.set("webhook-id", &row.event_id)?;
        headers.set("webhook-timestamp", &timestamp_s.to_string())?;
        headers.set("webhook-signature", &signed)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(row.payload.clone().into()));
        Request::new_with_init(&endpoint.url, &init)
    };
    let request = match request() {
        Ok(request) => request,
        Err(e) => return Attempt::Disable(format!("the URL cannot be requested: {e}")),
    };
    let answered = openma_cloudflare::mcp::within(SEND_TIMEOUT_MS, async {
        let resp = Fetch::Request(request).send().await?;
        Ok(resp.status_code())
    })
    .await;
    match answered {
        Ok(status) if (200..300).contains(&status) => Attempt::Sent,
        Ok(status) if (300..400).contains(&status) => {
            Attempt::Disable(format!("the endpoint answered a redirect ({status})"))
        }
        Ok(status) => Attempt::Failed(format!("the endpoint answered {status}")),
        Err(e) => Attempt::Failed(format!("no answer: {e}")),
    }
}

fn setting(env: &Env, name: &str, default: u64) -> u64 {
    openma_cloudflare::setting(env, name)
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn log(event: &str, detail: &serde_json::Value) {
    worker::console_log!(
        "{}",
        json!({"level": "info", "event": event, "detail": detail})
    );
}

#[allow(clippy::cast_possible_truncation)]
fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

fn timestamp(ms: i64) -> String {
    Timestamp(ms).to_rfc3339()
}
