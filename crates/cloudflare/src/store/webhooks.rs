//! Outbound webhooks in D1: `webhook_endpoints` (a tenant's receiver, its
//! sealed signing secret and the event types it subscribes to) and
//! `webhook_deliveries` (one row per event and endpoint, posted by the agent
//! worker's `WebhookSender`). main serves the endpoints through the API and
//! queues deliveries for the changes it makes; the session objects queue
//! theirs; the sender reads by endpoint id alone. Queries a tenant makes
//! are scoped by `tenant_id`.

use serde::Deserialize;
use worker::Env;

use super::Param;

/// An endpoint that gets deliveries.
pub const ENABLED: &str = "enabled";
/// An endpoint that gets none: events while it is disabled are never
/// delivered.
pub const DISABLED: &str = "disabled";
/// A delivery waiting for its next attempt.
pub const PENDING: &str = "pending";
/// A delivery the endpoint accepted (2xx).
pub const SENT: &str = "sent";
/// A delivery given up on.
pub const DEAD: &str = "dead";

/// One endpoint. Its signing secret is only ever in `secret_ciphertext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    /// `whep_` id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Where deliveries are posted.
    pub url: String,
    /// The tenant's short label (empty when none).
    pub name: String,
    /// The tenant's notes (empty when none).
    pub description: String,
    /// The event types delivered to it.
    pub enabled_events: Vec<String>,
    /// [`ENABLED`] or [`DISABLED`].
    pub state: String,
    /// Why the platform disabled it (empty when enabled, or disabled by
    /// the tenant).
    pub disabled_reason: String,
    /// The keyring key that sealed the secret.
    pub secret_key_id: String,
    /// The `whsec_…` secret, sealed with
    /// `openma_cloudflare::webhooks::secret_aad`.
    pub secret_ciphertext: String,
    /// Failed deliveries since the last one accepted.
    pub consecutive_failures: i64,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change made through the API or by disabling (RFC 3339).
    pub updated_at: String,
}

/// An endpoint as D1 returns it: `enabled_events` still text.
#[derive(Debug, Deserialize)]
struct EndpointRecord {
    id: String,
    tenant_id: String,
    url: String,
    name: String,
    description: String,
    enabled_events: String,
    state: String,
    disabled_reason: String,
    secret_key_id: String,
    secret_ciphertext: String,
    consecutive_failures: i64,
    created_at: String,
    updated_at: String,
}

impl TryFrom<EndpointRecord> for EndpointRow {
    type Error = worker::Error;

    fn try_from(r: EndpointRecord) -> worker::Result<Self> {
        Ok(Self {
            enabled_events: serde_json::from_str(&r.enabled_events)?,
            id: r.id,
            tenant_id: r.tenant_id,
            url: r.url,
            name: r.name,
            description: r.description,
            state: r.state,
            disabled_reason: r.disabled_reason,
            secret_key_id: r.secret_key_id,
            secret_ciphertext: r.secret_ciphertext,
            consecutive_failures: r.consecutive_failures,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, name, description, enabled_events, state, \
     disabled_reason, secret_key_id, secret_ciphertext, consecutive_failures, created_at, \
     updated_at";

async fn one_endpoint(
    env: &Env,
    sql: &str,
    params: &[Param],
) -> worker::Result<Option<EndpointRow>> {
    super::first::<EndpointRecord>(env, sql, params)
        .await?
        .map(EndpointRow::try_from)
        .transpose()
}

async fn endpoints(env: &Env, sql: &str, params: &[Param]) -> worker::Result<Vec<EndpointRow>> {
    super::all::<EndpointRecord>(env, sql, params)
        .await?
        .into_iter()
        .map(EndpointRow::try_from)
        .collect()
}

/// Stores a new endpoint.
pub async fn insert(env: &Env, row: &EndpointRow) -> worker::Result<()> {
    super::run(
        env,
        &format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        ),
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.url.as_str()),
            Param::from(row.name.as_str()),
            Param::from(row.description.as_str()),
            Param::from(serde_json::to_string(&row.enabled_events)?),
            Param::from(row.state.as_str()),
            Param::from(row.disabled_reason.as_str()),
            Param::from(row.secret_key_id.as_str()),
            Param::from(row.secret_ciphertext.as_str()),
            Param::Int(row.consecutive_failures),
            Param::from(row.created_at.as_str()),
            Param::from(row.updated_at.as_str()),
        ],
    )
    .await?;
    Ok(())
}

/// A tenant's endpoint.
pub async fn get(env: &Env, tenant_id: &str, id: &str) -> worker::Result<Option<EndpointRow>> {
    one_endpoint(
        env,
        &format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2"
        ),
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await
}

/// An endpoint by id alone (the sender knows only the id).
pub async fn endpoint_any(env: &Env, id: &str) -> worker::Result<Option<EndpointRow>> {
    one_endpoint(
        env,
        &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"),
        &[Param::from(id)],
    )
    .await
}

/// How many endpoints a tenant has, enabled or not.
pub async fn count(env: &Env, tenant_id: &str) -> worker::Result<usize> {
    #[derive(Deserialize)]
    struct Count {
        n: i64,
    }
    let found: Option<Count> = super::first(
        env,
        "SELECT COUNT(*) AS n FROM webhook_endpoints WHERE tenant_id = ?1",
        &[Param::from(tenant_id)],
    )
    .await?;
    Ok(found.map_or(0, |c| usize::try_from(c.n).unwrap_or(usize::MAX)))
}

/// Which page of a tenant's endpoints [`list`] reads. Ids are minted from
/// the creation time, so id order is creation order and a cursor needs no
/// lookup (a deleted cursor still works).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListPage<'a> {
    /// Oldest first (`true`) or newest first.
    pub ascending: bool,
    /// Only endpoints after this id in list order.
    pub after_id: Option<&'a str>,
    /// Only endpoints before this id in list order.
    pub before_id: Option<&'a str>,
    /// At most this many.
    pub limit: usize,
}

/// The first `page.limit` endpoints of a tenant in list order, between the
/// page's cursors.
pub async fn list(
    env: &Env,
    tenant_id: &str,
    page: ListPage<'_>,
) -> worker::Result<Vec<EndpointRow>> {
    let (above, below, direction) = if page.ascending {
        (page.after_id, page.before_id, "ASC")
    } else {
        (page.before_id, page.after_id, "DESC")
    };
    endpoints(
        env,
        &format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
             WHERE tenant_id = ?1 AND (?2 IS NULL OR id > ?2) AND (?3 IS NULL OR id < ?3)
             ORDER BY created_at {direction}, id {direction} LIMIT ?4"
        ),
        &[
            Param::from(tenant_id),
            Param::from(above.map(str::to_owned)),
            Param::from(below.map(str::to_owned)),
            Param::from(page.limit),
        ],
    )
    .await
}

/// The enabled endpoints of a tenant that subscribe to `event_type`.
pub async fn subscribed(
    env: &Env,
    tenant_id: &str,
    event_type: &str,
) -> worker::Result<Vec<EndpointRow>> {
    endpoints(
        env,
        &format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints AS e
             WHERE e.tenant_id = ?1 AND e.state = 'enabled'
               AND EXISTS (SELECT 1 FROM json_each(e.enabled_events) WHERE value = ?2)
             ORDER BY e.id"
        ),
        &[Param::from(tenant_id), Param::from(event_type)],
    )
    .await
}

/// The fields of an endpoint the tenant changes; `None` leaves one as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointUpdate {
    /// A new URL (checked by the caller).
    pub url: Option<String>,
    /// A new label.
    pub name: Option<String>,
    /// New notes.
    pub description: Option<String>,
    /// A new set of event types, replacing the old one whole.
    pub enabled_events: Option<Vec<String>>,
    /// [`ENABLED`] or [`DISABLED`]. Either clears `disabled_reason` (the
    /// reason is the platform's, and the tenant has decided); enabling also
    /// resets the failure count.
    pub state: Option<String>,
}

/// Applies `update` to a tenant's endpoint at `now`; `false` if there is no
/// such endpoint. Only the named columns are written, so a delivery's
/// concurrent bookkeeping is not lost.
pub async fn update(
    env: &Env,
    tenant_id: &str,
    id: &str,
    update: &EndpointUpdate,
    now: &str,
) -> worker::Result<bool> {
    let events = update
        .enabled_events
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let changed = super::run(
        env,
        "UPDATE webhook_endpoints
         SET url = COALESCE(?3, url),
             name = COALESCE(?4, name),
             description = COALESCE(?5, description),
             enabled_events = COALESCE(?6, enabled_events),
             state = COALESCE(?7, state),
             disabled_reason = CASE WHEN ?7 IS NULL THEN disabled_reason ELSE '' END,
             consecutive_failures =
               CASE WHEN ?7 = 'enabled' THEN 0 ELSE consecutive_failures END,
             updated_at = ?8
         WHERE tenant_id = ?1 AND id = ?2",
        &[
            Param::from(tenant_id),
            Param::from(id),
            Param::from(update.url.clone()),
            Param::from(update.name.clone()),
            Param::from(update.description.clone()),
            Param::from(events),
            Param::from(update.state.clone()),
            Param::from(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Replaces a tenant's endpoint's signing secret (regeneration); `false` if
/// there is no such endpoint.
pub async fn replace_secret(
    env: &Env,
    tenant_id: &str,
    id: &str,
    key_id: &str,
    ciphertext: &str,
    now: &str,
) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE webhook_endpoints
         SET secret_key_id = ?3, secret_ciphertext = ?4, updated_at = ?5
         WHERE tenant_id = ?1 AND id = ?2",
        &[
            Param::from(tenant_id),
            Param::from(id),
            Param::from(key_id),
            Param::from(ciphertext),
            Param::from(now),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Deletes a tenant's endpoint and every delivery queued for it; `false` if
/// there is no endpoint with that id.
pub async fn delete(env: &Env, tenant_id: &str, id: &str) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "DELETE FROM webhook_endpoints WHERE tenant_id = ?1 AND id = ?2",
        &[Param::from(tenant_id), Param::from(id)],
    )
    .await?;
    if changed == 0 {
        return Ok(false);
    }
    super::run(
        env,
        "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1",
        &[Param::from(id)],
    )
    .await?;
    Ok(true)
}

/// Disables an enabled endpoint, saying why; `false` if it is not enabled
/// (or gone).
pub async fn disable(env: &Env, id: &str, reason: &str, now: &str) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE webhook_endpoints SET state = 'disabled', disabled_reason = ?2, updated_at = ?3
         WHERE id = ?1 AND state = 'enabled'",
        &[Param::from(id), Param::from(reason), Param::from(now)],
    )
    .await?;
    Ok(changed > 0)
}

/// Records that the endpoint accepted a delivery: its failure count starts
/// again. Bookkeeping, not a change of the endpoint: `updated_at` stays.
pub async fn record_success(env: &Env, id: &str, _now: &str) -> worker::Result<()> {
    super::run(
        env,
        "UPDATE webhook_endpoints SET consecutive_failures = 0
         WHERE id = ?1 AND consecutive_failures != 0",
        &[Param::from(id)],
    )
    .await?;
    Ok(())
}

/// Records a failed delivery; answers the endpoint's failures in a row (0
/// if it is gone). `updated_at` stays, as for [`record_success`].
pub async fn record_failure(env: &Env, id: &str, _now: &str) -> worker::Result<i64> {
    #[derive(Deserialize)]
    struct Failures {
        consecutive_failures: i64,
    }
    let found: Option<Failures> = super::first(
        env,
        "UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1
         WHERE id = ?1 RETURNING consecutive_failures",
        &[Param::from(id)],
    )
    .await?;
    Ok(found.map_or(0, |f| f.consecutive_failures))
}

/// One event queued for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeliveryRow {
    /// `whd_` id.
    pub id: String,
    /// Owner.
    pub tenant_id: String,
    /// Where it goes.
    pub endpoint_id: String,
    /// `whe_` id: the payload's `id` and the `webhook-id` header, the same
    /// on every attempt.
    pub event_id: String,
    /// What caused it, so that it is never queued twice for an endpoint.
    pub source_key: String,
    /// The event type.
    pub event_type: String,
    /// The exact JSON body posted.
    pub payload: String,
    /// [`PENDING`], [`SENT`] or [`DEAD`].
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (unix ms; meaningful while pending).
    pub next_attempt_at: i64,
    /// Why the last attempt failed, or why it was given up.
    pub last_error: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// When the endpoint accepted it (RFC 3339).
    pub sent_at: Option<String>,
}

const DELIVERY_COLUMNS: &str = "id, tenant_id, endpoint_id, event_id, source_key, event_type, \
     payload, status, attempts, next_attempt_at, last_error, created_at, updated_at, sent_at";

/// Queues a delivery; `false` when its endpoint has one with its
/// `source_key` already.
pub async fn enqueue(env: &Env, row: &DeliveryRow) -> worker::Result<bool> {
    let changed = super::run(
        env,
        &format!(
            "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (endpoint_id, source_key) DO NOTHING"
        ),
        &[
            Param::from(row.id.as_str()),
            Param::from(row.tenant_id.as_str()),
            Param::from(row.endpoint_id.as_str()),
            Param::from(row.event_id.as_str()),
            Param::from(row.source_key.as_str()),
            Param::from(row.event_type.as_str()),
            Param::from(row.payload.as_str()),
            Param::from(row.status.as_str()),
            Param::Int(row.attempts),
            Param::Int(row.next_attempt_at),
            Param::from(row.last_error.clone()),
            Param::from(row.created_at.as_str()),
            Param::from(row.updated_at.as_str()),
            Param::from(row.sent_at.clone()),
        ],
    )
    .await?;
    Ok(changed > 0)
}

/// Up to `limit` pending deliveries of an endpoint, due or not, soonest
/// first.
pub async fn pending(
    env: &Env,
    endpoint_id: &str,
    limit: usize,
) -> worker::Result<Vec<DeliveryRow>> {
    super::all(
        env,
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
             WHERE endpoint_id = ?1 AND status = 'pending'
             ORDER BY next_attempt_at, id LIMIT ?2"
        ),
        &[Param::from(endpoint_id), Param::from(limit)],
    )
    .await
}

/// Records that the endpoint accepted a delivery after `attempts`
/// attempts; `false` if there is no such delivery.
pub async fn mark_sent(env: &Env, id: &str, attempts: i64, now: &str) -> worker::Result<bool> {
    let changed = super::run(
        env,
        "UPDATE webhook_deliveries
         SET status = 'sent', attempts = ?2, last_error = NULL, updated_at = ?3, sent_at = ?3
         WHERE id = ?1",
        &[Param::from(id), Param::Int(attempts), Param::from(now)],
    )
    .await?;
    Ok(changed > 0)
}

/// Gives up on every pending delivery of an endpoint with `reason` (it is
/// disabled: events while it is are never delivered); answers how many.
pub async fn drop_pending(
    env: &Env,
    endpoint_id: &str,
    reason: &str,
    now: &str,
) -> worker::Result<usize> {
    super::run(
        env,
        "UPDATE webhook_deliveries SET status = 'dead', last_error = ?2, updated_at = ?3
         WHERE endpoint_id = ?1 AND status = 'pending'",
        &[
            Param::from(endpoint_id),
            Param::from(reason),
            Param::from(now),
        ],
    )
    .await
}

/// The endpoints with a pending delivery due at `now_ms` (at most `limit`).
pub async fn due_endpoints(env: &Env, now_ms: i64, limit: usize) -> worker::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Endpoint {
        endpoint_id: String,
    }
    let rows: Vec<Endpoint> = super::all(
        env,
        "SELECT DISTINCT endpoint_id FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at <= ?1 LIMIT ?2",
        &[Param::Int(now_ms), Param::from(limit)],
    )
    .await?;
    Ok(rows.into_iter().map(|r| r.endpoint_id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(enabled_events: &str) -> EndpointRecord {
        EndpointRecord {
            id: "whep_1".into(),
            tenant_id: "t".into(),
            url: "https://hooks.example.com/in".into(),
            name: String::new(),
            description: String::new(),
            enabled_events: enabled_events.into(),
            state: ENABLED.into(),
            disabled_reason: String::new(),
            secret_key_id: "k1".into(),
            secret_ciphertext: "sealed".into(),
            consecutive_failures: 2,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn an_endpoint_decodes_its_event_list() {
        let row = EndpointRow::try_from(record(r#"["agent.created","session.idled"]"#)).unwrap();
        assert_eq!(row.enabled_events, ["agent.created", "session.idled"]);
        assert_eq!(row.consecutive_failures, 2);
    }

    #[test]
    fn a_malformed_event_list_is_an_error_not_an_empty_one() {
        assert!(EndpointRow::try_from(record("agent.created")).is_err());
        assert!(EndpointRow::try_from(record(r#"{"a":1}"#)).is_err());
    }
}
