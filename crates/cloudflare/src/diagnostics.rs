//! What a worker says about itself in the operator's support bundle: its
//! name and version, the names of its bindings, its settings (values of
//! non-secret variables, redacted; for secrets only whether they are set).

use serde_json::Value;
use serde_json::json;
use worker::Env;

/// A worker's self-description, fixed at build time.
#[derive(Debug, Clone, Copy)]
pub struct WorkerDescription {
    /// The worker's name.
    pub worker: &'static str,
    /// Its bindings, by name.
    pub bindings: &'static [&'static str],
    /// Variables whose values may be shown (redacted).
    pub settings: &'static [&'static str],
    /// Secrets: only whether each is set is shown.
    pub secrets: &'static [&'static str],
}

impl WorkerDescription {
    /// The description as JSON, with this deployment's settings.
    #[must_use]
    pub fn describe(&self, env: &Env) -> Value {
        let settings: serde_json::Map<String, Value> = self
            .settings
            .iter()
            .map(|name| {
                let value = crate::setting(env, name)
                    .map(|v| Value::String(openma_core::redact::redact(&v)))
                    .unwrap_or(Value::Null);
                ((*name).to_owned(), value)
            })
            .collect();
        let secrets: serde_json::Map<String, Value> = self
            .secrets
            .iter()
            .map(|name| {
                let set = crate::setting(env, name).is_some_and(|v| !v.is_empty());
                ((*name).to_owned(), Value::Bool(set))
            })
            .collect();
        json!({
            "name": self.worker,
            "version": env!("CARGO_PKG_VERSION"),
            "bindings": self.bindings,
            "settings": settings,
            "secrets_set": secrets,
        })
    }
}
