use serde_json::json;

use super::common::*;

async fn refused(sb: &Sandbox, name: &str, input: serde_json::Value) -> String {
    let r = sb.exec("s1", &next_id(), name, input).await;
    err_text(&r)
}

#[tokio::test]
async fn dot_dot_and_absolute_paths_outside_the_workspace_are_refused() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    for path in [
        "../outside.txt",
        "/workspace/../etc/passwd",
        "/etc/passwd",
        "a/../../x",
        "/tmp/x",
    ] {
        let msg = refused(&sb, "read", json!({"file_path": path})).await;
        assert!(msg.contains("outside the sandbox"), "{path}: {msg}");
        let msg = refused(&sb, "write", json!({"file_path": path, "content": "pwned"})).await;
        assert!(msg.contains("outside the sandbox"), "{path}: {msg}");
    }
    assert!(!sb.dir.path().join("state/sessions/s1/outside.txt").exists());
    let msg = refused(&sb, "glob", json!({"pattern": "*", "path": "/etc"})).await;
    assert!(msg.contains("outside the sandbox"));
    let msg = refused(
        &sb,
        "grep",
        json!({"pattern": "root", "path": "/etc/passwd"}),
    )
    .await;
    assert!(msg.contains("outside the sandbox"));
}

#[tokio::test]
async fn symlinks_leading_out_of_the_workspace_are_refused() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let ws = sb.workspace("s1");
    let secret_dir = sb.dir.path().join("secret");
    std::fs::create_dir_all(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("key.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(secret_dir.join("key.txt"), ws.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&secret_dir, ws.join("linkdir")).unwrap();
    std::os::unix::fs::symlink(secret_dir.join("missing.txt"), ws.join("dangling.txt")).unwrap();

    assert!(
        refused(&sb, "read", json!({"file_path": "link.txt"}))
            .await
            .contains("outside")
    );
    assert!(
        refused(&sb, "read", json!({"file_path": "linkdir/key.txt"}))
            .await
            .contains("outside")
    );
    assert!(
        refused(
            &sb,
            "write",
            json!({"file_path": "link.txt", "content": "x"})
        )
        .await
        .contains("outside")
    );
    assert!(
        refused(
            &sb,
            "write",
            json!({"file_path": "linkdir/new.txt", "content": "x"})
        )
        .await
        .contains("outside")
    );
    assert!(
        refused(
            &sb,
            "write",
            json!({"file_path": "dangling.txt", "content": "x"})
        )
        .await
        .contains("outside")
    );
    assert!(
        refused(
            &sb,
            "edit",
            json!({"file_path": "link.txt", "old_string": "top", "new_string": "x"})
        )
        .await
        .contains("outside")
    );
    assert!(!secret_dir.join("new.txt").exists() && !secret_dir.join("missing.txt").exists());
    assert_eq!(
        std::fs::read_to_string(secret_dir.join("key.txt")).unwrap(),
        "top secret"
    );
    // Walks never follow links out either.
    let r = sb
        .exec("s1", &next_id(), "grep", json!({"pattern": "secret"}))
        .await;
    assert_eq!(ok_text(&r), "no matches");
}

#[tokio::test]
async fn symlinks_inside_the_workspace_still_work() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let ws = sb.workspace("s1");
    std::fs::write(ws.join("real.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(ws.join("real.txt"), ws.join("alias.txt")).unwrap();
    let r = sb
        .exec("s1", &next_id(), "read", json!({"file_path": "alias.txt"}))
        .await;
    assert_eq!(ok_text(&r), "inside");
}

#[tokio::test]
async fn sessions_cannot_reach_each_others_workspaces() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    sb.setup("s2", json!({})).await;
    sb.exec(
        "s2",
        &next_id(),
        "write",
        json!({"file_path": "private.txt", "content": "s2 only"}),
    )
    .await;
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "read",
            json!({"file_path": "/workspace/private.txt"}),
        )
        .await;
    assert!(err_text(&r).contains("no such file"));
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "read",
            json!({"file_path": "../../s2/workspace/private.txt"}),
        )
        .await;
    assert!(err_text(&r).contains("outside"));
    let real = sb
        .workspace("s2")
        .canonicalize()
        .unwrap()
        .join("private.txt");
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "read",
            json!({"file_path": real.to_string_lossy()}),
        )
        .await;
    assert!(err_text(&r).contains("outside"));
}

#[tokio::test]
async fn outputs_directory_is_a_second_mount() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "write",
            json!({"file_path": "/mnt/session/outputs/report.md", "content": "# done"}),
        )
        .await;
    assert_eq!(
        ok_text(&r),
        "wrote 6 bytes to /mnt/session/outputs/report.md"
    );
    assert!(
        sb.dir
            .path()
            .join("state/sessions/s1/outputs/report.md")
            .exists()
    );
}
