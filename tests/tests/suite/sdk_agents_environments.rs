//! The official Python SDK (`anthropic==2.17.0`), unchanged, drives agents
//! and environments: `tests/python/agents_environments.py` asserts on the
//! SDK's own types, and its JSON summary is checked here.

use openma_e2e::Platform;
use serde_json::Value;
use serde_json::json;

#[test]
fn python_sdk_drives_agents_and_environments() {
    let platform = Platform::start().unwrap();
    let stdout = openma_e2e::python::run_script(
        &platform,
        platform.api_key(),
        "agents_environments.py",
        &[],
    )
    .unwrap_or_else(|err| panic!("{err:#}\n--- platform ---\n{}", platform.output()));
    let summary: Value = openma_e2e::python::summary(&stdout).unwrap();
    assert_eq!(summary["sdk_version"], "2.17.0");
    assert_eq!(summary["conflict_should_retry"], "false");
    assert_eq!(summary["conflict_requests"], 1, "the SDK retried a 409");
    assert_eq!(summary["duplicate_name_should_retry"], "false");
    assert_eq!(summary["type_change_code"], "invalid_config_type_change");
    assert_eq!(summary["archived_code"], "environment_archived");
    assert_eq!(summary["deleted_status"], 404);
    let agent = &summary["agent"];
    assert_eq!(agent["versions"], json!([1, 2]));
    assert_eq!(agent["final_version"], 2);
    assert_eq!(agent["metadata"], json!({"team": "sdk", "region": "eu"}));
    let environment = &summary["environment"];
    assert_eq!(environment["deleted_type"], "environment_deleted");
    assert_eq!(environment["metadata"], json!({"stage": "test"}));

    // What the SDK created is visible over raw HTTP too.
    let id = agent["id"].as_str().unwrap();
    let resp = http::blocking_get(&platform, &format!("/v1/agents/{id}"));
    assert_eq!(resp["version"], 2, "{resp:#}");
}

mod http {
    use openma_e2e::Platform;
    use serde_json::Value;

    /// A GET with the operator's key, on a throwaway runtime.
    pub(super) fn blocking_get(platform: &Platform, path: &str) -> Value {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            ::reqwest::Client::new()
                .get(platform.url(path))
                .header("x-api-key", platform.api_key())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    }
}
