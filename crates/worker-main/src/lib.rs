//! openma's public API worker (`openma-main`): authenticates callers, serves
//! the control plane, and forwards session traffic to the agent worker and
//! webhooks to the integrations worker over service bindings.

mod audit;
mod auth;
mod egress;
mod error;
mod handlers;
mod quota;
mod request;
mod route;
mod store;

use openma_core::metrics;
use serde_json::Value;
use worker::Context;
use worker::Env;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::event;

use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;
use crate::route::Route;

pub use quota::TenantQuota;

const WORKER: &str = "openma-main";

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    if let Some(session_id) = req.path().strip_prefix(egress::PREFIX) {
        let session_id = session_id.to_owned();
        return egress::forward(req, &env, &session_id).await;
    }
    let route = Route::parse(&req.method(), &req.path());
    if route == Some(Route::Integrations) {
        // Webhooks pass through untouched: their signatures cover the bytes.
        return env.service("INTEGRATIONS")?.fetch_request(req).await;
    }
    let started = openma_cloudflare::now_ms();
    let request_id = match openma_cloudflare::ids::mint_id("req_", request::now().0.unsigned_abs())
    {
        Ok(id) => id,
        Err(_) => "req_unavailable".to_owned(),
    };
    let served = Served {
        method: req.method().to_string(),
        // Unknown paths share one label, so a scanner cannot grow the series.
        route: match route {
            Some(_) => metrics::route_label(&req.path()),
            None => "unmatched".to_owned(),
        },
        request_id: request_id.clone(),
    };
    let outcome = match route {
        Some(route) => dispatch(route, req, &env, &request_id).await,
        None => Err(ApiError::new(
            openma_core::wire::ApiErrorType::NotFoundError,
            format!("no route for {} {}", req.method(), req.path()),
        )),
    };
    let (mut resp, failure) = match outcome {
        Ok(resp) => (resp, None),
        Err(err) => {
            let failure = (err.kind, err.message.clone());
            (err.into_response(&request_id)?, Some(failure))
        }
    };
    resp.headers_mut().set("request-id", &request_id)?;
    let seconds = (openma_cloudflare::now_ms() - started).max(0.0) / 1000.0;
    let status = resp.status_code();
    ctx.wait_until(async move { served.count(&env, status, seconds, failure).await });
    Ok(resp)
}

/// One answered request, as the operations counters see it.
struct Served {
    method: String,
    route: String,
    request_id: String,
}

impl Served {
    /// Adds the request to the deployment's counters and to Analytics
    /// Engine, and keeps an error answer for the diagnostics bundle (not
    /// 404s and 401s, which anyone can cause at will; they are counted).
    async fn count(
        self,
        env: &Env,
        status: u16,
        seconds: f64,
        failure: Option<(openma_core::wire::ApiErrorType, String)>,
    ) {
        let status_text = status.to_string();
        let mut samples = vec![metrics::increment(
            metrics::HTTP_REQUESTS,
            &[
                ("worker", WORKER),
                ("route", &self.route),
                ("method", &self.method),
                ("status", &status_text),
            ],
        )];
        samples.extend(metrics::observe(
            metrics::HTTP_DURATION,
            &[("worker", WORKER), ("route", &self.route)],
            seconds,
        ));
        match status {
            401 => samples.push(metrics::increment(
                metrics::AUTH_FAILURES,
                &[("worker", WORKER)],
            )),
            429 => samples.push(metrics::increment(
                metrics::RATE_LIMITED,
                &[("route", &self.route)],
            )),
            _ => {}
        }
        if let Some(flush) = openma_cloudflare::store::metrics::queue(env, samples) {
            flush.await;
        }
        if let Ok(dataset) = env.analytics_engine("ANALYTICS") {
            let point = worker::AnalyticsEngineDataPointBuilder::new()
                .blobs([
                    "http_request",
                    self.route.as_str(),
                    self.method.as_str(),
                    status_text.as_str(),
                    WORKER,
                ])
                .add_double(1.0)
                .add_double(seconds * 1000.0)
                .build();
            // Dashboards only: the counters above are the record.
            let _ = dataset.write_data_point(&point);
        }
        let Some((kind, message)) = failure else {
            return;
        };
        if status == 404 || status == 401 {
            return;
        }
        let row = openma_cloudflare::store::metrics::ErrorRow {
            at: request::now().to_rfc3339(),
            worker: WORKER.to_owned(),
            request_id: Some(self.request_id),
            method: self.method,
            route: self.route,
            status: i64::from(status),
            error_type: serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            message,
        };
        if let Err(e) = openma_cloudflare::store::metrics::record_error(env, row).await {
            worker::console_warn!(
                "{}",
                serde_json::json!({"level": "warn", "event": "error_record_failed", "error": e.to_string()})
            );
        }
    }
}

/// The hourly cron: housekeeping that needs no request.
#[event(scheduled)]
async fn scheduled(_event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    if let Ok(purged) = handlers::files::purge_expired(&env).await {
        worker::console_log!(
            "{}",
            serde_json::json!({"level": "info", "event": "expired_files_purged", "count": purged})
        );
    }
    // On failure `ApiError::internal` has logged the cause.
}

/// Authenticates the request where the route needs it, serves it, and
/// records an operator call in the audit trail.
async fn dispatch(route: Route, req: Request, env: &Env, request_id: &str) -> ApiResult<Response> {
    if !route.authenticated() {
        return serve(route, req, env, None).await;
    }
    let caller = auth::authenticate(&req, env, request_id).await?;
    caller.scope.check(&route)?;
    quota::admit(env, &caller).await?;
    if !(caller.operator && route.operator_call()) {
        return serve(route, req, env, Some(caller)).await;
    }
    let method = req.method().to_string();
    let path = req.path();
    let outcome = serve(route, req, env, Some(caller.clone())).await;
    let status = match &outcome {
        Ok(resp) => resp.status_code(),
        Err(err) => err.status(),
    };
    audit::record(
        env,
        &caller,
        audit::Action::OperatorCall,
        None,
        &caller.tenant_id,
        serde_json::json!({"method": method, "path": path, "status": status}),
    )
    .await;
    outcome
}

async fn serve(
    route: Route,
    mut req: Request,
    env: &Env,
    caller: Option<auth::Caller>,
) -> ApiResult<Response> {
    let json = |value: Value| openma_cloudflare::json(200, &value).map_err(ApiError::from);
    match (route, caller) {
        (Route::Health, _) => Ok(handlers::health::deep(env).await?),
        (Route::HealthLive, _) => Ok(handlers::health::live()?),
        (Route::Ready, _) => Ok(handlers::health::ready(env).await?),
        (Route::OpenApi, _) => {
            let mut resp = Response::ok(route::OPENAPI_JSON)?;
            resp.headers_mut().set("content-type", "application/json")?;
            Ok(resp)
        }
        (Route::Integrations, _) => Err(ApiError::invalid("integrations are forwarded")),
        (Route::CreateTenant, Some(caller)) => {
            let body = request::json_body(&mut req).await?;
            json(handlers::tenants::create(env, &caller, &body).await?)
        }
        (Route::CreateApiKey, Some(caller)) => {
            let body = request::json_body(&mut req).await?;
            json(handlers::api_keys::create(env, &caller, &body).await?)
        }
        (Route::ListApiKeys, Some(caller)) => {
            json(handlers::api_keys::list(env, &caller, &Query::of(&req)).await?)
        }
        (Route::DeleteApiKey(id), Some(caller)) => {
            json(handlers::api_keys::delete(env, &caller, &id).await?)
        }
        (Route::CreateModelProvider, Some(caller)) => {
            let body = request::json_body(&mut req).await?;
            json(handlers::model_providers::create(env, &caller, &body).await?)
        }
        (Route::ListModelProviders, Some(caller)) => {
            json(handlers::model_providers::list(env, &caller, &Query::of(&req)).await?)
        }
        (Route::GetModelProvider(id), Some(caller)) => {
            json(handlers::model_providers::retrieve(env, &caller, &id).await?)
        }
        (Route::UpdateModelProvider(id), Some(caller)) => {
            let body = request::json_body(&mut req).await?;
            json(handlers::model_providers::update(env, &caller, &id, &body).await?)
        }
        (Route::DeleteModelProvider(id), Some(caller)) => {
            json(handlers::model_providers::delete(env, &caller, &id).await?)
        }
        (Route::ValidateModelProvider(id), Some(caller)) => {
            json(handlers::model_providers::validate(env, &caller, &id).await?)
        }
        (Route::Sessions(route), Some(caller)) => {
            handlers::sessions::serve(route, req, env, &caller).await
        }
        (Route::CreateAgent, Some(caller)) => {
            let body = request::json_body(&mut req).await?;
            json(handlers::agents::create(env, &caller, &body).await?)
        }
        (Route::ListAgents, Some(caller)) => {
            json(handlers::agents::list(env, &caller, &Query::of(&req)).await?)
        }
        (Route::GetAgent(id), Some(caller)) => {
            json(handlers::agents::retrieve(env, &caller, &id, &Query::of(&req)).await?)
        }
        (Route::UpdateAgent(id), Some(caller)) => {
            let body = request::json_body(&mut req).await?;
            json(handlers::agents::update(env, &caller, &id, &body).await?)
        }
        (Route::ArchiveAgent(id), Some(caller)) => {
            json(handlers::agents::archive(env, &caller, &id).await?)
        }
        (Route::ListAgentVersions(id), Some(caller)) => {
            json(handlers::agents::versions(env, &caller, &id, &Query::of(&req)).await?)
        }
        (Route::CreateEnvironment, Some(caller)) => {
            let body = request::json_body(&mut req).await?;
            json(handlers::environments::create(env, &caller, &body).await?)
        }
        (Route::ListEnvironments, Some(caller)) => {
            json(handlers::environments::list(env, &caller, &Query::of(&req)).await?)
        }
        (Route::GetEnvironment(id), Some(caller)) => {
            json(handlers::environments::retrieve(env, &caller, &id).await?)
        }
        (Route::UpdateEnvironment(id), Some(caller)) => {
            let body = request::json_body(&mut req).await?;
            json(handlers::environments::update(env, &caller, &id, &body).await?)
        }
        (Route::DeleteEnvironment(id), Some(caller)) => {
            json(handlers::environments::delete(env, &caller, &id).await?)
        }
        (Route::ArchiveEnvironment(id), Some(caller)) => {
            json(handlers::environments::archive(env, &caller, &id).await?)
        }
        (Route::CreateEnvironmentKey(id), Some(caller)) => {
            let body = request::json_body(&mut req).await?;
            json(handlers::work::create_key(env, &caller, &id, &body).await?)
        }
        (Route::ListEnvironmentKeys(id), Some(caller)) => {
            json(handlers::work::list_keys(env, &caller, &id, &Query::of(&req)).await?)
        }
        (Route::DeleteEnvironmentKey(id, key_id), Some(caller)) => {
            json(handlers::work::delete_key(env, &caller, &id, &key_id).await?)
        }
        (Route::Work(route), Some(caller)) => handlers::work::serve(route, req, env, &caller).await,
        (Route::Vaults(route), Some(caller)) => {
            handlers::vaults::serve(route, req, env, &caller).await
        }
        (Route::Files(route), Some(caller)) => {
            handlers::files::serve(route, req, env, &caller).await
        }
        (Route::IntegrationsApi(route), Some(caller)) => {
            handlers::integrations::serve(route, req, env, &caller).await
        }
        (Route::Webhooks(route), Some(caller)) => {
            handlers::webhooks::serve(route, req, env, &caller).await
        }
        (Route::Deployments(route), Some(caller)) => {
            handlers::deployments::serve(route, req, env, &caller).await
        }
        (Route::MemoryStores(route), Some(caller)) => {
            handlers::memory::serve(route, req, env, &caller).await
        }
        (Route::Operations(route), Some(caller)) => {
            handlers::operations::serve(route, env, &caller, &Query::of(&req), &req.path()).await
        }
        (Route::OperatorCredentials(route), Some(caller)) => {
            handlers::vaults::serve_operator(route, req, env, &caller).await
        }
        (Route::Usage, Some(caller)) => {
            json(handlers::usage::report(env, &caller, &Query::of(&req)).await?)
        }
        (Route::ListAuditEvents, Some(caller)) => {
            json(handlers::audit_events::list(env, &caller, &Query::of(&req)).await?)
        }
        (Route::OperatorArchive(route), Some(caller)) => {
            handlers::archive::serve(route, req, env, &caller).await
        }
        (_, None) => Err(ApiError::internal(
            "an authenticated route without a caller",
        )),
    }
}
