//! Serving a swept session: the session from the index row, its events and
//! streams from the archive; and deleting it.

use std::collections::BTreeMap;

use openma_cloudflare::internal::SessionRecord;
use openma_core::ports::Clock;
use openma_core::wire::EventListQuery;
use openma_core::wire::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use worker::Request;
use worker::Response;
use worker::Result;

use super::Swept;
use super::decode;
use super::key;
use super::log;
use crate::clock::RuntimeClock;
use crate::session::Inner;
use crate::session::command::Command;
use crate::session::handlers;
use crate::session::sse;

/// A request to a swept session that changes nothing (a change to a
/// session that is not archived restores it first; see the object's
/// `fetch`).
pub(crate) async fn serve(
    inner: &Inner,
    swept: &Swept,
    command: &Command,
    req: &Request,
) -> Result<Response> {
    match command {
        Command::Get | Command::Archive => {
            openma_cloudflare::json(200, &swept.record.view(&swept.summary, RuntimeClock.now()))
        }
        Command::ListEvents => list_events(inner, swept, req).await,
        Command::Stream => stream(inner, swept, req).await,
        Command::Storage => storage(inner, &swept.record, true).await,
        Command::Sweep => super::sweep::finish(inner, swept).await,
        Command::Update
        | Command::SendEvents
        | Command::AddResource
        | Command::DeleteResource(_) => handlers::refuse_if_archived(&swept.record)
            .unwrap_or_else(|| handlers::internal("a change to a swept session not restored")),
        Command::Delete | Command::Health | Command::Init => {
            handlers::internal("a command a swept session does not serve")
        }
    }
}

/// `GET /events` of a swept session: the page the object's own listing
/// would give, selected from the archived rows (only the page's spilled
/// bodies are read).
async fn list_events(inner: &Inner, swept: &Swept, req: &Request) -> Result<Response> {
    let pairs = openma_cloudflare::query_pairs(&req.inner().url());
    let query = match EventListQuery::from_pairs(&pairs) {
        Ok(query) => query,
        Err(err) => return handlers::invalid(&err),
    };
    let log = log(inner, swept).await?;
    let blobs = inner.env.bucket("BLOBS")?;
    let selected = query.select(&log, |row| {
        (
            row.seq(),
            row.kind.as_str(),
            row.processed_at.map(Timestamp),
        )
    });
    let mut events = Vec::with_capacity(selected.len());
    for row in selected {
        events.push(decode(&blobs, row).await?);
    }
    openma_cloudflare::json(200, &query.page_of(events))
}

/// `GET /stream` of a swept session: the replay from the archive, then
/// whatever is appended once a change restores the storage. The stream
/// subscribes before reading the archive: every event published after that
/// comes after the archive's last.
async fn stream(inner: &Inner, swept: &Swept, req: &Request) -> Result<Response> {
    let (interest, after) = match handlers::stream_params(req)? {
        Ok(params) => params,
        Err(refused) => return Ok(refused),
    };
    let live = inner.hub.subscribe(interest);
    let mut replay = Vec::new();
    if let Some(after) = after {
        let log = log(inner, swept).await?;
        let blobs = inner.env.bucket("BLOBS")?;
        for row in log.iter().filter(|row| row.seq() > after) {
            replay.push(sse::event_frame(&decode(&blobs, row).await?));
        }
    }
    handlers::event_stream(live, replay)
}

/// `DELETE /session` of a swept session: its R2 objects first, then every
/// stream hears `session.deleted`. The caller holds the gate closed.
pub(crate) async fn delete(inner: &Inner, swept: &Swept) -> Result<Response> {
    remove_objects(&inner.env, &swept.record.tenant_id, &swept.record.id).await?;
    handlers::publish_deleted(inner, &swept.record.id, swept.summary.last_seq);
    inner.reset();
    inner.state.storage().delete_all().await?;
    handlers::deleted(&swept.record.id)
}

/// Deletes what a session keeps in R2: its archive and its spilled event
/// bodies.
pub(crate) async fn remove_objects(
    env: &worker::Env,
    tenant_id: &str,
    session_id: &str,
) -> Result<()> {
    let blobs = env.bucket("BLOBS")?;
    blobs.delete(key(tenant_id, session_id)).await?;
    let prefix = crate::session::store::spill_prefix(session_id);
    let mut cursor = None;
    loop {
        let mut list = blobs.list().prefix(prefix.clone());
        if let Some(cursor) = cursor.take() {
            list = list.cursor(cursor);
        }
        let listed = list.execute().await?;
        let keys: Vec<String> = listed.objects().iter().map(worker::Object::key).collect();
        if !keys.is_empty() {
            blobs.delete_multiple(keys).await?;
        }
        match (listed.truncated(), listed.cursor()) {
            (true, Some(next)) => cursor = Some(next),
            _ => return Ok(()),
        }
    }
}

/// `GET /storage`: where the session's log is, what the object's storage
/// holds (every table with its rows, but the runtime's own: SQLite's,
/// `_cf_…`, and locally miniflare's `__miniflare_…`), and the archive in
/// R2, if there is one.
pub(crate) async fn storage(
    inner: &Inner,
    record: &SessionRecord,
    swept: bool,
) -> Result<Response> {
    #[derive(Deserialize)]
    struct Table {
        name: String,
    }
    #[derive(Deserialize)]
    struct Count {
        n: u64,
    }
    let sql = inner.state.storage().sql();
    let names: Vec<Table> = sql
        .exec(
            "SELECT name FROM sqlite_master WHERE type = 'table'
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
               AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'
               AND name NOT LIKE '\\_\\_miniflare%' ESCAPE '\\'
             ORDER BY name",
            None,
        )?
        .to_array()?;
    let mut tables = BTreeMap::new();
    for Table { name } in names {
        let quoted = name.replace('"', "\"\"");
        let count: Vec<Count> = sql
            .exec(&format!("SELECT COUNT(*) AS n FROM \"{quoted}\""), None)?
            .to_array()?;
        tables.insert(name, count.first().map_or(0, |c| c.n));
    }
    let rows: u64 = tables.values().sum();
    let key = key(&record.tenant_id, &record.id);
    let archive = match inner.env.bucket("BLOBS")?.head(&key).await? {
        Some(object) => {
            let metadata = object.custom_metadata()?;
            json!({
                "key": key,
                "bytes": object.size(),
                "sha256": metadata.get("sha256"),
                "events": metadata.get("events").and_then(|n| n.parse::<u64>().ok()),
                "last_seq": metadata.get("last_seq").and_then(|n| n.parse::<u64>().ok()),
            })
        }
        None => Value::Null,
    };
    openma_cloudflare::json(
        200,
        &json!({
            "type": "session_storage",
            "session_id": record.id,
            "log": if swept { "archive" } else { "object" },
            "object": {"tables": tables, "rows": rows},
            "archive": archive,
        }),
    )
}
