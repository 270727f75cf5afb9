//! The integrations worker's settings, read once per request or activation.

use openma_core::integrations::Provider;
use worker::Env;

/// How many times a reply is attempted before it is dead.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// The first retry's delay; each later one doubles it.
pub(crate) const DEFAULT_RETRY_BASE_MS: u64 = 2_000;

/// Every setting the worker reads.
pub(crate) struct Config {
    secrets: [Option<String>; 3],
    api_bases: [String; 3],
    /// `OUTBOX_MAX_ATTEMPTS`.
    pub(crate) max_attempts: u32,
    /// `OUTBOX_RETRY_BASE_MS`.
    pub(crate) retry_base_ms: u64,
}

const fn slot(provider: Provider) -> usize {
    match provider {
        Provider::Slack => 0,
        Provider::Linear => 1,
        Provider::Github => 2,
    }
}

impl Config {
    /// The settings in `env`; a variable that does not parse keeps its
    /// default.
    pub(crate) fn from_env(env: &Env) -> Self {
        let setting = |name: &str| openma_cloudflare::setting(env, name);
        let secrets = Provider::ALL.map(|p| setting(p.secret_name()));
        let api_bases = Provider::ALL.map(|p| {
            let (name, default) = p.api_base_setting();
            setting(name).unwrap_or_else(|| default.to_owned())
        });
        Self {
            secrets,
            api_bases,
            max_attempts: setting("OUTBOX_MAX_ATTEMPTS")
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_MAX_ATTEMPTS),
            retry_base_ms: setting("OUTBOX_RETRY_BASE_MS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_RETRY_BASE_MS),
        }
    }

    /// The provider's signing secret, when set.
    pub(crate) fn secret(&self, provider: Provider) -> Option<&str> {
        self.secrets[slot(provider)].as_deref()
    }

    /// The provider's API base.
    pub(crate) fn api_base(&self, provider: Provider) -> &str {
        &self.api_bases[slot(provider)]
    }
}
