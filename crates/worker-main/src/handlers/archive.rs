//! Archival, for the operator: `POST /v1/operator/archive` runs a
//! retention pass now (the agent worker's, through the `AGENT` service
//! binding: its cron runs the same pass, under the same settings), and
//! `GET /v1/operator/sessions/{id}/storage` tells where a session's log is
//! and what its object's storage holds.

use openma_core::wire::ids::SESSION_PREFIX;
use openma_core::wire::ids::has_prefix;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::Response;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::store;
use crate::store::Param;

/// The most sessions one pass may handle (the agent worker's bound too).
const MAX_LIMIT: u64 = 100;

/// An operator route about archival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArchiveRoute {
    /// `POST /v1/operator/archive`.
    Run,
    /// `GET /v1/operator/sessions/{id}/storage`.
    SessionStorage(String),
}

impl ArchiveRoute {
    /// Parses the segments after `/v1/operator`.
    pub(crate) fn parse(method: &Method, rest: &[&str]) -> Option<Self> {
        match (method, rest) {
            (Method::Post, ["archive"]) => Some(Self::Run),
            (Method::Get, ["sessions", id, "storage"]) => {
                Some(Self::SessionStorage((*id).to_owned()))
            }
            _ => None,
        }
    }
}

/// Serves an archival route; only the operator's key may.
pub(crate) async fn serve(
    route: ArchiveRoute,
    mut req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    caller.require_operator("run archival")?;
    match route {
        ArchiveRoute::Run => {
            let body = crate::request::json_body(&mut req).await?;
            let report = run(env, &body).await?;
            Ok(openma_cloudflare::json(200, &report)?)
        }
        ArchiveRoute::SessionStorage(id) => session_storage(env, caller, &id).await,
    }
}

/// The body of a run: `{}`, or `{"limit": n}` (1 to 100 sessions).
fn run_limit(body: &Value) -> ApiResult<Option<u64>> {
    if let Some(key) = body
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .find(|k| k.as_str() != "limit")
    {
        return Err(ApiError::invalid(format!(
            "{key}: not a parameter of an archive run (only limit)"
        )));
    }
    match body.get("limit") {
        None | Some(Value::Null) => Ok(None),
        Some(limit) => limit
            .as_u64()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(format!("limit: expected an integer from 1 to {MAX_LIMIT}"))
            }),
    }
}

/// One pass, by the agent worker; its report.
async fn run(env: &Env, body: &Value) -> ApiResult<Value> {
    let limit = run_limit(body)?;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(json!({"limit": limit}).to_string().into()));
    let req = Request::new_with_init("https://agent.internal/internal/archive", &init)?;
    let mut resp = env.service("AGENT")?.fetch_request(req).await?;
    let status = resp.status_code();
    let answer: Value = resp.json().await.map_err(ApiError::internal)?;
    if status != 200 {
        return Err(ApiError::internal(format!(
            "the agent worker answered the archive run with {status}: {answer}"
        )));
    }
    Ok(answer)
}

/// Where a session's log is, asked of its object as its tenant.
async fn session_storage(env: &Env, operator: &Caller, id: &str) -> ApiResult<Response> {
    if !has_prefix(id, SESSION_PREFIX) {
        return Err(ApiError::not_found("session", id));
    }
    #[derive(Deserialize)]
    struct Owner {
        tenant_id: String,
    }
    let owner: Option<Owner> = store::first(
        env,
        "SELECT tenant_id FROM sessions WHERE id = ?1",
        &[Param::from(id)],
    )
    .await?;
    let owner = owner.ok_or_else(|| ApiError::not_found("session", id))?;
    let caller = Caller {
        tenant_id: owner.tenant_id,
        operator: true,
        api_key_id: None,
        service: false,
        request_id: operator.request_id.clone(),
        scope: crate::auth::Scope::Tenant,
    };
    super::sessions::session_command(env, &caller, id, Method::Get, "storage", None).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use worker::Method;

    use super::ArchiveRoute;
    use super::run_limit;
    use crate::route::Route;

    #[test]
    fn parses_the_operator_archive_routes() {
        assert_eq!(
            Route::parse(&Method::Post, "/v1/operator/archive"),
            Some(Route::OperatorArchive(ArchiveRoute::Run))
        );
        assert_eq!(
            Route::parse(&Method::Get, "/v1/operator/sessions/sesn_1/storage"),
            Some(Route::OperatorArchive(ArchiveRoute::SessionStorage(
                "sesn_1".into()
            )))
        );
        assert_eq!(Route::parse(&Method::Get, "/v1/operator/archive"), None);
        assert!(Route::parse(&Method::Post, "/v1/operator/credentials/reencrypt").is_some());
    }

    #[test]
    fn a_run_takes_only_a_bounded_limit() {
        assert_eq!(run_limit(&json!({})).unwrap(), None);
        assert_eq!(run_limit(&json!({"limit": null})).unwrap(), None);
        assert_eq!(run_limit(&json!({"limit": 5})).unwrap(), Some(5));
        for bad in [
            json!({"limit": 0}),
            json!({"limit": 101}),
            json!({"limit": "5"}),
            json!({"limit": -1}),
            json!({"older_than_days": 1}),
        ] {
            assert!(run_limit(&bad).is_err(), "{bad}");
        }
    }
}
