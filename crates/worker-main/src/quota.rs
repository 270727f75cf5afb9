//! Per-tenant quotas, so that one tenant cannot take the deployment for
//! itself: a request rate and a number of concurrently running sessions.
//! Past either, the request is refused with a 429 `rate_limit_error` and a
//! `retry-after`, and a `quota_refused` line is logged. The operator's key
//! is not limited.
//!
//! - **Requests**: `TENANT_REQUESTS_PER_MINUTE` (default 6,000), a token
//!   bucket holding a minute's worth, in the tenant's [`TenantQuota`]
//!   object. The bucket lives in the object's memory: an evicted object
//!   comes back with a full one.
//! - **Running sessions**: `TENANT_RUNNING_SESSIONS` (default 100), counted
//!   in the sessions index when a request would start a turn. The index
//!   learns a status change within about a quarter of a second.

use std::cell::Cell;

use openma_core::wire::ApiErrorType;
use serde::Deserialize;
use serde_json::json;
use worker::Env;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::State;
use worker::durable_object;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::store;

/// Requests a tenant may make per minute, unless `TENANT_REQUESTS_PER_MINUTE` says.
pub(crate) const REQUESTS_PER_MINUTE: u64 = 6_000;
/// Sessions a tenant may have running at once, unless `TENANT_RUNNING_SESSIONS` says.
pub(crate) const RUNNING_SESSIONS: u64 = 100;

/// One tenant's request bucket.
#[durable_object]
pub struct TenantQuota {
    /// Tokens left; `NaN` before the first request (a full bucket).
    tokens: Cell<f64>,
    /// When `tokens` was last brought up to date (ms).
    at_ms: Cell<f64>,
}

/// The object's answer to `GET /take?per_minute=N`.
#[derive(Debug, Deserialize)]
struct Take {
    allowed: bool,
    #[serde(default)]
    retry_after_ms: u64,
}

impl worker::DurableObject for TenantQuota {
    fn new(_state: State, _env: Env) -> Self {
        Self {
            tokens: Cell::new(f64::NAN),
            at_ms: Cell::new(0.0),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.path() == "/health" {
            return openma_cloudflare::json(200, &json!({"status": "ok"}));
        }
        let per_minute = openma_cloudflare::query_pairs(&req.inner().url())
            .into_iter()
            .find(|(key, _)| key == "per_minute")
            .and_then(|(_, value)| value.parse::<u64>().ok())
            .filter(|n| *n > 0);
        let Some(per_minute) = per_minute else {
            return openma_cloudflare::json(
                400,
                &json!({"error": "per_minute: a positive integer"}),
            );
        };
        let capacity = per_minute as f64;
        let per_ms = capacity / 60_000.0;
        let now = worker::Date::now().as_millis() as f64;
        let before = self.tokens.get();
        let mut tokens = if before.is_nan() {
            capacity
        } else {
            (before + (now - self.at_ms.get()).max(0.0) * per_ms).min(capacity)
        };
        self.at_ms.set(now);
        let answer = if tokens >= 1.0 {
            tokens -= 1.0;
            json!({"allowed": true})
        } else {
            let wait = ((1.0 - tokens) / per_ms).ceil() as u64;
            json!({"allowed": false, "retry_after_ms": wait})
        };
        self.tokens.set(tokens);
        openma_cloudflare::json(200, &answer)
    }
}

/// A numeric setting, if set and valid.
fn setting(env: &Env, name: &str, default: u64) -> u64 {
    env.var(name)
        .map(|v| v.to_string())
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn refused(caller: &Caller, quota: &str, limit: u64, retry_after_ms: u64) -> ApiError {
    worker::console_warn!(
        "{}",
        json!({"level": "warn", "event": "quota_refused", "tenant_id": caller.tenant_id,
               "quota": quota, "limit": limit})
    );
    let what = match quota {
        "requests" => format!("the tenant's request rate is limited to {limit} per minute"),
        _ => format!("the tenant may have at most {limit} sessions running at once"),
    };
    let mut err = ApiError::new(ApiErrorType::RateLimitError, format!("{what}; retry later"));
    err.retry_after_s = Some(retry_after_ms.div_ceil(1000).max(1));
    err
}

/// Takes one request from the caller's bucket, or refuses it.
pub(crate) async fn admit(env: &Env, caller: &Caller) -> ApiResult<()> {
    if caller.operator {
        return Ok(());
    }
    let limit = setting(env, "TENANT_REQUESTS_PER_MINUTE", REQUESTS_PER_MINUTE);
    let stub = env
        .durable_object("QUOTA")?
        .id_from_name(&caller.tenant_id)?
        .get_stub()?;
    let mut resp = stub
        .fetch_with_str(&format!("https://quota.internal/take?per_minute={limit}"))
        .await?;
    let take: Take = resp.json().await?;
    if take.allowed {
        Ok(())
    } else {
        Err(refused(caller, "requests", limit, take.retry_after_ms))
    }
}

/// Refuses to start a turn of `session_id` while the caller's tenant has
/// as many other sessions running as it may.
pub(crate) async fn admit_turn(env: &Env, caller: &Caller, session_id: &str) -> ApiResult<()> {
    if caller.operator {
        return Ok(());
    }
    let limit = setting(env, "TENANT_RUNNING_SESSIONS", RUNNING_SESSIONS);
    let running = store::sessions::running_besides(env, &caller.tenant_id, session_id).await?;
    if running < limit {
        Ok(())
    } else {
        Err(refused(caller, "running_sessions", limit, 1_000))
    }
}
