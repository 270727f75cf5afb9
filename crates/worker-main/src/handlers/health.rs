//! `GET /health`, `GET /health/live` and `GET /ready`.

use openma_cloudflare::Check;
use openma_cloudflare::HealthReport;
use std::cell::RefCell;

use serde::Deserialize;
use serde_json::Value;
use worker::Env;
use worker::Response;
use worker::Result;

use crate::WORKER;

/// The D1 migrations of this release, in order: `/ready` requires each to
/// be applied (a unit test keeps the list equal to `migrations/`).
pub(crate) const MIGRATIONS: [&str; 19] = [
    "0001_tenants.sql",
    "0002_default_tenant_and_key_hints.sql",
    "0003_agents.sql",
    "0004_environments.sql",
    "0005_sessions.sql",
    "0006_vaults.sql",
    "0007_files.sql",
    "0008_memory.sql",
    "0009_session_index_summary.sql",
    "0010_api_key_use_and_expiry.sql",
    "0011_model_providers.sql",
    "0012_usage_ledger.sql",
    "0013_audit_events.sql",
    "0014_session_archive.sql",
    "0015_operations.sql",
    "0016_integrations.sql",
    "0017_webhooks.sql",
    "0018_deployments.sql",
    "0019_self_hosted.sql",
];

/// How long a healthy `/health` answer is served again before the backends
/// are probed anew.
const HEALTHY_FOR_MS: f64 = 5_000.0;

thread_local! {
    /// The last healthy `/health` report of this isolate and when it was
    /// made. A failing report is never kept: each call probes again, so a
    /// fix shows at once.
    static HEALTHY: RefCell<Option<(f64, Value)>> = const { RefCell::new(None) };
}

/// Exercises every backend this worker depends on, and the agent and
/// integrations workers' own health through their service bindings. A
/// healthy report is reused for a few seconds (with an `age` header), so
/// that frequent liveness checks do not fan out to every backend.
pub(crate) async fn deep(env: &Env) -> Result<Response> {
    let now = worker::Date::now().as_millis() as f64;
    let cached = HEALTHY.with_borrow(|cached| {
        cached
            .as_ref()
            .filter(|(at, _)| now - at < HEALTHY_FOR_MS)
            .cloned()
    });
    if let Some((at, body)) = cached {
        let mut resp = openma_cloudflare::json(200, &body)?;
        let age_s = ((now - at) / 1000.0).floor() as u64;
        resp.headers_mut().set("age", &age_s.to_string())?;
        return Ok(resp);
    }
    let report = report(env, false).await;
    if report.is_ok() {
        HEALTHY.with_borrow_mut(|cached| *cached = Some((now, report.to_json())));
    }
    report.into_response()
}

/// `GET /ready`: what `/health` checks, and also that every D1 migration of
/// this release is applied, that the quota objects answer, and that the
/// agent worker is ready (its model key is set). 503 names each failing
/// part.
pub(crate) async fn ready(env: &Env) -> Result<Response> {
    report(env, true).await.into_response()
}

async fn report(env: &Env, ready: bool) -> HealthReport {
    let agent_path = if ready { "/ready" } else { "/health" };
    let (config, d1, kv, files, blobs, agent, integrations) = futures_util::join!(
        openma_cloudflare::probe_config(env, &["API_KEY", "PLATFORM_ROOT_SECRET"]),
        openma_cloudflare::probe_d1(env, "DB"),
        openma_cloudflare::probe_kv(env, "CONFIG"),
        openma_cloudflare::probe_r2(env, "FILES"),
        openma_cloudflare::probe_r2(env, "BLOBS"),
        openma_cloudflare::probe_service(env, "AGENT", agent_path),
        openma_cloudflare::probe_service(env, "INTEGRATIONS", "/health"),
    );
    let mut report = HealthReport::new(WORKER);
    report.add("d1", d1);
    report.add("kv", kv);
    report.add("r2_files", files);
    report.add("r2_blobs", blobs);
    report.add("config", config);
    report.add("agent", agent);
    report.add("integrations", integrations);
    if ready {
        let (migrations, quota) = futures_util::join!(probe_migrations(env), probe_quota(env));
        report.add("migrations", migrations);
        report.add("quota", quota);
    }
    report
}

/// Every migration of this release is recorded as applied in D1.
async fn probe_migrations(env: &Env) -> Check {
    Check::probe(async {
        #[derive(Deserialize)]
        struct Applied {
            name: String,
        }
        let applied: Vec<Applied> = env
            .d1("DB")
            .map_err(|e| e.to_string())?
            .prepare("SELECT name FROM d1_migrations")
            .all()
            .await
            .and_then(|r| r.results())
            .map_err(|e| format!("reading d1_migrations: {e}"))?;
        let applied: Vec<&str> = applied.iter().map(|a| a.name.as_str()).collect();
        let missing = not_applied(&applied);
        if missing.is_empty() {
            Ok(Some(serde_json::json!({"applied": MIGRATIONS.len()})))
        } else {
            Err(format!("not applied: {}", missing.join(", ")))
        }
    })
    .await
}

/// The migrations of this release that `applied` lacks, in order.
fn not_applied(applied: &[&str]) -> Vec<&'static str> {
    MIGRATIONS
        .iter()
        .filter(|name| !applied.contains(name))
        .copied()
        .collect()
}

/// The tenant quota objects (`QUOTA`) answer.
async fn probe_quota(env: &Env) -> Check {
    Check::probe(async {
        let namespace = env.durable_object("QUOTA").map_err(|e| e.to_string())?;
        let stub = namespace
            .id_from_name("ready")
            .and_then(|id| id.get_stub())
            .map_err(|e| e.to_string())?;
        let resp = stub
            .fetch_with_str("https://quota.internal/health")
            .await
            .map_err(|e| e.to_string())?;
        openma_cloudflare::healthy_answer("QUOTA", resp).await
    })
    .await
}

/// This worker alone, for dependents that must not recurse.
pub(crate) fn live() -> Result<Response> {
    openma_cloudflare::json(
        200,
        &serde_json::json!({"status": "ok", "worker": WORKER, "version": openma_core::VERSION}),
    )
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use super::not_applied;

    #[test]
    fn the_release_lists_every_migration_in_the_repository() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        assert_eq!(names, MIGRATIONS);
    }

    #[test]
    fn a_migration_missing_from_d1_is_named() {
        let mut applied = MIGRATIONS.to_vec();
        applied.remove(8);
        applied.remove(2);
        assert_eq!(
            not_applied(&applied),
            ["0003_agents.sql", "0009_session_index_summary.sql"]
        );
        assert!(not_applied(&MIGRATIONS).is_empty());
    }
}
