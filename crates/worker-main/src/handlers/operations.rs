//! The operator's view of the deployment: `GET /v1/operator/metrics`
//! (Prometheus text) and `GET /v1/operator/diagnostics` (a redacted support
//! bundle). Both answer the operator's key only; any other key gets 404, as
//! if the routes did not exist.

use openma_core::metrics;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Response;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::request::Query;

/// How many recent errors the bundle lists.
const BUNDLE_ERRORS: i64 = 50;

/// This worker in the diagnostics bundle.
pub(crate) const DESCRIPTION: openma_cloudflare::diagnostics::WorkerDescription =
    openma_cloudflare::diagnostics::WorkerDescription {
        worker: crate::WORKER,
        bindings: &[
            "DB",
            "CONFIG",
            "FILES",
            "BLOBS",
            "AGENT",
            "INTEGRATIONS",
            "QUOTA",
            "ANALYTICS",
        ],
        settings: &[
            "OMA_ENVIRONMENT",
            "LOG_LEVEL",
            "TENANT_REQUESTS_PER_MINUTE",
            "TENANT_RUNNING_SESSIONS",
        ],
        secrets: &[
            "API_KEY",
            "PLATFORM_ROOT_SECRET",
            "PLATFORM_ROOT_SECRET_PREVIOUS",
        ],
    };

/// An operator route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OperationsRoute {
    /// `GET /v1/operator/metrics`.
    Metrics,
    /// `GET /v1/operator/diagnostics`.
    Diagnostics,
}

/// Serves an operator route; anyone but the operator is told it does not exist.
pub(crate) async fn serve(
    route: OperationsRoute,
    env: &Env,
    caller: &Caller,
    query: &Query,
    path: &str,
) -> ApiResult<Response> {
    if !caller.operator {
        return Err(ApiError::new(
            openma_core::wire::ApiErrorType::NotFoundError,
            format!("no route for GET {path}"),
        ));
    }
    query.only(&[])?;
    match route {
        OperationsRoute::Metrics => {
            let mut resp = Response::ok(metrics_text(env).await?)?;
            resp.headers_mut()
                .set("content-type", "text/plain; version=0.0.4; charset=utf-8")?;
            Ok(resp)
        }
        OperationsRoute::Diagnostics => Ok(openma_cloudflare::json(200, &bundle(env).await?)?),
    }
}

#[derive(Deserialize)]
struct StatusCount {
    status: String,
    n: f64,
}

async fn sessions_by_status(env: &Env) -> ApiResult<Vec<StatusCount>> {
    Ok(openma_cloudflare::store::all(
        env,
        "SELECT status, COUNT(*) AS n FROM sessions GROUP BY status ORDER BY status",
        &[],
    )
    .await?)
}

/// The stored counters, and the sessions gauge from the index.
async fn metrics_text(env: &Env) -> ApiResult<String> {
    let mut series = openma_cloudflare::store::metrics::series(env).await?;
    for row in sessions_by_status(env).await? {
        series.push((
            metrics::SESSIONS.to_owned(),
            metrics::labels(&[("status", &row.status)]),
            row.n,
        ));
    }
    Ok(metrics::render(&series))
}

#[derive(Deserialize)]
struct Count {
    n: f64,
}

async fn count(env: &Env, sql: &str) -> ApiResult<u64> {
    let row: Option<Count> = openma_cloudflare::store::first(env, sql, &[]).await?;
    Ok(row.map_or(0, |r| r.n as u64))
}

#[derive(Deserialize)]
struct Migration {
    name: String,
    applied_at: Option<String>,
}

/// What the bundle shows of another worker: its self-description, or why
/// it could not be had.
async fn describe_service(env: &Env, binding: &str) -> Value {
    let answer = async {
        let mut resp = env
            .service(binding)?
            .fetch("https://internal/diagnostics", None)
            .await?;
        resp.json::<Value>().await
    };
    match answer.await {
        Ok(description) => description,
        Err(e) => json!({"binding": binding, "error": openma_core::redact::redact(&e.to_string())}),
    }
}

/// The support bundle. Nothing secret by construction: settings come from
/// fixed lists of non-secret variables (secrets only say whether they are
/// set), counts are numbers, and error messages were redacted when stored.
async fn bundle(env: &Env) -> ApiResult<Value> {
    let (agent, integrations) = futures_util::join!(
        describe_service(env, "AGENT"),
        describe_service(env, "INTEGRATIONS"),
    );
    let applied: Vec<Migration> = openma_cloudflare::store::all(
        env,
        "SELECT name, applied_at FROM d1_migrations ORDER BY id",
        &[],
    )
    .await?;
    let pending: Vec<&str> = crate::handlers::health::MIGRATIONS
        .iter()
        .filter(|name| !applied.iter().any(|m| m.name == **name))
        .copied()
        .collect();
    let sessions: serde_json::Map<String, Value> = sessions_by_status(env)
        .await?
        .into_iter()
        .map(|row| (row.status, json!(row.n as u64)))
        .collect();
    let errors = openma_cloudflare::store::metrics::recent_errors(env, BUNDLE_ERRORS).await?;
    Ok(json!({
        "type": "diagnostics",
        "generated_at": crate::request::now().to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
        "workers": [DESCRIPTION.describe(env), agent, integrations],
        "migrations": {
            "applied": applied
                .iter()
                .map(|m| json!({"name": m.name, "applied_at": m.applied_at}))
                .collect::<Vec<_>>(),
            "pending": pending,
        },
        "counts": {
            "tenants": count(env, "SELECT COUNT(*) AS n FROM tenants").await?,
            "api_keys_active": count(env, "SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL").await?,
            "agents": count(env, "SELECT COUNT(*) AS n FROM agents").await?,
            "environments": count(env, "SELECT COUNT(*) AS n FROM environments").await?,
            "vaults": count(env, "SELECT COUNT(*) AS n FROM vaults").await?,
            "sessions_by_status": sessions,
        },
        "recent_errors": errors,
    }))
}
