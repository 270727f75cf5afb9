//! Who is calling: the operator's bootstrap key (`API_KEY`, tenant
//! `default`), a tenant's API key, stored as a SHA-256 digest, another of
//! the platform's workers acting for a tenant (the service token), or a
//! self-hosted environment's worker: with an environment key (its
//! environment's work queue only) or a work item's sessions token (that
//! item and its session only).

use openma_cloudflare::ids::constant_time_eq;
use openma_cloudflare::ids::sha256_hex;
use openma_cloudflare::service;
use openma_core::control::work::ENVIRONMENT_KEY_PREFIX;
use openma_core::control::work::SESSIONS_TOKEN_PREFIX;
use openma_core::wire::ApiErrorType;
use openma_core::wire::Timestamp;
use worker::Env;
use worker::Request;

use crate::error::ApiError;
use crate::error::ApiResult;
use crate::handlers::sessions::SessionRoute;
use crate::route::Route;
use crate::store;

/// How often a key's `last_used_at` may move.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// The tenant the bootstrap key belongs to.
pub(crate) const DEFAULT_TENANT: &str = "default";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// Every query is scoped by this.
    pub(crate) tenant_id: String,
    /// Whether this is the operator's bootstrap key.
    pub(crate) operator: bool,
    /// The `apikey_` id of a tenant key (`None` for the operator's key),
    /// recorded as the author of memory versions and of audit events.
    pub(crate) api_key_id: Option<String>,
    /// Whether another of the platform's workers is calling for the tenant
    /// (with the service token rather than a key).
    pub(crate) service: bool,
    /// The request's `request-id`, which its audit events carry.
    pub(crate) request_id: String,
    /// What the credential reaches.
    pub(crate) scope: Scope,
}

/// What a caller's credential reaches within its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// An API key, the operator's key or a service call: the whole tenant.
    Tenant,
    /// An environment key: that environment's work queue.
    Environment {
        /// The `env_` id.
        environment_id: String,
    },
    /// A work item's sessions token: that item, and its session's
    /// retrieve, events and stream.
    WorkItem {
        /// The item's environment.
        environment_id: String,
        /// The `work_` id.
        work_id: String,
        /// The session it serves.
        session_id: String,
    },
}

impl Scope {
    /// Whether the credential may ask for `route`.
    pub(crate) fn permits(&self, route: &Route) -> bool {
        match self {
            Self::Tenant => true,
            Self::Environment { environment_id } => {
                matches!(route, Route::Work(work) if work.environment_id() == environment_id)
            }
            Self::WorkItem {
                environment_id,
                work_id,
                session_id,
            } => match route {
                Route::Work(work) => {
                    work.environment_id() == environment_id
                        && work.work_id() == Some(work_id.as_str())
                }
                Route::Sessions(
                    SessionRoute::Get(id)
                    | SessionRoute::ListEvents(id)
                    | SessionRoute::SendEvents(id)
                    | SessionRoute::Stream(id),
                ) => id == session_id,
                _ => false,
            },
        }
    }

    /// Refuses `route` (403) when the credential does not reach it.
    pub(crate) fn check(&self, route: &Route) -> ApiResult<()> {
        if self.permits(route) {
            return Ok(());
        }
        let message = match self {
            Self::Tenant => "not permitted",
            Self::Environment { .. } => {
                "an environment key reaches only its environment's work queue"
            }
            Self::WorkItem { .. } => {
                "a sessions token reaches only its work item and that item's session"
            }
        };
        Err(ApiError::new(ApiErrorType::PermissionError, message))
    }
}

impl Caller {
    /// Refuses anyone but the operator (403), saying what only the
    /// operator's key can do.
    pub(crate) fn require_operator(&self, what: &str) -> ApiResult<()> {
        if self.operator {
            return Ok(());
        }
        Err(ApiError::new(
            ApiErrorType::PermissionError,
            format!("only the operator's key (API_KEY) can {what}"),
        ))
    }

    /// The tenant whose records the caller reads when it asks for `asked`:
    /// its own; for the operator's key, any tenant it names, or every
    /// tenant (`None`) when it names none.
    pub(crate) fn tenant_scope(&self, asked: Option<String>) -> ApiResult<Option<String>> {
        match asked {
            Some(tenant) if self.operator || tenant == self.tenant_id => Ok(Some(tenant)),
            Some(_) => Err(ApiError::new(
                ApiErrorType::PermissionError,
                "tenant_id: only the operator's key (API_KEY) can read another tenant's records",
            )),
            None if self.operator => Ok(None),
            None => Ok(Some(self.tenant_id.clone())),
        }
    }
}

/// The key a request presents: `x-api-key`, or `Authorization: Bearer`.
fn presented_key(req: &Request) -> Option<String> {
    let headers = req.headers();
    if let Ok(Some(key)) = headers.get("x-api-key") {
        let key = key.trim().to_owned();
        if !key.is_empty() {
            return Some(key);
        }
    }
    let auth = headers.get("authorization").ok().flatten()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(ApiErrorType::AuthenticationError, message)
}

/// The tenant a service call acts for: `None` when the request presents no
/// service token; refused when the token is not this deployment's or the
/// call names no tenant.
fn service_tenant(
    token_presented: bool,
    token_genuine: bool,
    tenant: Option<&str>,
) -> ApiResult<Option<String>> {
    if !token_presented {
        return Ok(None);
    }
    if !token_genuine {
        return Err(unauthenticated("invalid service token"));
    }
    match tenant.map(str::trim) {
        Some(tenant) if !tenant.is_empty() => Ok(Some(tenant.to_owned())),
        _ => Err(unauthenticated(
            "a service call names the tenant it acts for in x-openma-tenant",
        )),
    }
}

/// Authenticates the request, whose id is `request_id`. A service call is
/// recognised by its header alone, before any key is looked at.
pub(crate) async fn authenticate(req: &Request, env: &Env, request_id: &str) -> ApiResult<Caller> {
    let headers = req.headers();
    let presented = matches!(headers.get(service::SERVICE_HEADER), Ok(Some(_)));
    let genuine = presented && service::is_service_call(headers, env);
    let tenant = headers.get(service::TENANT_HEADER).ok().flatten();
    if let Some(tenant_id) = service_tenant(presented, genuine, tenant.as_deref())? {
        if !store::tenants::exists(env, &tenant_id).await? {
            return Err(unauthenticated("unknown tenant"));
        }
        return Ok(Caller {
            tenant_id,
            operator: false,
            api_key_id: None,
            service: true,
            request_id: request_id.to_owned(),
            scope: Scope::Tenant,
        });
    }
    let Some(key) = presented_key(req) else {
        return Err(ApiError::new(
            ApiErrorType::AuthenticationError,
            "missing API key: send it as x-api-key or Authorization: Bearer",
        ));
    };
    let digest = sha256_hex(key.as_bytes());
    if let Ok(operator) = env.secret("API_KEY").map(|s| s.to_string())
        && !operator.is_empty()
        && constant_time_eq(&sha256_hex(operator.as_bytes()), &digest)
    {
        return Ok(Caller {
            tenant_id: DEFAULT_TENANT.to_owned(),
            operator: true,
            api_key_id: None,
            service: false,
            request_id: request_id.to_owned(),
            scope: Scope::Tenant,
        });
    }
    if key.starts_with(ENVIRONMENT_KEY_PREFIX) {
        return environment_key(env, &digest, request_id).await;
    }
    if key.starts_with(SESSIONS_TOKEN_PREFIX) {
        return sessions_token(env, &digest, request_id).await;
    }
    let now = crate::request::now();
    match store::api_keys::find_active(env, &digest, &now.to_rfc3339()).await? {
        Some(found) => {
            // `last_used_at` moves at most once a minute per key.
            let stale_before = Timestamp(now.0 - LAST_USED_RESOLUTION_MS).to_rfc3339();
            if found
                .last_used_at
                .as_deref()
                .is_none_or(|at| at < stale_before.as_str())
            {
                store::api_keys::touch(env, &found.id, &now.to_rfc3339(), &stale_before).await?;
            }
            Ok(Caller {
                tenant_id: found.tenant_id,
                operator: false,
                api_key_id: Some(found.id),
                service: false,
                request_id: request_id.to_owned(),
                scope: Scope::Tenant,
            })
        }
        None => Err(unauthenticated("invalid API key")),
    }
}

/// A worker polling with an environment key.
async fn environment_key(env: &Env, digest: &str, request_id: &str) -> ApiResult<Caller> {
    let Some(found) = store::environment_keys::find_active(env, digest).await? else {
        return Err(unauthenticated("invalid environment key"));
    };
    let now = crate::request::now();
    let stale_before = Timestamp(now.0 - LAST_USED_RESOLUTION_MS).to_rfc3339();
    if found
        .last_used_at
        .as_deref()
        .is_none_or(|at| at < stale_before.as_str())
    {
        store::environment_keys::touch(env, &found.id, &now.to_rfc3339(), &stale_before).await?;
    }
    Ok(Caller {
        tenant_id: found.tenant_id,
        operator: false,
        api_key_id: None,
        service: false,
        request_id: request_id.to_owned(),
        scope: Scope::Environment {
            environment_id: found.environment_id,
        },
    })
}

/// A worker serving a work item with the sessions token its poll minted.
async fn sessions_token(env: &Env, digest: &str, request_id: &str) -> ApiResult<Caller> {
    let Some(item) = store::work::by_token(env, digest).await? else {
        return Err(unauthenticated(
            "invalid sessions token: its work item stopped or was handed to another worker",
        ));
    };
    Ok(Caller {
        tenant_id: item.tenant_id,
        operator: false,
        api_key_id: None,
        service: false,
        request_id: request_id.to_owned(),
        scope: Scope::WorkItem {
            environment_id: item.environment_id,
            work_id: item.id,
            session_id: item.session_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use openma_core::wire::ApiErrorType;

    use super::service_tenant;

    #[test]
    fn without_a_service_token_the_keys_decide() {
        assert_eq!(service_tenant(false, false, Some("t1")).unwrap(), None);
        assert_eq!(service_tenant(false, false, None).unwrap(), None);
    }

    #[test]
    fn a_genuine_service_token_acts_for_the_named_tenant() {
        assert_eq!(
            service_tenant(true, true, Some(" t1 ")).unwrap(),
            Some("t1".to_owned())
        );
    }

    #[test]
    fn a_wrong_service_token_or_no_tenant_is_unauthenticated() {
        for (genuine, tenant) in [(false, Some("t1")), (true, None), (true, Some("  "))] {
            let err = service_tenant(true, genuine, tenant).unwrap_err();
            assert_eq!(
                err.kind,
                ApiErrorType::AuthenticationError,
                "{}",
                err.message
            );
        }
    }
}
