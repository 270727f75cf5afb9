//! openma's public API worker (`openma-main`): authenticates callers, serves
//! the control plane, and forwards session traffic to the agent worker and
//! webhooks to the integrations worker over service bindings.

mod auth;
mod egress;
mod error;
mod handlers;
mod quota;
mod request;
mod route;
mod store;

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
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    if let Some(session_id) = req.path().strip_prefix(egress::PREFIX) {
        let session_id = session_id.to_owned();
        return egress::forward(req, &env, &session_id).await;
    }
    let route = Route::parse(&req.method(), &req.path());
    if route == Some(Route::Integrations) {
        // Webhooks pass through untouched: their signatures cover the bytes.
        return env.service("INTEGRATIONS")?.fetch_request(req).await;
    }
    let request_id = match openma_cloudflare::ids::mint_id("req_", request::now().0.unsigned_abs())
    {
        Ok(id) => id,
        Err(_) => "req_unavailable".to_owned(),
    };
    let outcome = match route {
        Some(route) => dispatch(route, req, &env).await,
        None => Err(ApiError::new(
            openma_core::wire::ApiErrorType::NotFoundError,
            format!("no route for {} {}", req.method(), req.path()),
        )),
    };
    let mut resp = match outcome {
        Ok(resp) => resp,
        Err(err) => err.into_response(&request_id)?,
    };
    resp.headers_mut().set("request-id", &request_id)?;
    Ok(resp)
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

async fn dispatch(route: Route, mut req: Request, env: &Env) -> ApiResult<Response> {
    let caller = if route.authenticated() {
        let caller = auth::authenticate(&req, env).await?;
        quota::admit(env, &caller).await?;
        Some(caller)
    } else {
        None
    };
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
        (Route::Vaults(route), Some(caller)) => {
            handlers::vaults::serve(route, req, env, &caller).await
        }
        (Route::Files(route), Some(caller)) => {
            handlers::files::serve(route, req, env, &caller).await
        }
        (Route::MemoryStores(route), Some(caller)) => {
            handlers::memory::serve(route, req, env, &caller).await
        }
        (Route::OperatorCredentials(route), Some(caller)) => {
            handlers::vaults::serve_operator(route, req, env, &caller).await
        }
        (Route::OperatorArchive(route), Some(caller)) => {
            handlers::archive::serve(route, req, env, &caller).await
        }
        (_, None) => Err(ApiError::internal(
            "an authenticated route without a caller",
        )),
    }
}
