//! `/v1/organizations/webhooks`: the tenant's outbound webhook endpoints
//! (the Managed Agents API's organization webhooks, beta
//! `webhooks-2026-10-07`). An endpoint subscribes to event types; the
//! agent worker's `WebhookSender` posts them, signed with the endpoint's
//! secret, which is sealed on the way in and shown only by create and
//! regenerate.

use openma_cloudflare::store::webhooks::DISABLED;
use openma_cloudflare::store::webhooks::ENABLED;
use openma_cloudflare::store::webhooks::EndpointRow;
use openma_cloudflare::store::webhooks::EndpointUpdate;
use openma_cloudflare::store::webhooks::ListPage;
use openma_cloudflare::store::webhooks::{self as store};
use openma_cloudflare::webhooks::secret_aad;
use openma_core::crypto::NONCE_LEN;
use openma_core::crypto::Sealed;
use openma_core::webhooks::EVENT_TYPES;
use serde_json::Map;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::Response;

use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;
use crate::request::now;

/// The most endpoints a tenant may have, enabled or not.
const MAX_ENDPOINTS: usize = 32;
/// The longest URL accepted, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// The longest `name`, in characters.
const MAX_NAME_CHARS: usize = 256;
/// The longest `description`, in characters.
const MAX_DESCRIPTION_CHARS: usize = 2048;

/// A route under `/v1/organizations/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WebhookRoute {
    /// `POST /v1/organizations/webhooks`.
    Create,
    /// `GET /v1/organizations/webhooks`.
    List,
    /// `GET /v1/organizations/webhooks/{id}`.
    Get(String),
    /// `POST /v1/organizations/webhooks/{id}`.
    Update(String),
    /// `DELETE /v1/organizations/webhooks/{id}`.
    Delete(String),
    /// `POST /v1/organizations/webhooks/{id}/regenerate_signing_secret`.
    RegenerateSecret(String),
}

impl WebhookRoute {
    /// Parses the segments after `/v1/organizations/webhooks`.
    pub(crate) fn parse(method: &Method, rest: &[&str]) -> Option<Self> {
        let s = |s: &str| s.to_owned();
        Some(match (method, rest) {
            (Method::Post, []) => Self::Create,
            (Method::Get, []) => Self::List,
            (Method::Get, [id]) => Self::Get(s(id)),
            (Method::Post, [id]) => Self::Update(s(id)),
            (Method::Delete, [id]) => Self::Delete(s(id)),
            (Method::Post, [id, "regenerate_signing_secret"]) => Self::RegenerateSecret(s(id)),
            _ => return None,
        })
    }
}

/// Serves a webhook endpoint route. The `anthropic-beta` header is not
/// required, as for every other route of this API.
pub(crate) async fn serve(
    route: WebhookRoute,
    mut req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    let query = Query::of(&req);
    let value = match route {
        WebhookRoute::Create => {
            let body = crate::request::json_body(&mut req).await?;
            create(env, caller, &body).await?
        }
        WebhookRoute::List => list(env, caller, &query).await?,
        WebhookRoute::Get(id) => object(&found(env, caller, &id).await?),
        WebhookRoute::Update(id) => {
            let body = crate::request::json_body(&mut req).await?;
            update(env, caller, &id, &body).await?
        }
        WebhookRoute::Delete(id) => delete(env, caller, &id).await?,
        WebhookRoute::RegenerateSecret(id) => {
            // A body, if any, must still be well-formed JSON.
            crate::request::json_body(&mut req).await?;
            regenerate(env, caller, &id).await?
        }
    };
    Ok(openma_cloudflare::json(200, &value)?)
}

// ---- the endpoint object and its validation -------------------------------

/// An endpoint as every read returns it: never its secret.
fn object(row: &EndpointRow) -> Value {
    json!({
        "id": row.id,
        "type": "webhook_endpoint",
        "url": row.url,
        "name": row.name,
        "description": row.description,
        "enabled_events": row.enabled_events,
        "state": row.state,
        "disabled_reason": row.disabled_reason,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    })
}

fn field(name: &str, message: &str) -> ApiError {
    ApiError::invalid(format!("{name}: {message}"))
}

/// The fields of `POST /v1/organizations/webhooks` once checked.
#[derive(Debug, PartialEq, Eq)]
struct CreateParams {
    url: String,
    enabled_events: Vec<String>,
    name: String,
    description: String,
}

const CREATE_FIELDS: [&str; 4] = ["url", "enabled_events", "name", "description"];
const UPDATE_FIELDS: [&str; 5] = ["url", "enabled_events", "name", "description", "state"];

/// `body` as an object with only `known` fields.
fn fields<'a>(body: &'a Value, known: &[&str]) -> ApiResult<&'a Map<String, Value>> {
    let body = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("the request body must be a JSON object"))?;
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(field(key, "unknown field")),
        None => Ok(body),
    }
}

/// A field that is a string when present (`null` reads as absent).
fn string<'a>(body: &'a Map<String, Value>, name: &str) -> ApiResult<Option<&'a str>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(field(name, "expected a string")),
    }
}

/// A label or notes of at most `max` characters (empty allowed).
fn text(body: &Map<String, Value>, name: &str, max: usize) -> ApiResult<Option<String>> {
    match string(body, name)? {
        Some(text) if text.chars().count() > max => {
            Err(field(name, &format!("at most {max} characters")))
        }
        Some(text)
            if text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t') =>
        {
            Err(field(name, "must not contain control characters"))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// Refuses a URL the platform will not deliver to, by the core's rule
/// applied to the URL as given and as a client normalizes it (so that
/// `https://0x7f.1/` is seen as the loopback address it is).
fn check_url(url: &str, allow_private: bool) -> ApiResult<String> {
    if url.len() > MAX_URL_BYTES {
        return Err(field("url", &format!("at most {MAX_URL_BYTES} bytes")));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(field("url", "must not contain whitespace"));
    }
    openma_core::webhooks::check_url(url, allow_private).map_err(|why| field("url", &why))?;
    let parsed = worker::Url::parse(url).map_err(|_| field("url", "expected a valid URL"))?;
    openma_core::webhooks::check_url(parsed.as_str(), allow_private)
        .map_err(|why| field("url", &why))?;
    Ok(url.to_owned())
}

/// `enabled_events`: known event types, each once, in the order given;
/// `None` for an empty list.
fn event_types(body: &Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    let items = match body.get("enabled_events") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(field("enabled_events", "expected an array of event types")),
    };
    let mut kinds: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let kind = item
            .as_str()
            .ok_or_else(|| field(&format!("enabled_events[{i}]"), "expected a string"))?;
        if !openma_core::webhooks::is_event_type(kind) {
            return Err(field(
                &format!("enabled_events[{i}]"),
                &format!(
                    "{kind:?} is not an event type; expected one of {}",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        if !kinds.iter().any(|k| k == kind) {
            kinds.push(kind.to_owned());
        }
    }
    Ok((!kinds.is_empty()).then_some(kinds))
}

/// Checks a create body (nothing is looked up).
fn create_params(body: &Value, allow_private: bool) -> ApiResult<CreateParams> {
    let body = fields(body, &CREATE_FIELDS)?;
    let url = string(body, "url")?.ok_or_else(|| field("url", "required"))?;
    let url = check_url(url, allow_private)?;
    let enabled_events = match body.get("enabled_events") {
        None | Some(Value::Null) => return Err(field("enabled_events", "required")),
        Some(_) => event_types(body)?
            .ok_or_else(|| field("enabled_events", "must list at least one event type"))?,
    };
    Ok(CreateParams {
        url,
        enabled_events,
        name: text(body, "name", MAX_NAME_CHARS)?.unwrap_or_default(),
        description: text(body, "description", MAX_DESCRIPTION_CHARS)?.unwrap_or_default(),
    })
}

/// Checks an update body: only the fields sent change; an empty
/// `enabled_events` leaves the set as it is.
fn update_params(body: &Value, allow_private: bool) -> ApiResult<EndpointUpdate> {
    let body = fields(body, &UPDATE_FIELDS)?;
    let url = string(body, "url")?
        .map(|url| check_url(url, allow_private))
        .transpose()?;
    let state = match string(body, "state")? {
        None => None,
        Some(state @ (ENABLED | DISABLED)) => Some(state.to_owned()),
        Some(_) => return Err(field("state", "expected enabled or disabled")),
    };
    Ok(EndpointUpdate {
        url,
        name: text(body, "name", MAX_NAME_CHARS)?,
        description: text(body, "description", MAX_DESCRIPTION_CHARS)?,
        enabled_events: event_types(body)?,
        state,
    })
}

/// `update` without what would not change `current`; `None` when nothing
/// would. Setting the current state still counts when it clears something:
/// the platform's `disabled_reason`, or a failure count on enabling.
fn changes(current: &EndpointRow, update: EndpointUpdate) -> Option<EndpointUpdate> {
    let differs = |new: &Option<String>, old: &str| new.as_deref().is_some_and(|new| new != old);
    let state_counts = update.state.as_deref().is_some_and(|state| {
        state != current.state
            || !current.disabled_reason.is_empty()
            || (state == ENABLED && current.consecutive_failures != 0)
    });
    let kept = EndpointUpdate {
        url: update
            .url
            .clone()
            .filter(|_| differs(&update.url, &current.url)),
        name: update
            .name
            .clone()
            .filter(|_| differs(&update.name, &current.name)),
        description: update
            .description
            .clone()
            .filter(|_| differs(&update.description, &current.description)),
        enabled_events: update
            .enabled_events
            .filter(|events| *events != current.enabled_events),
        state: update.state.filter(|_| state_counts),
    };
    (kept != EndpointUpdate::default()).then_some(kept)
}

/// The names of the fields `update` sets, for the audit trail.
fn changed_fields(update: &EndpointUpdate) -> Vec<&'static str> {
    [
        ("url", update.url.is_some()),
        ("name", update.name.is_some()),
        ("description", update.description.is_some()),
        ("enabled_events", update.enabled_events.is_some()),
        ("state", update.state.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

/// The list's paging parameters.
#[derive(Debug, PartialEq, Eq)]
struct Paging {
    ascending: bool,
    after_id: Option<String>,
    before_id: Option<String>,
    limit: usize,
}

/// `after_id`, `before_id`, `limit` (1 to 100; absent or 0 means 20) and
/// `order` (`asc` or `desc`, the default: newest first).
fn paging(query: &Query) -> ApiResult<Paging> {
    query.only(&["after_id", "before_id", "limit", "order"])?;
    let limit = match query.get("limit") {
        None | Some("" | "0") => 20,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| field("limit", "expected an integer between 0 and 100"))?,
    };
    let ascending = match query.get("order") {
        None | Some("" | "desc") => false,
        Some("asc") => true,
        Some(_) => return Err(field("order", "expected asc or desc")),
    };
    let cursor = |name| {
        query
            .get(name)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    };
    let (after_id, before_id) = (cursor("after_id"), cursor("before_id"));
    if after_id.is_some() && before_id.is_some() {
        return Err(field("before_id", "cannot be combined with after_id"));
    }
    Ok(Paging {
        ascending,
        after_id,
        before_id,
        limit,
    })
}

/// A fresh signing secret, and it sealed for endpoint `id` of `tenant_id`.
fn new_secret(env: &Env, tenant_id: &str, id: &str) -> ApiResult<(String, Sealed)> {
    let mut key = [0u8; 32];
    openma_cloudflare::ids::random_bytes(&mut key).map_err(ApiError::internal)?;
    let secret = openma_core::webhooks::format_secret(&key);
    let ring = super::vaults::keyring(env, None)?;
    let mut nonce = [0u8; NONCE_LEN];
    openma_cloudflare::ids::random_bytes(&mut nonce).map_err(ApiError::internal)?;
    let sealed = ring
        .seal(secret.as_bytes(), &secret_aad(tenant_id, id), nonce)
        .map_err(|e| ApiError::internal(format!("sealing a webhook signing secret: {e}")))?;
    Ok((secret, sealed))
}

/// Records an action on one of the caller's tenant's endpoints.
async fn record(env: &Env, caller: &Caller, action: Action, id: &str, details: Value) {
    crate::audit::record(env, caller, action, Some(id), &caller.tenant_id, details).await;
}

async fn found(env: &Env, caller: &Caller, id: &str) -> ApiResult<EndpointRow> {
    store::get(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint", id))
}

/// Tells the caller's tenant's webhook endpoints that `event_type`
/// happened to `object_id`, once the change is stored. `change` tells this
/// change from others of the same type and object (a version, an update
/// time); without one the event happens once per object. A retried call
/// that makes no new change queues nothing new, and a failure is logged,
/// never answered: a webhook must not fail the change it reports.
pub(crate) async fn announce(
    env: &Env,
    caller: &Caller,
    event_type: &str,
    object_id: &str,
    change: Option<&str>,
    extra: Value,
) {
    let source_key = match change {
        Some(change) => format!("{event_type}:{object_id}:{change}"),
        None => format!("{event_type}:{object_id}"),
    };
    openma_cloudflare::webhooks::notify(
        env,
        &caller.tenant_id,
        event_type,
        object_id,
        extra,
        &source_key,
    )
    .await;
}

// ---- the routes ------------------------------------------------------------

/// `POST /v1/organizations/webhooks`: the one answer with the secret.
async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    let params = create_params(body, openma_cloudflare::webhooks::allow_private(env))?;
    if store::count(env, &caller.tenant_id).await? >= MAX_ENDPOINTS {
        return Err(ApiError::invalid(format!(
            "a tenant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        )));
    }
    let now = now();
    let id = openma_cloudflare::ids::mint_id("whep_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    let (secret, sealed) = new_secret(env, &caller.tenant_id, &id)?;
    let row = EndpointRow {
        id,
        tenant_id: caller.tenant_id.clone(),
        url: params.url,
        name: params.name,
        description: params.description,
        enabled_events: params.enabled_events,
        state: ENABLED.to_owned(),
        disabled_reason: String::new(),
        secret_key_id: sealed.key_id,
        secret_ciphertext: sealed.ciphertext,
        consecutive_failures: 0,
        created_at: now.to_rfc3339(),
        updated_at: now.to_rfc3339(),
    };
    store::insert(env, &row).await?;
    let details = json!({"enabled_events": row.enabled_events});
    record(
        env,
        caller,
        Action::WebhookEndpointCreated,
        &row.id,
        details,
    )
    .await;
    let mut answer = object(&row);
    answer["signing_secret"] = Value::String(secret);
    Ok(answer)
}

/// `GET /v1/organizations/webhooks`.
async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let paging = paging(query)?;
    let mut rows = store::list(
        env,
        &caller.tenant_id,
        ListPage {
            ascending: paging.ascending,
            after_id: paging.after_id.as_deref(),
            before_id: paging.before_id.as_deref(),
            limit: paging.limit + 1,
        },
    )
    .await?;
    let has_more = rows.len() > paging.limit;
    rows.truncate(paging.limit);
    Ok(json!({
        "data": rows.iter().map(object).collect::<Vec<_>>(),
        "has_more": has_more,
        "first_id": rows.first().map(|r| &r.id),
        "last_id": rows.last().map(|r| &r.id),
    }))
}

/// `POST /v1/organizations/webhooks/{id}`. Disabling gives up on what is
/// queued: events while an endpoint is disabled are never delivered.
async fn update(env: &Env, caller: &Caller, id: &str, body: &Value) -> ApiResult<Value> {
    let params = update_params(body, openma_cloudflare::webhooks::allow_private(env))?;
    let current = found(env, caller, id).await?;
    let Some(update) = changes(&current, params) else {
        return Ok(object(&current));
    };
    let at = now().to_rfc3339();
    if !store::update(env, &caller.tenant_id, id, &update, &at).await? {
        return Err(ApiError::not_found("webhook endpoint", id));
    }
    if update.state.as_deref() == Some(DISABLED) {
        let reason = "the endpoint was disabled; events while it is are not delivered";
        store::drop_pending(env, id, reason, &at).await?;
    }
    let details = json!({"changed": changed_fields(&update), "state": update.state});
    record(env, caller, Action::WebhookEndpointUpdated, id, details).await;
    Ok(object(&found(env, caller, id).await?))
}

/// `DELETE /v1/organizations/webhooks/{id}`: its queued deliveries go too.
async fn delete(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    if store::delete(env, &caller.tenant_id, id).await? {
        record(env, caller, Action::WebhookEndpointDeleted, id, json!({})).await;
        Ok(json!({"id": id, "type": "webhook_endpoint_deleted"}))
    } else {
        Err(ApiError::not_found("webhook endpoint", id))
    }
}

/// `POST /v1/organizations/webhooks/{id}/regenerate_signing_secret`: the
/// old secret stops working at once; the new one is in this answer only.
async fn regenerate(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    found(env, caller, id).await?;
    let (secret, sealed) = new_secret(env, &caller.tenant_id, id)?;
    let at = now().to_rfc3339();
    let stored = store::replace_secret(
        env,
        &caller.tenant_id,
        id,
        &sealed.key_id,
        &sealed.ciphertext,
        &at,
    )
    .await?;
    if !stored {
        return Err(ApiError::not_found("webhook endpoint", id));
    }
    record(env, caller, Action::WebhookSecretRegenerated, id, json!({})).await;
    Ok(json!({"signing_secret": secret}))
}

#[cfg(test)]
#[path = "webhooks_tests.rs"]
mod tests;
