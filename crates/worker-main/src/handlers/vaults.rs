//! `/v1/vaults` and `/v1/vaults/{id}/credentials`: credentials whose
//! secrets are write-only. Secrets are sealed with AES-256-GCM under a key
//! derived from `PLATFORM_ROOT_SECRET` (see `openma_core::crypto`) before
//! they reach D1, and are never returned, logged or echoed in an error.
//!
//! Rotation: with `PLATFORM_ROOT_SECRET_PREVIOUS` set, ciphertext sealed
//! under the previous key still opens and is sealed again under the current
//! key whenever it is used; the operator's
//! `POST /v1/operator/credentials/reencrypt` does the same for every stored
//! credential at once (see `docs/operations.md`).

use openma_cloudflare::store::sealed;
use openma_cloudflare::store::sealed::SealedRow;
use openma_core::control::vaults;
use openma_core::control::vaults::Credential;
use openma_core::control::vaults::CredentialAuth;
use openma_core::control::vaults::CredentialSecrets;
use openma_core::control::vaults::MAX_CREDENTIALS_PER_VAULT;
use openma_core::control::vaults::Vault;
use openma_core::control::vaults::VaultError;
use openma_core::crypto::CryptoError;
use openma_core::crypto::Keyring;
use openma_core::crypto::NONCE_LEN;
use openma_core::crypto::Sealed;
use openma_core::wire::ApiErrorType;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::Response;

use crate::audit;
use crate::audit::Action;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::handlers::agents::include_archived;
use crate::handlers::agents::invalid;
use crate::handlers::pages::after;
use crate::handlers::pages::page;
use crate::handlers::webhooks::announce;
use crate::request::Query;
use crate::request::now;
use crate::store;
use crate::store::vaults::StoredCredential;
use crate::store::vaults::WriteError;

/// A route under `/v1/vaults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VaultRoute {
    Create,
    List,
    Get(String),
    Update(String),
    Delete(String),
    Archive(String),
    CreateCredential(String),
    ListCredentials(String),
    GetCredential(String, String),
    UpdateCredential(String, String),
    DeleteCredential(String, String),
    ArchiveCredential(String, String),
    ValidateCredential(String, String),
}

impl VaultRoute {
    /// Parses the segments after `/v1/vaults`.
    pub(crate) fn parse(method: &Method, rest: &[&str]) -> Option<Self> {
        let s = |s: &str| s.to_owned();
        Some(match (method, rest) {
            (Method::Post, []) => Self::Create,
            (Method::Get, []) => Self::List,
            (Method::Get, [v]) => Self::Get(s(v)),
            (Method::Post, [v]) => Self::Update(s(v)),
            (Method::Delete, [v]) => Self::Delete(s(v)),
            (Method::Post, [v, "archive"]) => Self::Archive(s(v)),
            (Method::Post, [v, "credentials"]) => Self::CreateCredential(s(v)),
            (Method::Get, [v, "credentials"]) => Self::ListCredentials(s(v)),
            (Method::Get, [v, "credentials", c]) => Self::GetCredential(s(v), s(c)),
            (Method::Post, [v, "credentials", c]) => Self::UpdateCredential(s(v), s(c)),
            (Method::Delete, [v, "credentials", c]) => Self::DeleteCredential(s(v), s(c)),
            (Method::Post, [v, "credentials", c, "archive"]) => Self::ArchiveCredential(s(v), s(c)),
            (Method::Post, [v, "credentials", c, "mcp_oauth_validate"]) => {
                Self::ValidateCredential(s(v), s(c))
            }
            _ => return None,
        })
    }
}

/// A route under `/v1/operator/credentials` (the operator's key only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperatorRoute {
    /// `GET /v1/operator/credentials/keys`: sealed credentials per key id.
    Keys,
    /// `POST /v1/operator/credentials/reencrypt`: seal everything under the
    /// current key.
    Reencrypt,
}

impl OperatorRoute {
    /// Parses the segments after `/v1/operator/credentials`.
    pub(crate) fn parse(method: &Method, rest: &[&str]) -> Option<Self> {
        match (method, rest) {
            (Method::Get, ["keys"]) => Some(Self::Keys),
            (Method::Post, ["reencrypt"]) => Some(Self::Reencrypt),
            _ => None,
        }
    }
}

/// Serves a vault route.
pub(crate) async fn serve(
    route: VaultRoute,
    mut req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    let query = Query::of(&req);
    let value = match route {
        VaultRoute::Create => create(env, caller, &body(&mut req).await?).await?,
        VaultRoute::List => list(env, caller, &query).await?,
        VaultRoute::Get(id) => to_value(&current(env, caller, &id).await?)?,
        VaultRoute::Update(id) => update(env, caller, &id, &body(&mut req).await?).await?,
        VaultRoute::Delete(id) => delete(env, caller, &id).await?,
        VaultRoute::Archive(id) => archive(env, caller, &id).await?,
        VaultRoute::CreateCredential(v) => {
            create_credential(env, caller, &v, &body(&mut req).await?).await?
        }
        VaultRoute::ListCredentials(v) => list_credentials(env, caller, &v, &query).await?,
        VaultRoute::GetCredential(v, c) => {
            to_value(&credential(env, caller, &v, &c).await?.credential)?
        }
        VaultRoute::UpdateCredential(v, c) => {
            update_credential(env, caller, &v, &c, &body(&mut req).await?).await?
        }
        VaultRoute::DeleteCredential(v, c) => delete_credential(env, caller, &v, &c).await?,
        VaultRoute::ArchiveCredential(v, c) => archive_credential(env, caller, &v, &c).await?,
        VaultRoute::ValidateCredential(v, c) => validate(env, caller, &v, &c).await?,
    };
    Ok(openma_cloudflare::json(200, &value)?)
}

/// Serves an operator route.
pub(crate) async fn serve_operator(
    route: OperatorRoute,
    mut req: Request,
    env: &Env,
    caller: &Caller,
) -> ApiResult<Response> {
    caller.require_operator("manage credential encryption")?;
    let value = match route {
        OperatorRoute::Keys => keys(env).await?,
        OperatorRoute::Reencrypt => reencrypt(env, caller, &body(&mut req).await?).await?,
    };
    Ok(openma_cloudflare::json(200, &value)?)
}

async fn body(req: &mut Request) -> ApiResult<Value> {
    crate::request::json_body(req).await
}

fn to_value<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(ApiError::internal)
}

/// Records an action on one of the caller's tenant's vaults or credentials.
async fn record(env: &Env, caller: &Caller, action: Action, object_id: &str, details: Value) {
    audit::record(
        env,
        caller,
        action,
        Some(object_id),
        &caller.tenant_id,
        details,
    )
    .await;
}

fn rejected(err: VaultError) -> ApiError {
    let code = err.error_code();
    let mut api = match err {
        VaultError::Invalid(err) | VaultError::InvalidMetadata(err) => invalid(err),
        VaultError::Archived(_) => ApiError::invalid(err.to_string()),
    };
    if code.is_some() {
        api.code = code;
    }
    api
}

// ---- keys and sealing ---------------------------------------------------

/// The keyring from `PLATFORM_ROOT_SECRET` and, during a rotation,
/// `PLATFORM_ROOT_SECRET_PREVIOUS`.
pub(crate) fn keyring(env: &Env, previous_override: Option<&str>) -> ApiResult<Keyring> {
    let current = openma_cloudflare::setting(env, "PLATFORM_ROOT_SECRET").unwrap_or_default();
    let previous = match previous_override {
        Some(previous) => Some(previous.to_owned()),
        None => openma_cloudflare::setting(env, "PLATFORM_ROOT_SECRET_PREVIOUS"),
    };
    Keyring::new(&current, previous.as_deref()).map_err(|e| match e {
        CryptoError::RootSecretTooShort(_) if previous_override.is_some() => {
            ApiError::invalid("previous_root_secret: must be at least 32 bytes")
        }
        other => ApiError::internal(format!("credential keyring: {other}")),
    })
}

use openma_core::control::vaults::credential_aad as aad;

fn seal(
    ring: &Keyring,
    tenant_id: &str,
    credential_id: &str,
    secrets: &CredentialSecrets,
) -> ApiResult<Sealed> {
    let mut nonce = [0u8; NONCE_LEN];
    openma_cloudflare::ids::random_bytes(&mut nonce).map_err(ApiError::internal)?;
    let plaintext = serde_json::to_vec(secrets).map_err(ApiError::internal)?;
    ring.seal(&plaintext, &aad(tenant_id, credential_id), nonce)
        .map_err(|e| ApiError::internal(format!("sealing a credential: {e}")))
}

/// Opens a credential's secrets; ciphertext sealed under the previous key
/// is sealed again under the current one on the way.
async fn open(
    env: &Env,
    ring: &Keyring,
    tenant_id: &str,
    stored: &StoredCredential,
) -> ApiResult<CredentialSecrets> {
    let Some(sealed) = &stored.sealed else {
        return Ok(CredentialSecrets::default());
    };
    let id = &stored.credential.id;
    let opened = ring
        .open(&sealed.key_id, &sealed.ciphertext, &aad(tenant_id, id))
        .map_err(|e| {
            ApiError::internal(format!(
                "credential {id} cannot be opened with the configured root secrets: {e}"
            ))
        })?;
    let secrets: CredentialSecrets = serde_json::from_slice(&opened.plaintext).map_err(|_| {
        ApiError::internal(format!("credential {id}: sealed secrets are malformed"))
    })?;
    if opened.stale {
        let resealed = seal(ring, tenant_id, id, &secrets)?;
        store::vaults::reseal(env, tenant_id, id, &sealed.key_id, &resealed).await?;
    }
    Ok(secrets)
}

// ---- vaults -------------------------------------------------------------

fn vault_not_found(id: &str) -> ApiError {
    ApiError::not_found("vault", id)
}

async fn current(env: &Env, caller: &Caller, id: &str) -> ApiResult<Vault> {
    store::vaults::get_vault(env, &caller.tenant_id, id)
        .await?
        .ok_or_else(|| vault_not_found(id))
}

async fn create(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    let params = vaults::parse_vault_create(body).map_err(rejected)?;
    let now = now();
    let id = openma_cloudflare::ids::mint_id("vlt_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    let vault = vaults::create_vault(params, id, now);
    store::vaults::insert_vault(env, &caller.tenant_id, &vault).await?;
    announce(env, caller, "vault.created", &vault.id, None, json!({})).await;
    to_value(&vault)
}

async fn list(env: &Env, caller: &Caller, query: &Query) -> ApiResult<Value> {
    let limit = query.limit(20, 100)?;
    let found = store::vaults::list_vaults(
        env,
        &caller.tenant_id,
        include_archived(query)?,
        &after(query)?,
        limit + 1,
    )
    .await?;
    page(found, limit, |vault| vault.id.clone())
}

async fn update(env: &Env, caller: &Caller, id: &str, body: &Value) -> ApiResult<Value> {
    let params = vaults::parse_vault_update(body).map_err(rejected)?;
    let vault = current(env, caller, id).await?;
    let Some(next) = vaults::apply_vault_update(&vault, params, now()).map_err(rejected)? else {
        return to_value(&vault);
    };
    if !store::vaults::replace_vault(env, &caller.tenant_id, &next).await? {
        return Err(vault_not_found(id));
    }
    to_value(&next)
}

async fn delete(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    if store::vaults::delete_vault(env, &caller.tenant_id, id).await? {
        record(env, caller, Action::VaultDeleted, id, json!({})).await;
        announce(env, caller, "vault.deleted", id, None, json!({})).await;
        Ok(json!({"id": id, "type": "vault_deleted"}))
    } else {
        Err(vault_not_found(id))
    }
}

async fn archive(env: &Env, caller: &Caller, id: &str) -> ApiResult<Value> {
    let mut vault = current(env, caller, id).await?;
    if vault.archived_at.is_none() {
        let at = now();
        store::vaults::archive_all(env, &caller.tenant_id, id, at).await?;
        vault.archived_at = Some(at);
        vault.updated_at = at;
        if !store::vaults::replace_vault(env, &caller.tenant_id, &vault).await? {
            return Err(vault_not_found(id));
        }
        record(env, caller, Action::VaultArchived, id, json!({})).await;
        announce(env, caller, "vault.archived", id, None, json!({})).await;
    }
    to_value(&vault)
}

// ---- credentials --------------------------------------------------------

fn credential_not_found(id: &str) -> ApiError {
    ApiError::not_found("credential", id)
}

fn duplicate(auth: &CredentialAuth) -> ApiError {
    ApiError::new(
        ApiErrorType::ConflictError,
        format!(
            "{}: another active credential in this vault already uses this value",
            auth.unique_field()
        ),
    )
}

fn vault_full() -> ApiError {
    ApiError::invalid(format!(
        "a vault holds at most {MAX_CREDENTIALS_PER_VAULT} active credentials; archive or delete one first"
    ))
}

fn write_error(err: WriteError, auth: &CredentialAuth) -> ApiError {
    match err {
        WriteError::Duplicate => duplicate(auth),
        WriteError::Full => vault_full(),
        WriteError::Store(err) => ApiError::internal(err),
    }
}

async fn credential(
    env: &Env,
    caller: &Caller,
    vault_id: &str,
    id: &str,
) -> ApiResult<StoredCredential> {
    current(env, caller, vault_id).await?;
    store::vaults::get_credential(env, &caller.tenant_id, vault_id, id)
        .await?
        .ok_or_else(|| credential_not_found(id))
}

async fn create_credential(
    env: &Env,
    caller: &Caller,
    vault_id: &str,
    body: &Value,
) -> ApiResult<Value> {
    let vault = current(env, caller, vault_id).await?;
    let now = now();
    let params = vaults::parse_credential_create(body, now).map_err(rejected)?;
    check_urls(&params.auth)?;
    if vault.archived_at.is_some() {
        return Err(rejected(VaultError::Archived("vault")));
    }
    if store::vaults::count_active(env, &caller.tenant_id, vault_id).await?
        >= MAX_CREDENTIALS_PER_VAULT
    {
        return Err(vault_full());
    }
    let ring = keyring(env, None)?;
    let id = openma_cloudflare::ids::mint_id("vcrd_", now.0.unsigned_abs())
        .map_err(ApiError::internal)?;
    let credential = vaults::create_credential(&params, id, vault_id.to_owned(), now);
    let sealed = seal(&ring, &caller.tenant_id, &credential.id, &params.secrets)?;
    store::vaults::insert_credential(
        env,
        &caller.tenant_id,
        &credential,
        &sealed,
        MAX_CREDENTIALS_PER_VAULT,
    )
    .await
    .map_err(|e| write_error(e, &credential.auth))?;
    record(
        env,
        caller,
        Action::VaultCredentialCreated,
        &credential.id,
        json!({"vault_id": vault_id, "auth_type": credential.auth.type_name()}),
    )
    .await;
    let extra = json!({"vault_id": vault_id});
    announce(
        env,
        caller,
        "vault_credential.created",
        &credential.id,
        None,
        extra,
    )
    .await;
    to_value(&credential)
}

/// The URLs of a new credential, parsed as a client will parse them: the
/// core's check admits anything that starts with `http(s)://` and has no
/// whitespace, which lets through hosts no request can reach (`http://[`,
/// `http://a]b`) and user info, which would put a secret in a field every
/// read returns.
fn check_urls(auth: &CredentialAuth) -> ApiResult<()> {
    match auth {
        CredentialAuth::McpOauth {
            mcp_server_url,
            refresh,
            ..
        } => {
            check_url(mcp_server_url, "auth.mcp_server_url")?;
            if let Some(refresh) = refresh {
                check_url(&refresh.token_endpoint, "auth.refresh.token_endpoint")?;
            }
            Ok(())
        }
        CredentialAuth::StaticBearer { mcp_server_url } => {
            check_url(mcp_server_url, "auth.mcp_server_url")
        }
        CredentialAuth::EnvironmentVariable { .. } => Ok(()),
    }
}

fn check_url(value: &str, field: &str) -> ApiResult<()> {
    let parsed = worker::Url::parse(value)
        .map_err(|_| ApiError::invalid(format!("{field}: expected an http(s) URL")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::invalid(format!(
            "{field}: expected an http(s) URL with a host"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ApiError::invalid(format!(
            "{field}: must not carry a user name or password (put secrets in the credential's write-only fields)"
        )));
    }
    Ok(())
}

async fn list_credentials(
    env: &Env,
    caller: &Caller,
    vault_id: &str,
    query: &Query,
) -> ApiResult<Value> {
    let limit = query.limit(20, 100)?;
    let include_archived = include_archived(query)?;
    let after = after(query)?;
    current(env, caller, vault_id).await?;
    let found = store::vaults::list_credentials(
        env,
        &caller.tenant_id,
        vault_id,
        include_archived,
        &after,
        limit + 1,
    )
    .await?;
    page(found, limit, |credential| credential.id.clone())
}

async fn update_credential(
    env: &Env,
    caller: &Caller,
    vault_id: &str,
    id: &str,
    body: &Value,
) -> ApiResult<Value> {
    let stored = credential(env, caller, vault_id, id).await?;
    if !body.is_object() {
        return Err(ApiError::invalid("the request body must be a JSON object"));
    }
    let touches_auth = body.get("auth").is_some_and(|a| !a.is_null());
    // Secrets are opened only when `auth` may change them, so that metadata
    // edits keep working while a rotation is incomplete.
    let (ring, secrets) = if touches_auth && stored.credential.archived_at.is_none() {
        let ring = keyring(env, None)?;
        let secrets = open(env, &ring, &caller.tenant_id, &stored).await?;
        (Some(ring), secrets)
    } else {
        (None, CredentialSecrets::default())
    };
    let update = vaults::apply_credential_update(&stored.credential, &secrets, body, now())
        .map_err(rejected)?;
    if update.credential == stored.credential && !update.secrets_changed {
        return to_value(&stored.credential);
    }
    let sealed = match (&ring, update.secrets_changed) {
        (Some(ring), true) => Some(seal(ring, &caller.tenant_id, id, &update.secrets)?),
        _ => None,
    };
    let credential: &Credential = &update.credential;
    let stored_ok =
        store::vaults::replace_credential(env, &caller.tenant_id, credential, sealed.as_ref())
            .await
            .map_err(|e| write_error(e, &credential.auth))?;
    if !stored_ok {
        return Err(credential_not_found(id));
    }
    record(
        env,
        caller,
        Action::VaultCredentialUpdated,
        id,
        json!({"vault_id": vault_id, "secrets_rotated": sealed.is_some()}),
    )
    .await;
    to_value(credential)
}

async fn delete_credential(
    env: &Env,
    caller: &Caller,
    vault_id: &str,
    id: &str,
) -> ApiResult<Value> {
    current(env, caller, vault_id).await?;
    if store::vaults::delete_credential(env, &caller.tenant_id, vault_id, id).await? {
        let details = json!({"vault_id": vault_id});
        record(
            env,
            caller,
            Action::VaultCredentialDeleted,
            id,
            details.clone(),
        )
        .await;
        announce(env, caller, "vault_credential.deleted", id, None, details).await;
        Ok(json!({"id": id, "type": "vault_credential_deleted"}))
    } else {
        Err(credential_not_found(id))
    }
}

async fn archive_credential(
    env: &Env,
    caller: &Caller,
    vault_id: &str,
    id: &str,
) -> ApiResult<Value> {
    let stored = credential(env, caller, vault_id, id).await?;
    let mut credential = stored.credential;
    if credential.archived_at.is_none() {
        let at = now();
        credential.archived_at = Some(at);
        credential.updated_at = at;
        let stored_ok =
            store::vaults::replace_credential(env, &caller.tenant_id, &credential, None)
                .await
                .map_err(|e| write_error(e, &credential.auth))?;
        if !stored_ok {
            return Err(credential_not_found(id));
        }
        let details = json!({"vault_id": vault_id});
        record(
            env,
            caller,
            Action::VaultCredentialArchived,
            id,
            details.clone(),
        )
        .await;
        announce(env, caller, "vault_credential.archived", id, None, details).await;
    }
    to_value(&credential)
}

/// How long each request of a validation may take.
const VALIDATE_MS: u64 = 10_000;

/// `mcp_oauth_validate`: probes the credential's MCP server with its access
/// token (`initialize`, then `tools/list`). A refused token is refreshed
/// when the credential can be (the new tokens are stored sealed) and the
/// probe run again. `valid`: the server accepted a token; `invalid`: it
/// refused and no refresh helped; `unknown`: the server could not be
/// reached or did not answer as MCP. Nothing secret is in the answer: the
/// captured responses are scrubbed of the credential's values.
async fn validate(env: &Env, caller: &Caller, vault_id: &str, id: &str) -> ApiResult<Value> {
    use openma_cloudflare::mcp::McpConnection;
    use openma_cloudflare::mcp::McpFailure;

    let stored = credential(env, caller, vault_id, id).await?;
    if stored.credential.archived_at.is_some() {
        return Err(rejected(VaultError::Archived("credential")));
    }
    let CredentialAuth::McpOauth { mcp_server_url, .. } = &stored.credential.auth else {
        return Err(ApiError::invalid(format!(
            "auth.type: only mcp_oauth credentials can be validated (this one is {})",
            stored.credential.auth.type_name()
        )));
    };
    // Opening proves the secrets are readable under the configured root
    // secrets, and re-seals them during a rotation.
    let ring = keyring(env, None)?;
    let secrets = open(env, &ring, &caller.tenant_id, &stored).await?;
    let has_refresh_token = secrets.refresh_token.is_some();
    let opened = openma_cloudflare::mcp::mcp_credential(
        env,
        &caller.tenant_id,
        &[vault_id.to_owned()],
        mcp_server_url,
    )
    .await
    .map_err(ApiError::internal)?
    .filter(|found| found.credential.id == id)
    .ok_or_else(|| credential_not_found(id))?;

    let probe = |bearer: Option<String>| async move {
        let mut connection = McpConnection::open(mcp_server_url, bearer, VALIDATE_MS).await?;
        connection.list_tools().await.map(drop)
    };
    let probe_json = |failure: &McpFailure| {
        let capture = match failure {
            McpFailure::Auth { capture, .. } => Some(capture.to_json()),
            McpFailure::Protocol { capture, .. } => capture.as_ref().map(|c| c.to_json()),
            McpFailure::Connect { .. } => None,
        };
        json!({"method": failure.method(), "http_response": capture})
    };
    let (status, mcp_probe, refresh) = match probe(opened.bearer()).await {
        Ok(()) => ("valid", Value::Null, Value::Null),
        Err(failure @ McpFailure::Auth { .. }) if !opened.refreshable() => (
            "invalid",
            probe_json(&failure),
            json!({"status": "no_refresh_token", "http_response": null}),
        ),
        Err(failure @ McpFailure::Auth { .. }) => {
            let now = openma_core::wire::Timestamp(openma_cloudflare::now_ms() as i64);
            match openma_cloudflare::mcp::refresh(env, &caller.tenant_id, &opened, now, VALIDATE_MS)
                .await
            {
                Ok(fresh) => {
                    let refreshed = json!({"status": "succeeded", "http_response": null});
                    match probe(fresh.bearer()).await {
                        Ok(()) => ("valid", Value::Null, refreshed),
                        Err(again @ McpFailure::Auth { .. }) => {
                            ("invalid", probe_json(&again), refreshed)
                        }
                        Err(again) => ("unknown", probe_json(&again), refreshed),
                    }
                }
                Err(refused) => {
                    let http_response = match &refused {
                        openma_cloudflare::mcp::RefreshFailure::Failed(capture) => {
                            capture.to_json()
                        }
                        _ => Value::Null,
                    };
                    let verdict = match refused {
                        openma_cloudflare::mcp::RefreshFailure::ConnectError(_) => "unknown",
                        _ => "invalid",
                    };
                    (
                        verdict,
                        probe_json(&failure),
                        json!({"status": refused.status(), "http_response": http_response}),
                    )
                }
            }
        }
        Err(failure) => ("unknown", probe_json(&failure), Value::Null),
    };
    Ok(json!({
        "type": "vault_credential_validation",
        "credential_id": id,
        "vault_id": vault_id,
        "status": status,
        "has_refresh_token": has_refresh_token,
        "validated_at": now(),
        "mcp_probe": mcp_probe,
        "refresh": refresh,
    }))
}

// ---- rotation (operator) ------------------------------------------------

/// At most this many credentials are re-encrypted per request.
const REENCRYPT_BATCH: usize = 500;

async fn keys(env: &Env) -> ApiResult<Value> {
    let ring = keyring(env, None)?;
    let counts: serde_json::Map<String, Value> = store::vaults::count_by_key(env)
        .await?
        .into_iter()
        .map(|(key_id, n)| (key_id, json!(n)))
        .collect();
    Ok(json!({
        "type": "credential_keys",
        "current_key_id": ring.current_key_id(),
        "previous_key_id": ring.previous_key_id(),
        "credentials_by_key_id": counts,
    }))
}

/// What a re-encryption pass did.
#[derive(Default)]
struct Reencryption {
    reencrypted: usize,
    undecryptable: usize,
    /// The pass stopped at its limit; another call continues.
    remaining: bool,
}

/// The tables whose rows hold a secret sealed with the keyring.
#[derive(Clone, Copy)]
enum SealedTable {
    VaultCredentials,
    IntegrationTokens,
    WebhookSecrets,
}

impl SealedTable {
    /// The columns of a table sealed like integrations' tokens.
    const fn columns(self) -> Option<sealed::SealedColumns> {
        match self {
            Self::VaultCredentials => None,
            Self::IntegrationTokens => Some(sealed::INTEGRATION_TOKENS),
            Self::WebhookSecrets => Some(sealed::WEBHOOK_SECRETS),
        }
    }

    /// Up to `limit` rows after `after` not sealed under the current key.
    async fn stale(
        self,
        env: &Env,
        current: &str,
        after: &str,
        limit: usize,
    ) -> ApiResult<Vec<SealedRow>> {
        Ok(match self.columns() {
            None => store::vaults::stale_sealed(env, current, after, limit).await?,
            Some(columns) => sealed::stale(env, columns, current, after, limit).await?,
        })
    }

    fn aad(self, row: &SealedRow) -> Vec<u8> {
        match self {
            Self::VaultCredentials => aad(&row.tenant_id, &row.id),
            Self::IntegrationTokens => {
                openma_core::integrations::token_aad(&row.tenant_id, &row.id)
            }
            Self::WebhookSecrets => {
                openma_cloudflare::webhooks::secret_aad(&row.tenant_id, &row.id)
            }
        }
    }

    async fn reseal(self, env: &Env, row: &SealedRow, new: &Sealed) -> ApiResult<bool> {
        Ok(match self.columns() {
            None => store::vaults::reseal(env, &row.tenant_id, &row.id, &row.key_id, new).await?,
            Some(columns) => {
                sealed::reseal(
                    env,
                    columns,
                    &row.id,
                    &row.key_id,
                    &new.key_id,
                    &new.ciphertext,
                )
                .await?
            }
        })
    }

    /// Re-seals this table's stale rows, counting into `tally`.
    async fn reencrypt(self, env: &Env, ring: &Keyring, tally: &mut Reencryption) -> ApiResult<()> {
        let mut after = String::new();
        loop {
            let rows = self
                .stale(env, ring.current_key_id(), &after, REENCRYPT_BATCH + 1)
                .await?;
            let more = rows.len() > REENCRYPT_BATCH;
            for row in rows.into_iter().take(REENCRYPT_BATCH) {
                after.clone_from(&row.id);
                let aad = self.aad(&row);
                let Ok(opened) = ring.open(&row.key_id, &row.ciphertext, &aad) else {
                    tally.undecryptable += 1;
                    continue;
                };
                let mut nonce = [0u8; NONCE_LEN];
                openma_cloudflare::ids::random_bytes(&mut nonce).map_err(ApiError::internal)?;
                let sealed = ring
                    .seal(&opened.plaintext, &aad, nonce)
                    .map_err(|e| ApiError::internal(format!("sealing a credential: {e}")))?;
                if self.reseal(env, &row, &sealed).await? {
                    tally.reencrypted += 1;
                }
            }
            if !more {
                return Ok(());
            }
            if tally.reencrypted + tally.undecryptable >= REENCRYPT_BATCH * 4 {
                tally.remaining = true;
                return Ok(());
            }
        }
    }
}

/// Re-seals every credential not under the current key, with the previous
/// key from `PLATFORM_ROOT_SECRET_PREVIOUS` or from the body's
/// `previous_root_secret` (for an operator who cannot set the variable).
async fn reencrypt(env: &Env, caller: &Caller, body: &Value) -> ApiResult<Value> {
    let previous = match body.get("previous_root_secret") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ApiError::invalid("previous_root_secret: expected a string")),
    };
    let ring = keyring(env, previous)?;
    let mut tally = Reencryption::default();
    for table in [
        SealedTable::VaultCredentials,
        SealedTable::IntegrationTokens,
        SealedTable::WebhookSecrets,
    ] {
        if !tally.remaining {
            table.reencrypt(env, &ring, &mut tally).await?;
        }
    }
    let Reencryption {
        reencrypted,
        undecryptable,
        remaining,
    } = tally;
    let report = json!({
        "type": "credential_reencryption",
        "current_key_id": ring.current_key_id(),
        "previous_key_id": ring.previous_key_id(),
        "reencrypted": reencrypted,
        "undecryptable": undecryptable,
        "remaining": remaining,
    });
    audit::record(
        env,
        caller,
        Action::CredentialsReencrypted,
        Some(ring.current_key_id()),
        &caller.tenant_id,
        json!({
            "previous_key_id": ring.previous_key_id(),
            "reencrypted": reencrypted,
            "undecryptable": undecryptable,
            "remaining": remaining,
        }),
    )
    .await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::OperatorRoute;
    use super::VaultRoute;
    use crate::handlers::files::FileRoute;
    use crate::handlers::memory::MemoryRoute;
    use crate::route::Route;
    use worker::Method;

    #[test]
    fn credential_urls_must_be_reachable_http_urls_without_user_info() {
        use super::check_url;
        for ok in [
            "https://mcp.example.com/mcp",
            "http://0",
            "http://[::1]:8080/x?y#z",
            "https://exämple.com/",
        ] {
            assert!(check_url(ok, "f").is_ok(), "{ok}");
        }
        for bad in [
            "http://[",
            "http://a]b",
            "http://[1.2.3.4]/",
            "http://a[b/",
            "https://user:pw@mcp.example.com/",
            "http://[@host/",
            "http://host:99999/",
            "ftp://host/",
        ] {
            let err = check_url(bad, "auth.mcp_server_url").unwrap_err();
            assert!(err.message.starts_with("auth.mcp_server_url: "), "{bad}");
        }
    }

    #[test]
    fn parses_vault_file_memory_and_operator_routes() {
        let parse = |method, path| Route::parse(&method, path);
        let v = |r| Some(Route::Vaults(r));
        let s = |x: &str| x.to_owned();
        assert_eq!(parse(Method::Post, "/v1/vaults"), v(VaultRoute::Create));
        assert_eq!(parse(Method::Get, "/v1/vaults/"), v(VaultRoute::List));
        assert_eq!(
            parse(Method::Delete, "/v1/vaults/vlt_1"),
            v(VaultRoute::Delete(s("vlt_1")))
        );
        assert_eq!(
            parse(
                Method::Post,
                "/v1/vaults/vlt_1/credentials/vcrd_1/mcp_oauth_validate"
            ),
            v(VaultRoute::ValidateCredential(s("vlt_1"), s("vcrd_1")))
        );
        assert_eq!(
            parse(Method::Post, "/v1/vaults/vlt_1/credentials/vcrd_1/archive"),
            v(VaultRoute::ArchiveCredential(s("vlt_1"), s("vcrd_1")))
        );
        assert_eq!(parse(Method::Put, "/v1/vaults/vlt_1"), None);
        assert_eq!(
            parse(Method::Post, "/v1/operator/credentials/reencrypt"),
            Some(Route::OperatorCredentials(OperatorRoute::Reencrypt))
        );
        assert_eq!(
            parse(Method::Get, "/v1/operator/credentials/reencrypt"),
            None
        );
        assert_eq!(
            parse(Method::Get, "/v1/files/file_1/content"),
            Some(Route::Files(FileRoute::Content(s("file_1"))))
        );
        assert_eq!(parse(Method::Post, "/v1/files/file_1"), None);
        assert_eq!(
            parse(Method::Patch, "/v1/memory_stores/m/memories/mem_1"),
            Some(Route::MemoryStores(MemoryRoute::UpdateMemory(
                s("m"),
                s("mem_1")
            )))
        );
        assert_eq!(
            parse(Method::Post, "/v1/memory_stores/m/memory_versions/v/redact"),
            Some(Route::MemoryStores(MemoryRoute::RedactVersion(
                s("m"),
                s("v")
            )))
        );
    }
}
