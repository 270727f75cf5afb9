//! Linear, Slack and GitHub on the wire, with no I/O: verifying a delivery's
//! signature over its raw bytes, reading a delivery into what the platform
//! does with it, building a reply's HTTP request, and classifying the
//! provider's answer for the outbox.

use serde::Deserialize;
use serde::Serialize;

/// A provider whose webhooks the platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Slack Events API.
    Slack,
    /// Linear agent sessions.
    Linear,
    /// GitHub issue comments.
    Github,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Self; 3] = [Self::Slack, Self::Linear, Self::Github];

    /// `slack`, `linear`, `github`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Linear => "linear",
            Self::Github => "github",
        }
    }

    /// The provider named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The public path its webhooks are delivered to.
    #[must_use]
    pub const fn webhook_path(self) -> &'static str {
        match self {
            Self::Slack => "/integrations/slack/events",
            Self::Linear => "/integrations/linear/webhook",
            Self::Github => "/integrations/github/webhook",
        }
    }

    /// The secret (worker setting) its deliveries are signed with.
    #[must_use]
    pub const fn secret_name(self) -> &'static str {
        match self {
            Self::Slack => "SLACK_SIGNING_SECRET",
            Self::Linear => "LINEAR_WEBHOOK_SECRET",
            Self::Github => "GITHUB_WEBHOOK_SECRET",
        }
    }

    /// The setting naming its API base, and that setting's default.
    #[must_use]
    pub const fn api_base_setting(self) -> (&'static str, &'static str) {
        match self {
            Self::Slack => ("SLACK_API_BASE", "https://slack.com/api"),
            Self::Linear => ("LINEAR_API_BASE", "https://api.linear.app"),
            Self::Github => ("GITHUB_API_BASE", "https://api.github.com"),
        }
    }
}

/// The additional authenticated data an integration's access token is
/// sealed with: it binds the ciphertext to the integration.
#[must_use]
pub fn token_aad(tenant_id: &str, integration_id: &str) -> Vec<u8> {
    format!("openma/integration-token/v1\n{tenant_id}\n{integration_id}").into_bytes()
}
