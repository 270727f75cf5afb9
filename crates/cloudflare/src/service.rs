//! Calls between openma's own workers that reach another worker's public
//! paths (the integrations worker acting for a tenant on the main worker's
//! API, the main worker waking the integrations worker). They carry a
//! service token derived from `PLATFORM_ROOT_SECRET`, which no client can
//! compute, and the tenant they act for.

use openma_core::crypto::hmac_sha256_hex;
use worker::Env;
use worker::Headers;

use crate::ids::constant_time_eq;

/// The header carrying the service token.
pub const SERVICE_HEADER: &str = "x-openma-service";

/// The header naming the tenant a service call acts for.
pub const TENANT_HEADER: &str = crate::internal::TENANT_HEADER;

/// The service token of a deployment whose root secret is `root_secret`.
#[must_use]
pub fn token_from_root(root_secret: &str) -> String {
    hmac_sha256_hex(root_secret.as_bytes(), b"openma/service-token/v1")
}

/// This deployment's service token; `None` when `PLATFORM_ROOT_SECRET` is
/// unset or too short to derive one.
#[must_use]
pub fn token(env: &Env) -> Option<String> {
    let root = crate::setting(env, "PLATFORM_ROOT_SECRET")?;
    (root.len() >= crate::MIN_ROOT_SECRET_LEN).then(|| token_from_root(&root))
}

/// Whether `headers` carry this deployment's service token (compared in
/// constant time).
#[must_use]
pub fn is_service_call(headers: &Headers, env: &Env) -> bool {
    let Some(expected) = token(env) else {
        return false;
    };
    match headers.get(SERVICE_HEADER) {
        Ok(Some(presented)) => constant_time_eq(presented.trim(), &expected),
        _ => false,
    }
}

/// Headers for a service call acting for `tenant_id`.
pub fn headers_for(env: &Env, tenant_id: &str) -> worker::Result<Headers> {
    let headers = Headers::new();
    let token = token(env).ok_or_else(|| {
        worker::Error::RustError("PLATFORM_ROOT_SECRET is not set (or too short)".to_owned())
    })?;
    headers.set(SERVICE_HEADER, &token)?;
    headers.set(TENANT_HEADER, tenant_id)?;
    headers.set("content-type", "application/json")?;
    Ok(headers)
}
