//! A webhook receiver on loopback: records every delivery (headers and the
//! raw body, exactly as received) and answers with scripted statuses, then
//! 200.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use anyhow::Result;
use anyhow::bail;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use axum::response::Response;
use axum::routing::any;

use crate::mock::serve;

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names (lower case) and values.
    pub headers: BTreeMap<String, String>,
    /// The body, byte for byte.
    pub body: String,
    /// The status the receiver answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The body as JSON (`Null` if it is not).
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Script {
    answers: VecDeque<u16>,
    received: Vec<Received>,
}

/// The receiver; stops when dropped.
pub struct MockReceiver {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl MockReceiver {
    /// Starts a receiver on a free loopback port.
    pub fn start() -> Result<Self> {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = Router::new()
            .fallback(any(receive))
            .with_state(Arc::clone(&script));
        let (addr, shutdown) = serve(app, "the webhook receiver")?;
        Ok(Self {
            addr,
            script,
            _shutdown: shutdown,
        })
    }

    /// The URL deliveries are posted to.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Answers the next deliveries with `status`, in order.
    pub fn answer(&self, status: u16) {
        if let Ok(mut script) = self.script.lock() {
            script.answers.push_back(status);
        }
    }

    /// Every delivery so far.
    #[must_use]
    pub fn received(&self) -> Vec<Received> {
        self.script
            .lock()
            .map(|s| s.received.clone())
            .unwrap_or_default()
    }

    /// Waits until `count` deliveries have arrived.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Result<Vec<Received>> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count {
                return Ok(received);
            }
            if Instant::now() > deadline {
                let types: Vec<String> = received
                    .iter()
                    .map(|r| format!("{} -> {}", r.json()["data"]["type"], r.status))
                    .collect();
                bail!(
                    "{count} deliveries expected within {timeout:?}, {} arrived: {types:?}",
                    received.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let Ok(mut script) = script.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let status = script.answers.pop_front().unwrap_or(200);
    script.received.push(Received {
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body,
        status,
        at: Instant::now(),
    });
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if code.is_redirection() {
        return (code, [("location", "https://example.com/elsewhere")]).into_response();
    }
    code.into_response()
}
