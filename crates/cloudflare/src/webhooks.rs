//! Outbound webhooks at the edge: queueing an event for every endpoint of
//! the tenant that subscribes to it ([`emit`]), waking those endpoints'
//! `WebhookSender` objects ([`wake`]), both at once for a caller that must
//! not fail because of them ([`notify`]), and what the API and the sender
//! share: the signing secret's AAD and whether private URLs are allowed.

use openma_core::wire::Timestamp;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::RequestInit;

use crate::store::webhooks as store;
use crate::store::webhooks::DeliveryRow;

/// Where an endpoint's `WebhookSender` is asked to send what is due.
const KICK_URL: &str = "https://webhooks/kick";

/// The additional data a signing secret is sealed with: it binds the
/// ciphertext to its tenant and endpoint, so it opens nowhere else.
pub fn secret_aad(tenant_id: &str, id: &str) -> Vec<u8> {
    format!("openma/webhook-secret/v1\n{tenant_id}\n{id}").into_bytes()
}

/// Whether endpoints may point at private, loopback or link-local
/// addresses (and use `http://`): `WEBHOOK_ALLOW_PRIVATE_URLS=1`, or local
/// development (`OMA_ENVIRONMENT=development`).
pub fn allow_private(env: &Env) -> bool {
    private_allowed(
        crate::setting(env, "WEBHOOK_ALLOW_PRIVATE_URLS").as_deref(),
        crate::setting(env, "OMA_ENVIRONMENT").as_deref(),
    )
}

/// The pure part of [`allow_private`].
fn private_allowed(flag: Option<&str>, environment: Option<&str>) -> bool {
    flag.map(str::trim) == Some("1") || environment.map(str::trim) == Some("development")
}

/// One event, as [`emit`] queues it.
#[derive(Debug, Clone, Copy)]
struct Event<'a> {
    /// The owner of the object, and of the endpoints it goes to.
    tenant_id: &'a str,
    /// One of `openma_core::webhooks::EVENT_TYPES`.
    event_type: &'a str,
    /// The object it is about.
    object_id: &'a str,
    /// More of `data` (a credential's `vault_id`, …); `{}` when none.
    extra: &'a Value,
    /// What caused it: the same key is queued at most once per endpoint.
    source_key: &'a str,
}

/// The rows queued for `event` at `now_ms`: one per endpoint, all with the
/// same `event_id` and payload (delivery ids come from `mint`).
fn deliveries(
    event: Event<'_>,
    endpoint_ids: &[String],
    event_id: &str,
    now_ms: i64,
    mut mint: impl FnMut() -> Result<String, String>,
) -> Result<Vec<DeliveryRow>, String> {
    let at = Timestamp(now_ms).to_rfc3339();
    let payload = openma_core::webhooks::payload(
        event_id,
        &at,
        event.event_type,
        event.object_id,
        event.tenant_id,
        event.extra,
    )
    .to_string();
    endpoint_ids
        .iter()
        .map(|endpoint_id| {
            Ok(DeliveryRow {
                id: mint()?,
                tenant_id: event.tenant_id.to_owned(),
                endpoint_id: endpoint_id.clone(),
                event_id: event_id.to_owned(),
                source_key: event.source_key.to_owned(),
                event_type: event.event_type.to_owned(),
                payload: payload.clone(),
                status: store::PENDING.to_owned(),
                attempts: 0,
                next_attempt_at: now_ms,
                last_error: None,
                created_at: at.clone(),
                updated_at: at.clone(),
                sent_at: None,
            })
        })
        .collect()
}

/// Queues `event_type` about `object_id` for every enabled endpoint of the
/// tenant that subscribes to it, due now; answers the endpoints that got a
/// new row (none when `source_key` was queued for them already). When no
/// endpoint subscribes this is one indexed read.
pub async fn emit(
    env: &Env,
    tenant_id: &str,
    event_type: &str,
    object_id: &str,
    extra: Value,
    source_key: &str,
) -> worker::Result<Vec<String>> {
    let endpoints = store::subscribed(env, tenant_id, event_type).await?;
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    let now_ms = crate::now_ms() as i64;
    let now = now_ms.unsigned_abs();
    let event_id = crate::ids::mint_id("whe_", now).map_err(worker::Error::RustError)?;
    let endpoint_ids: Vec<String> = endpoints.into_iter().map(|e| e.id).collect();
    let event = Event {
        tenant_id,
        event_type,
        object_id,
        extra: &extra,
        source_key,
    };
    let rows = deliveries(event, &endpoint_ids, &event_id, now_ms, || {
        crate::ids::mint_id("whd_", now)
    })
    .map_err(worker::Error::RustError)?;
    let mut queued = Vec::new();
    for row in rows {
        if store::enqueue(env, &row).await? {
            queued.push(row.endpoint_id);
        }
    }
    Ok(queued)
}

/// Asks each endpoint's `WebhookSender` (the `WEBHOOKS` namespace, one
/// object per endpoint id) to send what is due. A failure is logged, not
/// returned: the sender's alarm and cron find queued rows anyway.
pub async fn wake(env: &Env, endpoint_ids: &[String]) {
    let kicks = endpoint_ids.iter().map(|id| async move {
        if let Err(e) = kick(env, id).await {
            warn(
                "webhook_wake_failed",
                json!({"endpoint_id": id, "error": e.to_string()}),
            );
        }
    });
    futures_util::future::join_all(kicks).await;
}

async fn kick(env: &Env, endpoint_id: &str) -> worker::Result<()> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(json!({"endpoint_id": endpoint_id}).to_string().into()));
    let req = Request::new_with_init(KICK_URL, &init)?;
    let stub = env
        .durable_object("WEBHOOKS")?
        .id_from_name(endpoint_id)?
        .get_stub()?;
    let resp = stub.fetch_with_request(req).await?;
    match resp.status_code() {
        200..=299 => Ok(()),
        status => Err(worker::Error::RustError(format!("answered {status}"))),
    }
}

/// [`emit`], then [`wake`] the endpoints that got a row. Never fails: a
/// webhook must not break the change that caused it, so a failure is
/// logged.
pub async fn notify(
    env: &Env,
    tenant_id: &str,
    event_type: &str,
    object_id: &str,
    extra: Value,
    source_key: &str,
) {
    match emit(env, tenant_id, event_type, object_id, extra, source_key).await {
        Ok(endpoint_ids) => wake(env, &endpoint_ids).await,
        Err(e) => warn(
            "webhook_emit_failed",
            json!({"tenant_id": tenant_id, "event_type": event_type,
                   "object_id": object_id, "error": e.to_string()}),
        ),
    }
}

fn warn(event: &str, detail: Value) {
    worker::console_warn!(
        "{}",
        json!({"level": "warn", "event": event, "detail": detail})
    );
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use serde_json::json;

    use super::Event;
    use super::deliveries;
    use super::private_allowed;
    use super::secret_aad;

    #[test]
    fn private_urls_are_allowed_only_when_said_or_in_development() {
        assert!(!private_allowed(None, None));
        assert!(!private_allowed(None, Some("production")));
        assert!(!private_allowed(Some("true"), Some("staging")));
        assert!(private_allowed(Some("1"), Some("production")));
        assert!(private_allowed(None, Some("development")));
    }

    #[test]
    fn the_secret_aad_binds_tenant_and_endpoint() {
        assert_eq!(
            secret_aad("acme", "whep_1"),
            b"openma/webhook-secret/v1\nacme\nwhep_1".to_vec()
        );
        assert_ne!(secret_aad("acme", "whep_1"), secret_aad("other", "whep_1"));
    }

    #[test]
    fn one_event_is_one_payload_and_event_id_for_every_endpoint() {
        let extra = json!({"vault_id": "vlt_1"});
        let event = Event {
            tenant_id: "acme",
            event_type: "vault_credential.created",
            object_id: "vcrd_1",
            extra: &extra,
            source_key: "vault_credential.created:vcrd_1",
        };
        let endpoints = ["whep_1".to_owned(), "whep_2".to_owned()];
        let mut n = 0;
        let rows = deliveries(event, &endpoints, "whe_1", 1_767_225_600_000, || {
            n += 1;
            Ok(format!("whd_{n}"))
        })
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].payload, rows[1].payload);
        assert_eq!([&*rows[0].id, &*rows[1].id], ["whd_1", "whd_2"]);
        assert_eq!(rows[1].endpoint_id, "whep_2");
        for row in &rows {
            assert_eq!(row.event_id, "whe_1");
            assert_eq!(row.status, "pending");
            assert_eq!(row.attempts, 0);
            assert_eq!(row.next_attempt_at, 1_767_225_600_000);
            assert_eq!(row.source_key, "vault_credential.created:vcrd_1");
        }
        let payload: Value = serde_json::from_str(&rows[0].payload).unwrap();
        assert_eq!(
            payload,
            json!({"type": "event", "id": "whe_1", "created_at": rows[0].created_at,
                "data": {"type": "vault_credential.created", "id": "vcrd_1",
                         "organization_id": "acme", "vault_id": "vlt_1"}})
        );
        assert!(rows[0].created_at.starts_with("2026-01-01T00:00:00"));
    }

    #[test]
    fn no_endpoints_no_rows_and_a_failed_mint_is_an_error() {
        let extra = json!({});
        let event = Event {
            tenant_id: "t",
            event_type: "agent.created",
            object_id: "agent_1",
            extra: &extra,
            source_key: "k",
        };
        assert!(
            deliveries(event, &[], "whe_1", 0, || Ok(String::new()))
                .unwrap()
                .is_empty()
        );
        let failed = deliveries(event, &["whep_1".to_owned()], "whe_1", 0, || {
            Err("no randomness".to_owned())
        });
        assert_eq!(failed.unwrap_err(), "no randomness");
    }
}
