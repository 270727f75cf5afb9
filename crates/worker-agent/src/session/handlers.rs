//! What each command does.

use std::collections::BTreeMap;
use std::rc::Rc;

use futures_util::StreamExt;
use openma_cloudflare::internal::InitParams;
use openma_cloudflare::internal::SessionRecord;
use openma_core::HarnessError;
use openma_core::ports::Clock;
use openma_core::ports::EventStore;
use openma_core::wire::ApiErrorEnvelope;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Event;
use openma_core::wire::EventListQuery;
use openma_core::wire::EventPayload;
use openma_core::wire::Session;
use openma_core::wire::SessionEvent;
use openma_core::wire::SessionStatus;
use openma_core::wire::UserEventParams;
use openma_core::wire::ValidationError;
use openma_core::wire::event::SessionDeletedEvent;
use serde_json::Value;
use serde_json::json;
use worker::Request;
use worker::Response;
use worker::Result;

use super::Inner;
use super::hub::Interest;
use super::sse;
use crate::clock::RuntimeClock;

/// Heartbeat period of an open stream.
const HEARTBEAT_MS: u64 = 15_000;

/// The most live frames a stream sends as one chunk.
const MAX_FRAMES_PER_CHUNK: usize = 256;

/// About how many bytes of replayed frames a stream sends as one chunk.
const REPLAY_CHUNK_BYTES: usize = 64 * 1024;

/// The most `event_deltas[]` values a stream accepts.
const MAX_EVENT_DELTAS: usize = 100;

/// An error in the API's envelope; the main worker fills in `request_id`.
pub(crate) fn error(kind: ApiErrorType, message: impl Into<String>) -> Result<Response> {
    openma_cloudflare::json(kind.status(), &ApiErrorEnvelope::new(kind, message, ""))
}

/// A failure of the platform: logged here, reported without detail.
pub(crate) fn internal(cause: impl std::fmt::Display) -> Result<Response> {
    worker::console_error!(
        "{}",
        json!({"level": "error", "event": "session_internal_error", "error": cause.to_string()})
    );
    error(ApiErrorType::ApiError, "internal error")
}

/// The answer to a change of an archived session, if it is archived.
pub(crate) fn refuse_if_archived(record: &SessionRecord) -> Option<Result<Response>> {
    record.archived_at.is_some().then(|| {
        error(
            ApiErrorType::InvalidRequestError,
            "the session is archived and read-only",
        )
    })
}

pub(crate) fn invalid(err: &ValidationError) -> Result<Response> {
    error(ApiErrorType::InvalidRequestError, err.to_string())
}

fn harness_error(err: HarnessError) -> Result<Response> {
    match err {
        HarnessError::Rejected(err) => invalid(&err),
        other => internal(other),
    }
}

/// `GET /health`: the object's SQLite storage answers a query.
pub(crate) fn health(inner: &Inner) -> Result<Response> {
    let rows: Vec<Value> = inner
        .state
        .storage()
        .sql()
        .exec("SELECT 1 AS one", None)?
        .to_array()?;
    let ok = rows.first().is_some_and(|row| row["one"] == json!(1));
    openma_cloudflare::json(
        if ok { 200 } else { 503 },
        &json!({"status": if ok { "ok" } else { "error" }, "storage": "sqlite"}),
    )
}

/// The session as the API returns it: the record, with the status and usage
/// of the log's summary (one row; the log is not folded).
async fn session_object(inner: &Inner, record: &SessionRecord) -> Result<Session> {
    let summary = inner
        .read_store(record)?
        .summary()
        .await
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(record.view(&summary, RuntimeClock.now()))
}

async fn session_response(inner: &Inner, record: &SessionRecord) -> Result<Response> {
    let session = session_object(inner, record).await?;
    openma_cloudflare::json(200, &session)
}

/// `POST /init`.
pub(crate) async fn init(inner: &Rc<Inner>, mut req: Request) -> Result<Response> {
    let params: InitParams = match req.json().await {
        Ok(params) => params,
        Err(e) => return error(ApiErrorType::InvalidRequestError, format!("bad init: {e}")),
    };
    if inner.record()?.is_some() {
        return error(ApiErrorType::ConflictError, "the session already exists");
    }
    let events = match openma_core::wire::event_params::parse_init_events(&Value::Array(
        params.initial_events,
    )) {
        Ok(events) => events,
        Err(err) => return invalid(&err),
    };
    inner.save_record(&params.record)?;
    // The main worker indexed the session as idle, or running when it has
    // initial events.
    *inner.index_written.borrow_mut() = Some(openma_cloudflare::internal::created_summary(
        !events.is_empty(),
    ));
    let harness = inner.harness().await?;
    if !events.is_empty() {
        if let Err(err) = harness.submit(events).await {
            return harness_error(err);
        }
        // Start the turn before answering, so the session is created
        // `running`; the driver takes it from there.
        if !inner.driving.replace(true) {
            let started = harness.step_with(&*inner.hub).await;
            inner.driving.set(false);
            if let Err(err) = started {
                return harness_error(err);
            }
        }
        inner.kick();
    }
    session_response(inner, &params.record).await
}

/// `GET /session`.
pub(crate) async fn get(inner: &Inner, record: &SessionRecord) -> Result<Response> {
    session_response(inner, record).await
}

/// `POST /session`: `title` (string or null), `metadata` (a patch), and
/// `agent.tools` / `agent.mcp_servers` (replaced, while the session is not
/// running; the next turn uses them).
pub(crate) async fn update(
    inner: &Inner,
    mut record: SessionRecord,
    mut req: Request,
) -> Result<Response> {
    let body: Value = match req.json().await {
        Ok(body) => body,
        Err(e) => {
            return error(
                ApiErrorType::InvalidRequestError,
                format!("invalid JSON body: {e}"),
            );
        }
    };
    if let Some(refused) = refuse_if_archived(&record) {
        return refused;
    }
    if let Some(title) = body.get("title") {
        record.title = match title {
            Value::Null => None,
            Value::String(title) if title.is_empty() => None,
            Value::String(title) => Some(title.clone()),
            _ => return invalid(&ValidationError::new("title", "expected a string or null")),
        };
    }
    if let Some(patch) = body.get("metadata") {
        let patch: BTreeMap<String, Option<String>> = match serde_json::from_value(patch.clone()) {
            Ok(patch) => patch,
            Err(_) => {
                return invalid(&ValidationError::new(
                    "metadata",
                    "expected an object of strings or nulls",
                ));
            }
        };
        record.metadata = match openma_core::control::apply_metadata_patch(
            &record.metadata,
            &patch,
            "metadata",
        ) {
            Ok(metadata) => metadata,
            Err(err) => return invalid(&err),
        };
    }
    if body.get("vault_ids").is_some() {
        return invalid(&ValidationError::new(
            "vault_ids",
            "vault_ids cannot be changed after the session is created",
        ));
    }
    if let Some(key) = body
        .as_object()
        .into_iter()
        .flat_map(|obj| obj.keys())
        .find(|key| !matches!(key.as_str(), "title" | "metadata" | "vault_ids" | "agent"))
    {
        return invalid(&ValidationError::new(
            key.as_str(),
            "not a session field this platform can update",
        ));
    }
    let agent_changed = match body.get("agent") {
        None => false,
        Some(Value::Object(patch)) => {
            if let Some(key) = patch
                .keys()
                .find(|key| !matches!(key.as_str(), "tools" | "mcp_servers"))
            {
                return invalid(&ValidationError::new(
                    format!("agent.{key}"),
                    "only tools and mcp_servers can be updated on a session",
                ));
            }
            let summary = inner
                .read_store(&record)?
                .summary()
                .await
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            if matches!(
                summary.status,
                SessionStatus::Running | SessionStatus::Rescheduling
            ) {
                return invalid(&ValidationError::new(
                    "agent",
                    "the session is running; update its agent's tools once it is idle",
                ));
            }
            if let Err(err) =
                openma_core::control::apply_session_tools(&mut record.agent, patch, "agent")
            {
                return invalid(&err);
            }
            true
        }
        Some(_) => return invalid(&ValidationError::new("agent", "expected an object")),
    };
    record.updated_at = RuntimeClock.now();
    inner.save_and_index_record(&record).await?;
    if agent_changed {
        // The next turn opens the harness afresh, with the new tools.
        inner.agent_changed();
    }
    session_response(inner, &record).await
}

/// `POST /resources`: attaches a resource main has checked and put in its
/// stored form; answers it. The sandbox is set up again before the next
/// tool call, which places it.
pub(crate) async fn add_resource(
    inner: &Inner,
    mut record: SessionRecord,
    mut req: Request,
) -> Result<Response> {
    if let Some(refused) = refuse_if_archived(&record) {
        return refused;
    }
    let resource: Value = req.json().await?;
    record.resources.push(resource.clone());
    record.updated_at = RuntimeClock.now();
    inner.save_and_index_record(&record).await?;
    inner.resources_changed(&record);
    openma_cloudflare::json(200, &resource)
}

/// `DELETE /resources/{id}`: detaches a resource; from the next tool call the
/// sandbox no longer offers it.
pub(crate) async fn delete_resource(
    inner: &Inner,
    mut record: SessionRecord,
    id: &str,
) -> Result<Response> {
    if let Some(refused) = refuse_if_archived(&record) {
        return refused;
    }
    let before = record.resources.len();
    record.resources.retain(|r| r["id"].as_str() != Some(id));
    if record.resources.len() == before {
        return error(
            ApiErrorType::NotFoundError,
            format!("session_resource {id} not found"),
        );
    }
    record.updated_at = RuntimeClock.now();
    inner.save_and_index_record(&record).await?;
    inner.resources_changed(&record);
    openma_cloudflare::json(200, &json!({"id": id, "type": "session_resource_deleted"}))
}

/// `POST /archive`: read-only from now on.
pub(crate) async fn archive(inner: &Inner, mut record: SessionRecord) -> Result<Response> {
    if record.archived_at.is_none() {
        let now = RuntimeClock.now();
        record.archived_at = Some(now);
        record.updated_at = now;
        inner.save_and_index_record(&record).await?;
    }
    session_response(inner, &record).await
}

/// `DELETE /session`: catches the usage ledger up with the log (what the
/// session spent stays in its tenant's ledger; the deletion is refused, to
/// be retried, while it cannot), removes what the session keeps in R2 (its
/// archive, if an earlier sweep left one, and its spilled event bodies),
/// ends every stream with `session.deleted`, tears the sandbox down, and
/// removes the log.
pub(crate) async fn delete(inner: &Inner, record: &SessionRecord) -> Result<Response> {
    let harness = inner.harness().await.ok();
    if let Err(e) = inner.catch_up_ledger().await {
        return internal(format!(
            "recording the usage of session {} before deleting it: {e}",
            record.id
        ));
    }
    super::archive::remove_objects(&inner.env, &record.tenant_id, &record.id).await?;
    let head = harness.as_ref().map_or(0, |h| h.state().summary.last_seq);
    publish_deleted(inner, &record.id, head);
    inner.reset();
    if let Some(harness) = harness
        && let Err(e) = harness.ports().tools.teardown().await
    {
        worker::console_warn!(
            "{}",
            json!({"level": "warn", "event": "sandbox_teardown_failed", "session_id": record.id, "error": e.to_string()})
        );
    }
    let storage = inner.state.storage();
    storage.delete_alarm().await?;
    storage.delete_all().await?;
    // A turn still running may have appended meanwhile.
    inner.head.forget();
    inner.summary.forget();
    deleted(&record.id)
}

/// Tells every stream that the session whose log ends at `head` is gone.
pub(crate) fn publish_deleted(inner: &Inner, session_id: &str, head: u64) {
    let seq = head + 1;
    inner.hub.publish(&[SessionEvent {
        seq,
        event: Event {
            id: openma_core::wire::event_id(session_id, seq),
            processed_at: Some(RuntimeClock.now()),
            payload: EventPayload::SessionDeleted(SessionDeletedEvent {}),
        },
    }]);
}

/// The answer to `DELETE /session`.
pub(crate) fn deleted(session_id: &str) -> Result<Response> {
    openma_cloudflare::json(200, &json!({"id": session_id, "type": "session_deleted"}))
}

/// `POST /events`.
pub(crate) async fn send_events(
    inner: &Rc<Inner>,
    record: &SessionRecord,
    mut req: Request,
) -> Result<Response> {
    if let Some(refused) = refuse_if_archived(record) {
        return refused;
    }
    let body: Value = match req.json().await {
        Ok(body) => body,
        Err(e) => {
            return error(
                ApiErrorType::InvalidRequestError,
                format!("invalid JSON body: {e}"),
            );
        }
    };
    let params = match openma_core::wire::parse_send_params(&body) {
        Ok(params) => params,
        Err(err) => return invalid(&err),
    };
    let interrupting = params
        .events
        .iter()
        .any(|e| matches!(e, UserEventParams::UserInterrupt(_)));
    let harness = inner.harness().await?;
    let echoed = match harness.submit(params.events).await {
        Ok(echoed) => echoed,
        Err(err) => return harness_error(err),
    };
    if interrupting {
        // A model or tool call in progress ends now, not at its next byte.
        inner.interrupts.raise();
    }
    inner.kick();
    openma_cloudflare::json(200, &json!({"data": echoed}))
}

/// `GET /events`: one page, read in SQL without opening the harness.
pub(crate) async fn list_events(
    inner: &Inner,
    record: &SessionRecord,
    req: &Request,
) -> Result<Response> {
    let pairs = openma_cloudflare::query_pairs(&req.inner().url());
    let query = match EventListQuery::from_pairs(&pairs) {
        Ok(query) => query,
        Err(err) => return invalid(&err),
    };
    match inner.read_store(record)?.page(&query).await {
        Ok(page) => openma_cloudflare::json(200, &page),
        Err(e) => internal(e),
    }
}

/// `GET /stream`: every event appended after the stream opens, live; with
/// `Last-Event-ID` (or `last_event_id`), first every event after that seq;
/// with openma's `replay=1` (and no last id), first the whole history.
pub(crate) async fn stream(
    inner: &Inner,
    record: &SessionRecord,
    req: &Request,
) -> Result<Response> {
    let (interest, after) = match stream_params(req)? {
        Ok(params) => params,
        Err(refused) => return Ok(refused),
    };
    let store = &inner.read_store(record)?;
    // Subscribe and read the head with no await in between: events after
    // `head` arrive through the subscription, events up to it are replayed.
    let live = inner.hub.subscribe(interest);
    let head = match store.head_now() {
        Ok(head) => head,
        Err(e) => return internal(e),
    };
    let replay: Vec<String> = match after {
        Some(after) if after < head => match store.load(after, usize::MAX).await {
            Ok(events) => events
                .iter()
                .filter(|e| e.seq <= head)
                .map(sse::event_frame)
                .collect(),
            Err(e) => return internal(e),
        },
        _ => Vec::new(),
    };
    event_stream(live, replay)
}

/// A stream's parameters: what it previews, and the seq after which it
/// replays the log (`None`: live only); or the answer refusing them.
pub(crate) fn stream_params(
    req: &Request,
) -> Result<std::result::Result<(Interest, Option<u64>), Response>> {
    let pairs = openma_cloudflare::query_pairs(&req.inner().url());
    let mut interest = Interest::default();
    let mut last_event_id = req.headers().get("last-event-id")?;
    let mut replay_history = false;
    for (key, value) in &pairs {
        match key.as_str() {
            "event_deltas[]" | "event_deltas" => {
                if value != "agent.message" && value != "agent.thinking" {
                    return invalid(&ValidationError::new(
                        "event_deltas",
                        "each value must be agent.message or agent.thinking",
                    ))
                    .map(Err);
                }
                interest.deltas.insert(value.clone());
                if interest.deltas.len() > MAX_EVENT_DELTAS {
                    return invalid(&ValidationError::new("event_deltas", "at most 100 values"))
                        .map(Err);
                }
            }
            "last_event_id" => last_event_id = Some(value.clone()),
            "replay" => {
                replay_history = match value.as_str() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => {
                        return invalid(&ValidationError::new(
                            "replay",
                            "expected 1 or true (send the history first), or 0 or false",
                        ))
                        .map(Err);
                    }
                }
            }
            _ => {}
        }
    }
    let after = match last_event_id.as_deref().map(str::trim) {
        None | Some("") if replay_history => Some(0),
        None | Some("") => None,
        Some(text) => match text.parse::<u64>() {
            Ok(seq) => Some(seq),
            Err(_) => {
                return invalid(&ValidationError::new(
                    "last_event_id",
                    "expected the id: of a received event (an integer)",
                ))
                .map(Err);
            }
        },
    };
    Ok(Ok((interest, after)))
}

/// The SSE response: the `replay` frames, then the `live` subscription
/// with heartbeats, until the session is deleted.
pub(crate) fn event_stream(
    live: futures_channel::mpsc::UnboundedReceiver<String>,
    replay: Vec<String>,
) -> Result<Response> {
    let heartbeats = futures_util::stream::unfold((), |()| async {
        worker::Delay::from(std::time::Duration::from_millis(HEARTBEAT_MS)).await;
        Some((Some(sse::PING.to_owned()), ()))
    });
    // Frames published together (one append, or the appends of one
    // commit) leave as one chunk: every chunk costs a pass through each
    // hop to the client. The live part ends when the session is deleted
    // (the hub drops the sender); `None` marks that end, past which the
    // heartbeats stop too.
    let live = live
        .ready_chunks(MAX_FRAMES_PER_CHUNK)
        .map(|frames| Some(frames.concat()))
        .chain(futures_util::stream::once(async { None }));
    let body =
        futures_util::stream::iter(sse::batch(replay, REPLAY_CHUNK_BYTES).into_iter().map(Some))
            .chain(futures_util::stream::select(live, heartbeats))
            .take_while(|frame| std::future::ready(frame.is_some()))
            .filter_map(std::future::ready)
            .map(|frame| Ok::<Vec<u8>, worker::Error>(frame.into_bytes()));
    let mut resp = Response::from_stream(body)?;
    let headers = resp.headers_mut();
    headers.set("content-type", "text/event-stream")?;
    headers.set("cache-control", "no-cache")?;
    Ok(resp)
}
