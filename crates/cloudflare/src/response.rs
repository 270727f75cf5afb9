use serde::Serialize;
use worker::Response;
use worker::Result;

/// A JSON response with the given status code.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    let text = serde_json::to_string(body).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let mut resp = Response::ok(text)?.with_status(status);
    resp.headers_mut().set("content-type", "application/json")?;
    Ok(resp)
}

/// Milliseconds since the Unix epoch, from the runtime's clock.
pub fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

/// Whether this worker writes `info` log lines: the `LOG_LEVEL` variable
/// (`debug`, `info`, `log`, `warn`, `error`, `none`; `info` when unset).
/// Warnings and errors are always written.
pub fn info_logs(env: &worker::Env) -> bool {
    let level = env
        .var("LOG_LEVEL")
        .map(|v| v.to_string())
        .unwrap_or_default();
    !matches!(level.trim(), "warn" | "error" | "none")
}

/// A secret or variable of the worker, if it is set and not empty.
pub fn setting(env: &worker::Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.is_empty())
}
