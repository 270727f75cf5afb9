//! Reading requests: JSON bodies within the size limit, query parameters,
//! and the clock.

use openma_core::wire::ApiErrorType;
use openma_core::wire::Timestamp;
use openma_core::wire::body::MAX_JSON_DEPTH;
use openma_core::wire::body::check_json_body;
use serde_json::Value;
use worker::Request;

use crate::error::ApiError;
use crate::error::ApiResult;

/// The largest request body accepted (the Managed Agents API's limit).
pub(crate) const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The request's body bytes, within the size limit.
pub(crate) async fn raw_body(req: &mut Request) -> ApiResult<Vec<u8>> {
    if let Ok(Some(length)) = req.headers().get("content-length")
        && length
            .trim()
            .parse::<usize>()
            .is_ok_and(|n| n > MAX_BODY_BYTES)
    {
        return Err(too_large());
    }
    let bytes = req.bytes().await?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The request's body bytes for a JSON route, refused unless they are UTF-8
/// that nests at most [`MAX_JSON_DEPTH`] levels; an empty body reads as
/// `{}`. Every JSON body passes here before anything parses or stores it.
pub(crate) async fn json_bytes(req: &mut Request) -> ApiResult<Vec<u8>> {
    let bytes = raw_body(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(b"{}".to_vec());
    }
    check_json_body(&bytes, MAX_JSON_DEPTH).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(bytes)
}

/// The request's JSON body (see [`json_bytes`]), which must be an object.
pub(crate) async fn json_body(req: &mut Request) -> ApiResult<Value> {
    let bytes = json_bytes(req).await?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::invalid("the request body must be a JSON object"));
    }
    Ok(value)
}

fn too_large() -> ApiError {
    ApiError::new(
        ApiErrorType::RequestTooLarge,
        format!("the request body exceeds {MAX_BODY_BYTES} bytes"),
    )
}

/// The decoded query parameters of a request.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn of(req: &Request) -> Self {
        Self(openma_cloudflare::query_pairs(&req.inner().url()))
    }

    /// The query of `pairs`, decoded already (for unit tests of handlers).
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// Every decoded `(key, value)` pair, in order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The last value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order (`types[]=a&types[]=b`).
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses a parameter not in `known`: a route does not ignore what it
    /// was asked.
    pub(crate) fn only(&self, known: &[&str]) -> ApiResult<()> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((name, _)) => Err(ApiError::invalid(format!(
                "{name}: not a query parameter of this route"
            ))),
            None => Ok(()),
        }
    }

    /// `limit`: an integer in `1..=max`, `default` when absent.
    pub(crate) fn limit(&self, default: usize, max: usize) -> ApiResult<usize> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(format!("limit: expected an integer between 1 and {max}"))
                }),
        }
    }
}

/// Now, from the runtime's clock.
pub(crate) fn now() -> Timestamp {
    Timestamp(openma_cloudflare::now_ms() as i64)
}
