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
