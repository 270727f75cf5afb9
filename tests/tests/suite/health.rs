//! The local platform starts, reports every backend healthy, names what is
//! broken, serves two instances side by side, and leaves nothing running.

use openma_e2e::Platform;
use serde_json::Value;

/// What main's `/health` checks.
const MAIN_BACKENDS: [&str; 7] = [
    "d1",
    "kv",
    "r2_files",
    "r2_blobs",
    "config",
    "agent",
    "integrations",
];

async fn get_json(url: &str) -> (u16, Value) {
    let resp = reqwest::get(url).await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.json().await.expect("json body");
    (status, body)
}

fn assert_ok(report: &Value, backends: &[&str]) {
    assert_eq!(report["status"], "ok", "report: {report:#}");
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    for backend in backends {
        assert_eq!(
            report["backends"][backend]["status"], "ok",
            "backend {backend} in {report:#}"
        );
    }
    let listed = report["backends"].as_object().expect("backends").len();
    assert_eq!(listed, backends.len(), "unexpected backends in {report:#}");
}

/// Processes whose command line mentions this platform's state directory or
/// serves its port: what a clean stop must leave none of.
fn processes_of(platform_state: &str, port: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(platform_state) || cmdline.contains(&format!("127.0.0.1:{port} ")) {
            found.push(cmdline);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_run_side_by_side_healthy_and_stop_cleanly() {
    let first = Platform::start().expect("first platform");
    let second = Platform::start().expect("second platform");
    assert_ne!(first.base_url(), second.base_url());

    for platform in [&first, &second] {
        let (status, report) = get_json(&platform.url("/health")).await;
        assert_eq!(status, 200, "{report:#}");
        assert_ok(&report, &MAIN_BACKENDS);
        assert_eq!(report["worker"], "openma-main");

        let agent = &report["backends"]["agent"]["detail"];
        assert_eq!(agent["worker"], "openma-agent");
        assert_ok(
            agent,
            &["d1", "kv", "r2_blobs", "config", "session_do", "sandbox"],
        );
        assert_eq!(
            agent["backends"]["session_do"]["detail"]["storage"],
            "sqlite"
        );
        let sandbox = &agent["backends"]["sandbox"]["detail"];
        assert_eq!(sandbox["backend"], "local", "{sandbox:#}");
        assert_eq!(sandbox["server"]["status"], "ok", "{sandbox:#}");

        let integrations = &report["backends"]["integrations"]["detail"];
        assert_eq!(integrations["worker"], "openma-integrations");
        assert_ok(integrations, &["d1", "kv", "main", "config"]);
    }

    // Each instance keeps its state in its own directory.
    for platform in [&first, &second] {
        let data = platform.state_dir().join("wrangler/.wrangler/state");
        assert!(
            data.is_dir(),
            "{} should hold wrangler's local data",
            data.display()
        );
    }

    let marks: Vec<(String, String)> = [&first, &second]
        .iter()
        .map(|p| {
            let port = p
                .base_url()
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            (p.state_dir().to_string_lossy().into_owned(), port)
        })
        .collect();
    for (state, port) in &marks {
        assert!(
            !processes_of(state, port).is_empty(),
            "the platform should be running"
        );
    }
    drop(first);
    drop(second);
    for (state, port) in &marks {
        let left = processes_of(state, port);
        assert!(
            left.is_empty(),
            "processes left running after stop: {left:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_paths_are_forwarded_and_unknown_routes_get_the_error_envelope() {
    let platform = Platform::start().expect("platform");

    let (status, body) = get_json(&platform.url("/integrations/status")).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["worker"], "openma-integrations");
    for provider in ["linear", "slack", "github"] {
        assert_eq!(body["providers"][provider]["configured"], false, "{body:#}");
    }

    let (status, body) = get_json(&platform.url("/v1/no-such-thing")).await;
    assert_eq!(status, 404);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "not_found_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("/v1/no-such-thing")
    );
}

#[test]
fn a_short_root_secret_fails_health_naming_the_backend_without_revealing_it() {
    let secret = "tooshort-7f3a9c";
    let err = Platform::builder()
        .env("PLATFORM_ROOT_SECRET", secret)
        .start()
        .expect_err("the platform must not report ready");
    let text = format!("{err:#}");
    assert!(text.contains("\"failing\":[\"config\""), "{text}");
    assert!(text.contains("PLATFORM_ROOT_SECRET is too short"), "{text}");
    assert!(
        !text.contains(secret),
        "the secret leaked into the output: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_checks_migrations_quotas_and_secrets_and_names_what_is_missing() {
    let platform = Platform::start().expect("platform");
    let (status, report) = get_json(&platform.url("/ready")).await;
    assert_eq!(status, 200, "{report:#}");
    assert_ok(
        &report,
        &[&MAIN_BACKENDS[..], &["migrations", "quota"]].concat(),
    );
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .expect("migrations")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sql"))
        })
        .count();
    assert_eq!(
        report["backends"]["migrations"]["detail"]["applied"],
        migrations
    );
    assert_eq!(
        report["backends"]["agent"]["detail"]["backends"]["model_key"]["status"],
        "ok"
    );

    // A healthy /health is answered again for a few seconds without probing
    // every backend: the same report (to the probes' latencies), with its
    // age.
    let first = reqwest::get(platform.url("/health")).await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again = reqwest::get(platform.url("/health")).await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(again.headers().contains_key("age"), "{:?}", again.headers());
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);

    // Without the model provider's key the platform is alive but not ready,
    // and the report names the part.
    let keyless = Platform::builder()
        .env("ANTHROPIC_API_KEY", "")
        .start()
        .expect("platform without a model key");
    let (status, report) = get_json(&keyless.url("/ready")).await;
    assert_eq!(status, 503, "{report:#}");
    assert_eq!(
        report["failing"],
        serde_json::json!(["agent"]),
        "{report:#}"
    );
    let agent = &report["backends"]["agent"]["error"];
    assert!(
        agent
            .as_str()
            .is_some_and(|e| e.contains("model_key") && e.contains("ANTHROPIC_API_KEY is not set")),
        "{report:#}"
    );
    let (status, report) = get_json(&keyless.url("/health")).await;
    assert_eq!(status, 200, "liveness does not need the key: {report:#}");
}
