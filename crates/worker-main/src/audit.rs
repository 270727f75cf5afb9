//! The audit trail: who did what. Handlers record an action once it has
//! happened (tenants, API keys, vault credentials, model providers,
//! integrations, webhook endpoints, the re-encryption of credentials), and
//! every request made with the operator's key to `/v1/operator/*` or
//! `/v1/tenants` is recorded whatever its outcome. A row names the actor by its key's id (never the key), the
//! object by its id, and carries the request's `request-id`; nothing secret
//! is ever in one.

use serde_json::Value;
use serde_json::json;
use worker::Env;

use crate::auth::Caller;
use crate::request::now;
use crate::store::audit_events::AuditRow;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// `POST /v1/tenants`.
    TenantCreated,
    /// `POST /v1/api_keys`, or a new tenant's first key.
    ApiKeyCreated,
    /// `DELETE /v1/api_keys/{id}`.
    ApiKeyRevoked,
    /// `POST /v1/vaults/{id}/credentials`.
    VaultCredentialCreated,
    /// `POST /v1/vaults/{id}/credentials/{id}` (`details.secrets_rotated`).
    VaultCredentialUpdated,
    /// `POST /v1/vaults/{id}/credentials/{id}/archive`: its secrets purged.
    VaultCredentialArchived,
    /// `DELETE /v1/vaults/{id}/credentials/{id}`.
    VaultCredentialDeleted,
    /// `POST /v1/vaults/{id}/archive`: its credentials archived with it.
    VaultArchived,
    /// `DELETE /v1/vaults/{id}`: its credentials deleted with it.
    VaultDeleted,
    /// `POST /v1/operator/credentials/reencrypt`.
    CredentialsReencrypted,
    /// `POST /v1/model_providers`.
    ModelProviderCreated,
    /// `POST /v1/model_providers/{id}` (`details.key_rotated`).
    ModelProviderUpdated,
    /// `DELETE /v1/model_providers/{id}`.
    ModelProviderDeleted,
    /// `POST /v1/integrations` (`details`: provider, external_id).
    IntegrationCreated,
    /// `DELETE /v1/integrations/{id}`.
    IntegrationDeleted,
    /// `POST /v1/organizations/webhooks` (`details.enabled_events`).
    WebhookEndpointCreated,
    /// `POST /v1/organizations/webhooks/{id}` (`details.changed`: the
    /// fields).
    WebhookEndpointUpdated,
    /// `DELETE /v1/organizations/webhooks/{id}`.
    WebhookEndpointDeleted,
    /// `POST /v1/organizations/webhooks/{id}/regenerate_signing_secret`.
    WebhookSecretRegenerated,
    /// `POST /v1/deployments` (`details`: agent_id, agent_version, schedule).
    DeploymentCreated,
    /// `POST /v1/deployments/{id}` (`details.fields`: the fields sent).
    DeploymentUpdated,
    /// `POST /v1/deployments/{id}/pause`.
    DeploymentPaused,
    /// `POST /v1/deployments/{id}/unpause`.
    DeploymentUnpaused,
    /// `POST /v1/deployments/{id}/archive`.
    DeploymentArchived,
    /// `POST /v1/deployments/{id}/run`, by hand or by the scheduler
    /// (`details`: run_id, trigger, session_id, error).
    DeploymentRun,
    /// `POST /v1/environments/{id}/keys`.
    EnvironmentKeyCreated,
    /// `DELETE /v1/environments/{id}/keys/{id}`.
    EnvironmentKeyRevoked,
    /// Any request with the operator's key to `/v1/operator/*` or
    /// `/v1/tenants` (`details`: method, path, status).
    OperatorCall,
}

impl Action {
    /// The `action` of the row.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::TenantCreated => "tenant.created",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::VaultCredentialCreated => "vault_credential.created",
            Self::VaultCredentialUpdated => "vault_credential.updated",
            Self::VaultCredentialArchived => "vault_credential.archived",
            Self::VaultCredentialDeleted => "vault_credential.deleted",
            Self::VaultArchived => "vault.archived",
            Self::VaultDeleted => "vault.deleted",
            Self::CredentialsReencrypted => "credentials.reencrypted",
            Self::ModelProviderCreated => "model_provider.created",
            Self::ModelProviderUpdated => "model_provider.updated",
            Self::ModelProviderDeleted => "model_provider.deleted",
            Self::IntegrationCreated => "integration.created",
            Self::IntegrationDeleted => "integration.deleted",
            Self::WebhookEndpointCreated => "webhook_endpoint.created",
            Self::WebhookEndpointUpdated => "webhook_endpoint.updated",
            Self::WebhookEndpointDeleted => "webhook_endpoint.deleted",
            Self::WebhookSecretRegenerated => "webhook_endpoint.secret_regenerated",
            Self::DeploymentCreated => "deployment.created",
            Self::DeploymentUpdated => "deployment.updated",
            Self::DeploymentPaused => "deployment.paused",
            Self::DeploymentUnpaused => "deployment.unpaused",
            Self::DeploymentArchived => "deployment.archived",
            Self::DeploymentRun => "deployment.run",
            Self::EnvironmentKeyCreated => "environment_key.created",
            Self::EnvironmentKeyRevoked => "environment_key.revoked",
            Self::OperatorCall => "operator.call",
        }
    }

    /// Every action, for validating the `action` filter.
    pub(crate) const ALL: [Self; 28] = [
        Self::TenantCreated,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::VaultCredentialCreated,
        Self::VaultCredentialUpdated,
        Self::VaultCredentialArchived,
        Self::VaultCredentialDeleted,
        Self::VaultArchived,
        Self::VaultDeleted,
        Self::CredentialsReencrypted,
        Self::ModelProviderCreated,
        Self::ModelProviderUpdated,
        Self::ModelProviderDeleted,
        Self::IntegrationCreated,
        Self::IntegrationDeleted,
        Self::WebhookEndpointCreated,
        Self::WebhookEndpointUpdated,
        Self::WebhookEndpointDeleted,
        Self::WebhookSecretRegenerated,
        Self::DeploymentCreated,
        Self::DeploymentUpdated,
        Self::DeploymentPaused,
        Self::DeploymentUnpaused,
        Self::DeploymentArchived,
        Self::DeploymentRun,
        Self::EnvironmentKeyCreated,
        Self::EnvironmentKeyRevoked,
        Self::OperatorCall,
    ];
}

/// Records that `caller` did `action` to `object_id` of tenant `tenant_id`.
/// The action has happened: a row that cannot be written does not undo it,
/// and is logged whole instead (nothing in it is secret), so that it can be
/// recovered from the logs.
pub(crate) async fn record(
    env: &Env,
    caller: &Caller,
    action: Action,
    object_id: Option<&str>,
    tenant_id: &str,
    details: Value,
) {
    let at = now();
    let id = match openma_cloudflare::ids::mint_id("audevt_", at.0.unsigned_abs()) {
        Ok(id) => id,
        Err(e) => {
            failed(
                &json!({"action": action.as_str(), "object_id": object_id}),
                &e,
            );
            return;
        }
    };
    let row = AuditRow {
        seq: 0,
        id,
        tenant_id: tenant_id.to_owned(),
        actor_type: if caller.operator {
            "operator"
        } else if caller.service {
            "service"
        } else {
            "api_key"
        }
        .to_owned(),
        api_key_id: caller.api_key_id.clone(),
        action: action.as_str().to_owned(),
        object_id: object_id.map(str::to_owned),
        request_id: caller.request_id.clone(),
        details: details.to_string(),
        created_at: at.to_rfc3339(),
    };
    // One retry: D1 may refuse a write for a moment.
    let mut outcome = crate::store::audit_events::insert(env, &row).await;
    if outcome.is_err() {
        outcome = crate::store::audit_events::insert(env, &row).await;
    }
    if let Err(e) = outcome {
        failed(&object(&row), &e.to_string());
    }
}

fn failed(row: &Value, error: &str) {
    worker::console_error!(
        "{}",
        json!({"level": "error", "event": "audit_write_failed", "row": row, "error": error})
    );
}

/// A row as `GET /v1/audit_events` lists it.
pub(crate) fn object(row: &AuditRow) -> Value {
    let actor = match &row.api_key_id {
        Some(key) if row.actor_type == "api_key" => json!({"type": "api_key", "api_key_id": key}),
        _ => json!({"type": row.actor_type}),
    };
    let details: Value =
        serde_json::from_str(&row.details).unwrap_or_else(|_| Value::Object(Default::default()));
    json!({
        "type": "audit_event",
        "id": row.id,
        "actor": actor,
        "action": row.action,
        "object_id": row.object_id,
        "tenant_id": row.tenant_id,
        "created_at": row.created_at,
        "request_id": row.request_id,
        "details": details,
    })
}
