//! The platform's own API, called through the `MAIN` service binding as the
//! integration's tenant (with the service token): sessions are created,
//! continued and read exactly as a client would.

use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Method;
use worker::Request;
use worker::RequestInit;
use worker::Response;

/// How an API call ended.
pub(crate) enum Called {
    /// 2xx, with its JSON body.
    Ok(Value),
    /// 4xx: the request will not succeed as it is; the API's message.
    Refused(String),
    /// 5xx or no answer: worth retrying.
    Failed(String),
}

/// The platform API for one tenant.
pub(crate) struct Platform<'a> {
    env: &'a Env,
    tenant_id: &'a str,
}

impl<'a> Platform<'a> {
    pub(crate) const fn new(env: &'a Env, tenant_id: &'a str) -> Self {
        Self { env, tenant_id }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> worker::Result<Request> {
        let headers = openma_cloudflare::service::headers_for(self.env, self.tenant_id)?;
        for (name, value) in extra {
            headers.set(name, value)?;
        }
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        if let Some(body) = body {
            init.with_body(Some(body.to_string().into()));
        }
        Request::new_with_init(&format!("https://main{path}"), &init)
    }

    async fn send(&self, request: worker::Result<Request>) -> worker::Result<Response> {
        self.env.service("MAIN")?.fetch_request(request?).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Called {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Called {
        let answered = openma_cloudflare::mcp::within(30_000, async {
            let mut resp = self.send(self.request(method, path, body, extra)).await?;
            let status = resp.status_code();
            let text = resp.text().await.unwrap_or_default();
            Ok((status, text))
        })
        .await;
        match answered {
            Ok((status, text)) if (200..300).contains(&status) => {
                Called::Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
            }
            Ok((status, text)) => {
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("HTTP {status}"));
                if (400..500).contains(&status) && status != 408 && status != 429 {
                    Called::Refused(message)
                } else {
                    Called::Failed(format!("{status}: {message}"))
                }
            }
            Err(e) => Called::Failed(e.to_string()),
        }
    }

    /// `POST /v1/sessions` with the thread's first message.
    pub(crate) async fn create_session(&self, params: &Value) -> Called {
        self.call(Method::Post, "/v1/sessions", Some(params)).await
    }

    /// The tenant's most recent sessions (`GET /v1/sessions`).
    pub(crate) async fn recent_sessions(&self) -> Called {
        self.call(Method::Get, "/v1/sessions?limit=100", None).await
    }

    /// `POST /v1/sessions/{id}/events` with one event.
    pub(crate) async fn send_event(&self, session_id: &str, event: Value) -> Called {
        self.call(
            Method::Post,
            &format!("/v1/sessions/{session_id}/events"),
            Some(&json!({"events": [event]})),
        )
        .await
    }

    /// `POST /v1/deployments/{id}/run` for the scheduled time
    /// `scheduled_at` (RFC 3339), which main honours on a service call.
    pub(crate) async fn run_deployment(&self, deployment_id: &str, scheduled_at: &str) -> Called {
        self.call_with(
            Method::Post,
            &format!("/v1/deployments/{deployment_id}/run"),
            None,
            &[("x-openma-scheduled-at", scheduled_at)],
        )
        .await
    }

    /// `GET /v1/sessions/{id}/events/stream`, resumed after `after_seq`.
    pub(crate) async fn stream(
        &self,
        session_id: &str,
        after_seq: u64,
    ) -> worker::Result<Response> {
        let after = after_seq.to_string();
        let request = self.request(
            Method::Get,
            &format!("/v1/sessions/{session_id}/events/stream"),
            None,
            &[("last-event-id", &after), ("accept", "text/event-stream")],
        );
        self.send(request).await
    }
}

/// A `user.message` event with `text`.
pub(crate) fn user_message(text: &str) -> Value {
    json!({"type": "user.message", "content": [{"type": "text", "text": text}]})
}
