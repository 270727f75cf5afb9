//! openma's agent worker (`openma-agent`): one `SessionDO` per session holds
//! the event log and drives the harness; one `Sandbox` per session owns the
//! session's container (or, in local development, reaches the local sandbox
//! server). The main worker reaches each session's object directly, through
//! a Durable Object binding to this worker's `SessionDO` class; this worker's
//! own fetch handler serves its health check and the retention pass
//! ([`retention`]), which its cron also runs.

mod clock;
mod egress;
mod interrupts;
mod mcp;
mod model;
mod mounts;
mod providers;
mod retention;
mod sandbox;
mod secrets;
mod session;
mod signals;
mod tools;
mod webhooks;

use openma_cloudflare::Check;
use openma_cloudflare::HealthReport;
use worker::Context;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::event;

pub use sandbox::Sandbox;
pub use session::SessionDO;
pub use webhooks::WebhookSender;

const WORKER: &str = "openma-agent";

/// This worker in the operator's diagnostics bundle.
const DESCRIPTION: openma_cloudflare::diagnostics::WorkerDescription =
    openma_cloudflare::diagnostics::WorkerDescription {
        worker: WORKER,
        bindings: &[
            "DB",
            "CONFIG",
            "FILES",
            "BLOBS",
            "SESSION",
            "SANDBOX",
            "WEBHOOKS",
            "ANALYTICS",
        ],
        settings: &[
            "OMA_ENVIRONMENT",
            "LOG_LEVEL",
            "ANTHROPIC_BASE_URL",
            "SANDBOX_URL",
            "MODEL_FIRST_BYTE_TIMEOUT_MS",
            "MODEL_IDLE_TIMEOUT_MS",
            "MODEL_MAX_ATTEMPTS",
            "MODEL_RETRY_BASE_MS",
            "PLATFORM_MODEL_KEY_FOR_TENANTS",
            "SESSION_WATCHDOG_MS",
            "TOOL_CALL_TIMEOUT_MS",
        ],
        secrets: &[
            "ANTHROPIC_API_KEY",
            "PLATFORM_ROOT_SECRET",
            "PLATFORM_ROOT_SECRET_PREVIOUS",
            "SANDBOX_TOKEN",
        ],
    };

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    if req.method() == Method::Get && (path == "/health" || path == "/ready") {
        return health(&env, path == "/ready").await;
    }
    if req.method() == Method::Get && path == "/diagnostics" {
        return openma_cloudflare::json(200, &DESCRIPTION.describe(&env));
    }
    // Reached only through main's service binding: this worker has no
    // public route.
    if req.method() == Method::Post && path == "/internal/archive" {
        return retention::serve(&env, req).await;
    }
    // `/sessions/{id}/...`: the session's own object answers.
    if let Some(rest) = path.strip_prefix("/sessions/") {
        let id = rest.split('/').next().unwrap_or_default();
        if openma_core::wire::ids::has_prefix(id, openma_core::wire::ids::SESSION_PREFIX) {
            let stub = env
                .durable_object("SESSION")?
                .id_from_name(id)?
                .get_stub()?;
            return stub.fetch_with_request(req).await;
        }
    }
    openma_cloudflare::json(
        404,
        &serde_json::json!({
            "type": "error",
            "error": {"type": "not_found_error", "message": format!("no route for {path}")},
        }),
    )
}

/// The cron (`triggers.crons` in `wrangler-agent.jsonc`): one retention
/// pass. Its report is logged (`archive_run`); a failed sweep leaves the
/// session's log where it was, for the next pass.
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    if let Err(e) = retention::run(&env, retention::DEFAULT_BATCH, "cron").await {
        worker::console_error!(
            "{}",
            serde_json::json!({"level": "error", "event": "archive_run_failed", "error": e.to_string()})
        );
    }
    // Webhook deliveries whose endpoint was never woken (a lost wake): the
    // endpoints' own alarms carry every retry after the first.
    #[allow(clippy::cast_possible_truncation)]
    let now = worker::Date::now().as_millis() as i64;
    match openma_cloudflare::store::webhooks::due_endpoints(&env, now, 100).await {
        Ok(endpoints) => openma_cloudflare::webhooks::wake(&env, &endpoints).await,
        Err(e) => worker::console_error!(
            "{}",
            serde_json::json!({"level": "error", "event": "webhook_sweep_failed", "error": e.to_string()})
        ),
    }
}

/// `GET /health`: every backend of this worker. `GET /ready` also needs
/// the model provider's key, without which no turn can run.
async fn health(env: &Env, ready: bool) -> Result<Response> {
    let (config, d1, kv, blobs, session_do, sandbox) = futures_util::join!(
        openma_cloudflare::probe_config(
            env,
            &[
                "PLATFORM_ROOT_SECRET",
                "ANTHROPIC_BASE_URL",
                "SANDBOX_TOKEN"
            ]
        ),
        openma_cloudflare::probe_d1(env, "DB"),
        openma_cloudflare::probe_kv(env, "CONFIG"),
        openma_cloudflare::probe_r2(env, "BLOBS"),
        probe_object(env, "SESSION"),
        probe_object(env, "SANDBOX"),
    );
    let mut report = HealthReport::new(WORKER);
    report.add("d1", d1);
    report.add("kv", kv);
    report.add("r2_blobs", blobs);
    report.add("config", config);
    report.add("session_do", session_do);
    report.add("sandbox", sandbox);
    if ready {
        report.add(
            "model_key",
            openma_cloudflare::probe_config(env, &["ANTHROPIC_API_KEY"]).await,
        );
    }
    report.into_response()
}

/// Reaches a Durable Object named `health` in the given namespace and asks
/// it to exercise its own storage (and, for the sandbox, its backend).
async fn probe_object(env: &Env, binding: &'static str) -> Check {
    Check::probe(async {
        let namespace = env.durable_object(binding).map_err(|e| e.to_string())?;
        let stub = namespace
            .id_from_name("health")
            .and_then(|id| id.get_stub())
            .map_err(|e| e.to_string())?;
        // The sandbox object answers its health check on its own host only;
        // anything else it receives may be a container's outbound request.
        let host = if binding == "SANDBOX" {
            sandbox::INTERNAL_HOST
        } else {
            "do.internal"
        };
        let resp = stub
            .fetch_with_str(&format!("https://{host}/health"))
            .await
            .map_err(|e| e.to_string())?;
        openma_cloudflare::healthy_answer(binding, resp).await
    })
    .await
}
