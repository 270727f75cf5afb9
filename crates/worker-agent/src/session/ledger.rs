//! Records the session's usage in its tenant's ledger (D1
//! `usage_contributions` and `usage_daily`, read by `GET /v1/usage`), from
//! the event log, in the background of the turn.
//!
//! A cursor in the object's `meta` table (`ledger_seq`) says up to which seq
//! the ledger holds the log. A write reads the log after it, sends what the
//! events contribute (see `openma_core::ledger`) in one D1 batch, and moves
//! the cursor only once D1 has them: a write that fails, or that an eviction
//! or crash cuts short, is done again from the same place, and the
//! contributions' ids (their events' ids) make the repeat a no-op. The
//! session stays on its watchdog alarm until the ledger holds its whole log
//! (see `driver.rs`), so a failed write is retried even at rest.

use std::rc::Rc;

use openma_cloudflare::internal::SessionRecord;
use openma_cloudflare::store::Param;
use openma_cloudflare::store::statement;
use openma_core::ledger::Contribution;
use openma_core::ledger::contribution;
use openma_core::ports::EventStore;
use openma_core::wire::EventPayload;
use openma_core::wire::EventSeq;
use serde_json::json;
use worker::Env;

use super::Inner;

/// Events read from the log per write.
const BATCH_EVENTS: usize = 100;

/// Adds the contributions in `?1` (a JSON array) for the session's tenant,
/// session, agent and model (`?2`..`?5`); those already recorded are left.
const INSERT_CONTRIBUTIONS: &str = "
    INSERT INTO usage_contributions
        (id, tenant_id, session_id, agent_id, model, day, at, input_tokens, output_tokens,
         cache_read_input_tokens, cache_creation_input_tokens, model_requests, tool_calls,
         sandbox_ms)
    SELECT json_extract(value, '$.id'), ?2, ?3, ?4, ?5, json_extract(value, '$.day'),
           json_extract(value, '$.at'), json_extract(value, '$.input_tokens'),
           json_extract(value, '$.output_tokens'), json_extract(value, '$.cache_read_input_tokens'),
           json_extract(value, '$.cache_creation_input_tokens'),
           json_extract(value, '$.model_requests'), json_extract(value, '$.tool_calls'),
           json_extract(value, '$.sandbox_ms')
    FROM json_each(?1) WHERE true
    ON CONFLICT (id) DO NOTHING";

/// Adds the contributions of `?1` not yet counted to the daily sums.
const ADD_TO_DAILY: &str = "
    INSERT INTO usage_daily
        (tenant_id, day, agent_id, model, input_tokens, output_tokens, cache_read_input_tokens,
         cache_creation_input_tokens, model_requests, tool_calls, sandbox_ms)
    SELECT tenant_id, day, agent_id, model, SUM(input_tokens), SUM(output_tokens),
           SUM(cache_read_input_tokens), SUM(cache_creation_input_tokens), SUM(model_requests),
           SUM(tool_calls), SUM(sandbox_ms)
    FROM usage_contributions
    WHERE counted = 0 AND id IN (SELECT json_extract(value, '$.id') FROM json_each(?1))
    GROUP BY tenant_id, day, agent_id, model
    ON CONFLICT (tenant_id, day, agent_id, model) DO UPDATE SET
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cache_read_input_tokens = cache_read_input_tokens + excluded.cache_read_input_tokens,
        cache_creation_input_tokens =
            cache_creation_input_tokens + excluded.cache_creation_input_tokens,
        model_requests = model_requests + excluded.model_requests,
        tool_calls = tool_calls + excluded.tool_calls,
        sandbox_ms = sandbox_ms + excluded.sandbox_ms";

/// Marks the contributions of `?1` counted.
const MARK_COUNTED: &str = "
    UPDATE usage_contributions SET counted = 1
    WHERE counted = 0 AND id IN (SELECT json_extract(value, '$.id') FROM json_each(?1))";

impl Inner {
    /// Makes sure the ledger will catch up with the log: starts a
    /// background write unless one is under way (which then continues to
    /// the new head). During a turn the write waits for the turn to settle
    /// a moment first, as the index's does, so a step costs D1 one batch at
    /// most.
    pub(crate) fn sync_ledger(self: &Rc<Self>, at_rest: bool) {
        self.ledger_wanted.set(true);
        if self.ledger_writing.replace(true) {
            return;
        }
        let inner = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            if !at_rest {
                worker::Delay::from(std::time::Duration::from_millis(super::driver::SETTLE_MS))
                    .await;
            }
            // Until no append asked for a write meanwhile: one may land
            // after a pass has read the log's end.
            while inner.ledger_wanted.replace(false) {
                if let Err(e) = inner.catch_up_ledger().await {
                    log_failure(&inner, &e.to_string());
                    break;
                }
            }
            inner.ledger_writing.set(false);
            inner.disarm_if_settled().await;
        });
    }

    /// Writes what the ledger lacks until it holds the whole log.
    pub(crate) async fn catch_up_ledger(&self) -> worker::Result<()> {
        let Some(record) = self.record()? else {
            return Ok(());
        };
        let store = self.read_store(&record)?;
        loop {
            let after = self.ledger_seq()?;
            let events = store
                .load(after, BATCH_EVENTS)
                .await
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            let Some(last) = events.last().map(|e| e.seq) else {
                return Ok(());
            };
            let mut found = Vec::new();
            let mut woken: Vec<String> = Vec::new();
            for logged in &events {
                woken.extend(emit_webhooks(&self.env, &record, logged).await?);
                let started = match &logged.event.payload {
                    EventPayload::AgentToolResult(result) => store
                        .tool_started(&result.tool_use_id, logged.seq)
                        .map_err(|e| worker::Error::RustError(e.to_string()))?,
                    _ => None,
                };
                found.extend(contribution(logged, |_| started));
            }
            if !found.is_empty() {
                write(&self.env, &record, &found).await?;
            }
            woken.sort();
            woken.dedup();
            openma_cloudflare::webhooks::wake(&self.env, &woken).await;
            self.save_ledger_seq(last)?;
        }
    }

    /// The seq up to which the ledger holds the log (read once per
    /// activation; 0 for a log whose ledger was never written).
    pub(crate) fn ledger_seq(&self) -> worker::Result<EventSeq> {
        if let Some(seq) = self.ledger_cursor.get() {
            return Ok(seq);
        }
        let seq = self
            .meta("ledger_seq")?
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        self.ledger_cursor.set(Some(seq));
        Ok(seq)
    }

    /// Moves the cursor forward to `seq` (never back: two writes may race).
    fn save_ledger_seq(&self, seq: EventSeq) -> worker::Result<()> {
        if self.ledger_seq()? >= seq {
            return Ok(());
        }
        self.state.storage().sql().exec(
            "INSERT INTO meta (key, value) VALUES ('ledger_seq', ?)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            vec![seq.to_string().into()],
        )?;
        self.ledger_cursor.set(Some(seq));
        Ok(())
    }
}

/// Queues the webhook deliveries a logged event produces (a status change:
/// see `openma_core::webhooks::for_session_event`), once: the source key
/// names the event, so a pass done again queues nothing new. Answers the
/// endpoints that got a delivery.
async fn emit_webhooks(
    env: &Env,
    session: &SessionRecord,
    logged: &openma_core::wire::SessionEvent,
) -> worker::Result<Vec<String>> {
    let kinds = match &logged.event.payload {
        EventPayload::SessionStatusRunning(_)
        | EventPayload::SessionStatusIdle(_)
        | EventPayload::SessionStatusRescheduled(_)
        | EventPayload::SessionStatusTerminated(_) => {
            openma_core::webhooks::for_session_event(&serde_json::to_value(&logged.event)?)
        }
        _ => return Ok(Vec::new()),
    };
    let mut woken = Vec::new();
    for kind in kinds {
        woken.extend(
            openma_cloudflare::webhooks::emit(
                env,
                &session.tenant_id,
                kind,
                &session.id,
                json!({}),
                &format!("{}:{}:{kind}", session.id, logged.seq),
            )
            .await?,
        );
    }
    Ok(woken)
}

/// Sends `found` to the ledger in one batch (a D1 transaction): the
/// contributions, then the daily sums of those that were new.
async fn write(env: &Env, record: &SessionRecord, found: &[Contribution]) -> worker::Result<()> {
    let rows: Vec<serde_json::Value> = found
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "day": c.day(),
                "at": c.at.to_rfc3339(),
                "input_tokens": c.counts.input_tokens,
                "output_tokens": c.counts.output_tokens,
                "cache_read_input_tokens": c.counts.cache_read_input_tokens,
                "cache_creation_input_tokens": c.counts.cache_creation_input_tokens,
                "model_requests": c.counts.model_requests,
                "tool_calls": c.counts.tool_calls,
                "sandbox_ms": c.counts.sandbox_ms,
            })
        })
        .collect();
    let rows = Param::from(serde_json::to_string(&rows)?);
    let db = openma_cloudflare::store::db(env)?;
    let contributions = statement(
        &db,
        INSERT_CONTRIBUTIONS,
        &[
            rows.clone(),
            Param::from(record.tenant_id.as_str()),
            Param::from(record.id.as_str()),
            Param::from(record.agent.id.as_str()),
            Param::from(record.agent.model.id.as_str()),
        ],
    )?;
    let daily = statement(&db, ADD_TO_DAILY, std::slice::from_ref(&rows))?;
    let counted = statement(&db, MARK_COUNTED, &[rows])?;
    db.batch(vec![contributions, daily, counted]).await?;
    Ok(())
}

fn log_failure(inner: &Inner, error: &str) {
    let session_id = inner.record().ok().flatten().map(|r| r.id);
    worker::console_error!(
        "{}",
        json!({
            "level": "error",
            "event": "usage_ledger_write_failed",
            "session_id": session_id,
            "error": error,
        })
    );
}
