//! The deployment-wide metrics (D1 `metrics`, one row per series) and the
//! latest error answers (D1 `recent_errors`), shared by every worker.

use std::cell::Cell;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use openma_core::metrics::Sample;
use serde::Deserialize;
use serde::Serialize;
use worker::Env;

use super::Param;
use super::db;
use super::statement;

/// How many error rows are kept.
const KEEP_ERRORS: i64 = 200;

/// Adds `samples` to their series, in one batch (samples of one series are
/// summed first).
pub async fn add(env: &Env, samples: &[Sample]) -> worker::Result<()> {
    let mut sums: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for sample in samples {
        *sums
            .entry((sample.name.as_str(), sample.labels.as_str()))
            .or_default() += sample.value;
    }
    if sums.is_empty() {
        return Ok(());
    }
    let db = db(env)?;
    let statements = sums
        .into_iter()
        .map(|((name, labels), value)| {
            statement(
                &db,
                "INSERT INTO metrics (name, labels, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value",
                &[Param::from(name), Param::from(labels), Param::Real(value)],
            )
        })
        .collect::<worker::Result<Vec<_>>>()?;
    db.batch(statements).await?;
    Ok(())
}

/// How long samples wait in an isolate to be written together.
const FLUSH_MS: u64 = 250;

/// The most writes one flush makes before it hands over to the next.
const FLUSH_ROUNDS: usize = 8;

thread_local! {
    /// Samples of this isolate not yet written.
    static PENDING: RefCell<Vec<Sample>> = const { RefCell::new(Vec::new()) };
    /// Whether a flush is under way (it takes what is queued meanwhile).
    static FLUSHING: Cell<bool> = const { Cell::new(false) };
}

/// Queues `samples` to be added with the others of this isolate, at most
/// one write every [`FLUSH_MS`]. When this call opens a window, it returns
/// the flush, which the caller keeps alive (`waitUntil`, or the Durable
/// Object's background); otherwise a flush under way takes them.
#[must_use]
pub fn queue(env: &Env, samples: Vec<Sample>) -> Option<impl Future<Output = ()> + use<>> {
    if samples.is_empty() {
        return None;
    }
    PENDING.with_borrow_mut(|pending| pending.extend(samples));
    if FLUSHING.replace(true) {
        return None;
    }
    let env = env.clone();
    Some(async move {
        // Bounded, so that the invocation keeping it alive ends: what
        // arrives after the last round opens the next window.
        for _ in 0..FLUSH_ROUNDS {
            worker::Delay::from(Duration::from_millis(FLUSH_MS)).await;
            let batch = PENDING.with_borrow_mut(std::mem::take);
            if batch.is_empty() {
                break;
            }
            if let Err(e) = add(&env, &batch).await {
                worker::console_warn!(
                    "{}",
                    serde_json::json!({"level": "warn", "event": "metrics_write_failed", "error": e.to_string()})
                );
            }
        }
        FLUSHING.set(false);
    })
}

/// [`queue`] from a Durable Object, whose background outlives the request.
pub fn spawn_add(env: &Env, samples: Vec<Sample>) {
    if let Some(flush) = queue(env, samples) {
        wasm_bindgen_futures::spawn_local(flush);
    }
}

#[derive(Deserialize)]
struct SeriesRow {
    name: String,
    labels: String,
    value: f64,
}

/// Every stored series: name, labels, value.
pub async fn series(env: &Env) -> worker::Result<Vec<(String, String, f64)>> {
    let rows: Vec<SeriesRow> =
        super::all(env, "SELECT name, labels, value FROM metrics", &[]).await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.name, row.labels, row.value))
        .collect())
}

/// One error answer, as the diagnostics bundle lists it. Its message is
/// redacted before it is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorRow {
    /// When (RFC 3339).
    pub at: String,
    /// Which worker answered.
    pub worker: String,
    /// The answer's `request-id`.
    pub request_id: Option<String>,
    /// The request's method.
    pub method: String,
    /// Its route label.
    pub route: String,
    /// The answer's status.
    pub status: i64,
    /// `error.type`.
    pub error_type: String,
    /// `error.message`, redacted.
    pub message: String,
}

/// Stores an error answer (its message redacted) and trims the table to the
/// newest rows.
pub async fn record_error(env: &Env, mut row: ErrorRow) -> worker::Result<()> {
    row.message = openma_core::redact::redact(&row.message);
    let db = db(env)?;
    let insert = statement(
        &db,
        "INSERT INTO recent_errors (at, worker, request_id, method, route, status, error_type, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[
            Param::from(row.at.as_str()),
            Param::from(row.worker.as_str()),
            Param::from(row.request_id.clone()),
            Param::from(row.method.as_str()),
            Param::from(row.route.as_str()),
            Param::Int(row.status),
            Param::from(row.error_type.as_str()),
            Param::from(row.message.as_str()),
        ],
    )?;
    let trim = statement(
        &db,
        "DELETE FROM recent_errors WHERE id <= (SELECT MAX(id) FROM recent_errors) - ?1",
        &[Param::Int(KEEP_ERRORS)],
    )?;
    db.batch(vec![insert, trim]).await?;
    Ok(())
}

/// The newest `limit` error answers, newest first.
pub async fn recent_errors(env: &Env, limit: i64) -> worker::Result<Vec<ErrorRow>> {
    super::all(
        env,
        "SELECT at, worker, request_id, method, route, status, error_type, message
         FROM recent_errors ORDER BY id DESC LIMIT ?1",
        &[Param::Int(limit)],
    )
    .await
}
