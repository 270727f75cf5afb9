//! openma's public API worker (`openma-main`): authenticates callers, serves
//! the control plane, and forwards session traffic to the agent worker and
//! webhooks to the integrations worker over service bindings.

use openma_cloudflare::HealthReport;
use worker::Context;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::event;

const WORKER: &str = "openma-main";

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    match (req.method(), path.as_str()) {
        (Method::Get, "/health") => health(&env).await,
        (Method::Get, "/health/live") => openma_cloudflare::json(
            200,
            &serde_json::json!({"status": "ok", "worker": WORKER, "version": openma_core::VERSION}),
        ),
        (_, p) if p.starts_with("/integrations/") => {
            env.service("INTEGRATIONS")?.fetch_request(req).await
        }
        _ => openma_cloudflare::json(
            404,
            &serde_json::json!({
                "type": "error",
                "error": {"type": "not_found_error", "message": format!("no route for {path}")},
            }),
        ),
    }
}

/// Exercises every backend this worker depends on, and the agent and
/// integrations workers' own health through their service bindings.
async fn health(env: &Env) -> Result<Response> {
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
