use std::future::Future;

use serde::Serialize;
use serde_json::Value;
use serde_json::json;
use worker::Env;
use worker::Response;
use worker::Result;

use crate::response::now_ms;

/// The outcome of one backend probe.
#[derive(Debug, Serialize)]
pub struct Check {
    /// `ok` or `error`.
    pub status: &'static str,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
    /// Why the probe failed; never carries a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What a dependent worker reported about itself, for service probes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

impl Check {
    /// Runs a probe, timing it; `Ok(detail)` is healthy, `Err(why)` is not.
    pub async fn probe<F>(probe: F) -> Self
    where
        F: Future<Output = std::result::Result<Option<Value>, String>>,
    {
        let start = now_ms();
        let outcome = probe.await;
        let latency_ms = (now_ms() - start).max(0.0);
        match outcome {
            Ok(detail) => Self {
                status: "ok",
                latency_ms,
                error: None,
                detail,
            },
            Err(error) => Self {
                status: "error",
                latency_ms,
                error: Some(error),
                detail: None,
            },
        }
    }

    /// Whether the backend answered as expected.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// A worker's `/health` answer: 200 when every backend is ok, 503 naming the
/// failing backends otherwise.
#[derive(Debug)]
pub struct HealthReport {
    worker: &'static str,
    checks: Vec<(&'static str, Check)>,
}

impl HealthReport {
    /// An empty report for the named worker.
    pub fn new(worker: &'static str) -> Self {
        Self {
            worker,
            checks: Vec::new(),
        }
    }

    /// Records one backend's check.
    pub fn add(&mut self, backend: &'static str, check: Check) {
        self.checks.push((backend, check));
    }

    /// Whether every recorded backend is ok.
    pub fn is_ok(&self) -> bool {
        self.checks.iter().all(|(_, check)| check.is_ok())
    }

    /// The report as a JSON value.
    pub fn to_json(&self) -> Value {
        let failing: Vec<&str> = self
            .checks
            .iter()
            .filter(|(_, check)| !check.is_ok())
            .map(|(name, _)| *name)
            .collect();
        let backends: serde_json::Map<String, Value> = self
            .checks
            .iter()
            .map(|(name, check)| {
                let value = serde_json::to_value(check).unwrap_or(Value::Null);
                ((*name).to_owned(), value)
            })
            .collect();
        let mut body = json!({
            "status": if failing.is_empty() { "ok" } else { "error" },
            "worker": self.worker,
            "version": openma_core::VERSION,
            "backends": backends,
        });
        if !failing.is_empty() {
            body["failing"] = json!(failing);
        }
        body
    }

    /// The report as an HTTP response.
    pub fn into_response(self) -> Result<Response> {
        let status = if self.is_ok() { 200 } else { 503 };
        crate::json(status, &self.to_json())
    }
}

/// Runs `SELECT 1` against a D1 binding.
pub async fn probe_d1(env: &Env, binding: &str) -> Check {
    Check::probe(async {
        let db = env.d1(binding).map_err(|e| e.to_string())?;
        let one: Option<Value> = db
            .prepare("SELECT 1 AS one")
            .first(Some("one"))
            .await
            .map_err(|e| e.to_string())?;
        match one {
            Some(v) if v == json!(1) => Ok(None),
            other => Err(format!("SELECT 1 returned {other:?}")),
        }
    })
    .await
}

/// Reads one key from a KV binding (a missing key is fine: the read succeeded).
pub async fn probe_kv(env: &Env, binding: &str) -> Check {
    Check::probe(async {
        let kv = env.kv(binding).map_err(|e| e.to_string())?;
        kv.get("health/probe")
            .text()
            .await
            .map_err(|e| e.to_string())?;
        Ok(None)
    })
    .await
}

/// Issues a HEAD for one key in an R2 binding (a missing key is fine).
pub async fn probe_r2(env: &Env, binding: &str) -> Check {
    Check::probe(async {
        let bucket = env.bucket(binding).map_err(|e| e.to_string())?;
        bucket
            .head("health/probe")
            .await
            .map_err(|e| e.to_string())?;
        Ok(None)
    })
    .await
}

/// Fetches `/health` from a service binding and requires a 200 with
/// `"status":"ok"`; the dependent's own report is kept as the detail.
pub async fn probe_service(env: &Env, binding: &str, path: &str) -> Check {
    Check::probe(async {
        let service = env.service(binding).map_err(|e| e.to_string())?;
        let resp = service
            .fetch(format!("https://{binding}.internal{path}"), None)
            .await
            .map_err(|e| e.to_string())?;
        healthy_answer(binding, resp).await
    })
    .await
}

/// A dependent's own health report: healthy when it answered 200 with
/// `"status":"ok"`, kept as the probe's detail.
pub async fn healthy_answer(
    name: &str,
    mut resp: worker::Response,
) -> std::result::Result<Option<Value>, String> {
    let status = resp.status_code();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status == 200 && body["status"] == "ok" {
        Ok(Some(body))
    } else {
        Err(format!("{name} answered {status}: {body}"))
    }
}

/// The smallest accepted `PLATFORM_ROOT_SECRET`, in characters.
pub const MIN_ROOT_SECRET_LEN: usize = 32;

/// Checks the worker's required secrets and variables without revealing
/// them: each named secret must be set, and `PLATFORM_ROOT_SECRET` must be
/// long enough to derive keys from.
pub async fn probe_config(env: &Env, required: &[&str]) -> Check {
    Check::probe(async {
        let mut problems = Vec::new();
        for name in required {
            let value = env
                .secret(name)
                .map(|s| s.to_string())
                .or_else(|_| env.var(name).map(|v| v.to_string()))
                .unwrap_or_default();
            if value.is_empty() {
                problems.push(format!("{name} is not set"));
            } else if *name == "PLATFORM_ROOT_SECRET" && value.chars().count() < MIN_ROOT_SECRET_LEN {
                problems.push(format!(
                    "PLATFORM_ROOT_SECRET is too short ({} characters; at least {MIN_ROOT_SECRET_LEN} required)",
                    value.chars().count()
                ));
            }
        }
        // During a root-secret rotation the previous secret must still be
        // usable to derive the old key (see docs/operations.md).
        if required.contains(&"PLATFORM_ROOT_SECRET") {
            let previous = env
                .secret("PLATFORM_ROOT_SECRET_PREVIOUS")
                .map(|s| s.to_string())
                .or_else(|_| env.var("PLATFORM_ROOT_SECRET_PREVIOUS").map(|v| v.to_string()))
                .unwrap_or_default();
            if !previous.is_empty() && previous.chars().count() < MIN_ROOT_SECRET_LEN {
                problems.push(format!(
                    "PLATFORM_ROOT_SECRET_PREVIOUS is set but too short ({} characters; at least {MIN_ROOT_SECRET_LEN} required); unset it or set the previous root secret exactly",
                    previous.chars().count()
                ));
            }
        }
        if problems.is_empty() {
            Ok(None)
        } else {
            Err(problems.join("; "))
        }
    })
    .await
}
