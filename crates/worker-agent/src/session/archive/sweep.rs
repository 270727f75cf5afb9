//! Sweeping: the session object's storage into an archive in R2, written,
//! checked and recorded before the storage is cleared.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::rc::Rc;

use openma_cloudflare::internal::SessionRecord;
use openma_cloudflare::store;
use openma_cloudflare::store::Param;
use openma_core::SessionSummary;
use openma_core::ports::Clock;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Timestamp;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;
use serde_json::json;
use sha2::Digest;
use sha2::Sha256;
use worker::Bucket;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::SqlStorage;

use super::Swept;
use super::failure;
use super::format::EVENTS;
use super::format::FORMAT;
use super::format::Header;
use super::format::TABLES;
use super::format::VERSION;
use super::format::Writer;
use super::key;
use super::read;
use crate::clock::RuntimeClock;
use crate::session::Inner;
use crate::session::handlers;

/// Rows read from a table at a time while writing an archive.
const BATCH_ROWS: i64 = 1000;

/// What the retention pass asks of a sweep.
#[derive(Debug, Deserialize)]
struct SweepParams {
    /// A session that is not archived is swept only if it was last active
    /// before this time (ms since the epoch).
    idle_before: i64,
}

/// What a sweep did.
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum SweepOutcome {
    /// The storage is in R2 and the object holds none.
    Swept {
        key: String,
        bytes: u64,
        events: u64,
    },
    /// Nothing was moved, for `reason`.
    Skipped { reason: &'static str },
}

fn answer(outcome: &SweepOutcome) -> Result<Response> {
    openma_cloudflare::json(200, outcome)
}

fn skipped(reason: &'static str) -> Result<Response> {
    answer(&SweepOutcome::Skipped { reason })
}

/// `POST /sweep` on a session whose storage is in the object. A failure is
/// logged and answered with its cause: the caller is the retention pass,
/// which reports it to the operator.
pub(crate) async fn sweep(inner: &Inner, record: &SessionRecord, req: Request) -> Result<Response> {
    match try_sweep(inner, record, req).await {
        Ok(resp) => Ok(resp),
        Err(e) => sweep_failed(&record.id, &e),
    }
}

fn sweep_failed(session_id: &str, e: &worker::Error) -> Result<Response> {
    worker::console_error!(
        "{}",
        json!({"level": "error", "event": "session_sweep_failed", "session_id": session_id, "error": e.to_string()})
    );
    handlers::error(ApiErrorType::ApiError, format!("sweep failed: {e}"))
}

async fn try_sweep(inner: &Inner, record: &SessionRecord, mut req: Request) -> Result<Response> {
    let params: SweepParams = match req.json().await {
        Ok(params) => params,
        Err(e) => {
            return handlers::error(ApiErrorType::InvalidRequestError, format!("bad sweep: {e}"));
        }
    };
    // Nothing else may be in progress: no other request, no turn, no
    // index write. What arrives from now on waits at the gate.
    if inner.in_flight.count() > 1 || inner.driving.get() || inner.index_writing.get() {
        return skipped("busy");
    }
    let Some(_closed) = inner.gate.close() else {
        return skipped("busy");
    };
    let store = inner.read_store(record)?;
    let summary = store.summary().await.map_err(failure)?;
    if !summary.at_rest() || store.has_work_in_hand().map_err(failure)? {
        return skipped("running");
    }
    if record.archived_at.is_none()
        && last_activity(&inner.state.storage().sql(), record)?.0 >= params.idle_before
    {
        return skipped("active");
    }
    // What the session spent is in the usage ledger before its log leaves.
    if inner.catch_up_ledger().await.is_err() {
        return skipped("ledger_behind");
    }
    let started = worker::Date::now().as_millis();
    let (bytes, header) = write_archive(&inner.state.storage().sql(), record)?;
    let key = key(&record.tenant_id, &record.id);
    let blobs = inner.env.bucket("BLOBS")?;
    put_verified(&blobs, &key, &bytes, &header).await?;
    record_key(inner, record, &summary, &key).await?;
    // The log is in R2 and the index knows where: the storage can go.
    let storage = inner.state.storage();
    storage.delete_alarm().await?;
    storage.delete_all().await?;
    inner.storage_cleared();
    let swept = Rc::new(Swept {
        record: record.clone(),
        summary,
        key: key.clone(),
        done_at: RefCell::new(None),
        log: RefCell::new(None),
    });
    *inner.swept.borrow_mut() = Some(Rc::clone(&swept));
    record_done(inner, &swept).await?;
    let events = header.rows.get(EVENTS).copied().unwrap_or(0);
    inner.log_info(json!({
        "event": "session_swept",
        "session_id": record.id,
        "tenant_id": record.tenant_id,
        "key": key,
        "events": events,
        "bytes": bytes.len(),
        "ms": worker::Date::now().as_millis().saturating_sub(started),
    }));
    answer(&SweepOutcome::Swept {
        key,
        bytes: bytes.len() as u64,
        events,
    })
}

/// `POST /sweep` on a swept session: finishes a sweep cut short after its
/// storage was cleared (the archive is there; the index is told).
pub(super) async fn finish(inner: &Inner, swept: &Swept) -> Result<Response> {
    match try_finish(inner, swept).await {
        Ok(resp) => Ok(resp),
        Err(e) => sweep_failed(&swept.record.id, &e),
    }
}

async fn try_finish(inner: &Inner, swept: &Swept) -> Result<Response> {
    if swept.done_at.borrow().is_some() {
        return skipped("already_swept");
    }
    let Some(object) = inner.env.bucket("BLOBS")?.head(&swept.key).await? else {
        return handlers::internal(format!("the archive {} is missing", swept.key));
    };
    record_done(inner, swept).await?;
    let events = object
        .custom_metadata()?
        .get("events")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    answer(&SweepOutcome::Swept {
        key: swept.key.clone(),
        bytes: object.size(),
        events,
    })
}

/// When the session was last active: its record's last change, or its
/// log's last processed event, whichever is later.
fn last_activity(sql: &SqlStorage, record: &SessionRecord) -> Result<Timestamp> {
    #[derive(Deserialize)]
    struct Last {
        at: Option<i64>,
    }
    let rows: Vec<Last> = sql
        .exec(
            "SELECT processed_at AS at FROM events ORDER BY seq DESC LIMIT 1",
            None,
        )?
        .to_array()?;
    let last_event = rows.first().and_then(|r| r.at).unwrap_or(0);
    Ok(Timestamp(last_event.max(record.updated_at.0)))
}

/// The whole storage as an archive, read in one synchronous pass (so it is
/// one consistent state of the storage); with its header.
fn write_archive(sql: &SqlStorage, record: &SessionRecord) -> Result<(Vec<u8>, Header)> {
    #[derive(Deserialize)]
    struct Count {
        n: u64,
    }
    #[derive(Deserialize)]
    struct Version {
        version: i64,
    }
    let mut rows = BTreeMap::new();
    for table in TABLES {
        let count: Vec<Count> = sql
            .exec(&format!("SELECT COUNT(*) AS n FROM {table}"), None)?
            .to_array()?;
        rows.insert(table.to_owned(), count.first().map_or(0, |c| c.n));
    }
    let version: Vec<Version> = sql
        .exec("SELECT version FROM schema_version", None)?
        .to_array()?;
    #[derive(Deserialize)]
    struct Head {
        head: i64,
    }
    let head: Vec<Head> = sql
        .exec("SELECT COALESCE(MAX(seq), 0) AS head FROM events", None)?
        .to_array()?;
    let header = Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        session_id: record.id.clone(),
        tenant_id: record.tenant_id.clone(),
        schema_version: version.first().map_or(0, |v| v.version),
        archived_at: RuntimeClock.now(),
        last_seq: head
            .first()
            .map_or(0, |h| u64::try_from(h.head).unwrap_or(0)),
        rows,
    };
    let mut writer = Writer::new(header.clone()).map_err(failure)?;
    for table in TABLES {
        write_table(sql, &mut writer, table)?;
    }
    Ok((writer.finish().map_err(failure)?, header))
}

/// Every row of `table`, in rowid order (the log's is its seq), a batch at
/// a time.
fn write_table(sql: &SqlStorage, writer: &mut Writer, table: &str) -> Result<()> {
    const ROWID: &str = "_archive_rowid";
    // Below every rowid the storage holds, within JavaScript's safe integers.
    let mut after: i64 = -9_007_199_254_740_991;
    loop {
        let batch: Vec<Map<String, Value>> = sql
            .exec(
                &format!(
                    "SELECT rowid AS {ROWID}, * FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?"
                ),
                vec![after.into(), BATCH_ROWS.into()],
            )?
            .to_array()?;
        let full = batch.len() as i64 == BATCH_ROWS;
        for mut row in batch {
            after = row
                .remove(ROWID)
                .and_then(|id| id.as_i64())
                .ok_or_else(|| failure(format!("a row of {table} without a rowid")))?;
            writer.row(table, row).map_err(failure)?;
        }
        if !full {
            return Ok(());
        }
    }
}

/// Puts the archive with its SHA-256 (R2 refuses a body that does not
/// match it), then reads it back and checks it: the same bytes, decoding to
/// the same header and rows.
async fn put_verified(blobs: &Bucket, key: &str, bytes: &[u8], header: &Header) -> Result<()> {
    let digest = Sha256::digest(bytes).to_vec();
    let digest_hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let metadata = HashMap::from([
        ("format".to_owned(), format!("{FORMAT}.v{VERSION}")),
        ("session_id".to_owned(), header.session_id.clone()),
        ("tenant_id".to_owned(), header.tenant_id.clone()),
        ("last_seq".to_owned(), header.last_seq.to_string()),
        (
            "events".to_owned(),
            header.rows.get(EVENTS).copied().unwrap_or(0).to_string(),
        ),
        ("sha256".to_owned(), digest_hex),
    ]);
    blobs
        .put(key, bytes.to_vec())
        .sha256(digest.clone())
        .http_metadata(worker::HttpMetadata {
            content_type: Some("application/gzip".to_owned()),
            ..worker::HttpMetadata::default()
        })
        .custom_metadata(metadata)
        .execute()
        .await?;
    let stored = read(blobs, key).await?;
    if Sha256::digest(&stored).to_vec() != digest {
        return Err(failure(format!("the archive read back from {key} differs")));
    }
    let archive = super::format::decode(&stored, &header.session_id).map_err(failure)?;
    if &archive.header != header {
        return Err(failure(format!(
            "the archive read back from {key} has another header"
        )));
    }
    Ok(())
}

/// Step 3: the sessions index learns where the log is, with the record and
/// summary it will answer the session from.
async fn record_key(
    inner: &Inner,
    record: &SessionRecord,
    summary: &SessionSummary,
    key: &str,
) -> Result<()> {
    let status = serde_json::to_value(summary.status)?
        .as_str()
        .unwrap_or("idle")
        .to_owned();
    let changed = store::run(
        &inner.env,
        "UPDATE sessions SET record = ?1, summary = ?2, status = ?3, title = ?4,
                             archived_at = ?5, updated_at = ?6,
                             log_archive_key = ?7, log_archived_at = NULL
         WHERE id = ?8",
        &[
            Param::from(serde_json::to_string(record)?),
            Param::from(serde_json::to_string(summary)?),
            Param::from(status),
            Param::from(record.title.clone()),
            Param::from(record.archived_at.map(Timestamp::to_rfc3339)),
            Param::from(record.updated_at.to_rfc3339()),
            Param::from(key),
            Param::from(record.id.as_str()),
        ],
    )
    .await?;
    if changed != 1 {
        return Err(failure(format!(
            "the sessions index has no row for {}; the storage is kept",
            record.id
        )));
    }
    Ok(())
}

/// Step 5: the index records that the sweep is done.
async fn record_done(inner: &Inner, swept: &Swept) -> Result<()> {
    let now = RuntimeClock.now().to_rfc3339();
    store::run(
        &inner.env,
        "UPDATE sessions SET log_archived_at = ?1 WHERE id = ?2 AND log_archive_key = ?3",
        &[
            Param::from(now.as_str()),
            Param::from(swept.record.id.as_str()),
            Param::from(swept.key.as_str()),
        ],
    )
    .await?;
    *swept.done_at.borrow_mut() = Some(now);
    Ok(())
}
