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

#[test]
fn set_up_never_follows_a_link_to_a_mount_or_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("up")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("store")).unwrap();
    let ws = ws(dir.path());
    let file = Mount {
        virtual_root: "/mnt/session/uploads/file_1".into(),
        real_root: dir.path().join("up/file_1"),
        read_only: true,
        file: true,
    };
    let store = Mount {
        virtual_root: "/mnt/memory/notes".into(),
        real_root: dir.path().join("store"),
        read_only: false,
        file: false,
    };
    let nested = Mount {
        real_root: dir.path().join("up/deeper/notes"),
        ..store.clone()
    };
    for mount in [file, store, nested] {
        let err = ws.with_mount(mount.clone()).unwrap_err();
        assert!(
            err.to_string().contains("symbolic link"),
            "{mount:?}: {err}"
        );
    }
    // A fixed mount in place of a link is refused too.
    let err = Workspace::new(
        vec![Mount {
            virtual_root: "/workspace".into(),
            real_root: dir.path().join("up"),
            read_only: false,
            file: false,
        }],
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn locate_maps_platform_paths_onto_mounts_without_refusing_read_only_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ws(dir.path())
        .with_mount(Mount {
            virtual_root: "/mnt/session/uploads/file_1".into(),
            real_root: dir.path().join("up/file_1"),
            read_only: true,
            file: true,
        })
        .unwrap();
    let real = dir.path().canonicalize().unwrap();
    let notes = ws.locate("/mnt/memory/a/b.md").unwrap();
    assert_eq!(notes.display, "/mnt/memory/a/b.md");
    assert_eq!(notes.real, real.join("m/a/b.md"));
    assert_eq!(notes.inside(), Path::new("a/b.md"));
    assert!(notes.read_only && !notes.file);
    let file = ws.locate("/mnt/session/uploads/file_1").unwrap();
    assert_eq!(file.inside(), Path::new("file_1"));
    assert!(file.file);
    assert!(file.open_root(false).is_ok());
    for p in [
        "/mnt/session/uploads/file_1/x",
        "/etc/passwd",
        "/workspace/../x",
    ] {
        assert!(
            matches!(ws.locate(p), Err(PathError::Outside { .. })),
            "{p}"
        );
    }
}

#[test]
#[ignore = "needs root (hands directories to another user); `cargo xtask test` runs it when it runs as root"]
fn the_memory_directory_is_the_servers_once_it_holds_stores() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let user = (65534, 65534);
    let ws = Workspace::new(
        vec![
            Mount {
                virtual_root: "/workspace".into(),
                real_root: dir.path().join("ws"),
                read_only: false,
                file: false,
            },
            Mount {
                virtual_root: MEMORY_DIR.into(),
                real_root: dir.path().join("mnt/memory"),
                read_only: false,
                file: false,
            },
        ],
        Some(user),
    )
    .unwrap();
    let owner = |p: &str| {
        let meta = std::fs::metadata(dir.path().join(p)).unwrap();
        (meta.uid(), meta.mode() & 0o777)
    };
    assert_eq!(owner("ws"), (user.0, 0o755));
    ws.with_mount(Mount {
        virtual_root: "/mnt/memory/notes".into(),
        real_root: dir.path().join("mnt/memory/notes"),
        read_only: false,
        file: false,
    })
    .unwrap();
    assert_eq!(owner("mnt/memory"), (0, 0o755));
    assert_eq!(owner("mnt/memory/notes"), (user.0, 0o755));
}
