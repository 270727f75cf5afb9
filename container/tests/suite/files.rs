use openma_core::sandbox::ContentBlock;
use serde_json::json;

use super::common::*;

#[tokio::test]
async fn write_creates_parent_directories_and_reports_the_byte_count() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "write",
            json!({"file_path": "/workspace/a/b/c.txt", "content": "héllo\n"}),
        )
        .await;
    assert_eq!(ok_text(&r), "wrote 7 bytes to /workspace/a/b/c.txt");
    assert_eq!(
        std::fs::read_to_string(sb.workspace("s1").join("a/b/c.txt")).unwrap(),
        "héllo\n"
    );
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "write",
            json!({"file_path": "rel.txt", "content": "x"}),
        )
        .await;
    assert_eq!(ok_text(&r), "wrote 1 bytes to /workspace/rel.txt");
}

#[tokio::test]
async fn read_returns_the_file_or_a_line_range() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    sb.exec(
        "s1",
        &next_id(),
        "write",
        json!({"file_path": "f.txt", "content": "one\ntwo\nthree\nfour\n"}),
    )
    .await;
    let whole = sb
        .exec(
            "s1",
            &next_id(),
            "read",
            json!({"file_path": "/workspace/f.txt"}),
        )
        .await;
    assert_eq!(ok_text(&whole), "one\ntwo\nthree\nfour\n");
    let mid = sb
        .exec(
            "s1",
            &next_id(),
            "read",
            json!({"file_path": "f.txt", "view_range": [2, 3]}),
        )
        .await;
    assert_eq!(ok_text(&mid), "two\nthree\n");
    let tail = sb
        .exec(
            "s1",
            &next_id(),
            "read",
            json!({"file_path": "f.txt", "view_range": [3, -1]}),
        )
        .await;
    assert_eq!(ok_text(&tail), "three\nfour\n");
    let past = sb
        .exec(
            "s1",
            &next_id(),
            "read",
            json!({"file_path": "f.txt", "view_range": [9, 0]}),
        )
        .await;
    assert!(err_text(&past).contains("has 4 lines"));
    let missing = sb
        .exec("s1", &next_id(), "read", json!({"file_path": "nope.txt"}))
        .await;
    assert!(err_text(&missing).contains("no such file"));
}

#[tokio::test]
async fn read_returns_images_and_pdfs_as_base64_blocks_and_refuses_other_binaries() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    let ws = sb.workspace("s1");
    std::fs::write(ws.join("pic.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    std::fs::write(ws.join("doc.pdf"), b"%PDF-1.4\n%\xe2\xe3").unwrap();
    std::fs::write(ws.join("blob.bin"), b"\0\x01\x02\x03").unwrap();
    let img = sb
        .exec("s1", &next_id(), "read", json!({"file_path": "pic.png"}))
        .await;
    let ContentBlock::Image { source } = &img.content[0] else {
        panic!("{img:?}")
    };
    assert_eq!(source.media_type, "image/png");
    assert_eq!(source.data, "iVBORw0KGgoAAAANSUhEUg==");
    let pdf = sb
        .exec("s1", &next_id(), "read", json!({"file_path": "doc.pdf"}))
        .await;
    assert!(
        matches!(&pdf.content[0], ContentBlock::Document { source } if source.media_type == "application/pdf")
    );
    let bin = sb
        .exec("s1", &next_id(), "read", json!({"file_path": "blob.bin"}))
        .await;
    assert!(err_text(&bin).contains("binary file (4 bytes)"));
    let dir = sb
        .exec("s1", &next_id(), "read", json!({"file_path": "/workspace"}))
        .await;
    assert!(err_text(&dir).contains("is a directory"));
}

#[tokio::test]
async fn edit_replaces_a_unique_match_and_explains_zero_or_several() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    sb.exec(
        "s1",
        &next_id(),
        "write",
        json!({"file_path": "e.txt", "content": "a x b x c"}),
    )
    .await;
    let none = sb
        .exec(
            "s1",
            &next_id(),
            "edit",
            json!({"file_path": "e.txt", "old_string": "zzz", "new_string": "y"}),
        )
        .await;
    assert!(err_text(&none).contains("old_string was not found in /workspace/e.txt"));
    let many = sb
        .exec(
            "s1",
            &next_id(),
            "edit",
            json!({"file_path": "e.txt", "old_string": "x", "new_string": "y"}),
        )
        .await;
    assert!(err_text(&many).contains("occurs 2 times"));
    let one = sb
        .exec(
            "s1",
            &next_id(),
            "edit",
            json!({"file_path": "e.txt", "old_string": "a x", "new_string": "A"}),
        )
        .await;
    assert_eq!(ok_text(&one), "edited /workspace/e.txt (1 replacement(s))");
    let all =
        sb.exec("s1", &next_id(), "edit", json!({"file_path": "e.txt", "old_string": " ", "new_string": "_", "replace_all": true})).await;
    assert_eq!(ok_text(&all), "edited /workspace/e.txt (3 replacement(s))");
    assert_eq!(
        std::fs::read_to_string(sb.workspace("s1").join("e.txt")).unwrap(),
        "A_b_x_c"
    );
    let missing = sb
        .exec(
            "s1",
            &next_id(),
            "edit",
            json!({"file_path": "nope.txt", "old_string": "a", "new_string": "b"}),
        )
        .await;
    assert!(err_text(&missing).contains("no such file"));
}

#[tokio::test]
async fn glob_lists_matches_newest_first_or_says_no_matches() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    ok_text(&sb.bash("s1", "mkdir -p src/deep && touch -d '2020-01-01' src/old.rs && touch -d '2021-01-01' src/deep/mid.rs && touch src/new.rs && touch notes.md").await);
    let r = sb
        .exec("s1", &next_id(), "glob", json!({"pattern": "**/*.rs"}))
        .await;
    assert_eq!(
        ok_text(&r),
        "/workspace/src/new.rs\n/workspace/src/deep/mid.rs\n/workspace/src/old.rs"
    );
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "glob",
            json!({"pattern": "*.rs", "path": "/workspace/src"}),
        )
        .await;
    assert_eq!(ok_text(&r), "/workspace/src/new.rs\n/workspace/src/old.rs");
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "glob",
            json!({"pattern": "/workspace/src/*.rs"}),
        )
        .await;
    assert_eq!(ok_text(&r), "/workspace/src/new.rs\n/workspace/src/old.rs");
    let r = sb
        .exec("s1", &next_id(), "glob", json!({"pattern": "/etc/*"}))
        .await;
    assert!(err_text(&r).contains("must be relative"));
    let r = sb
        .exec("s1", &next_id(), "glob", json!({"pattern": "**/*.py"}))
        .await;
    assert_eq!(ok_text(&r), "no matches");
}

#[tokio::test]
async fn grep_prints_ripgrep_style_lines_or_no_matches() {
    let sb = sandbox().await;
    sb.setup("s1", json!({})).await;
    sb.exec(
        "s1",
        &next_id(),
        "write",
        json!({"file_path": "a.txt", "content": "alpha\nbeta\nalphabet\n"}),
    )
    .await;
    sb.exec(
        "s1",
        &next_id(),
        "write",
        json!({"file_path": "sub/b.txt", "content": "gamma alpha\n"}),
    )
    .await;
    let r = sb
        .exec("s1", &next_id(), "grep", json!({"pattern": "^alpha"}))
        .await;
    assert_eq!(
        ok_text(&r),
        "/workspace/a.txt:1:alpha\n/workspace/a.txt:3:alphabet"
    );
    let r = sb
        .exec(
            "s1",
            &next_id(),
            "grep",
            json!({"pattern": "alpha$", "path": "sub"}),
        )
        .await;
    assert_eq!(ok_text(&r), "/workspace/sub/b.txt:1:gamma alpha");
    let r = sb
        .exec("s1", &next_id(), "grep", json!({"pattern": "zeta"}))
        .await;
    assert_eq!(ok_text(&r), "no matches");
    let r = sb
        .exec("s1", &next_id(), "grep", json!({"pattern": "("}))
        .await;
    assert!(err_text(&r).contains("invalid regex"));
}
