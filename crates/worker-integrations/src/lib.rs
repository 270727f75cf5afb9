//! openma's integrations worker (`openma-integrations`): receives Linear,
//! Slack and GitHub webhooks, verifies and de-duplicates them, turns them into
//! sessions through the main worker, and delivers replies through an outbox.

use openma_cloudflare::HealthReport;
use worker::Context;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::event;

const WORKER: &str = "openma-integrations";

/// This worker in the operator's diagnostics bundle.
const DESCRIPTION: openma_cloudflare::diagnostics::WorkerDescription =
    openma_cloudflare::diagnostics::WorkerDescription {
        worker: WORKER,
        bindings: &["DB", "CONFIG", "MAIN", "ANALYTICS"],
        settings: &["OMA_ENVIRONMENT", "LOG_LEVEL"],
        secrets: &[
            "LINEAR_WEBHOOK_SECRET",
            "SLACK_SIGNING_SECRET",
            "GITHUB_WEBHOOK_SECRET",
        ],
    };

/// The providers whose webhooks this worker accepts, and the secret each needs.
const PROVIDERS: [(&str, &str); 3] = [
    ("linear", "LINEAR_WEBHOOK_SECRET"),
    ("slack", "SLACK_SIGNING_SECRET"),
    ("github", "GITHUB_WEBHOOK_SECRET"),
];

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match (req.method(), req.path().as_str()) {
        (Method::Get, "/health") => health(&env).await,
        (Method::Get, "/integrations/status") => status(&env),
        (Method::Get, "/diagnostics") => openma_cloudflare::json(200, &DESCRIPTION.describe(&env)),
        (_, path) => openma_cloudflare::json(
            404,
            &serde_json::json!({
                "type": "error",
                "error": {"type": "not_found_error", "message": format!("no route for {path}")},
            }),
        ),
    }
}

async fn health(env: &Env) -> Result<Response> {
    let (d1, kv, main) = futures_util::join!(
        openma_cloudflare::probe_d1(env, "DB"),
        openma_cloudflare::probe_kv(env, "CONFIG"),
        openma_cloudflare::probe_service(env, "MAIN", "/health/live"),
    );
    let mut report = HealthReport::new(WORKER);
    report.add("d1", d1);
    report.add("kv", kv);
    report.add("main", main);
    report.into_response()
}

/// Which providers are configured (their signing secret is set); never the
/// secrets themselves.
fn status(env: &Env) -> Result<Response> {
    let providers: serde_json::Map<String, serde_json::Value> = PROVIDERS
        .iter()
        .map(|(name, secret)| {
            let configured = env
                .secret(secret)
                .map(|s| !s.to_string().is_empty())
                .unwrap_or(false);
            (
                (*name).to_owned(),
                serde_json::json!({"configured": configured}),
            )
        })
        .collect();
    openma_cloudflare::json(
        200,
        &serde_json::json!({"worker": WORKER, "providers": providers}),
    )
}
