//! Archival: a session's storage moved into R2, served from there, and
//! brought back.
//!
//! A **sweep** (`POST /sweep`, asked by the retention pass of an archived
//! session, or of one at rest since before the pass's `idle_before`) runs
//! with the [gate](super::gate) closed and nothing else in progress:
//!
//! 1. every row of the storage is written, in one synchronous read, into a
//!    gzip-compressed JSON Lines archive ([`format`]);
//! 2. the archive is put in `BLOBS` at [`key`] with its SHA-256 (R2 refuses
//!    a body that does not match), then read back and decoded whole;
//! 3. the sessions index records the key with the session's record and
//!    summary (`log_archive_key`);
//! 4. the storage is cleared (`deleteAll`);
//! 5. the index records that the sweep is done (`log_archived_at`).
//!
//! A crash between any two steps loses nothing: before 3 the object still
//! holds the log and the next pass sweeps it again; between 3 and 5 the
//! object answers from its storage while it has one and from the archive
//! once it has none, and the next pass finishes the sweep.
//!
//! A swept object has no storage. Its first request reads the index row
//! (one D1 query per activation), which holds the record and the summary:
//! the session is answered from them, its events are listed from the
//! archive (read from R2 once per activation, paged by the same selection
//! as the core's in-memory listing), and streams replay from it. A change
//! to a session that is not archived (a message, an update) first
//! **restores** the storage from the archive in one transaction, then the
//! index forgets the archive and the object is deleted. Deleting the
//! session deletes the archive.

mod format;
mod restore;
mod serve;
mod sweep;

use std::cell::RefCell;
use std::rc::Rc;

use openma_cloudflare::internal::SessionRecord;
use openma_cloudflare::store;
use openma_cloudflare::store::Param;
use openma_core::SessionSummary;
use openma_core::wire::SessionEvent;
use serde::Deserialize;
use worker::Bucket;
use worker::Result;

pub(crate) use self::restore::restore;
pub(crate) use self::serve::delete;
pub(crate) use self::serve::remove_objects;
pub(crate) use self::serve::serve;
pub(crate) use self::serve::storage;
pub(crate) use self::sweep::sweep;

use self::format::EventRow;
use super::Inner;
use super::store::Row;
use super::store::decode_row;

/// The R2 key (in `BLOBS`) of a session's archive.
pub(crate) fn key(tenant_id: &str, session_id: &str) -> String {
    format!("archive/{tenant_id}/{session_id}.jsonl.gz")
}

/// A session whose storage was swept into R2, as the sessions index holds
/// it.
#[derive(Debug)]
pub(crate) struct Swept {
    pub(crate) record: SessionRecord,
    pub(crate) summary: SessionSummary,
    /// The archive's key.
    pub(crate) key: String,
    /// When the sweep was recorded as done; until then the next pass
    /// finishes it.
    pub(crate) done_at: RefCell<Option<String>>,
    /// The event log, once read from R2 by this activation.
    log: RefCell<Option<Rc<Vec<EventRow>>>>,
}

fn failure(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// The swept session `session_id`, if the sessions index says its storage
/// is in R2; read from the index once per activation.
pub(crate) async fn swept(inner: &Inner, session_id: &str) -> Result<Option<Rc<Swept>>> {
    if let Some(swept) = inner.swept.borrow().as_ref()
        && swept.record.id == session_id
    {
        return Ok(Some(Rc::clone(swept)));
    }
    if !openma_core::wire::ids::has_prefix(session_id, openma_core::wire::ids::SESSION_PREFIX) {
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct IndexRow {
        record: Option<String>,
        summary: Option<String>,
        log_archive_key: Option<String>,
        log_archived_at: Option<String>,
    }
    let row: Option<IndexRow> = store::first(
        &inner.env,
        "SELECT record, summary, log_archive_key, log_archived_at FROM sessions WHERE id = ?1",
        &[Param::from(session_id)],
    )
    .await?;
    let Some(IndexRow {
        record: Some(record),
        summary: Some(summary),
        log_archive_key: Some(key),
        log_archived_at,
    }) = row
    else {
        return Ok(None);
    };
    let swept = Rc::new(Swept {
        record: serde_json::from_str(&record)?,
        summary: serde_json::from_str(&summary)?,
        key,
        done_at: RefCell::new(log_archived_at),
        log: RefCell::new(None),
    });
    *inner.swept.borrow_mut() = Some(Rc::clone(&swept));
    Ok(Some(swept))
}

/// The bytes of the archive at `key`.
async fn read(blobs: &Bucket, key: &str) -> Result<Vec<u8>> {
    let object = blobs
        .get(key)
        .execute()
        .await?
        .ok_or_else(|| failure(format!("the archive {key} is missing")))?;
    object
        .body()
        .ok_or_else(|| failure(format!("the archive {key} has no body")))?
        .bytes()
        .await
}

/// The swept session's event log, read from R2 once per activation.
async fn log(inner: &Inner, swept: &Swept) -> Result<Rc<Vec<EventRow>>> {
    if let Some(log) = swept.log.borrow().as_ref() {
        return Ok(Rc::clone(log));
    }
    let bytes = read(&inner.env.bucket("BLOBS")?, &swept.key).await?;
    let archive = format::decode(&bytes, &swept.record.id).map_err(failure)?;
    let log = Rc::new(archive.events().map_err(failure)?);
    *swept.log.borrow_mut() = Some(Rc::clone(&log));
    Ok(log)
}

async fn decode(blobs: &Bucket, row: &EventRow) -> Result<SessionEvent> {
    decode_row(
        blobs,
        Row {
            seq: row.seq,
            processed_at: row.processed_at,
            spilled: row.spilled,
            body: row.body.clone(),
        },
    )
    .await
    .map_err(failure)
}
