//! The official Python SDK (`anthropic==2.17.0`), unchanged, drives vaults
//! and credentials, files and memory stores:
//! `tests/python/vaults_files_memory.py` asserts on the SDK's own types, and
//! its JSON summary is checked here, along with the platform's logs.

use openma_e2e::Platform;
use serde_json::Value;
use serde_json::json;

#[test]
fn python_sdk_drives_vaults_files_and_memory() {
    let platform = Platform::start().unwrap();
    let token = format!("sdk-bearer-SECRET-{}", std::process::id());
    let access = format!("sdk-access-SECRET-{}", std::process::id());
    let stdout = openma_e2e::python::run_script(
        &platform,
        platform.api_key(),
        "vaults_files_memory.py",
        &[&token, &access],
    )
    .unwrap_or_else(|err| panic!("{err:#}\n--- platform ---\n{}", platform.output()));
    let summary: Value = openma_e2e::python::summary(&stdout).unwrap();
    assert_eq!(summary["sdk_version"], "2.17.0");
    assert_eq!(summary["duplicate_should_retry"], "false");
    assert_eq!(
        summary["validation"],
        json!({"status": "unknown", "has_refresh_token": true})
    );
    assert_eq!(summary["vault_deleted_type"], "vault_deleted");
    assert_eq!(summary["download_exact"], true);
    assert_eq!(summary["download_content_type"], "application/octet-stream");
    assert_eq!(summary["file_deleted_type"], "file_deleted");
    assert_eq!(summary["conflict_type"], "memory_path_conflict_error");
    assert_eq!(summary["conflict_should_retry"], "false");
    assert_eq!(summary["conflicting_id_matches"], true);
    assert_eq!(
        summary["precondition_type"],
        "memory_precondition_failed_error"
    );
    assert_eq!(
        summary["depth_items"],
        json!([
            ["memory_prefix", "/notes/deep/"],
            ["memory", "/notes/today.md"]
        ])
    );
    assert_eq!(summary["versions"], json!(["modified", "created"]));
    assert_eq!(summary["memory_deleted_type"], "memory_deleted");
    assert_eq!(summary["store_deleted_type"], "memory_store_deleted");
    assert_eq!(summary["resource_types"], json!(["file", "memory_store"]));
    assert_eq!(summary["memory_mount_path"], "/mnt/memory/sdk-memory");
    assert_eq!(summary["file_mount_path_is_default"], true);
    assert_eq!(summary["added_mount_path"], "/workspace/data/hello.txt");
    assert_eq!(summary["resource_count_after_add"], 3);
    assert_eq!(summary["resource_deleted_type"], "session_resource_deleted");
    assert_eq!(summary["deleted_resource_status"], 404);
    assert_eq!(summary["secret_seen"], false);
    let logs: String = platform
        .output()
        .lines()
        .filter(|line| !line.starts_with("openma ready "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!logs.contains(&token), "the bearer token is in the logs");
    assert!(!logs.contains(&access), "the access token is in the logs");
}
