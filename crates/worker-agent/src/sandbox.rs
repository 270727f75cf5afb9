use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::State;
use worker::durable_object;

/// One session's sandbox: owns the session's container in production, and
/// reaches the local sandbox server (`SANDBOX_URL`) when containers are
/// disabled, as under `wrangler dev`.
#[durable_object]
pub struct Sandbox {
    state: State,
    env: Env,
}

impl worker::DurableObject for Sandbox {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/health") => self.health().await,
            (_, path) => openma_cloudflare::json(
                404,
                &json!({"type": "error", "error": {"type": "not_found_error", "message": format!("no sandbox route {path}")}}),
            ),
        }
    }
}

impl Sandbox {
    /// In production, reports that the container runtime is bound (starting a
    /// container just for a health check would be wasteful); locally, requires
    /// the local sandbox server to answer its own health check.
    async fn health(&self) -> Result<Response> {
        if self.state.container().is_some() {
            return openma_cloudflare::json(200, &json!({"status": "ok", "backend": "container"}));
        }
        let base = match self.env.var("SANDBOX_URL") {
            Ok(url) if !url.to_string().is_empty() => url.to_string(),
            _ => {
                return openma_cloudflare::json(
                    503,
                    &json!({"status": "error", "backend": "local", "error": "containers are disabled and SANDBOX_URL is not set"}),
                );
            }
        };
        let url = format!("{}/health", base.trim_end_matches('/'));
        let outcome = async {
            let req = Request::new(&url, Method::Get).map_err(|e| e.to_string())?;
            let mut resp = worker::Fetch::Request(req)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status_code();
            let body: Value = resp.json().await.map_err(|e| e.to_string())?;
            if status == 200 {
                Ok(body)
            } else {
                Err(format!("sandbox server answered {status}"))
            }
        }
        .await;
        match outcome {
            Ok(server) => openma_cloudflare::json(
                200,
                &json!({"status": "ok", "backend": "local", "server": server}),
            ),
            Err(error) => openma_cloudflare::json(
                503,
                &json!({"status": "error", "backend": "local", "error": error}),
            ),
        }
    }
}
