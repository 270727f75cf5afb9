//! `GET /health` and `GET /health/live`.

use openma_cloudflare::HealthReport;
use worker::Env;
use worker::Response;
use worker::Result;

use crate::WORKER;

/// Exercises every backend this worker depends on, and the agent and
/// integrations workers' own health through their service bindings.
pub(crate) async fn deep(env: &Env) -> Result<Response> {
    let (config, d1, kv, files, blobs, agent, integrations) = futures_util::join!(
        openma_cloudflare::probe_config(env, &["API_KEY", "PLATFORM_ROOT_SECRET"]),
        openma_cloudflare::probe_d1(env, "DB"),
        openma_cloudflare::probe_kv(env, "CONFIG"),
        openma_cloudflare::probe_r2(env, "FILES"),
        openma_cloudflare::probe_r2(env, "BLOBS"),
        openma_cloudflare::probe_service(env, "AGENT", "/health"),
        openma_cloudflare::probe_service(env, "INTEGRATIONS", "/health"),
    );
    let mut report = HealthReport::new(WORKER);
    report.add("d1", d1);
    report.add("kv", kv);
    report.add("r2_files", files);
    report.add("r2_blobs", blobs);
    report.add("config", config);
    report.add("agent", agent);
    report.add("integrations", integrations);
    report.into_response()
}

/// This worker alone, for dependents that must not recurse.
pub(crate) fn live() -> Result<Response> {
    openma_cloudflare::json(
        200,
        &serde_json::json!({"status": "ok", "worker": WORKER, "version": openma_core::VERSION}),
    )
}
