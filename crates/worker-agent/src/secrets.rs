//! A session's vault credentials. The sandbox is set up with the names and
//! rules of its `environment_variable` credentials only; their values, and
//! the bearer tokens of its MCP credentials, are read from D1 and decrypted
//! by the egress path for one outgoing request at a time, and nothing
//! decrypted is ever stored or sent into the sandbox.

use openma_core::control::vaults::Credential;
use openma_core::control::vaults::CredentialAuth;
use openma_core::control::vaults::CredentialSecrets;
use openma_core::control::vaults::credential_aad;
use openma_core::crypto::Keyring;
use openma_core::egress::SecretValue;
use openma_core::egress::normalize_mcp_url;
use openma_core::sandbox::SecretParams;
use worker::Env;

/// A session's credentials as the egress path uses them.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    /// `environment_variable` credentials (values only when opened).
    pub(crate) variables: Vec<SecretParams>,
    /// `static_bearer` tokens and `mcp_oauth` access tokens, by normalised
    /// MCP server URL (only when opened).
    pub(crate) bearers: Vec<(String, SecretValue)>,
}

/// The credentials of the vaults `vault_ids`: with `open`, their values
/// decrypted; without, names and rules only (no decryption happens).
/// Errors never carry a secret.
pub(crate) async fn credentials(
    env: &Env,
    tenant_id: &str,
    vault_ids: &[String],
    open: bool,
) -> Result<Credentials, String> {
    let mut found = Credentials::default();
    if vault_ids.is_empty() {
        return Ok(found);
    }
    let setting = |name: &str| openma_cloudflare::setting(env, name);
    let ring = if open {
        let root = setting("PLATFORM_ROOT_SECRET").ok_or("PLATFORM_ROOT_SECRET is not set")?;
        let previous = setting("PLATFORM_ROOT_SECRET_PREVIOUS");
        Some(Keyring::new(&root, previous.as_deref()).map_err(|e| e.to_string())?)
    } else {
        None
    };

    let rows = openma_cloudflare::store::vault_credentials::active(env, tenant_id, vault_ids)
        .await
        .map_err(|e| e.to_string())?;

    for row in rows {
        let credential: Credential = serde_json::from_str(&row.snapshot)
            .map_err(|e| format!("credential {}: {e}", row.id))?;
        let sealed = match (&ring, row.key_id, row.ciphertext) {
            (Some(ring), Some(key_id), Some(ciphertext)) => {
                let opened = ring
                    .open(&key_id, &ciphertext, &credential_aad(tenant_id, &row.id))
                    .map_err(|e| format!("credential {}: {e}", row.id))?;
                let sealed: CredentialSecrets = serde_json::from_slice(&opened.plaintext)
                    .map_err(|_| format!("credential {}: sealed secrets are malformed", row.id))?;
                Some(sealed)
            }
            // Archived credentials have no ciphertext: nothing to use.
            (_, None, _) | (_, _, None) => continue,
            (None, _, _) => None,
        };
        match credential.auth {
            CredentialAuth::EnvironmentVariable {
                secret_name,
                networking,
                injection_location,
            } => {
                let value = match &sealed {
                    None => None,
                    Some(sealed) => match &sealed.secret_value {
                        Some(value) => Some(SecretValue::new(value.clone())),
                        None => continue,
                    },
                };
                found.variables.push(SecretParams {
                    name: secret_name,
                    value,
                    placeholder: None,
                    networking,
                    injection_location,
                });
            }
            CredentialAuth::StaticBearer { mcp_server_url }
            | CredentialAuth::McpOauth { mcp_server_url, .. } => {
                let token = sealed.and_then(|s| s.token.or(s.access_token));
                if let (Some(url), Some(token)) = (normalize_mcp_url(&mcp_server_url), token) {
                    found.bearers.push((url, SecretValue::new(token)));
                }
            }
        }
    }
    Ok(found)
}
