use openma_core::sandbox::TreeFile;

use super::*;
use crate::workspace::{Access, Mount};

fn ws(dir: &Path) -> Workspace {
    let base = Workspace::new(
        vec![Mount {
            virtual_root: "/workspace".into(),
            real_root: dir.join("w"),
            read_only: false,
            file: false,
        }],
        None,
    )
    .unwrap();
    base.with_mount(Mount {
        virtual_root: "/mnt/memory/notes".into(),
        real_root: dir.join("mem"),
        read_only: true,
        file: false,
    })
    .unwrap()
    .with_mount(Mount {
        virtual_root: "/mnt/session/uploads/file_1".into(),
        real_root: dir.join("up").join("file_1"),
        read_only: true,
        file: true,
    })
    .unwrap()
}

#[test]
fn the_platform_places_files_in_read_only_mounts_the_agent_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ws(dir.path());
    let entry = place(&ws, "/mnt/session/uploads/file_1", b"\x00\xffbytes").unwrap();
    assert_eq!(entry.size, 7);
    assert_eq!(
        entry.sha256.as_deref(),
        Some(sha256_hex(b"\x00\xffbytes").as_str())
    );
    assert_eq!(
        read(&ws, "/mnt/session/uploads/file_1").unwrap(),
        b"\x00\xffbytes"
    );
    assert!(matches!(
        ws.resolve("/mnt/session/uploads/file_1", Access::Write),
        Err(PathError::ReadOnly(_))
    ));
    // A file mount has nothing beneath it.
    assert!(place(&ws, "/mnt/session/uploads/file_1/x", b"").is_err());
    assert!(place(&ws, "/etc/passwd", b"").is_err());
}

#[test]
fn a_tree_replaces_the_directory_and_lists_with_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ws(dir.path());
    place(&ws, "/mnt/memory/notes/stale.md", b"old").unwrap();
    let listing = replace_tree(
        &ws,
        &TreeParams {
            root: "/mnt/memory/notes".into(),
            files: vec![
                TreeFile {
                    path: "/mnt/memory/notes/a.md".into(),
                    content: "alpha".into(),
                },
                TreeFile {
                    path: "/mnt/memory/notes/deep/b.md".into(),
                    content: "beta".into(),
                },
            ],
        },
    )
    .unwrap();
    let paths: Vec<&str> = listing.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/mnt/memory/notes/a.md", "/mnt/memory/notes/deep/b.md"]
    );
    assert_eq!(
        listing.files[0].sha256.as_deref(),
        Some(sha256_hex(b"alpha").as_str())
    );
    assert!(!dir.path().join("mem/stale.md").exists());
    // Nothing is left beside the swapped-in tree.
    let siblings: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(siblings.len(), 3, "{siblings:?}");

    for escape in [
        "/mnt/memory/notes/../x.md",
        "/mnt/memory/other/x.md",
        "/mnt/memory/notes/",
    ] {
        let err = replace_tree(
            &ws,
            &TreeParams {
                root: "/mnt/memory/notes".into(),
                files: vec![TreeFile {
                    path: escape.into(),
                    content: String::new(),
                }],
            },
        );
        assert!(
            matches!(err, Err(PathError::Outside { .. })),
            "{escape}: {err:?}"
        );
    }
    // The failed replacements left the tree alone.
    assert_eq!(
        list(&ws, "/mnt/memory/notes", false).unwrap().files.len(),
        2
    );
}

#[test]
fn fingerprints_change_with_any_write_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ws(dir.path());
    assert_eq!(fingerprint(&ws, "/workspace/missing"), "absent");
    let empty = fingerprint(&ws, "/workspace");
    assert_eq!(fingerprint(&ws, "/workspace"), empty);
    std::fs::write(dir.path().join("w/a.txt"), "1").unwrap();
    let one = fingerprint(&ws, "/workspace");
    assert_ne!(one, empty);
    assert_eq!(fingerprint(&ws, "/workspace"), one);
    std::fs::write(dir.path().join("w/a.txt"), "12").unwrap();
    assert_ne!(fingerprint(&ws, "/workspace"), one);
    let listing = list(&ws, "/workspace", false).unwrap();
    assert_eq!(listing.files.len(), 1);
    assert_eq!(listing.files[0].path, "/workspace/a.txt");
    assert_eq!(listing.files[0].size, 2);
    assert!(listing.files[0].sha256.is_none());
    assert!(
        list(&ws, "/workspace/none", false)
            .unwrap()
            .files
            .is_empty()
    );
}

#[test]
fn links_under_a_mount_are_refused_or_left_out_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ws(dir.path());
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), "secret").unwrap();
    let w = dir.path().join("w");
    std::fs::write(w.join("a.txt"), "mine").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), w.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&outside, w.join("dir-link")).unwrap();
    std::os::unix::fs::symlink(w.join("a.txt"), w.join("inner")).unwrap();
    nix::unistd::mkfifo(
        &w.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();

    let listing = list(&ws, "/workspace", true).unwrap();
    let paths: Vec<&str> = listing.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["/workspace/a.txt"]);
    assert_eq!(read(&ws, "/workspace/a.txt").unwrap(), b"mine");
    for linked in [
        "/workspace/link.txt",
        "/workspace/dir-link/secret",
        "/workspace/inner",
    ] {
        assert!(
            matches!(read(&ws, linked), Err(PathError::Outside { .. })),
            "{linked}"
        );
        assert!(
            matches!(list(&ws, linked, true), Err(PathError::Outside { .. })),
            "{linked}"
        );
        assert_eq!(fingerprint(&ws, linked), "absent", "{linked}");
    }
    // A FIFO is neither read (without blocking) nor listed.
    assert!(matches!(
        read(&ws, "/workspace/fifo"),
        Err(PathError::Io { .. })
    ));
    for written in ["/workspace/link.txt", "/workspace/dir-link/new"] {
        assert!(
            matches!(place(&ws, written, b"x"), Err(PathError::Outside { .. })),
            "{written}"
        );
    }
    let tree = TreeParams {
        root: "/workspace/dir-link".into(),
        files: vec![TreeFile {
            path: "/workspace/dir-link/x".into(),
            content: "x".into(),
        }],
    };
    assert!(matches!(
        replace_tree(&ws, &tree),
        Err(PathError::Outside { .. })
    ));
    let left: Vec<_> = std::fs::read_dir(&outside).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        std::fs::read_to_string(outside.join("secret")).unwrap(),
        "secret"
    );
}

#[test]
fn a_mount_parent_swapped_for_a_link_after_set_up_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ws(dir.path());
    place(&ws, "/mnt/session/uploads/file_1", b"upload").unwrap();
    place(&ws, "/mnt/memory/notes/a.md", b"note").unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    // The upload's directory and the store, swapped for links out.
    for swapped in ["up", "mem"] {
        let path = dir.path().join(swapped);
        std::fs::rename(&path, dir.path().join(format!("{swapped}.old"))).unwrap();
        std::os::unix::fs::symlink(&outside, &path).unwrap();
    }
    std::fs::write(outside.join("a.md"), "outside").unwrap();
    assert!(matches!(
        place(&ws, "/mnt/session/uploads/file_1", b"again"),
        Err(PathError::Outside { .. })
    ));
    assert!(matches!(
        read(&ws, "/mnt/memory/notes/a.md"),
        Err(PathError::Outside { .. })
    ));
    assert!(matches!(
        list(&ws, "/mnt/memory/notes", true),
        Err(PathError::Outside { .. })
    ));
    let tree = TreeParams {
        root: "/mnt/memory/notes".into(),
        files: vec![TreeFile {
            path: "/mnt/memory/notes/b.md".into(),
            content: "tenant".into(),
        }],
    };
    assert!(matches!(
        replace_tree(&ws, &tree),
        Err(PathError::Outside { .. })
    ));
    let mut left: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["a.md"]);
    assert_eq!(
        std::fs::read_to_string(outside.join("a.md")).unwrap(),
        "outside"
    );
}
