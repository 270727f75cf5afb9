//! One session's sandbox. In production it owns the session's container and
//! talks to the sandbox server inside it on port 8080; under `wrangler dev`
//! (containers disabled) it reaches the local sandbox server at
//! `SANDBOX_URL`. Either way the same server binary runs the tools.
//!
//! Internal routes carry the platform's root sandbox token in
//! `x-oma-internal` and are called by the session's `SessionDO` (and, for
//! `/egress`, by main). No container ever holds that token: each is started
//! with its own session's token (`openma_core::sandbox::session_token`,
//! derived one way from the root), which is also what this object presents
//! to the sandbox server. So a container's intercepted requests, which
//! reach this object too, can never pass as internal commands, and a
//! session's token opens nothing of another session's. The object serves
//! the one session it is named after and refuses commands about any other.
//! The routes:
//! `GET /health`, `PUT /session/{id}` (set up, body `SessionSetupParams`),
//! `POST /execute` (body `ToolExecuteParams`), `DELETE /session/{id}`, and
//! `/session/{id}/files…` and `/session/{id}/tree`, passed to the server's
//! routes of the same name with their query and body streamed through.

use openma_core::sandbox;
use serde_json::json;

use crate::egress::EgressContext;
use crate::egress::SandboxSetup;
use worker::Env;
use worker::Headers;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::Response;
use worker::Result;
use worker::State;
use worker::durable_object;
use worker::wasm_bindgen::JsValue;

/// How long a starting container may take to answer its health check.
const CONTAINER_READY_ATTEMPTS: u32 = 300;

#[durable_object]
pub struct Sandbox {
    state: State,
    env: Env,
}

/// The host of the platform's own requests to this object.
pub(crate) const INTERNAL_HOST: &str = "sandbox.internal";
/// The header that proves a request comes from the platform.
pub(crate) const INTERNAL_HEADER: &str = "x-oma-internal";
/// Storage key of the session's [`EgressContext`].
const EGRESS_KEY: &str = "egress";

/// An internal command.
#[derive(Debug)]
enum Command {
    Health,
    /// A sandbox request handed over by main (local development).
    Egress,
    Setup(String),
    Execute,
    Teardown(String),
    /// A platform file route: the server path after `/v1/sessions/{id}/`.
    Files(String, String),
}

impl Command {
    fn parse(method: &Method, path: &str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            (Method::Get, ["health"]) => Some(Self::Health),
            (_, ["egress"]) => Some(Self::Egress),
            (Method::Put, ["session", id]) => Some(Self::Setup((*id).to_owned())),
            (Method::Post, ["execute"]) => Some(Self::Execute),
            (Method::Delete, ["session", id]) => Some(Self::Teardown((*id).to_owned())),
            (_, ["session", id, rest @ ..])
                if matches!(rest, ["files"] | ["files", "content"] | ["tree"]) =>
            {
                Some(Self::Files((*id).to_owned(), rest.join("/")))
            }
            _ => None,
        }
    }
}

impl worker::DurableObject for Sandbox {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let internal_host = url.host_str() == Some(INTERNAL_HOST);
        if !internal_host || !self.is_internal(&req)? {
            if internal_host && req.method() == Method::Get && req.path() == "/health" {
                return self.health().await;
            }
            // Not the platform: in production, the container's own outbound
            // traffic, intercepted to this object.
            if self.state.container().is_some() {
                let target = url.to_string();
                return self.egress(req, &target).await;
            }
            return error(404, "no such sandbox route");
        }
        let Some(command) = Command::parse(&req.method(), &req.path()) else {
            return error(404, "no such sandbox route");
        };
        match command {
            Command::Health => self.health().await,
            Command::Egress => {
                let Some(target) = req.headers().get(crate::egress::TARGET_HEADER)? else {
                    return error(
                        400,
                        "an egress request names its target in x-oma-egress-url",
                    );
                };
                self.egress(req, &target).await
            }
            // The set-up carries credential names and rules, never values;
            // what the egress path needs is kept, the rest passed on.
            Command::Setup(session_id) => {
                if !self.serves(&session_id)? {
                    return error(403, "this sandbox serves another session");
                }
                let setup: SandboxSetup = req.json().await?;
                let body = serde_json::to_string(&setup.params)?;
                let mut resp = self
                    .forward(
                        Method::Put,
                        &sandbox::session_path(&session_id),
                        Some(JsValue::from_str(&body)),
                        Some(&session_id),
                    )
                    .await?;
                if resp.status_code() != 200 {
                    return Ok(resp);
                }
                let text = resp.text().await?;
                let answer: sandbox::SessionSetupResponse = serde_json::from_str(&text)?;
                let context = EgressContext {
                    session_id,
                    tenant_id: setup.tenant_id,
                    vault_ids: setup.vault_ids,
                    policy: setup.params.egress,
                    placeholders: answer.placeholders,
                };
                self.state.storage().put(EGRESS_KEY, &context).await?;
                Ok(Response::ok(text)?.with_headers(json_headers()?))
            }
            Command::Files(session_id, rest) => {
                if !self.serves(&session_id)? {
                    return error(403, "this sandbox serves another session");
                }
                let query = req
                    .url()?
                    .query()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                let path = format!("{}/{rest}{query}", sandbox::session_path(&session_id));
                let body = req.inner().body().map(JsValue::from);
                self.forward(req.method(), &path, body, Some(&session_id))
                    .await
            }
            Command::Execute => {
                let body = req.text().await?;
                let session_id = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("session_id")?.as_str().map(str::to_owned))
                    .unwrap_or_default();
                if !self.serves(&session_id)? {
                    return error(403, "this sandbox serves another session");
                }
                let resp = self
                    .forward(
                        Method::Post,
                        sandbox::EXECUTE_PATH,
                        Some(JsValue::from_str(&body)),
                        Some(&session_id),
                    )
                    .await?;
                if resp.status_code() == 404 {
                    // The server restarted and forgot the session: the
                    // session sets it up again (with fresh secrets) and retries.
                    return error(
                        crate::tools::NEEDS_SETUP,
                        "the sandbox server does not know this session: set it up again",
                    );
                }
                Ok(resp)
            }
            Command::Teardown(session_id) => {
                if !self.serves(&session_id)? {
                    return error(403, "this sandbox serves another session");
                }
                let resp = self
                    .forward(
                        Method::Delete,
                        &sandbox::session_path(&session_id),
                        None,
                        Some(&session_id),
                    )
                    .await;
                if let Some(container) = self.state.container()
                    && container.running()
                {
                    container.destroy(None).await?;
                }
                self.state.storage().delete_all().await?;
                resp
            }
        }
    }
}

impl Sandbox {
    /// Whether `req` carries the platform's token. Without a configured
    /// token nothing is internal.
    fn is_internal(&self, req: &Request) -> Result<bool> {
        let token = self.token();
        let presented = req.headers().get(INTERNAL_HEADER)?.unwrap_or_default();
        Ok(!token.is_empty() && openma_cloudflare::ids::constant_time_eq(&presented, &token))
    }

    fn token(&self) -> String {
        self.env
            .secret("SANDBOX_TOKEN")
            .map(|s| s.to_string())
            .unwrap_or_default()
    }

    /// Whether this object is the one named after `session_id`: each
    /// session's sandbox object serves that session only.
    fn serves(&self, session_id: &str) -> Result<bool> {
        if sandbox::validate_id("session_id", session_id).is_err() {
            return Ok(false);
        }
        let namespace = self.env.durable_object("SANDBOX")?;
        let named = namespace.id_from_name(session_id)?.to_string();
        Ok(named == self.state.id().to_string())
    }

    /// One of the sandbox's outgoing requests, by the session's policy and
    /// with its credentials.
    async fn egress(&self, req: Request, target: &str) -> Result<Response> {
        let Some(context) = self
            .state
            .storage()
            .get::<EgressContext>(EGRESS_KEY)
            .await?
        else {
            return error(409, "this sandbox has not been set up");
        };
        crate::egress::send(&self.env, &context, req, target).await
    }

    /// Sends the container's outbound HTTP and HTTPS to this object, so every
    /// request it makes passes [`Sandbox::egress`].
    async fn intercept_egress(&self, container: &worker::Container) -> Result<()> {
        use worker::js_sys::Function;
        use worker::js_sys::Promise;
        use worker::js_sys::Reflect;
        use worker::wasm_bindgen::JsCast;
        let own = self
            .env
            .durable_object("SANDBOX")?
            .id_from_string(&self.state.id().to_string())?
            .get_stub()?
            .into_rpc::<JsValue>();
        let target: &JsValue = container.as_ref();
        let call = |name: &str, args: &[JsValue]| -> Result<Promise> {
            let method: Function = Reflect::get(target, &JsValue::from_str(name))?
                .dyn_into()
                .map_err(|_| {
                    worker::Error::RustError(format!(
                        "this runtime's containers have no {name}: egress cannot be intercepted"
                    ))
                })?;
            let array = worker::js_sys::Array::new();
            for a in args {
                array.push(a);
            }
            Ok(method.apply(target, &array)?.unchecked_into())
        };
        let all_http = call("interceptAllOutboundHttp", std::slice::from_ref(&own))?;
        worker::wasm_bindgen_futures::JsFuture::from(all_http).await?;
        let all_https = call("interceptOutboundHttps", &[JsValue::from_str("*"), own])?;
        worker::wasm_bindgen_futures::JsFuture::from(all_https).await?;
        Ok(())
    }

    /// In production, reports that the container runtime is bound (starting a
    /// container just for a health check would be wasteful); locally, requires
    /// the local sandbox server to answer its own health check.
    async fn health(&self) -> Result<Response> {
        if self.state.container().is_some() {
            return openma_cloudflare::json(200, &json!({"status": "ok", "backend": "container"}));
        }
        let resp = self
            .forward(Method::Get, sandbox::HEALTH_PATH, None, None)
            .await;
        match resp {
            Ok(mut resp) if resp.status_code() == 200 => {
                let server: serde_json::Value = resp.json().await?;
                openma_cloudflare::json(
                    200,
                    &json!({"status": "ok", "backend": "local", "server": server}),
                )
            }
            Ok(resp) => openma_cloudflare::json(
                503,
                &json!({"status": "error", "backend": "local", "error": format!("sandbox server answered {}", resp.status_code())}),
            ),
            Err(e) => openma_cloudflare::json(
                503,
                &json!({"status": "error", "backend": "local", "error": e.to_string()}),
            ),
        }
    }

    /// Sends a request about `session` (none: the server's health) to the
    /// sandbox server, with that session's token: the container's port 8080
    /// in production (started on first use, given only that token), the
    /// local server otherwise.
    async fn forward(
        &self,
        method: Method,
        path: &str,
        body: Option<JsValue>,
        session: Option<&str>,
    ) -> Result<Response> {
        let token = session
            .and_then(|id| sandbox::session_token(&self.token(), id))
            .unwrap_or_default();
        match self.state.container() {
            Some(container) => {
                if !container.running() {
                    if token.is_empty() {
                        return error(503, "the sandbox starts with a session's set-up");
                    }
                    let mut options = worker::ContainerStartupOptions::new();
                    options.add_env("OMA_SANDBOX_TOKEN", &token);
                    options.enable_internet(false);
                    container.start(Some(options))?;
                    self.intercept_egress(&container).await?;
                }
                let port = container.get_tcp_port(sandbox::CONTAINER_PORT)?;
                let url = format!("http://container{path}");
                // The server needs a moment after the container starts.
                let mut attempts = 0;
                loop {
                    match port
                        .fetch(&url, Some(request_init(&method, &token, body.clone())?))
                        .await
                    {
                        Ok(resp) => return Ok(resp),
                        Err(e) if attempts >= CONTAINER_READY_ATTEMPTS => return Err(e),
                        Err(_) => {
                            attempts += 1;
                            worker::Delay::from(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            }
            None => {
                let base = self
                    .env
                    .var("SANDBOX_URL")
                    .map(|v| v.to_string())
                    .or_else(|_| self.env.secret("SANDBOX_URL").map(|s| s.to_string()))
                    .unwrap_or_default();
                if base.is_empty() {
                    return error(503, "containers are disabled and SANDBOX_URL is not set");
                }
                let init = request_init(&method, &token, body)?;
                let req = Request::new_with_init(
                    &format!("{}{path}", base.trim_end_matches('/')),
                    &init,
                )?;
                worker::Fetch::Request(req).send().await
            }
        }
    }
}

fn request_init(method: &Method, token: &str, body: Option<JsValue>) -> Result<RequestInit> {
    let headers = Headers::new();
    if !token.is_empty() {
        headers.set("authorization", &format!("Bearer {token}"))?;
    }
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(method.clone()).with_headers(headers);
    if body.is_some() {
        init.with_body(body);
    }
    Ok(init)
}

fn json_headers() -> Result<Headers> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(headers)
}

fn error(status: u16, message: &str) -> Result<Response> {
    openma_cloudflare::json(
        status,
        &json!({"status": "error", "error": {"type": "sandbox_error", "message": message}}),
    )
}
