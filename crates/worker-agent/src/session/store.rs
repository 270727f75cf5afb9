//! Core's `EventStore` over the SessionDO's SQLite storage. Appends check the
//! expected head and write in one synchronous block (atomic in a Durable
//! Object); bodies too large for a row are spilled to R2 first. Every append
//! is then published to the session's live subscribers and ops signals, and
//! one that adds to the usage ledger starts the ledger's write.
//!
//! The object is the log's only writer, so the head is kept in memory
//! ([`HeadCache`]) once read: the harness checks it after every streamed
//! model event, and a query each time cost more than the event itself.

use std::cell::Cell;
use std::cell::RefCell;
use std::rc::Rc;
use std::rc::Weak;

use openma_core::SessionSummary;
use openma_core::ports::AppendParams;
use openma_core::ports::EventStore;
use openma_core::ports::StoreError;
use openma_core::wire::Event;
use openma_core::wire::EventListQuery;
use openma_core::wire::EventSeq;
use openma_core::wire::Page;
use openma_core::wire::SessionEvent;
use openma_core::wire::Timestamp;
use openma_core::wire::page::Order;
use serde::Deserialize;
use worker::Bucket;
use worker::SqlStorage;
use worker::SqlStorageValue;

use super::Inner;
use super::hub::Hub;
use crate::signals::Signals;

/// Event bodies larger than this live in R2 (a Durable Object SQLite row
/// holds at most 2 MB).
const SPILL_BYTES: usize = 256 * 1024;

/// Where a session's spilled event bodies are kept in R2.
pub(crate) fn spill_prefix(session_id: &str) -> String {
    format!("sessions/{session_id}/events/")
}

/// The event log of one session.
pub(crate) struct DoEventStore {
    pub(crate) sql: SqlStorage,
    pub(crate) blobs: Bucket,
    pub(crate) session_id: String,
    pub(crate) hub: Rc<Hub>,
    pub(crate) signals: Rc<Signals>,
    pub(crate) head: HeadCache,
    pub(crate) summary: SummaryCache,
    /// The session object, told when an append adds to the usage ledger
    /// (dangling for a store that only reads).
    pub(crate) ledger: Weak<Inner>,
}

/// The log's last seq as this object knows it, shared by every store of the
/// object: set by each append, forgotten when storage is wiped or a write
/// fails part-way (the next read asks SQLite again).
#[derive(Debug, Clone, Default)]
pub(crate) struct HeadCache(Rc<Cell<Option<EventSeq>>>);

impl HeadCache {
    /// Forgets the head.
    pub(crate) fn forget(&self) {
        self.0.set(None);
    }
}

/// The log's summary (status, usage, running time) as this object knows it,
/// shared like the head: kept in `meta` beside the log and written in the
/// same block as each append, so a read of the session needs one row.
#[derive(Debug, Clone, Default)]
pub(crate) struct SummaryCache(Rc<RefCell<Option<SessionSummary>>>);

impl SummaryCache {
    /// Forgets the summary.
    pub(crate) fn forget(&self) {
        self.0.borrow_mut().take();
    }
}

impl std::fmt::Debug for DoEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoEventStore")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// One stored event: its body, or the key of its body in R2.
#[derive(Deserialize)]
pub(crate) struct Row {
    pub(crate) seq: i64,
    pub(crate) processed_at: Option<i64>,
    pub(crate) spilled: i64,
    pub(crate) body: String,
}

#[derive(Deserialize)]
struct Head {
    head: i64,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl DoEventStore {
    fn spill_key(&self, seq: EventSeq) -> String {
        format!("{}{seq}.json", spill_prefix(&self.session_id))
    }

    /// The current last seq (0 for an empty log).
    pub(crate) fn head_now(&self) -> Result<EventSeq, StoreError> {
        if let Some(head) = self.head.0.get() {
            return Ok(head);
        }
        let rows: Vec<Head> = self
            .sql
            .exec("SELECT COALESCE(MAX(seq), 0) AS head FROM events", None)
            .and_then(|c| c.to_array())
            .map_err(unavailable)?;
        let head = rows
            .first()
            .map_or(0, |r| u64::try_from(r.head).unwrap_or(0));
        self.head.0.set(Some(head));
        Ok(head)
    }

    /// The log's summary. Written with each append; a log the summary is
    /// behind (one written before summaries were kept) is folded from where
    /// the summary ends, once, and the result stored.
    pub(crate) async fn summary(&self) -> Result<SessionSummary, StoreError> {
        let cached = self.summary.0.borrow().clone();
        let mut summary = match cached {
            Some(summary) => summary,
            None => self.stored_summary()?.unwrap_or_default(),
        };
        let head = self.head_now()?;
        if summary.last_seq < head {
            let mut after = summary.last_seq;
            loop {
                let batch = self.load(after, 500).await?;
                let Some(last) = batch.last() else { break };
                after = last.seq;
                for record in &batch {
                    summary.apply(record);
                }
            }
            // Stored only if the log did not move on meanwhile (an append
            // then wrote its own).
            if self.head_now()? == summary.last_seq {
                self.write_summary(&summary)?;
            }
        }
        if self.head_now()? == summary.last_seq {
            *self.summary.0.borrow_mut() = Some(summary.clone());
        }
        Ok(summary)
    }

    fn stored_summary(&self) -> Result<Option<SessionSummary>, StoreError> {
        #[derive(Deserialize)]
        struct Value {
            value: String,
        }
        let rows: Vec<Value> = self
            .sql
            .exec("SELECT value FROM meta WHERE key = 'summary'", None)
            .and_then(|c| c.to_array())
            .map_err(unavailable)?;
        rows.first()
            .map(|row| serde_json::from_str(&row.value).map_err(unavailable))
            .transpose()
    }

    fn write_summary(&self, summary: &SessionSummary) -> Result<(), StoreError> {
        let value = serde_json::to_string(summary).map_err(unavailable)?;
        self.sql
            .exec(
                "INSERT INTO meta (key, value) VALUES ('summary', ?)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                vec![value.into()],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    // The inserts, marks and summary of one append; a failure part-way
    // leaves the head and the summary unknown.
    fn write(
        &self,
        params: &AppendParams,
        rows: Vec<(&SessionEvent, Option<Timestamp>, i64, String)>,
        summary: &SessionSummary,
    ) -> Result<(), StoreError> {
        for (record, processed_at, spilled, body) in rows {
            let seq = i64::try_from(record.seq).map_err(unavailable)?;
            self.sql
                .exec(
                    "INSERT INTO events (seq, id, type, processed_at, spilled, body)
                     VALUES (?, ?, ?, ?, ?, ?)",
                    vec![
                        seq.into(),
                        record.event.id.as_str().into(),
                        record.event.type_name().into(),
                        processed_at.map_or(SqlStorageValue::Null, |t| t.0.into()),
                        spilled.into(),
                        body.into(),
                    ],
                )
                .map_err(unavailable)?;
            self.head.0.set(Some(record.seq));
        }
        for id in &params.mark_processed {
            self.sql
                .exec(
                    "UPDATE events SET processed_at = ? WHERE id = ? AND processed_at IS NULL",
                    vec![params.processed_at.0.into(), id.as_str().into()],
                )
                .map_err(unavailable)?;
        }
        self.write_summary(summary)
    }

    async fn decode(&self, row: Row) -> Result<SessionEvent, StoreError> {
        decode_row(&self.blobs, row).await
    }

    /// One page of the log as `query` asks, selected, ordered and limited
    /// in SQL: only the page's rows (and their spilled bodies) are read.
    pub(crate) async fn page(&self, query: &EventListQuery) -> Result<Page<Event>, StoreError> {
        let mut sql =
            String::from("SELECT seq, processed_at, spilled, body FROM events WHERE 1 = 1");
        let mut args: Vec<SqlStorageValue> = Vec::new();
        let mut bind = |sql: &mut String, clause: &str, value: SqlStorageValue| {
            sql.push_str(clause);
            args.push(value);
        };
        let descending = query.order == Order::Desc;
        if let Some(after) = query.after_seq {
            let after = i64::try_from(after).map_err(unavailable)?;
            let clause = if descending {
                " AND seq < ?"
            } else {
                " AND seq > ?"
            };
            bind(&mut sql, clause, after.into());
        }
        if !query.types.is_empty() {
            sql.push_str(" AND type IN (");
            for (i, kind) in query.types.iter().enumerate() {
                let clause = if i == 0 { "?" } else { ", ?" };
                bind(&mut sql, clause, kind.as_str().into());
            }
            sql.push(')');
        }
        for (bound, clause) in [
            (query.created_after, " AND processed_at > ?"),
            (query.created_at_or_after, " AND processed_at >= ?"),
            (query.created_before, " AND processed_at < ?"),
            (query.created_at_or_before, " AND processed_at <= ?"),
        ] {
            if let Some(at) = bound {
                bind(&mut sql, clause, at.0.into());
            }
        }
        sql.push_str(if descending {
            " ORDER BY seq DESC LIMIT ?"
        } else {
            " ORDER BY seq ASC LIMIT ?"
        });
        let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
        bind(&mut sql, "", limit.into());
        let rows: Vec<Row> = self
            .sql
            .exec(&sql, args)
            .and_then(|c| c.to_array())
            .map_err(unavailable)?;
        let mut selected = Vec::with_capacity(rows.len());
        for row in rows {
            selected.push(self.decode(row).await?);
        }
        Ok(query.page_of(selected))
    }

    /// When the built-in tool call `tool_use_id` started running, for a
    /// result at `result_seq`: the latest of its `agent.tool_use` and a
    /// `user.tool_confirmation` answering it, as processed. `None` when the
    /// call is not in the log.
    pub(crate) fn tool_started(
        &self,
        tool_use_id: &str,
        result_seq: EventSeq,
    ) -> Result<Option<Timestamp>, StoreError> {
        #[derive(Deserialize)]
        struct Started {
            started: Option<i64>,
        }
        let result_seq = i64::try_from(result_seq).map_err(unavailable)?;
        // A confirmation's body is read only where it is in the row (a
        // spilled row holds a key, not JSON).
        let rows: Vec<Started> = self
            .sql
            .exec(
                "SELECT MAX(processed_at) AS started FROM events
                 WHERE seq >= (SELECT seq FROM events WHERE id = ?) AND seq < ?
                   AND (id = ? OR CASE WHEN type = 'user.tool_confirmation' AND spilled = 0
                                       THEN json_extract(body, '$.tool_use_id') END = ?)",
                vec![
                    tool_use_id.into(),
                    result_seq.into(),
                    tool_use_id.into(),
                    tool_use_id.into(),
                ],
            )
            .and_then(|c| c.to_array())
            .map_err(unavailable)?;
        Ok(rows.first().and_then(|r| r.started).map(Timestamp))
    }

    /// Whether the log shows work in hand, read without folding it: an
    /// input not yet processed, or a turn whose latest status is running or
    /// rescheduled.
    pub(crate) fn has_work_in_hand(&self) -> Result<bool, StoreError> {
        #[derive(Deserialize)]
        struct Kind {
            #[serde(rename = "type")]
            kind: String,
        }
        let unprocessed: Vec<Kind> = self
            .sql
            .exec(
                "SELECT type FROM events WHERE processed_at IS NULL LIMIT 1",
                None,
            )
            .and_then(|c| c.to_array())
            .map_err(unavailable)?;
        if !unprocessed.is_empty() {
            return Ok(true);
        }
        let status: Vec<Kind> = self
            .sql
            .exec(
                "SELECT type FROM events WHERE type IN ('session.status_running', \
                 'session.status_rescheduled', 'session.status_idle', 'session.status_terminated') \
                 ORDER BY seq DESC LIMIT 1",
                None,
            )
            .and_then(|c| c.to_array())
            .map_err(unavailable)?;
        Ok(status.first().is_some_and(|s| {
            matches!(
                s.kind.as_str(),
                "session.status_running" | "session.status_rescheduled"
            )
        }))
    }
}

/// The event a stored row holds, its body read from R2 if it was spilled.
pub(crate) async fn decode_row(blobs: &Bucket, row: Row) -> Result<SessionEvent, StoreError> {
    let body = if row.spilled == 1 {
        let object = blobs
            .get(&row.body)
            .execute()
            .await
            .map_err(unavailable)?
            .ok_or_else(|| unavailable(format!("spilled event {} is missing", row.body)))?;
        object
            .body()
            .ok_or_else(|| unavailable("spilled event has no body"))?
            .text()
            .await
            .map_err(unavailable)?
    } else {
        row.body
    };
    let mut event: Event = serde_json::from_str(&body).map_err(unavailable)?;
    event.processed_at = row.processed_at.map(Timestamp);
    Ok(SessionEvent {
        seq: u64::try_from(row.seq).unwrap_or(0),
        event,
    })
}

impl EventStore for DoEventStore {
    async fn append(&self, params: AppendParams) -> Result<(), StoreError> {
        // Spill large bodies first: the awaits happen before the head check,
        // so the check and the inserts below run without interleaving.
        let mut rows = Vec::with_capacity(params.events.len());
        for record in &params.events {
            let mut event = record.event.clone();
            let processed_at = event.processed_at.take();
            let body = serde_json::to_string(&event).map_err(unavailable)?;
            let (spilled, body) = if body.len() > SPILL_BYTES {
                let key = self.spill_key(record.seq);
                self.blobs
                    .put(&key, body)
                    .execute()
                    .await
                    .map_err(unavailable)?;
                (1_i64, key)
            } else {
                (0_i64, body)
            };
            rows.push((record, processed_at, spilled, body));
        }
        let mut summary = self.summary().await?;
        let actual = self.head_now()?;
        if actual != params.expected_last_seq {
            return Err(StoreError::Conflict {
                expected: params.expected_last_seq,
                actual,
            });
        }
        if summary.last_seq != actual {
            // Another append landed while the summary was read: its own is
            // the current one.
            summary = match self.summary.0.borrow().clone() {
                Some(current) if current.last_seq == actual => current,
                _ => return Err(unavailable("the log's summary is behind its head")),
            };
        }
        for record in &params.events {
            summary.apply(record);
        }
        if let Err(e) = self.write(&params, rows, &summary) {
            self.head.forget();
            self.summary.forget();
            return Err(e);
        }
        *self.summary.0.borrow_mut() = Some(summary);
        self.signals.observe(&params.events);
        self.hub.publish(&params.events);
        if params
            .events
            .iter()
            .any(|record| openma_core::ledger::contributes(&record.event.payload))
            && let Some(inner) = self.ledger.upgrade()
        {
            inner.sync_ledger(false);
        }
        Ok(())
    }

    async fn load(&self, after: EventSeq, limit: usize) -> Result<Vec<SessionEvent>, StoreError> {
        let after = i64::try_from(after).map_err(unavailable)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT seq, processed_at, spilled, body FROM events
                 WHERE seq > ? ORDER BY seq LIMIT ?",
                vec![after.into(), limit.into()],
            )
            .and_then(|c| c.to_array())
            .map_err(unavailable)?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            events.push(self.decode(row).await?);
        }
        Ok(events)
    }

    async fn head(&self) -> Result<EventSeq, StoreError> {
        self.head_now()
    }
}
