use super::*;

fn ws(dir: &Path) -> Workspace {
    Workspace::new(
        vec![
            Mount {
                virtual_root: "/workspace".into(),
                real_root: dir.join("w"),
                read_only: false,
                file: false,
            },
            Mount {
                virtual_root: "/mnt/memory".into(),
                real_root: dir.join("m"),
                read_only: true,
                file: false,
            },
        ],
        None,
    )
    .unwrap()
}

#[test]
fn virtual_relative_and_real_paths_map_into_the_mount() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ws(dir.path());
    let root = dir.path().join("w").canonicalize().unwrap();
    let a = ws.resolve("/workspace/a/b.txt", Access::Write).unwrap();
    assert_eq!(a.real, root.join("a/b.txt"));
    assert_eq!(a.display, "/workspace/a/b.txt");
    let b = ws.resolve("a/./c/../b.txt", Access::Write).unwrap();
    assert_eq!(b.real, root.join("a/b.txt"));
    let c = ws
        .resolve(&root.join("x").to_string_lossy(), Access::Write)
        .unwrap();
    assert_eq!(c.display, "/workspace/x");
    assert_eq!(ws.display(&root.join("q")).as_deref(), Some("/workspace/q"));
}

#[test]
fn escapes_are_refused_and_read_only_mounts_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ws(dir.path());
    for p in [
        "/..",
        "../x",
        "/workspace/../x",
        "/etc/passwd",
        "/workspacex/y",
        "/mnt",
    ] {
        assert!(
            matches!(ws.resolve(p, Access::Write), Err(PathError::Outside { .. })),
            "{p}"
        );
    }
    assert!(matches!(
        ws.resolve("/mnt/memory/notes.md", Access::Write),
        Err(PathError::ReadOnly(_))
    ));
    assert!(matches!(
        ws.resolve("/workspace/missing", Access::Read),
        Err(PathError::NotFound(_))
    ));
}

#[test]
fn symlinks_are_checked_where_they_point() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ws(dir.path());
    let root = dir.path().join("w");
    std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
    std::os::unix::fs::symlink(root.join("real"), root.join("inner")).unwrap();
    std::fs::create_dir(root.join("real")).unwrap();
    assert!(matches!(
        ws.resolve("up/secret", Access::Write),
        Err(PathError::Outside { .. })
    ));
    assert!(matches!(
        ws.resolve("up", Access::Read),
        Err(PathError::Outside { .. })
    ));
    let inner = ws.resolve("inner/file", Access::Write).unwrap();
    assert_eq!(inner.real, root.canonicalize().unwrap().join("real/file"));
}
