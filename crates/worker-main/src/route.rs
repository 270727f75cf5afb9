//! The route table: every request is parsed once into a [`Route`].

use worker::Method;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /health`: every backend, deep.
    Health,
    /// `GET /health/live`: this worker only.
    HealthLive,
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
            (Method::Post, ["v1", "tenants"]) => Self::CreateTenant,
            (Method::Post, ["v1", "api_keys"]) => Self::CreateApiKey,
            (Method::Get, ["v1", "api_keys"]) => Self::ListApiKeys,
            (Method::Delete, ["v1", "api_keys", id]) => Self::DeleteApiKey((*id).to_owned()),
            _ => return None,
        };
        Some(route)
    }

    /// Whether the route needs an API key.
    pub(crate) fn authenticated(&self) -> bool {
        !matches!(self, Self::Health | Self::HealthLive | Self::Integrations)
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
        assert_eq!(Route::parse(&Method::Put, "/v1/api_keys"), None);
        assert_eq!(Route::parse(&Method::Get, "/v1/nope"), None);
    }
}
