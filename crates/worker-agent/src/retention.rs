//! The retention pass: moves the event logs of sessions that no longer need
//! them at hand into R2. Run by this worker's cron and, on demand, by the
//! operator (`POST /v1/operator/archive` on main reaches
//! `POST /internal/archive` here through the `AGENT` service binding).
//!
//! A pass reads its candidates from the sessions index: sessions whose log
//! is still in their object that are archived, or at rest (idle or
//! terminated) and inactive for `SESSION_ARCHIVE_AFTER_DAYS` days (30 unless
//! set). It asks each one's `SessionDO` to sweep (`POST /sweep`); the object
//! checks again for itself, moves its storage, and answers `swept` or
//! `skipped` with a reason. A pass handles at most `limit` sessions, a few
//! at a time, so that it stays within a Worker's subrequest and time
//! limits; `remaining` says there are more. Candidates the pass could not
//! sweep are tried again after the others (`archive_attempted_at`).

use futures_util::StreamExt;
use openma_cloudflare::internal::TENANT_HEADER;
use openma_cloudflare::store;
use openma_cloudflare::store::Param;
use openma_core::wire::Timestamp;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;

/// `SESSION_ARCHIVE_AFTER_DAYS` unless set.
const DEFAULT_AFTER_DAYS: u64 = 30;

/// Sessions one pass handles unless asked for fewer (or, by the operator,
/// more, up to [`MAX_BATCH`]).
pub(crate) const DEFAULT_BATCH: usize = 40;

/// The most sessions one pass may handle.
pub(crate) const MAX_BATCH: usize = 100;

/// Sweeps in flight at once.
const CONCURRENCY: usize = 4;

const DAY_MS: u64 = 86_400_000;

/// What a pass did.
#[derive(Debug, Serialize)]
pub(crate) struct ArchiveRun {
    #[serde(rename = "type")]
    kind: &'static str,
    /// The setting in force.
    archive_after_days: u64,
    /// How many sessions were swept.
    swept: usize,
    /// Their ids.
    sessions: Vec<String>,
    /// Candidates left as they were, with why.
    skipped: Vec<Skipped>,
    /// Candidates whose sweep failed, with why (their logs are intact).
    failed: Vec<Failed>,
    /// More candidates than this pass handled: run another.
    remaining: bool,
}

#[derive(Debug, Serialize)]
struct Skipped {
    session_id: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Failed {
    session_id: String,
    error: String,
}

#[derive(Debug, Deserialize)]
struct Candidate {
    id: String,
    tenant_id: String,
}

/// What a session answered.
enum Outcome {
    Swept,
    Skipped(String),
    Failed(String),
}

/// The days a session may rest before its log moves to R2:
/// `SESSION_ARCHIVE_AFTER_DAYS`, a whole number of days (0: as soon as it is
/// at rest); 30 when unset, and when invalid (with a warning).
pub(crate) fn archive_after_days(env: &Env) -> u64 {
    let Some(value) = openma_cloudflare::setting(env, "SESSION_ARCHIVE_AFTER_DAYS") else {
        return DEFAULT_AFTER_DAYS;
    };
    match value.trim().parse::<u64>() {
        Ok(days) if days <= 36_500 => days,
        _ => {
            worker::console_warn!(
                "{}",
                json!({
                    "level": "warn",
                    "event": "invalid_setting",
                    "setting": "SESSION_ARCHIVE_AFTER_DAYS",
                    "value": value,
                    "using": DEFAULT_AFTER_DAYS,
                })
            );
            DEFAULT_AFTER_DAYS
        }
    }
}

/// Runs one pass over at most `limit` candidates.
/// One retention pass, started by `trigger` (`cron` or `operator`), counted
/// in `oma_archival_runs_total`.
pub(crate) async fn run(env: &Env, limit: usize, trigger: &str) -> worker::Result<ArchiveRun> {
    let days = archive_after_days(env);
    let now = worker::Date::now().as_millis();
    let idle_before = i64::try_from(now.saturating_sub(days.saturating_mul(DAY_MS))).unwrap_or(0);
    let mut candidates: Vec<Candidate> = store::all(
        env,
        "SELECT id, tenant_id FROM sessions
         WHERE log_archived_at IS NULL
           AND (archived_at IS NOT NULL
                OR (status IN ('idle', 'terminated')
                    AND MAX(updated_at, COALESCE(active_at, updated_at)) < ?1))
         ORDER BY archive_attempted_at, id
         LIMIT ?2",
        &[
            Param::from(Timestamp(idle_before).to_rfc3339()),
            Param::Int(i64::try_from(limit + 1).unwrap_or(i64::MAX)),
        ],
    )
    .await?;
    let remaining = candidates.len() > limit;
    candidates.truncate(limit);
    let outcomes: Vec<Outcome> = futures_util::stream::iter(&candidates)
        .map(|candidate| sweep(env, candidate, idle_before))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    if !candidates.is_empty() {
        let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
        store::run(
            env,
            "UPDATE sessions SET archive_attempted_at = ?1
             WHERE id IN (SELECT value FROM json_each(?2))",
            &[
                Param::from(Timestamp(i64::try_from(now).unwrap_or(i64::MAX)).to_rfc3339()),
                Param::from(serde_json::to_string(&ids)?),
            ],
        )
        .await?;
    }
    let mut run = ArchiveRun {
        kind: "archive_run",
        archive_after_days: days,
        swept: 0,
        sessions: Vec::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
        remaining,
    };
    for (candidate, outcome) in candidates.into_iter().zip(outcomes) {
        match outcome {
            Outcome::Swept => run.sessions.push(candidate.id),
            Outcome::Skipped(reason) => run.skipped.push(Skipped {
                session_id: candidate.id,
                reason,
            }),
            Outcome::Failed(error) => run.failed.push(Failed {
                session_id: candidate.id,
                error,
            }),
        }
    }
    run.swept = run.sessions.len();
    let line = json!({
        "event": "archive_run",
        "archive_after_days": days,
        "swept": run.swept,
        "skipped": run.skipped.len(),
        "failed": run.failed.len(),
        "remaining": remaining,
        "ms": worker::Date::now().as_millis().saturating_sub(now),
    });
    if run.failed.is_empty() {
        if openma_cloudflare::info_logs(env) {
            worker::console_log!("{}", with_level(line, "info"));
        }
    } else {
        worker::console_warn!("{}", with_level(line, "warn"));
    }
    let counted = [openma_core::metrics::increment(
        openma_core::metrics::ARCHIVAL_RUNS,
        &[("trigger", trigger)],
    )];
    if let Err(e) = store::metrics::add(env, &counted).await {
        worker::console_warn!(
            "{}",
            json!({"level": "warn", "event": "metrics_write_failed", "error": e.to_string()})
        );
    }
    Ok(run)
}

fn with_level(mut line: Value, level: &str) -> Value {
    line["level"] = json!(level);
    line
}

/// Asks a candidate's object to sweep itself.
async fn sweep(env: &Env, candidate: &Candidate, idle_before: i64) -> Outcome {
    match ask(env, candidate, idle_before).await {
        Ok((200, answer)) => match answer["outcome"].as_str() {
            Some("swept") => Outcome::Swept,
            Some("skipped") => Outcome::Skipped(
                answer["reason"]
                    .as_str()
                    .unwrap_or("unspecified")
                    .to_owned(),
            ),
            _ => Outcome::Failed(format!("an unexpected answer: {answer}")),
        },
        Ok((status, answer)) => Outcome::Failed(format!(
            "{status}: {}",
            answer["error"]["message"].as_str().unwrap_or("no message")
        )),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn ask(env: &Env, candidate: &Candidate, idle_before: i64) -> worker::Result<(u16, Value)> {
    let headers = Headers::new();
    headers.set(TENANT_HEADER, &candidate.tenant_id)?;
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(json!({"idle_before": idle_before}).to_string().into()));
    let req = Request::new_with_init(
        &format!("https://session.internal/sessions/{}/sweep", candidate.id),
        &init,
    )?;
    let mut resp = env
        .durable_object("SESSION")?
        .id_from_name(&candidate.id)?
        .get_stub()?
        .fetch_with_request(req)
        .await?;
    let status = resp.status_code();
    let answer = resp.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, answer))
}

/// `POST /internal/archive` (`{"limit"?: 1..=100}`): one pass, answered
/// with its report.
pub(crate) async fn serve(env: &Env, mut req: Request) -> worker::Result<worker::Response> {
    let body = req.text().await?;
    let limit = match parse_limit(&body) {
        Ok(limit) => limit,
        Err(message) => {
            return openma_cloudflare::json(
                400,
                &json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
            );
        }
    };
    let run = run(env, limit, "operator").await?;
    openma_cloudflare::json(200, &run)
}

/// The batch size a request body asks for.
fn parse_limit(body: &str) -> Result<usize, String> {
    if body.trim().is_empty() {
        return Ok(DEFAULT_BATCH);
    }
    let value: Value = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
    match value.get("limit") {
        None | Some(Value::Null) => Ok(DEFAULT_BATCH),
        Some(limit) => limit
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_BATCH).contains(n))
            .ok_or_else(|| format!("limit: expected an integer from 1 to {MAX_BATCH}")),
    }
}

#[cfg(test)]
mod tests {
    use super::DEFAULT_BATCH;
    use super::parse_limit;

    #[test]
    fn a_pass_handles_a_bounded_batch() {
        assert_eq!(parse_limit(""), Ok(DEFAULT_BATCH));
        assert_eq!(parse_limit("{}"), Ok(DEFAULT_BATCH));
        assert_eq!(parse_limit(r#"{"limit": 1}"#), Ok(1));
        assert_eq!(parse_limit(r#"{"limit": 100}"#), Ok(100));
        for bad in [
            r#"{"limit": 0}"#,
            r#"{"limit": 101}"#,
            r#"{"limit": "5"}"#,
            "[",
            r#"{"limit": 1.5}"#,
        ] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }
}
