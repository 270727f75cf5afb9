//! Vaults and their credentials: the wire objects, create and update rules
//! (validation that names the field and never echoes a secret), and the
//! split of every credential into its public `auth` and its write-only
//! [`CredentialSecrets`], which the adapter seals before storing.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;
use serde_json::Map;
use serde_json::Value;

use super::metadata::apply_metadata_patch;
use super::metadata::validate_metadata;
use crate::wire::Timestamp;
use crate::wire::ValidationError;
use crate::wire::object_type::VaultType;
use crate::wire::validate::array;
use crate::wire::validate::index;
use crate::wire::validate::join;
use crate::wire::validate::object;
use crate::wire::validate::optional;
use crate::wire::validate::required;
use crate::wire::validate::string;

/// At most this many active credentials per vault.
pub const MAX_CREDENTIALS_PER_VAULT: usize = 20;
const MAX_NAME: usize = 255;
const MAX_URL: usize = 2048;
const MAX_SECRET: usize = 65_536;
const MAX_SECRET_NAME: usize = 256;
const MAX_HOSTS: usize = 256;
const MAX_HOST: usize = 253;

/// `"vault_credential"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum VaultCredentialType {
    /// `"vault_credential"`.
    #[default]
    #[serde(rename = "vault_credential")]
    Tag,
}

/// A vault (`vlt_`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vault {
    /// `vlt_...`.
    pub id: String,
    /// `"vault"`.
    #[serde(rename = "type")]
    pub kind: VaultType,
    /// 1-255 characters.
    pub display_name: String,
    /// Caller's key-value pairs.
    pub metadata: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// When archived; archived vaults are read-only.
    pub archived_at: Option<Timestamp>,
}

/// A credential (`vcrd_`) as every read returns it: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// `vcrd_...`.
    pub id: String,
    /// `"vault_credential"`.
    #[serde(rename = "type")]
    pub kind: VaultCredentialType,
    /// The vault it belongs to.
    pub vault_id: String,
    /// Optional display name.
    pub display_name: Option<String>,
    /// Caller's key-value pairs.
    pub metadata: BTreeMap<String, String>,
    /// The non-secret part of the auth configuration.
    pub auth: CredentialAuth,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// When archived; archiving purges the secrets.
    pub archived_at: Option<Timestamp>,
}

/// The public `auth` of a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CredentialAuth {
    /// OAuth to an MCP server, optionally refreshable.
    McpOauth {
        /// The MCP server (immutable).
        mcp_server_url: String,
        /// When the access token expires, if known.
        expires_at: Option<Timestamp>,
        /// The refresh configuration.
        refresh: Option<RefreshConfig>,
    },
    /// A fixed bearer token for an MCP server.
    StaticBearer {
        /// The MCP server (immutable).
        mcp_server_url: String,
    },
    /// A secret substituted at egress for a placeholder env var.
    EnvironmentVariable {
        /// The env var's name (immutable).
        secret_name: String,
        /// Which hosts the secret may reach.
        networking: CredentialNetworking,
        /// Where in a request it is substituted.
        injection_location: InjectionLocation,
    },
}

impl CredentialAuth {
    /// The wire `type`.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::McpOauth { .. } => "mcp_oauth",
            Self::StaticBearer { .. } => "static_bearer",
            Self::EnvironmentVariable { .. } => "environment_variable",
        }
    }

    /// The value that must be unique among a vault's active credentials:
    /// the MCP server URL, or `env:` and the secret name.
    #[must_use]
    pub fn unique_key(&self) -> String {
        match self {
            Self::McpOauth { mcp_server_url, .. } | Self::StaticBearer { mcp_server_url } => {
                format!("mcp:{mcp_server_url}")
            }
            Self::EnvironmentVariable { secret_name, .. } => format!("env:{secret_name}"),
        }
    }

    /// The field the unique key comes from, for conflict messages.
    #[must_use]
    pub fn unique_field(&self) -> &'static str {
        match self {
            Self::EnvironmentVariable { .. } => "auth.secret_name",
            Self::McpOauth { .. } | Self::StaticBearer { .. } => "auth.mcp_server_url",
        }
    }
}

/// `refresh` of an `mcp_oauth` credential, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshConfig {
    /// OAuth client id (immutable).
    pub client_id: String,
    /// Token endpoint (immutable).
    pub token_endpoint: String,
    /// How the client authenticates to the token endpoint.
    pub token_endpoint_auth: TokenEndpointAuth,
    /// OAuth resource indicator.
    pub resource: Option<String>,
    /// OAuth scope.
    pub scope: Option<String>,
}

/// `token_endpoint_auth` (its `client_secret` is in [`CredentialSecrets`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEndpointAuth {
    /// `none`, `client_secret_basic` or `client_secret_post`.
    #[serde(rename = "type")]
    pub kind: String,
}

// The egress path enforces exactly what a credential declares: one type.
pub use crate::egress::CredentialNetworking;
pub use crate::egress::InjectionLocation;

/// A credential's write-only secrets; sealed at rest, never returned.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CredentialSecrets {
    /// `static_bearer.token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `mcp_oauth.access_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// `mcp_oauth.refresh.refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// `mcp_oauth.refresh.token_endpoint_auth.client_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// `environment_variable.secret_value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_value: Option<String>,
}

impl std::fmt::Debug for CredentialSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("CredentialSecrets")
            .field("token", &set(&self.token))
            .field("access_token", &set(&self.access_token))
            .field("refresh_token", &set(&self.refresh_token))
            .field("client_secret", &set(&self.client_secret))
            .field("secret_value", &set(&self.secret_value))
            .finish()
    }
}

/// The associated data a credential's secrets are sealed with: binds the
/// ciphertext to its tenant and credential, so it cannot be moved to another
/// row.
#[must_use]
pub fn credential_aad(tenant_id: &str, credential_id: &str) -> Vec<u8> {
    format!("openma/vault_credential/{tenant_id}/{credential_id}").into_bytes()
}

/// Why a vault or credential request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The body is invalid (400).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// `metadata` breaks its limits (400, `invalid_metadata`).
    #[error("{0}")]
    InvalidMetadata(ValidationError),
    /// The vault or credential is archived and read-only (400).
    #[error("the {0} is archived and cannot be changed")]
    Archived(&'static str),
}

impl VaultError {
    /// `error.details.error_code`, where the SDK knows one.
    #[must_use]
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidMetadata(_) => Some("invalid_metadata"),
            Self::Invalid(_) | Self::Archived(_) => None,
        }
    }
}

// ---- vaults -------------------------------------------------------------

/// A validated vault create body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultCreateParams {
    /// 1-255 characters.
    pub display_name: String,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A validated vault update body; `None` keeps a field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VaultUpdateParams {
    /// New name.
    pub display_name: Option<String>,
    /// Metadata patch.
    pub metadata: Option<BTreeMap<String, Option<String>>>,
}

/// Parses `POST /v1/vaults`.
pub fn parse_vault_create(body: &Value) -> Result<VaultCreateParams, VaultError> {
    let obj = object(body, "")?;
    let display_name = check_name(required(obj, "display_name", "")?, "display_name")?;
    let metadata = parse_metadata(obj)?;
    Ok(VaultCreateParams {
        display_name,
        metadata,
    })
}

/// The new vault.
#[must_use]
pub fn create_vault(params: VaultCreateParams, id: String, now: Timestamp) -> Vault {
    Vault {
        id,
        kind: VaultType::Tag,
        display_name: params.display_name,
        metadata: params.metadata,
        created_at: now,
        updated_at: now,
        archived_at: None,
    }
}

/// Parses `POST /v1/vaults/{id}`.
pub fn parse_vault_update(body: &Value) -> Result<VaultUpdateParams, VaultError> {
    let obj = object(body, "")?;
    Ok(VaultUpdateParams {
        display_name: optional(obj, "display_name")
            .map(|v| check_name(v, "display_name"))
            .transpose()?,
        metadata: parse_metadata_patch(obj)?,
    })
}

/// The vault after an update; `None` when nothing changes.
pub fn apply_vault_update(
    current: &Vault,
    params: VaultUpdateParams,
    now: Timestamp,
) -> Result<Option<Vault>, VaultError> {
    if current.archived_at.is_some() {
        return Err(VaultError::Archived("vault"));
    }
    let mut next = current.clone();
    if let Some(name) = params.display_name {
        next.display_name = name;
    }
    if let Some(patch) = params.metadata {
        next.metadata = apply_metadata_patch(&current.metadata, &patch, "metadata")
            .map_err(VaultError::InvalidMetadata)?;
    }
    if next == *current {
        return Ok(None);
    }
    next.updated_at = now;
    Ok(Some(next))
}

// ---- credentials --------------------------------------------------------

/// A validated credential create body.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialCreateParams {
    /// Display name.
    pub display_name: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Public auth.
    pub auth: CredentialAuth,
    /// Secrets to seal.
    pub secrets: CredentialSecrets,
}

impl std::fmt::Debug for CredentialCreateParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCreateParams")
            .field("display_name", &self.display_name)
            .field("auth", &self.auth)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

/// Parses `POST /v1/vaults/{id}/credentials`; `now` checks `expires_at`.
pub fn parse_credential_create(
    body: &Value,
    now: Timestamp,
) -> Result<CredentialCreateParams, VaultError> {
    let obj = object(body, "")?;
    let display_name = match optional(obj, "display_name") {
        Some(value) => Some(check_name(value, "display_name")?),
        None => None,
    };
    let metadata = parse_metadata(obj)?;
    let auth = object(required(obj, "auth", "")?, "auth")?;
    let kind = auth_type(auth)?;
    let mut secrets = CredentialSecrets::default();
    let auth = match kind {
        "static_bearer" => {
            secrets.token = Some(secret(auth, "token", "auth")?);
            CredentialAuth::StaticBearer {
                mcp_server_url: url(auth, "mcp_server_url", "auth")?,
            }
        }
        "mcp_oauth" => {
            secrets.access_token = Some(secret(auth, "access_token", "auth")?);
            let expires_at = expires_at(auth, now)?;
            let refresh = match optional(auth, "refresh") {
                None => None,
                Some(refresh) => {
                    let refresh = object(refresh, "auth.refresh")?;
                    let path = "auth.refresh";
                    secrets.refresh_token = Some(secret(refresh, "refresh_token", path)?);
                    let tea_path = "auth.refresh.token_endpoint_auth";
                    let tea = object(required(refresh, "token_endpoint_auth", path)?, tea_path)?;
                    let tea_kind = one_of_plain(
                        tea,
                        "type",
                        tea_path,
                        &["none", "client_secret_basic", "client_secret_post"],
                    )?;
                    if tea_kind != "none" {
                        secrets.client_secret = Some(secret(tea, "client_secret", tea_path)?);
                    }
                    Some(RefreshConfig {
                        client_id: text(refresh, "client_id", path, MAX_NAME * 4)?,
                        token_endpoint: url(refresh, "token_endpoint", path)?,
                        token_endpoint_auth: TokenEndpointAuth {
                            kind: tea_kind.to_owned(),
                        },
                        resource: optional_text(refresh, "resource", path, MAX_URL)?,
                        scope: optional_text(refresh, "scope", path, MAX_URL)?,
                    })
                }
            };
            CredentialAuth::McpOauth {
                mcp_server_url: url(auth, "mcp_server_url", "auth")?,
                expires_at,
                refresh,
            }
        }
        _ => {
            secrets.secret_value = Some(secret(auth, "secret_value", "auth")?);
            let injection_location = match auth.get("injection_location") {
                None => InjectionLocation {
                    header: true,
                    body: true,
                },
                Some(value) => {
                    let patch = injection_patch(value)?;
                    checked_location(InjectionLocation {
                        header: patch.0.unwrap_or(false),
                        body: patch.1.unwrap_or(false),
                    })?
                }
            };
            CredentialAuth::EnvironmentVariable {
                secret_name: secret_name(auth)?,
                networking: networking(required(auth, "networking", "auth")?)?,
                injection_location,
            }
        }
    };
    Ok(CredentialCreateParams {
        display_name,
        metadata,
        auth,
        secrets,
    })
}

/// The new credential.
#[must_use]
pub fn create_credential(
    params: &CredentialCreateParams,
    id: String,
    vault_id: String,
    now: Timestamp,
) -> Credential {
    Credential {
        id,
        kind: VaultCredentialType::Tag,
        vault_id,
        display_name: params.display_name.clone(),
        metadata: params.metadata.clone(),
        auth: params.auth.clone(),
        created_at: now,
        updated_at: now,
        archived_at: None,
    }
}

/// The outcome of a credential update.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialUpdate {
    /// The credential after the update.
    pub credential: Credential,
    /// The secrets after the update.
    pub secrets: CredentialSecrets,
    /// Whether the secrets changed (and must be sealed again).
    pub secrets_changed: bool,
}

impl std::fmt::Debug for CredentialUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialUpdate")
            .field("credential", &self.credential)
            .field("secrets_changed", &self.secrets_changed)
            .finish_non_exhaustive()
    }
}

/// Applies `POST /v1/vaults/{vault}/credentials/{id}` to a credential and its
/// current secrets: the `auth.type` must match, immutable fields cannot
/// change, `injection_location` merges and `networking` replaces.
pub fn apply_credential_update(
    current: &Credential,
    secrets: &CredentialSecrets,
    body: &Value,
    now: Timestamp,
) -> Result<CredentialUpdate, VaultError> {
    if current.archived_at.is_some() {
        return Err(VaultError::Archived("credential"));
    }
    let obj = object(body, "")?;
    let mut next = current.clone();
    let mut next_secrets = secrets.clone();
    match obj.get("display_name") {
        None => {}
        Some(Value::Null) => next.display_name = None,
        Some(value) => next.display_name = Some(check_name(value, "display_name")?),
    }
    if let Some(patch) = parse_metadata_patch(obj)? {
        next.metadata = apply_metadata_patch(&current.metadata, &patch, "metadata")
            .map_err(VaultError::InvalidMetadata)?;
    }
    if let Some(auth) = optional(obj, "auth") {
        let auth = object(auth, "auth")?;
        let kind = auth_type(auth)?;
        if kind != current.auth.type_name() {
            return Err(ValidationError::new(
                "auth.type",
                format!(
                    "cannot change from {} to {kind}; archive the credential and create a new one",
                    current.auth.type_name()
                ),
            )
            .into());
        }
        update_auth(&mut next.auth, &mut next_secrets, auth, now)?;
    }
    let secrets_changed = next_secrets != *secrets;
    if next != *current || secrets_changed {
        next.updated_at = now;
    }
    Ok(CredentialUpdate {
        credential: next,
        secrets: next_secrets,
        secrets_changed,
    })
}

fn update_auth(
    auth: &mut CredentialAuth,
    secrets: &mut CredentialSecrets,
    body: &Map<String, Value>,
    now: Timestamp,
) -> Result<(), VaultError> {
    match auth {
        CredentialAuth::StaticBearer { mcp_server_url } => {
            immutable(body, "mcp_server_url", "auth", mcp_server_url)?;
            if let Some(token) = optional_secret(body, "token", "auth")? {
                secrets.token = Some(token);
            }
        }
        CredentialAuth::McpOauth {
            mcp_server_url,
            expires_at: current_expiry,
            refresh,
        } => {
            immutable(body, "mcp_server_url", "auth", mcp_server_url)?;
            if let Some(token) = optional_secret(body, "access_token", "auth")? {
                secrets.access_token = Some(token);
            }
            match body.get("expires_at") {
                None => {}
                Some(Value::Null) => *current_expiry = None,
                Some(_) => *current_expiry = expires_at(body, now)?,
            }
            match body.get("refresh") {
                None => {}
                Some(Value::Null) => {
                    *refresh = None;
                    secrets.refresh_token = None;
                    secrets.client_secret = None;
                }
                Some(value) => {
                    let path = "auth.refresh";
                    let patch = object(value, path)?;
                    let Some(config) = refresh.as_mut() else {
                        return Err(ValidationError::new(
                            path,
                            "the credential has no refresh configuration; archive it and create a new one with refresh",
                        )
                        .into());
                    };
                    immutable(patch, "client_id", path, &config.client_id)?;
                    immutable(patch, "token_endpoint", path, &config.token_endpoint)?;
                    if let Some(token) = optional_secret(patch, "refresh_token", path)? {
                        secrets.refresh_token = Some(token);
                    }
                    match patch.get("scope") {
                        None => {}
                        Some(Value::Null) => {}
                        Some(value) => {
                            let scope = string(value, &join(path, "scope"))?;
                            config.scope = (!scope.is_empty()).then(|| scope.to_owned());
                        }
                    }
                    if let Some(tea) = optional(patch, "token_endpoint_auth") {
                        let tea_path = "auth.refresh.token_endpoint_auth";
                        let tea = object(tea, tea_path)?;
                        one_of_plain(
                            tea,
                            "type",
                            tea_path,
                            &["client_secret_basic", "client_secret_post"],
                        )?;
                        if let Some(client_secret) =
                            optional_secret(tea, "client_secret", tea_path)?
                        {
                            if config.token_endpoint_auth.kind == "none" {
                                return Err(ValidationError::new(
                                    join(tea_path, "client_secret"),
                                    "the credential's token endpoint uses no client authentication",
                                )
                                .into());
                            }
                            secrets.client_secret = Some(client_secret);
                        }
                    }
                }
            }
        }
        CredentialAuth::EnvironmentVariable {
            secret_name,
            networking: current_networking,
            injection_location,
        } => {
            immutable(body, "secret_name", "auth", secret_name)?;
            if let Some(value) = optional_secret(body, "secret_value", "auth")? {
                secrets.secret_value = Some(value);
            }
            if let Some(value) = optional(body, "networking") {
                *current_networking = networking(value)?;
            }
            match body.get("injection_location") {
                None => {}
                Some(value) => {
                    let (header, body) = injection_patch(value)?;
                    *injection_location = checked_location(InjectionLocation {
                        header: header.unwrap_or(injection_location.header),
                        body: body.unwrap_or(injection_location.body),
                    })?;
                }
            }
        }
    }
    Ok(())
}

// ---- field checks -------------------------------------------------------

fn check_name(value: &Value, path: &str) -> Result<String, VaultError> {
    let name = string(value, path)?;
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME {
        return Err(ValidationError::new(path, format!("must be 1-{MAX_NAME} characters")).into());
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(path, "must not contain control characters").into());
    }
    Ok(name.to_owned())
}

fn parse_metadata(obj: &Map<String, Value>) -> Result<BTreeMap<String, String>, VaultError> {
    let Some(value) = optional(obj, "metadata") else {
        return Ok(BTreeMap::new());
    };
    let mut metadata = BTreeMap::new();
    for (key, value) in object(value, "metadata")? {
        let value = string(value, &join("metadata", key))?;
        metadata.insert(key.clone(), value.to_owned());
    }
    validate_metadata(&metadata, "metadata").map_err(VaultError::InvalidMetadata)?;
    Ok(metadata)
}

#[allow(clippy::type_complexity)]
fn parse_metadata_patch(
    obj: &Map<String, Value>,
) -> Result<Option<BTreeMap<String, Option<String>>>, VaultError> {
    let Some(value) = optional(obj, "metadata") else {
        return Ok(None);
    };
    let mut patch = BTreeMap::new();
    for (key, value) in object(value, "metadata")? {
        let value = match value {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            _ => {
                return Err(ValidationError::new(
                    join("metadata", key),
                    "expected a string or null",
                )
                .into());
            }
        };
        patch.insert(key.clone(), value);
    }
    Ok(Some(patch))
}

fn auth_type(auth: &Map<String, Value>) -> Result<&str, VaultError> {
    one_of_plain(
        auth,
        "type",
        "auth",
        &["mcp_oauth", "static_bearer", "environment_variable"],
    )
}

/// Like `validate::one_of`, for non-secret discriminators.
fn one_of_plain<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
    allowed: &[&str],
) -> Result<&'a str, VaultError> {
    let value = string(required(obj, name, path)?, &join(path, name))?;
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(ValidationError::new(
            join(path, name),
            format!("expected one of {}", allowed.join(", ")),
        )
        .into())
    }
}

/// A required secret: a non-empty string. Messages never carry the value.
fn secret(obj: &Map<String, Value>, name: &str, path: &str) -> Result<String, VaultError> {
    let field = join(path, name);
    match obj.get(name) {
        None | Some(Value::Null) => Err(ValidationError::new(field, "is required").into()),
        Some(value) => check_secret(value, &field),
    }
}

fn optional_secret(
    obj: &Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<String>, VaultError> {
    optional(obj, name)
        .map(|value| check_secret(value, &join(path, name)))
        .transpose()
}

fn check_secret(value: &Value, field: &str) -> Result<String, VaultError> {
    let Value::String(text) = value else {
        return Err(ValidationError::new(field, "expected a string").into());
    };
    if text.is_empty() {
        return Err(ValidationError::new(field, "must not be empty").into());
    }
    if text.len() > MAX_SECRET {
        return Err(
            ValidationError::new(field, format!("must be at most {MAX_SECRET} bytes")).into(),
        );
    }
    Ok(text.clone())
}

fn text(
    obj: &Map<String, Value>,
    name: &str,
    path: &str,
    max: usize,
) -> Result<String, VaultError> {
    let field = join(path, name);
    let value = string(required(obj, name, path)?, &field)?;
    if value.is_empty() || value.len() > max {
        return Err(ValidationError::new(field, format!("must be 1-{max} bytes")).into());
    }
    Ok(value.to_owned())
}

fn optional_text(
    obj: &Map<String, Value>,
    name: &str,
    path: &str,
    max: usize,
) -> Result<Option<String>, VaultError> {
    match optional(obj, name) {
        None => Ok(None),
        Some(_) => text(obj, name, path, max).map(Some),
    }
}

fn url(obj: &Map<String, Value>, name: &str, path: &str) -> Result<String, VaultError> {
    let value = text(obj, name, path, MAX_URL)?;
    // Schemes are case-insensitive (RFC 3986 §3.1).
    let scheme_end = value.find("://").unwrap_or(0);
    let rest = match value[..scheme_end].to_ascii_lowercase().as_str() {
        "https" | "http" => Some(&value[scheme_end + 3..]),
        _ => None,
    };
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !value.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(value)
        }
        _ => Err(ValidationError::new(join(path, name), "expected an http(s) URL").into()),
    }
}

fn immutable(
    obj: &Map<String, Value>,
    name: &str,
    path: &str,
    current: &str,
) -> Result<(), VaultError> {
    match optional(obj, name) {
        Some(value) if value.as_str() != Some(current) => Err(ValidationError::new(
            join(path, name),
            "is immutable; archive the credential and create a new one",
        )
        .into()),
        _ => Ok(()),
    }
}

fn expires_at(obj: &Map<String, Value>, now: Timestamp) -> Result<Option<Timestamp>, VaultError> {
    let Some(value) = optional(obj, "expires_at") else {
        return Ok(None);
    };
    let field = "auth.expires_at";
    let at = Timestamp::parse_rfc3339(string(value, field)?)
        .ok_or_else(|| ValidationError::new(field, "expected an RFC 3339 timestamp"))?;
    if at <= now {
        return Err(ValidationError::new(field, "must be in the future").into());
    }
    Ok(Some(at))
}

fn secret_name(obj: &Map<String, Value>) -> Result<String, VaultError> {
    let name = text(obj, "secret_name", "auth", MAX_SECRET_NAME)?;
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ValidationError::new(
            "auth.secret_name",
            "must be an environment variable name (letters, digits and _, not starting with a digit)",
        )
        .into());
    }
    Ok(name)
}

fn networking(value: &Value) -> Result<CredentialNetworking, VaultError> {
    let path = "auth.networking";
    let obj = object(value, path)?;
    match one_of_plain(obj, "type", path, &["unrestricted", "limited"])? {
        "unrestricted" => Ok(CredentialNetworking::Unrestricted),
        _ => {
            let hosts_path = join(path, "allowed_hosts");
            let hosts = array(required(obj, "allowed_hosts", path)?, &hosts_path)?;
            if hosts.is_empty() || hosts.len() > MAX_HOSTS {
                return Err(ValidationError::new(
                    hosts_path,
                    format!("must list 1-{MAX_HOSTS} hosts"),
                )
                .into());
            }
            let mut allowed_hosts = Vec::with_capacity(hosts.len());
            for (i, host) in hosts.iter().enumerate() {
                let host_path = index(&hosts_path, i);
                let host = string(host, &host_path)?;
                if !valid_host(host) {
                    return Err(ValidationError::new(
                        host_path,
                        "expected a hostname, an IPv4 address or a *. wildcard (no scheme, port or path)",
                    )
                    .into());
                }
                allowed_hosts.push(host.to_ascii_lowercase());
            }
            Ok(CredentialNetworking::Limited { allowed_hosts })
        }
    }
}

/// A bare hostname, an IPv4 address, or `*.` followed by a hostname.
#[must_use]
pub fn valid_host(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.len() <= MAX_HOST
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn injection_patch(value: &Value) -> Result<(Option<bool>, Option<bool>), VaultError> {
    let path = "auth.injection_location";
    if value.is_null() {
        return Err(ValidationError::new(path, "must not be null").into());
    }
    let obj = object(value, path)?;
    let flag = |name: &str| -> Result<Option<bool>, VaultError> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ValidationError::new(join(path, name), "expected a boolean").into()),
        }
    };
    Ok((flag("header")?, flag("body")?))
}

fn checked_location(location: InjectionLocation) -> Result<InjectionLocation, VaultError> {
    if location.header || location.body {
        Ok(location)
    } else {
        Err(ValidationError::new(
            "auth.injection_location",
            "at least one of header and body must be enabled",
        )
        .into())
    }
}

#[cfg(test)]
#[path = "vaults_tests.rs"]
mod tests;
