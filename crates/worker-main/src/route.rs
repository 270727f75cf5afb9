//! The route table: every request is parsed once into a [`Route`].

use worker::Method;

/// The OpenAPI 3.1 document of the public API, served at `GET /v1/openapi.json`.
pub(crate) const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /health`: every backend, deep.
    Health,
    /// `GET /health/live`: this worker only.
    HealthLive,
    /// `GET /ready`: every worker, binding, migration and required secret.
    Ready,
    /// `GET /v1/openapi.json`: the OpenAPI document of this API (no key needed).
    OpenApi,
    /// `/integrations/...`: forwarded to the integrations worker untouched.
    Integrations,
    /// `POST /v1/tenants` (operator only).
    CreateTenant,
    /// `POST /v1/api_keys`.
    CreateApiKey,
    /// `GET /v1/api_keys`.
    ListApiKeys,
    /// `DELETE /v1/api_keys/{id}`.
    DeleteApiKey(String),
    /// `/v1/sessions` and everything under it.
    Sessions(crate::handlers::sessions::SessionRoute),
    /// `POST /v1/agents`.
    CreateAgent,
    /// `GET /v1/agents`.
    ListAgents,
    /// `GET /v1/agents/{id}` (`?version=N`).
    GetAgent(String),
    /// `POST /v1/agents/{id}`.
    UpdateAgent(String),
    /// `POST /v1/agents/{id}/archive`.
    ArchiveAgent(String),
    /// `GET /v1/agents/{id}/versions`.
    ListAgentVersions(String),
    /// `POST /v1/model_providers`.
    CreateModelProvider,
    /// `GET /v1/model_providers`.
    ListModelProviders,
    /// `GET /v1/model_providers/{id}`.
    GetModelProvider(String),
    /// `POST /v1/model_providers/{id}`.
    UpdateModelProvider(String),
    /// `DELETE /v1/model_providers/{id}`.
    DeleteModelProvider(String),
    /// `POST /v1/model_providers/{id}/validate`.
    ValidateModelProvider(String),
    /// `POST /v1/environments`.
    CreateEnvironment,
    /// `GET /v1/environments`.
    ListEnvironments,
    /// `GET /v1/environments/{id}`.
    GetEnvironment(String),
    /// `POST /v1/environments/{id}`.
    UpdateEnvironment(String),
    /// `DELETE /v1/environments/{id}`.
    DeleteEnvironment(String),
    /// `POST /v1/environments/{id}/archive`.
    ArchiveEnvironment(String),
    /// `POST /v1/environments/{id}/keys`: a self-hosted environment's key.
    CreateEnvironmentKey(String),
    /// `GET /v1/environments/{id}/keys`.
    ListEnvironmentKeys(String),
    /// `DELETE /v1/environments/{id}/keys/{key_id}`.
    DeleteEnvironmentKey(String, String),
    /// `/v1/environments/{id}/work` and everything under it: a
    /// self-hosted environment's work queue.
    Work(crate::handlers::work::WorkRoute),
    /// `/v1/vaults` and everything under it.
    Vaults(crate::handlers::vaults::VaultRoute),
    /// `GET /v1/operator/metrics` and `/diagnostics` (operator only).
    Operations(crate::handlers::operations::OperationsRoute),
    /// `/v1/operator/credentials/...` (operator only): key rotation.
    OperatorCredentials(crate::handlers::vaults::OperatorRoute),
    /// `/v1/operator/archive` and `/v1/operator/sessions/{id}/storage`
    /// (operator only): archival.
    OperatorArchive(crate::handlers::archive::ArchiveRoute),
    /// `/v1/files` and everything under it.
    Files(crate::handlers::files::FileRoute),
    /// `/v1/memory_stores` and everything under it.
    MemoryStores(crate::handlers::memory::MemoryRoute),
    /// `GET /v1/usage`: the tenant's usage report.
    Usage,
    /// `GET /v1/audit_events`: the audit trail, newest first.
    ListAuditEvents,
    /// `/v1/integrations` and everything under it (installs and their
    /// outbox; the webhooks are [`Route::Integrations`]).
    IntegrationsApi(crate::handlers::integrations::IntegrationRoute),
    /// `/v1/organizations/webhooks` and everything under it: the tenant's
    /// outbound webhook endpoints.
    Webhooks(crate::handlers::webhooks::WebhookRoute),
    /// `/v1/deployments` and `/v1/deployment_runs`, and everything under
    /// them.
    Deployments(crate::handlers::deployments::DeploymentRoute),
}

impl Route {
    /// Parses a method and path; `None` for anything unknown.
    pub(crate) fn parse(method: &Method, path: &str) -> Option<Self> {
        if path.starts_with("/integrations/") {
            return Some(Self::Integrations);
        }
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let route = match (method, segments.as_slice()) {
            (Method::Get, ["health"]) => Self::Health,
            (Method::Get, ["health", "live"]) => Self::HealthLive,
            (Method::Get, ["ready"]) => Self::Ready,
            (Method::Get, ["v1", "openapi.json"]) => Self::OpenApi,
            (Method::Post, ["v1", "tenants"]) => Self::CreateTenant,
            (Method::Post, ["v1", "api_keys"]) => Self::CreateApiKey,
            (Method::Get, ["v1", "api_keys"]) => Self::ListApiKeys,
            (Method::Delete, ["v1", "api_keys", id]) => Self::DeleteApiKey((*id).to_owned()),
            (Method::Get, ["v1", "usage"]) => Self::Usage,
            (Method::Get, ["v1", "audit_events"]) => Self::ListAuditEvents,
            (Method::Post, ["v1", "model_providers"]) => Self::CreateModelProvider,
            (Method::Get, ["v1", "model_providers"]) => Self::ListModelProviders,
            (Method::Get, ["v1", "model_providers", id]) => {
                Self::GetModelProvider((*id).to_owned())
            }
            (Method::Post, ["v1", "model_providers", id]) => {
                Self::UpdateModelProvider((*id).to_owned())
            }
            (Method::Delete, ["v1", "model_providers", id]) => {
                Self::DeleteModelProvider((*id).to_owned())
            }
            (Method::Post, ["v1", "model_providers", id, "validate"]) => {
                Self::ValidateModelProvider((*id).to_owned())
            }
            (_, ["v1", "sessions", rest @ ..]) => {
                return crate::handlers::sessions::SessionRoute::parse(method, rest)
                    .map(Self::Sessions);
            }
            (Method::Post, ["v1", "agents"]) => Self::CreateAgent,
            (Method::Get, ["v1", "agents"]) => Self::ListAgents,
            (Method::Get, ["v1", "agents", id]) => Self::GetAgent((*id).to_owned()),
            (Method::Post, ["v1", "agents", id]) => Self::UpdateAgent((*id).to_owned()),
            (Method::Post, ["v1", "agents", id, "archive"]) => Self::ArchiveAgent((*id).to_owned()),
            (Method::Get, ["v1", "agents", id, "versions"]) => {
                Self::ListAgentVersions((*id).to_owned())
            }
            (Method::Post, ["v1", "environments"]) => Self::CreateEnvironment,
            (Method::Get, ["v1", "environments"]) => Self::ListEnvironments,
            (Method::Get, ["v1", "environments", id]) => Self::GetEnvironment((*id).to_owned()),
            (Method::Post, ["v1", "environments", id]) => Self::UpdateEnvironment((*id).to_owned()),
            (Method::Delete, ["v1", "environments", id]) => {
                Self::DeleteEnvironment((*id).to_owned())
            }
            (Method::Post, ["v1", "environments", id, "archive"]) => {
                Self::ArchiveEnvironment((*id).to_owned())
            }
            (Method::Post, ["v1", "environments", id, "keys"]) => {
                Self::CreateEnvironmentKey((*id).to_owned())
            }
            (Method::Get, ["v1", "environments", id, "keys"]) => {
                Self::ListEnvironmentKeys((*id).to_owned())
            }
            (Method::Delete, ["v1", "environments", id, "keys", key]) => {
                Self::DeleteEnvironmentKey((*id).to_owned(), (*key).to_owned())
            }
            (_, ["v1", "environments", id, "work", rest @ ..]) => {
                return crate::handlers::work::WorkRoute::parse(method, id, rest).map(Self::Work);
            }
            (_, ["v1", "vaults", rest @ ..]) => {
                return crate::handlers::vaults::VaultRoute::parse(method, rest).map(Self::Vaults);
            }
            (_, ["v1", "files", rest @ ..]) => {
                return crate::handlers::files::FileRoute::parse(method, rest).map(Self::Files);
            }
            (_, ["v1", "integrations", rest @ ..]) => {
                return crate::handlers::integrations::IntegrationRoute::parse(method, rest)
                    .map(Self::IntegrationsApi);
            }
            (_, ["v1", "organizations", "webhooks", rest @ ..]) => {
                return crate::handlers::webhooks::WebhookRoute::parse(method, rest)
                    .map(Self::Webhooks);
            }
            (_, ["v1", "deployments", rest @ ..]) => {
                return crate::handlers::deployments::DeploymentRoute::parse(method, rest)
                    .map(Self::Deployments);
            }
            (_, ["v1", "deployment_runs", rest @ ..]) => {
                return crate::handlers::deployments::DeploymentRoute::parse_runs(method, rest)
                    .map(Self::Deployments);
            }
            (_, ["v1", "memory_stores", rest @ ..]) => {
                return crate::handlers::memory::MemoryRoute::parse(method, rest)
                    .map(Self::MemoryStores);
            }
            (Method::Get, ["v1", "operator", "metrics"]) => {
                Self::Operations(crate::handlers::operations::OperationsRoute::Metrics)
            }
            (Method::Get, ["v1", "operator", "diagnostics"]) => {
                Self::Operations(crate::handlers::operations::OperationsRoute::Diagnostics)
            }
            (_, ["v1", "operator", "credentials", rest @ ..]) => {
                return crate::handlers::vaults::OperatorRoute::parse(method, rest)
                    .map(Self::OperatorCredentials);
            }
            (_, ["v1", "operator", rest @ ..]) => {
                return crate::handlers::archive::ArchiveRoute::parse(method, rest)
                    .map(Self::OperatorArchive);
            }
            _ => return None,
        };
        Some(route)
    }

    /// Whether a request to the route made with the operator's key is an
    /// operator call, which the audit trail records whatever its outcome.
    pub(crate) fn operator_call(&self) -> bool {
        matches!(self, Self::CreateTenant | Self::OperatorCredentials(_))
    }

    /// Whether the route needs an API key.
    pub(crate) fn authenticated(&self) -> bool {
        !matches!(
            self,
            Self::Health | Self::HealthLive | Self::Ready | Self::OpenApi | Self::Integrations
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Route;
    use worker::Method;

    #[test]
    fn parses_known_routes_and_rejects_the_rest() {
        assert_eq!(Route::parse(&Method::Get, "/health"), Some(Route::Health));
        assert_eq!(
            Route::parse(&Method::Post, "/v1/tenants"),
            Some(Route::CreateTenant)
        );
        assert_eq!(
            Route::parse(&Method::Delete, "/v1/api_keys/apikey_1"),
            Some(Route::DeleteApiKey("apikey_1".into()))
        );
        assert_eq!(
            Route::parse(&Method::Get, "/v1/api_keys/"),
            Some(Route::ListApiKeys)
        );
        assert_eq!(
            Route::parse(&Method::Post, "/integrations/slack/events"),
            Some(Route::Integrations)
        );
        assert_eq!(Route::parse(&Method::Get, "/v1/usage"), Some(Route::Usage));
        assert_eq!(
            Route::parse(&Method::Get, "/v1/integrations/deliveries/"),
            Some(Route::IntegrationsApi(
                crate::handlers::integrations::IntegrationRoute::ListDeliveries
            ))
        );
        assert!(
            Route::parse(&Method::Post, "/v1/integrations")
                .is_some_and(|route| route.authenticated())
        );
        assert_eq!(
            Route::parse(&Method::Get, "/v1/audit_events/"),
            Some(Route::ListAuditEvents)
        );
        assert_eq!(
            Route::parse(
                &Method::Post,
                "/v1/organizations/webhooks/whep_1/regenerate_signing_secret"
            ),
            Some(Route::Webhooks(
                crate::handlers::webhooks::WebhookRoute::RegenerateSecret("whep_1".into())
            ))
        );
        assert!(
            Route::parse(&Method::Get, "/v1/organizations/webhooks/")
                .is_some_and(|route| route.authenticated() && !route.operator_call())
        );
        assert_eq!(Route::parse(&Method::Get, "/v1/organizations"), None);
        assert_eq!(Route::parse(&Method::Post, "/v1/usage"), None);
        assert!(Route::CreateTenant.operator_call());
        assert!(!Route::ListAuditEvents.operator_call());
        assert_eq!(Route::parse(&Method::Put, "/v1/api_keys"), None);
        assert_eq!(Route::parse(&Method::Get, "/v1/nope"), None);
    }

    #[test]
    fn serves_a_valid_openapi_3_1_document_without_a_key() {
        let route = Route::parse(&Method::Get, "/v1/openapi.json");
        assert_eq!(route, Some(Route::OpenApi));
        assert!(!Route::OpenApi.authenticated());
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI_JSON).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1."),
            "{}",
            doc["openapi"]
        );
        assert!(doc["paths"]["/v1/sessions/{session_id}/events/stream"].is_object());
    }

    #[test]
    fn parses_agent_and_environment_routes() {
        let parse = |method, path| Route::parse(&method, path);
        assert_eq!(parse(Method::Post, "/v1/agents"), Some(Route::CreateAgent));
        assert_eq!(parse(Method::Get, "/v1/agents"), Some(Route::ListAgents));
        assert_eq!(
            parse(Method::Get, "/v1/agents/agent_1"),
            Some(Route::GetAgent("agent_1".into()))
        );
        assert_eq!(
            parse(Method::Post, "/v1/agents/agent_1"),
            Some(Route::UpdateAgent("agent_1".into()))
        );
        assert_eq!(
            parse(Method::Post, "/v1/agents/agent_1/archive"),
            Some(Route::ArchiveAgent("agent_1".into()))
        );
        assert_eq!(
            parse(Method::Get, "/v1/agents/agent_1/versions"),
            Some(Route::ListAgentVersions("agent_1".into()))
        );
        assert_eq!(parse(Method::Delete, "/v1/agents/agent_1"), None);
        assert_eq!(
            parse(Method::Post, "/v1/environments"),
            Some(Route::CreateEnvironment)
        );
        assert_eq!(
            parse(Method::Get, "/v1/environments"),
            Some(Route::ListEnvironments)
        );
        assert_eq!(
            parse(Method::Get, "/v1/environments/env_1"),
            Some(Route::GetEnvironment("env_1".into()))
        );
        assert_eq!(
            parse(Method::Post, "/v1/environments/env_1"),
            Some(Route::UpdateEnvironment("env_1".into()))
        );
        assert_eq!(
            parse(Method::Delete, "/v1/environments/env_1"),
            Some(Route::DeleteEnvironment("env_1".into()))
        );
        assert_eq!(
            parse(Method::Post, "/v1/environments/env_1/archive"),
            Some(Route::ArchiveEnvironment("env_1".into()))
        );
    }

    #[test]
    fn parses_environment_key_and_work_queue_routes() {
        use crate::handlers::work::WorkRoute;
        let parse = |method, path| Route::parse(&method, path);
        let env = || "env_1".to_owned();
        let work = || "work_1".to_owned();
        assert_eq!(
            parse(Method::Post, "/v1/environments/env_1/keys"),
            Some(Route::CreateEnvironmentKey(env()))
        );
        assert_eq!(
            parse(Method::Get, "/v1/environments/env_1/keys/"),
            Some(Route::ListEnvironmentKeys(env()))
        );
        assert_eq!(
            parse(Method::Delete, "/v1/environments/env_1/keys/envkey_1"),
            Some(Route::DeleteEnvironmentKey(env(), "envkey_1".into()))
        );
        for (method, path, route) in [
            (
                Method::Get,
                "/v1/environments/env_1/work",
                WorkRoute::List(env()),
            ),
            (
                Method::Get,
                "/v1/environments/env_1/work/poll",
                WorkRoute::Poll(env()),
            ),
            (
                Method::Get,
                "/v1/environments/env_1/work/stats",
                WorkRoute::Stats(env()),
            ),
            (
                Method::Get,
                "/v1/environments/env_1/work/work_1",
                WorkRoute::Get(env(), work()),
            ),
            (
                Method::Post,
                "/v1/environments/env_1/work/work_1",
                WorkRoute::Update(env(), work()),
            ),
            (
                Method::Post,
                "/v1/environments/env_1/work/work_1/ack",
                WorkRoute::Ack(env(), work()),
            ),
            (
                Method::Post,
                "/v1/environments/env_1/work/work_1/heartbeat",
                WorkRoute::Heartbeat(env(), work()),
            ),
            (
                Method::Post,
                "/v1/environments/env_1/work/work_1/stop",
                WorkRoute::Stop(env(), work()),
            ),
        ] {
            assert_eq!(parse(method, path), Some(Route::Work(route)), "{path}");
        }
        assert_eq!(
            parse(Method::Post, "/v1/environments/env_1/work/poll/ack/x"),
            None
        );
        assert_eq!(
            parse(Method::Delete, "/v1/environments/env_1/work/work_1"),
            None
        );
    }

    #[test]
    fn an_environment_key_reaches_only_its_queue_and_a_sessions_token_its_item_and_session() {
        use crate::auth::Scope;
        let parse = |method, path| Route::parse(&method, path).unwrap();
        let key = Scope::Environment {
            environment_id: "env_1".into(),
        };
        assert!(key.permits(&parse(Method::Get, "/v1/environments/env_1/work/poll")));
        assert!(key.permits(&parse(Method::Post, "/v1/environments/env_1/work/w/ack")));
        assert!(!key.permits(&parse(Method::Get, "/v1/environments/env_2/work/poll")));
        assert!(!key.permits(&parse(Method::Post, "/v1/environments/env_1/keys")));
        assert!(!key.permits(&parse(Method::Get, "/v1/environments/env_1")));
        assert!(!key.permits(&parse(Method::Get, "/v1/sessions/sesn_1")));

        let token = Scope::WorkItem {
            environment_id: "env_1".into(),
            work_id: "work_1".into(),
            session_id: "sesn_1".into(),
        };
        for (method, path) in [
            (Method::Post, "/v1/environments/env_1/work/work_1/heartbeat"),
            (Method::Post, "/v1/environments/env_1/work/work_1/stop"),
            (Method::Get, "/v1/environments/env_1/work/work_1"),
            (Method::Get, "/v1/sessions/sesn_1"),
            (Method::Get, "/v1/sessions/sesn_1/events"),
            (Method::Post, "/v1/sessions/sesn_1/events"),
            (Method::Get, "/v1/sessions/sesn_1/events/stream"),
        ] {
            assert!(token.permits(&parse(method, path)), "{path}");
        }
        for (method, path) in [
            (Method::Get, "/v1/environments/env_1/work/poll"),
            (Method::Get, "/v1/environments/env_1/work"),
            (Method::Post, "/v1/environments/env_1/work/work_2/stop"),
            (Method::Get, "/v1/sessions/sesn_2/events"),
            (Method::Post, "/v1/sessions/sesn_1"),
            (Method::Delete, "/v1/sessions/sesn_1"),
            (Method::Get, "/v1/sessions"),
            (Method::Get, "/v1/agents"),
        ] {
            assert!(!token.permits(&parse(method, path)), "{path}");
        }
        assert!(Scope::Tenant.permits(&parse(Method::Get, "/v1/agents")));
    }
}
