//! The worker's structured log lines, each with its counter and its
//! Analytics Engine point: deliveries received, rejected, deduplicated and
//! ignored; replies sent, retried and dead. Never a token or a body.

use openma_cloudflare::store::integrations::DeliveryRow;
use openma_core::metrics;
use serde_json::Value;
use serde_json::json;
use worker::Env;

use crate::outbox::describe;

/// A webhook delivery and what became of it. The counter's write is
/// returned, for the request to keep alive (`waitUntil`).
#[must_use]
pub(crate) fn delivery(
    env: &Env,
    provider: &str,
    outcome: &str,
    detail: Value,
) -> Option<impl Future<Output = ()> + use<>> {
    let mut line = json!({
        "level": if outcome == "rejected" { "warn" } else { "info" },
        "event": "integration_delivery",
        "provider": provider,
        "outcome": outcome,
    });
    merge(&mut line, detail);
    write(
        env,
        &line,
        metrics::INTEGRATION_DELIVERIES,
        provider,
        outcome,
    )
}

/// A reply's attempt and what became of it.
pub(crate) fn reply(
    env: &Env,
    provider: &str,
    outcome: &str,
    row: &DeliveryRow,
    attempts: i64,
    error: Option<&str>,
) {
    let mut line = json!({
        "level": if outcome == "dead" { "error" } else { "info" },
        "event": "integration_reply",
        "provider": provider,
        "outcome": outcome,
        "attempts": attempts,
        "error": error,
    });
    merge(&mut line, describe(row));
    if let Some(flush) = write(env, &line, metrics::INTEGRATION_REPLIES, provider, outcome) {
        // Replies are posted by a thread's object, whose background
        // outlives the request.
        wasm_bindgen_futures::spawn_local(flush);
    }
}

/// A failure of the worker's own machinery (the platform API, storage).
pub(crate) fn failure(what: &str, error: &str, thread: Option<&str>) {
    worker::console_error!(
        "{}",
        json!({"level": "error", "event": "integration_failure", "what": what, "error": error, "thread": thread})
    );
}

fn merge(line: &mut Value, detail: Value) {
    if let (Some(line), Value::Object(detail)) = (line.as_object_mut(), detail) {
        line.extend(detail);
    }
}

fn write(
    env: &Env,
    line: &Value,
    metric: &str,
    provider: &str,
    outcome: &str,
) -> Option<impl Future<Output = ()> + use<>> {
    match line["level"].as_str() {
        Some("error") => worker::console_error!("{line}"),
        Some("warn") => worker::console_warn!("{line}"),
        _ => worker::console_log!("{line}"),
    }
    if let Ok(dataset) = env.analytics_engine("ANALYTICS") {
        let point = worker::AnalyticsEngineDataPointBuilder::new()
            .blobs([metric, provider, outcome])
            .add_double(1.0)
            .build();
        // Dashboards only: the counter above is the record.
        let _ = dataset.write_data_point(&point);
    }
    openma_cloudflare::store::metrics::queue(
        env,
        vec![metrics::increment(
            metric,
            &[("provider", provider), ("outcome", outcome)],
        )],
    )
}
