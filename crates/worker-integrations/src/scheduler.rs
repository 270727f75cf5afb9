//! `DeploymentScheduler`: one Durable Object per scheduled deployment
//! (named by its id), an alarm clock. The main worker keeps the
//! deployment's next scheduled time (D1 `deployments.next_run_at`, from
//! its cron expression in its time zone) and wakes the object whenever
//! that time changes; the object sets its alarm for it. At the alarm it
//! asks main, as the deployment's tenant, to run the deployment for that
//! time (`POST /v1/deployments/{id}/run` with `x-openma-scheduled-at`);
//! main records at most one run per scheduled time, fires the latest one
//! due when it is late, and moves `next_run_at` on. The object then reads
//! the time again and re-arms. It keeps nothing but its deployment's id.

use serde::Deserialize;
use serde_json::json;
use worker::Env;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::State;
use worker::durable_object;

use openma_cloudflare::store::deployments as store;
use openma_core::wire::Timestamp;

use crate::log;
use crate::platform::Called;
use crate::platform::Platform;

/// How long to wait before asking main again when a run could not be
/// asked for (main unreachable, or the time not moved on).
const RETRY_MS: i64 = 30_000;
/// An alarm that fires this much before its time is re-armed rather than
/// fired.
const EARLY_MS: i64 = 1_000;

const DEPLOYMENT_KEY: &str = "deployment_id";

/// `POST /kick`.
#[derive(Debug, Deserialize)]
pub(crate) struct Kick {
    pub(crate) deployment_id: String,
}

/// A scheduled deployment's Durable Object.
#[durable_object]
pub struct DeploymentScheduler {
    state: State,
    env: Env,
}

impl worker::DurableObject for DeploymentScheduler {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() != "/kick" {
            return openma_cloudflare::json(404, &json!({"error": "no such route"}));
        }
        let Ok(Kick { deployment_id }) = req.json::<Kick>().await else {
            return openma_cloudflare::json(400, &json!({"error": "deployment_id: required"}));
        };
        self.state
            .storage()
            .put(DEPLOYMENT_KEY, &deployment_id)
            .await?;
        let armed = self.arm(&deployment_id, false).await?;
        openma_cloudflare::json(
            200,
            &json!({"deployment_id": deployment_id, "alarm_at": armed}),
        )
    }

    async fn alarm(&self) -> Result<Response> {
        let id: Option<String> = self.state.storage().get(DEPLOYMENT_KEY).await?;
        if let Some(id) = id {
            self.fire(&id).await?;
        }
        Response::ok("ok")
    }
}

impl DeploymentScheduler {
    /// Sets the alarm for the deployment's next scheduled time (at once if
    /// it has passed; `retrying`: not before [`RETRY_MS`] from now), or
    /// deletes it when none is due. Answers the alarm's time.
    async fn arm(&self, id: &str, retrying: bool) -> Result<Option<i64>> {
        let storage = self.state.storage();
        let at = match store::get_any(&self.env, id).await? {
            Some(row) => row.next_run_at,
            None => {
                storage.delete_all().await?;
                None
            }
        };
        let now = now_ms();
        let at = at.map(|at| if retrying { at.max(now + RETRY_MS) } else { at });
        match at {
            Some(at) => storage.set_alarm((at - now).max(0)).await?,
            None => storage.delete_alarm().await?,
        }
        Ok(at)
    }

    /// The alarm: asks main to run the deployment for its scheduled time
    /// when it is due, then re-arms.
    async fn fire(&self, id: &str) -> Result<()> {
        let Some(row) = store::get_any(&self.env, id).await? else {
            return self.state.storage().delete_all().await;
        };
        let Some(at) = row.next_run_at else {
            return self.state.storage().delete_alarm().await;
        };
        if at > now_ms() + EARLY_MS {
            self.arm(id, false).await?;
            return Ok(());
        }
        let scheduled_at = Timestamp(at).to_rfc3339();
        let called = Platform::new(&self.env, &row.tenant_id)
            .run_deployment(id, &scheduled_at)
            .await;
        let failed = match called {
            Called::Ok(run) => {
                worker::console_log!(
                    "{}",
                    json!({"level": "info", "event": "deployment_fired", "deployment_id": id,
                           "scheduled_at": scheduled_at, "run_id": run["id"],
                           "session_id": run["session_id"], "error": run["error"]["type"]})
                );
                false
            }
            // Paused, archived or rescheduled meanwhile: the time read
            // again says what is next.
            Called::Refused(message) => {
                log::failure("deployment_run_refused", &message, Some(id));
                false
            }
            Called::Failed(message) => {
                log::failure("deployment_run_failed", &message, Some(id));
                true
            }
        };
        // When main did not move the time on, ask again later, not at once.
        let moved = store::get_any(&self.env, id)
            .await?
            .is_none_or(|row| row.next_run_at.is_none_or(|next| next > at));
        self.arm(id, failed || !moved).await?;
        Ok(())
    }
}

/// Wakes the scheduler of deployment `id` to read its next scheduled time.
pub(crate) async fn kick(env: &Env, id: &str) -> Result<()> {
    let stub = env
        .durable_object("SCHEDULERS")?
        .id_from_name(id)?
        .get_stub()?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_body(Some(json!({"deployment_id": id}).to_string().into()));
    let req = Request::new_with_init("https://scheduler/kick", &init)?;
    let resp = stub.fetch_with_request(req).await?;
    match resp.status_code() {
        200..=299 => Ok(()),
        status => Err(worker::Error::RustError(format!(
            "the scheduler answered {status}"
        ))),
    }
}

#[allow(clippy::cast_possible_truncation)]
fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}
