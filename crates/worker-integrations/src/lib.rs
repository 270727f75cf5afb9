//! openma's integrations worker (`openma-integrations`): receives Linear,
//! Slack and GitHub webhooks, verifies and de-duplicates them, turns them into
//! sessions through the main worker, and delivers replies through an outbox.
//! It also fires deployments' schedules (`DeploymentScheduler`).

mod config;
mod log;
mod outbox;
mod platform;
mod scheduler;
mod thread;
mod watch;
mod webhook;

use openma_cloudflare::HealthReport;
use openma_core::integrations::Provider;
use serde::Deserialize;
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
        bindings: &["DB", "CONFIG", "MAIN", "THREADS", "SCHEDULERS", "ANALYTICS"],
        settings: &[
            "OMA_ENVIRONMENT",
            "LOG_LEVEL",
            "SLACK_API_BASE",
            "LINEAR_API_BASE",
            "GITHUB_API_BASE",
            "OUTBOX_MAX_ATTEMPTS",
            "OUTBOX_RETRY_BASE_MS",
        ],
        secrets: &[
            "PLATFORM_ROOT_SECRET",
            "LINEAR_WEBHOOK_SECRET",
            "SLACK_SIGNING_SECRET",
            "GITHUB_WEBHOOK_SECRET",
        ],
    };

pub use scheduler::DeploymentScheduler;
pub use thread::IntegrationThread;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    if let Some(provider) = Provider::ALL.into_iter().find(|p| p.webhook_path() == path) {
        if req.method() != Method::Post {
            return webhook::error(405, "invalid_request_error", "webhooks are POSTed");
        }
        return webhook::receive(provider, req, &env, &ctx).await;
    }
    match (req.method(), path.as_str()) {
        (Method::Get, "/health") => health(&env).await,
        (Method::Get, "/integrations/status") => status(&env),
        (Method::Get, "/diagnostics") => openma_cloudflare::json(200, &DESCRIPTION.describe(&env)),
        (Method::Post, "/internal/threads/kick") => kick(req, &env).await,
        (Method::Post, "/internal/deployments/kick") => kick_deployment(req, &env).await,
        (_, path) => webhook::error(404, "not_found_error", &format!("no route for {path}")),
    }
}

/// `POST /internal/threads/kick {thread_key}`: the main worker wakes a
/// conversation after re-driving its reply. Only with the service token.
async fn kick(mut req: Request, env: &Env) -> Result<Response> {
    #[derive(Deserialize)]
    struct Kick {
        thread_key: String,
    }
    if !openma_cloudflare::service::is_service_call(req.headers(), env) {
        return webhook::error(
            404,
            "not_found_error",
            "no route for /internal/threads/kick",
        );
    }
    let Ok(Kick { thread_key }) = req.json::<Kick>().await else {
        return webhook::error(400, "invalid_request_error", "thread_key: required");
    };
    webhook::kick(env, &thread_key).await?;
    openma_cloudflare::json(200, &serde_json::json!({"ok": true}))
}

/// `POST /internal/deployments/kick {deployment_id}`: the main worker
/// tells a deployment's scheduler that its next scheduled time changed.
/// Only with the service token.
async fn kick_deployment(mut req: Request, env: &Env) -> Result<Response> {
    if !openma_cloudflare::service::is_service_call(req.headers(), env) {
        return webhook::error(
            404,
            "not_found_error",
            "no route for /internal/deployments/kick",
        );
    }
    let Ok(scheduler::Kick { deployment_id }) = req.json::<scheduler::Kick>().await else {
        return webhook::error(400, "invalid_request_error", "deployment_id: required");
    };
    scheduler::kick(env, &deployment_id).await?;
    openma_cloudflare::json(200, &serde_json::json!({"ok": true}))
}

/// How long past its time a deployment must be before the cron wakes its
/// scheduler (whose own alarm should have fired).
const DEPLOYMENT_GRACE_MS: i64 = 30_000;

/// Every minute: wakes the conversations with replies due and the
/// schedulers of deployments overdue (a backstop for the objects' own
/// alarms).
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    #[allow(clippy::cast_possible_truncation)]
    let now = openma_cloudflare::now_ms() as i64;
    match openma_cloudflare::store::integrations::due_threads(&env, now, 100).await {
        Ok(threads) => {
            for thread in threads {
                if let Err(e) = webhook::kick(&env, &thread).await {
                    log::failure("cron_kick", &e.to_string(), Some(&thread));
                }
            }
        }
        Err(e) => log::failure("cron_due_threads", &e.to_string(), None),
    }
    let overdue = now - DEPLOYMENT_GRACE_MS;
    match openma_cloudflare::store::deployments::due(&env, overdue, 100).await {
        Ok(due) => {
            for deployment in due {
                if let Err(e) = scheduler::kick(&env, &deployment.id).await {
                    log::failure("cron_kick_deployment", &e.to_string(), Some(&deployment.id));
                }
            }
        }
        Err(e) => log::failure("cron_due_deployments", &e.to_string(), None),
    }
}

async fn health(env: &Env) -> Result<Response> {
    let (d1, kv, main, config) = futures_util::join!(
        openma_cloudflare::probe_d1(env, "DB"),
        openma_cloudflare::probe_kv(env, "CONFIG"),
        openma_cloudflare::probe_service(env, "MAIN", "/health/live"),
        // It opens the integrations' tokens and signs the calls to main.
        openma_cloudflare::probe_config(env, &["PLATFORM_ROOT_SECRET"]),
    );
    let mut report = HealthReport::new(WORKER);
    report.add("d1", d1);
    report.add("kv", kv);
    report.add("main", main);
    report.add("config", config);
    report.into_response()
}

/// Which providers are configured (their signing secret is set); never the
/// secrets themselves.
fn status(env: &Env) -> Result<Response> {
    let providers: serde_json::Map<String, serde_json::Value> = Provider::ALL
        .into_iter()
        .map(|provider| {
            let configured = openma_cloudflare::setting(env, provider.secret_name()).is_some();
            (
                provider.as_str().to_owned(),
                serde_json::json!({"configured": configured}),
            )
        })
        .collect();
    openma_cloudflare::json(
        200,
        &serde_json::json!({"worker": WORKER, "providers": providers}),
    )
}
