//! Keeps a session's turns moving. Work runs in the background of the request
//! that caused it; an alarm is the watchdog that resumes it from the log if
//! the object is evicted or crashes mid-turn, and the timer for retry
//! back-offs. Because every step is recorded before the next one starts, a
//! resumed driver continues exactly where the log ends.
//!
//! The watchdog is armed only while the session has work in hand (a turn
//! running or a retry scheduled) and removed when it comes to rest, so an
//! idle session has no alarm: it is never woken, and the runtime can evict
//! it.

use std::rc::Rc;

use openma_cloudflare::internal::SessionRecord;
use openma_core::HarnessError;
use openma_core::SessionSummary;
use openma_core::StepOutcome;
use serde_json::json;

use super::Inner;

/// How long a turn may go without the driver checking in before the alarm
/// resumes it (the `SESSION_WATCHDOG_MS` variable overrides it).
const WATCHDOG_MS: u64 = 30_000;

/// How long a turn's changes settle before the sessions index or the usage
/// ledger is written.
pub(super) const SETTLE_MS: u64 = 250;

/// How long to wait before retrying after an infrastructure failure.
const RETRY_MS: u64 = 2_000;

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

impl Inner {
    /// Makes sure a driver loop will look at the session soon: starts one in
    /// the background unless one is running, which then loops once more.
    pub(crate) fn kick(self: &Rc<Self>) {
        self.dirty.set(true);
        if self.driving.replace(true) {
            return;
        }
        let inner = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            inner.drive().await;
            inner.driving.set(false);
        });
    }

    /// Steps the harness until the session waits for input, for a timer, or
    /// ends. The caller holds `driving`.
    pub(crate) async fn drive(self: &Rc<Self>) {
        let mut harness = match self.harness().await {
            Ok(harness) => harness,
            Err(e) => {
                log_failure("open_session", &e.to_string(), None);
                self.arm(now_ms() + RETRY_MS).await;
                return;
            }
        };
        let session_id = harness.config().session_id.clone();
        loop {
            if harness.state().has_outstanding_work() {
                self.ensure_watchdog().await;
            }
            self.dirty.set(false);
            let outcome = harness.step_with(&*self.hub).await;
            self.sync_index(&harness.state().summary);
            self.sync_ledger(harness.state().summary.at_rest());
            match outcome {
                Ok(StepOutcome::Continue) => {}
                Ok(StepOutcome::WaitUntil(at)) => {
                    self.arm(u64::try_from(at.0).unwrap_or_default()).await;
                    if !self.dirty.get() {
                        return;
                    }
                }
                // At rest: nothing is left for a watchdog to resume once the
                // index holds the summary and the ledger the log. Until then
                // the alarm stays, so that an activation ending before the
                // writes resumes them; the last write removes the alarm.
                Ok(StepOutcome::Idle | StepOutcome::Terminated) => {
                    // The agent's tools changed while this loop ran: the
                    // next turn steps a harness opened with them.
                    if self.agent_stale.replace(false) {
                        self.harness.borrow_mut().take();
                        harness = match self.harness().await {
                            Ok(harness) => harness,
                            Err(e) => {
                                log_failure("open_session", &e.to_string(), Some(&session_id));
                                self.arm(now_ms() + RETRY_MS).await;
                                return;
                            }
                        };
                    }
                    if !self.dirty.get() {
                        let settled = || self.settled(&harness.state().summary);
                        if !settled() {
                            self.ensure_watchdog().await;
                        }
                        // The writes may have landed meanwhile, seeing the
                        // driver still running.
                        if settled() {
                            self.disarm().await;
                        }
                        return;
                    }
                }
                Err(HarnessError::StepInProgress) => return,
                Err(e) => {
                    log_failure("step", &e.to_string(), Some(&session_id));
                    self.arm(now_ms() + RETRY_MS).await;
                    return;
                }
            }
        }
    }

    /// Keeps the sessions index's copy of the summary (status, usage,
    /// running time), which lists are served from and filter on, in step
    /// with the log: a background write whenever it changes, at once when
    /// the session comes to rest. A session at rest whose index is written
    /// needs no alarm any more.
    pub(crate) fn sync_index(self: &Rc<Self>, summary: &SessionSummary) {
        *self.indexed_summary.borrow_mut() = Some(summary.clone());
        if self.index_written.borrow().as_ref() == Some(summary) || self.index_writing.replace(true)
        {
            return;
        }
        let settle = !summary.at_rest();
        let inner = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            // Let a turn in progress settle first: a turn that is over within
            // the debounce costs the index one write. Then write until the
            // index holds the latest summary; a change made meanwhile is
            // picked up by the next round.
            if settle {
                worker::Delay::from(std::time::Duration::from_millis(SETTLE_MS)).await;
            }
            loop {
                let latest = inner.indexed_summary.borrow().clone();
                let Some(latest) = latest else { break };
                if inner.index_written.borrow().as_ref() == Some(&latest) {
                    break;
                }
                if let Err(e) = inner.write_index_summary(&latest).await {
                    log_failure("index_summary", &e.to_string(), None);
                    break;
                }
                *inner.index_written.borrow_mut() = Some(latest);
            }
            inner.index_writing.set(false);
            inner.disarm_if_settled().await;
        });
    }

    /// Whether a session at rest owes nothing more: the index holds
    /// `summary` and the usage ledger holds the log up to its last seq.
    /// Only then may its watchdog alarm go.
    fn settled(&self, summary: &SessionSummary) -> bool {
        summary.at_rest()
            && self.index_written.borrow().as_ref() == Some(summary)
            && self
                .ledger_cursor
                .get()
                .is_some_and(|seq| seq >= summary.last_seq)
    }

    /// After a background write: removes the alarm of a session at rest
    /// that owes nothing more, unless a driver loop runs (it decides).
    pub(super) async fn disarm_if_settled(&self) {
        let settled = {
            let written = self.index_written.borrow();
            written
                .as_ref()
                .is_some_and(|summary| self.settled(summary))
        };
        if settled && !self.driving.get() {
            self.disarm().await;
        }
    }

    async fn write_index_summary(&self, summary: &SessionSummary) -> worker::Result<()> {
        let Some(record) = self.record()? else {
            return Ok(());
        };
        let status = serde_json::to_value(summary.status)?
            .as_str()
            .unwrap_or("idle")
            .to_owned();
        let summary = serde_json::to_string(summary)?;
        // The log is in the object and was active just now: a marker of an
        // archive left by a restore whose index write failed goes too.
        let now = openma_core::ports::Clock::now(&crate::clock::RuntimeClock);
        self.env
            .d1("DB")?
            .prepare(
                "UPDATE sessions SET status = ?1, summary = ?2, active_at = ?3,
                                     log_archive_key = NULL, log_archived_at = NULL
                 WHERE id = ?4",
            )
            .bind(&[
                status.into(),
                summary.into(),
                now.to_rfc3339().into(),
                record.id.into(),
            ])?
            .run()
            .await?;
        Ok(())
    }

    /// Writes a changed session record (title, metadata, resources,
    /// archive time) to the sessions index before the change is answered,
    /// so that a list read after it shows it. The log is in the object: a
    /// stale archive marker goes.
    pub(crate) async fn index_record(&self, record: &SessionRecord) -> worker::Result<()> {
        let value = serde_json::to_string(record)?;
        let title = record
            .title
            .clone()
            .map_or(wasm_bindgen::JsValue::NULL, Into::into);
        let archived_at = record
            .archived_at
            .map_or(wasm_bindgen::JsValue::NULL, |at| at.to_rfc3339().into());
        self.env
            .d1("DB")?
            .prepare(
                "UPDATE sessions SET record = ?1, title = ?2, archived_at = ?3, updated_at = ?4,
                                     log_archive_key = NULL, log_archived_at = NULL
                 WHERE id = ?5",
            )
            .bind(&[
                value.into(),
                title,
                archived_at,
                record.updated_at.to_rfc3339().into(),
                record.id.clone().into(),
            ])?
            .run()
            .await?;
        Ok(())
    }

    /// Makes sure an alarm will fire within the watchdog period, writing a
    /// new one only when the armed one is due too soon (or unknown).
    async fn ensure_watchdog(&self) {
        let now = now_ms();
        let period = self.watchdog_ms();
        match self.armed_at.get() {
            Some(at) if at > now + period / 2 => {}
            _ => self.arm(now + period).await,
        }
    }

    fn watchdog_ms(&self) -> u64 {
        self.duration_setting("SESSION_WATCHDOG_MS", WATCHDOG_MS)
    }

    /// Removes the alarm this object armed, if any.
    async fn disarm(&self) {
        // Forgotten before the await: a turn starting meanwhile arms anew,
        // and its alarm is written after this removal.
        if self.armed_at.take().is_none() {
            return;
        }
        if let Err(e) = self.state.storage().delete_alarm().await {
            log_failure("delete_alarm", &e.to_string(), None);
        }
    }

    async fn arm(&self, at_ms: u64) {
        // workers-rs reads an integer as an offset from now.
        let offset = i64::try_from(at_ms.saturating_sub(now_ms())).unwrap_or(i64::MAX);
        match self.state.storage().set_alarm(offset).await {
            Ok(()) => self.armed_at.set(Some(at_ms)),
            Err(e) => log_failure("set_alarm", &e.to_string(), None),
        }
    }
}

/// The alarm: resume the session's work, or, if a driver is already running
/// (a long model call), push the watchdog further out.
pub(crate) async fn on_alarm(inner: &Rc<Inner>) {
    inner.armed_at.set(None);
    let driving = inner.driving.get();
    inner.log_info(json!({
        "event": "session_alarm",
        "session_id": inner.record().ok().flatten().map(|r| r.id),
        "driving": driving,
    }));
    if driving {
        inner.arm(now_ms() + inner.watchdog_ms()).await;
        return;
    }
    match inner.record() {
        Ok(Some(_)) => {}
        // Deleted, or unreadable: nothing to resume.
        Ok(None) => return,
        Err(e) => {
            log_failure("alarm", &e.to_string(), None);
            return;
        }
    }
    inner.driving.set(true);
    inner.dirty.set(true);
    inner.drive().await;
    inner.driving.set(false);
}

fn log_failure(stage: &str, error: &str, session_id: Option<&str>) {
    worker::console_error!(
        "{}",
        json!({
            "level": "error",
            "event": "session_driver_failure",
            "stage": stage,
            "session_id": session_id,
            "error": error,
        })
    );
}
