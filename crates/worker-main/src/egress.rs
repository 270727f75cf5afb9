//! `/internal/egress/{session_id}`: local development's way into a session's
//! egress path. The local sandbox server cannot reach the agent worker, so
//! its proxy hands each plain-HTTP request here, authenticated with that
//! session's sandbox token (derived from `SANDBOX_TOKEN`, so a session's
//! token opens only its own egress path); it is passed, bytes untouched, to the session's `Sandbox`
//! object, which applies the policy and the vault credentials. In
//! production the container's outbound traffic is intercepted to that object
//! directly and main has no `SANDBOX_TOKEN`, so this route answers 404.

use openma_core::sandbox::validate_id;
use worker::Env;
use worker::Request;
use worker::RequestInit;
use worker::RequestRedirect;
use worker::Response;
use worker::Result;
use worker::wasm_bindgen::JsValue;

/// The path prefix of this route.
pub(crate) const PREFIX: &str = "/internal/egress/";

/// Passes the sandbox's request on to its session's `Sandbox` object.
pub(crate) async fn forward(req: Request, env: &Env, session_id: &str) -> Result<Response> {
    let token = env
        .secret("SANDBOX_TOKEN")
        .map(|s| s.to_string())
        .unwrap_or_default();
    let presented = req
        .headers()
        .get("x-oma-sandbox-token")?
        .unwrap_or_default();
    let expected = openma_core::sandbox::session_token(&token, session_id).unwrap_or_default();
    let authorised = validate_id("session_id", session_id).is_ok()
        && !expected.is_empty()
        && openma_cloudflare::ids::constant_time_eq(&presented, &expected);
    if !authorised {
        return Response::error("Not Found", 404);
    }
    let headers = req.headers().clone();
    headers.delete("x-oma-sandbox-token")?;
    headers.set("x-oma-internal", &token)?;
    let mut init = RequestInit::new();
    // The upstream's redirect comes back from the `Sandbox` object as it
    // is: following it here would send the request on, unchecked.
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if let Some(body) = req.inner().body() {
        init.with_body(Some(JsValue::from(body)));
    }
    let inner = Request::new_with_init("https://sandbox.internal/egress", &init)?;
    env.durable_object("SANDBOX")?
        .id_from_name(session_id)?
        .get_stub()?
        .fetch_with_request(inner)
        .await
}
