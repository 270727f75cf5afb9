use super::*;

#[test]
fn valid_paths_pass_and_invalid_ones_name_the_rule() {
    for ok in [
        "/a",
        "/notes/today.md",
        "/a b/ü/x",
        &format!("/{}", "s/".repeat(19) + "s"),
    ] {
        assert_eq!(validate_path(ok, "path"), Ok(()), "{ok}");
    }
    let cases = [
        ("a/b", "must start with /"),
        ("/", "segments must not be empty"),
        ("/a/", "segments must not be empty"),
        ("/a//b", "segments must not be empty"),
        ("/a/./b", "segments must not be . or .."),
        ("/a/..", "segments must not be . or .."),
        ("/a\nb", "must not contain control"),
        ("/a\u{200B}b", "must not contain control"),
        ("/a\u{2028}b", "must not contain control"),
    ];
    for (path, message) in cases {
        let err = validate_path(path, "path").unwrap_err();
        assert_eq!(err.path, "path");
        assert!(err.message.starts_with(message), "{path:?}: {err}");
    }
    let deep = format!("/{}", ["s"; 21].join("/"));
    assert!(
        validate_path(&deep, "path")
            .unwrap_err()
            .message
            .contains("segments")
    );
    let long = format!("/{}", "x".repeat(MAX_PATH_BYTES));
    assert!(
        validate_path(&long, "path")
            .unwrap_err()
            .message
            .contains("bytes")
    );
}

#[test]
fn prefixes_end_with_a_slash() {
    assert_eq!(validate_prefix("/"), Ok(()));
    assert_eq!(validate_prefix("/notes/"), Ok(()));
    assert!(validate_prefix("/notes").is_err());
    assert!(validate_prefix("notes/").is_err());
    assert!(validate_prefix("/a//").is_err());
}

#[test]
fn content_limit_and_digest() {
    assert_eq!(validate_content(&"x".repeat(MAX_CONTENT_BYTES)), Ok(()));
    assert!(validate_content(&"x".repeat(MAX_CONTENT_BYTES + 1)).is_err());
    // Bytes, not characters.
    assert!(validate_content(&"é".repeat(MAX_CONTENT_BYTES / 2 + 1)).is_err());
    assert_eq!(
        content_sha256(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(validate_sha256(&content_sha256("x"), "s"), Ok(()));
    assert!(validate_sha256(&content_sha256("x").to_uppercase(), "s").is_err());
    assert!(validate_sha256("abc", "s").is_err());
}

#[test]
fn ancestors_and_conflicts_are_whole_segments() {
    assert_eq!(ancestors("/a/b/c"), ["/a", "/a/b"]);
    assert!(ancestors("/a").is_empty());
    assert!(paths_conflict("/a", "/a"));
    assert!(paths_conflict("/a", "/a/b"));
    assert!(paths_conflict("/a/b/c", "/a"));
    assert!(!paths_conflict("/a", "/ab"));
    assert!(!paths_conflict("/a/b", "/a/c"));
}

fn render(paths: &[&str], page: &ListPage) -> Vec<String> {
    page.items
        .iter()
        .map(|item| match item {
            ListItem::Memory(i) => paths[*i].to_owned(),
            ListItem::Prefix(dir) => format!("prefix {dir}"),
        })
        .collect()
}

#[test]
fn depth_rolls_deeper_memories_into_prefixes() {
    let paths = [
        "/a.md",
        "/b/c.md",
        "/b/d/e.md",
        "/b/d/f.md",
        "/b/g.md",
        "/z.md",
    ];
    let all = list_page(&paths, "/", 0, "", 100);
    assert_eq!(render(&paths, &all).len(), 6);
    assert_eq!(all.next, None);
    let top = list_page(&paths, "/", 1, "", 100);
    assert_eq!(render(&paths, &top), ["/a.md", "prefix /b/", "/z.md"]);
    let two = list_page(&paths, "/", 2, "", 100);
    assert_eq!(
        render(&paths, &two),
        ["/a.md", "/b/c.md", "prefix /b/d/", "/b/g.md", "/z.md"]
    );
    let under: Vec<&str> = paths[1..5].to_vec();
    let inside = list_page(&under, "/b/", 1, "", 100);
    assert_eq!(
        render(&under, &inside),
        ["/b/c.md", "prefix /b/d/", "/b/g.md"]
    );
}

#[test]
fn pages_resume_after_memories_and_prefixes() {
    let paths = [
        "/a.md",
        "/b/c.md",
        "/b/d/e.md",
        "/b/d/f.md",
        "/b/g.md",
        "/z.md",
    ];
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = list_page(&paths, "/", 2, &after, 2);
        seen.extend(render(&paths, &page));
        match page.next {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["/a.md", "/b/c.md", "prefix /b/d/", "/b/g.md", "/z.md"]
    );
    // A full last page has no cursor.
    let exact = list_page(&paths[..2], "/", 0, "", 2);
    assert_eq!(exact.next, None);
}

#[test]
fn store_names_and_descriptions_are_bounded() {
    assert_eq!(validate_store_name("Team notes"), Ok(()));
    assert!(validate_store_name("").is_err());
    assert!(validate_store_name(&"n".repeat(256)).is_err());
    assert!(validate_store_name("a\tb").is_err());
    assert_eq!(validate_store_description(""), Ok(()));
    assert!(validate_store_description(&"d".repeat(1025)).is_err());
}
