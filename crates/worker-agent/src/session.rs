use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::Response;
use worker::Result;
use worker::State;
use worker::durable_object;

/// One session: its event log, its state, and the driver of its turns.
#[durable_object]
pub struct SessionDO {
    state: State,
    #[allow(dead_code, reason = "bindings are used once sessions are served")]
    env: Env,
}

impl worker::DurableObject for SessionDO {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/health") => self.health(),
            (_, path) => openma_cloudflare::json(
                404,
                &json!({"type": "error", "error": {"type": "not_found_error", "message": format!("no session route {path}")}}),
            ),
        }
    }
}

impl SessionDO {
    /// Proves the object's SQLite storage answers a query.
    fn health(&self) -> Result<Response> {
        let rows: Vec<serde_json::Value> = self
            .state
            .storage()
            .sql()
            .exec("SELECT 1 AS one", None)?
            .to_array()?;
        let ok = rows
            .first()
            .map(|row| row["one"] == json!(1))
            .unwrap_or(false);
        let status = if ok { 200 } else { 503 };
        openma_cloudflare::json(
            status,
            &json!({"status": if ok { "ok" } else { "error" }, "storage": "sqlite"}),
        )
    }
}
