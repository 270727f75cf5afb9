use std::io::{Read as _, Write as _};
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use super::*;

/// A directory with `real/file.txt`, `real/sub/`, and links to them and
/// out of it, beside a directory `outside` holding `secret.txt`.
struct Fixture {
    _tmp: tempfile::TempDir,
    top: PathBuf,
    outside: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let top = tmp.path().join("top");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(top.join("real/sub")).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(top.join("real/file.txt"), "inside").unwrap();
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    symlink(top.join("real"), top.join("dir-link")).unwrap();
    symlink("real", top.join("relative-link")).unwrap();
    symlink(top.join("real/file.txt"), top.join("file-link")).unwrap();
    symlink(&outside, top.join("out-link")).unwrap();
    symlink("/proc/self", top.join("proc-link")).unwrap();
    Fixture {
        _tmp: tmp,
        top,
        outside,
    }
}

fn read_all(opened: Opened) -> String {
    let Opened::File(mut file, _) = opened else {
        panic!("not a file: {opened:?}");
    };
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text
}

type Open = fn(BorrowedFd<'_>, &Path, OFlag) -> io::Result<OwnedFd>;

/// Both ways of opening beneath a directory: `openat2`, and the walk used
/// where the kernel lacks it.
const WAYS: [(&str, Open); 2] = [("openat2", open_beneath), ("walk", walk_beneath)];

#[test]
fn a_link_anywhere_on_the_way_is_refused_and_plain_paths_open() {
    let f = fixture();
    let top = Dir::open_trusted(&f.top).unwrap();
    for (way, open) in WAYS {
        let at = top.fd.as_fd();
        let file = open(at, Path::new("real/file.txt"), OFlag::O_RDONLY).unwrap();
        let opened = Opened::File(
            File::from(file),
            Stat::from(nix::sys::stat::fstat(at).unwrap()),
        );
        assert_eq!(read_all(opened), "inside", "{way}");
        open(
            at,
            Path::new("real/sub"),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        )
        .unwrap();
        for linked in [
            "dir-link/file.txt",
            "relative-link/file.txt",
            "file-link",
            "out-link/secret.txt",
            "proc-link/environ",
            "dir-link",
            "out-link",
        ] {
            for flags in [OFlag::O_RDONLY, OFlag::O_RDONLY | OFlag::O_DIRECTORY] {
                let e = open(at, Path::new(linked), flags).unwrap_err();
                assert!(is_link_error(&e), "{way} {linked} {flags:?}: {e}");
            }
        }
        for bad in [
            "../outside/secret.txt",
            "real/../file-link",
            "/etc/passwd",
            "",
        ] {
            let e = open(at, Path::new(bad), OFlag::O_RDONLY).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{way} {bad}: {e}");
        }
        let e = open(at, Path::new("real/missing"), OFlag::O_RDONLY).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{way}");
    }
}

#[test]
fn open_tells_directories_files_and_others_apart_without_blocking_on_a_fifo() {
    let f = fixture();
    nix::unistd::mkfifo(&f.top.join("real/fifo"), Mode::from_bits_truncate(0o644)).unwrap();
    let top = Dir::open_trusted(&f.top).unwrap();
    assert!(matches!(
        top.open(Path::new("real/sub")),
        Ok(Opened::Dir(_))
    ));
    assert!(matches!(top.open(Path::new("")), Ok(Opened::Dir(_))));
    assert_eq!(
        read_all(top.open(Path::new("real/file.txt")).unwrap()),
        "inside"
    );
    let Ok(Opened::Other(stat)) = top.open(Path::new("real/fifo")) else {
        panic!("a FIFO is neither a file nor a directory");
    };
    assert_eq!(stat.kind, Kind::Other);
    assert!(is_link_error(
        &top.open(Path::new("file-link")).unwrap_err()
    ));
}

#[test]
fn an_open_directory_stays_put_when_its_path_is_swapped_for_a_link() {
    let f = fixture();
    let top = Dir::open_trusted(&f.top).unwrap();
    let held = top.open_dir(Path::new("real")).unwrap();
    // The agent moves the directory away and puts a link out in its place.
    std::fs::rename(f.top.join("real"), f.top.join("moved")).unwrap();
    symlink(&f.outside, f.top.join("real")).unwrap();
    let mut file = held
        .create_file(OsStr::new("new.txt"), Create::New)
        .unwrap();
    file.write_all(b"placed").unwrap();
    assert_eq!(
        std::fs::read_to_string(f.top.join("moved/new.txt")).unwrap(),
        "placed"
    );
    assert!(!f.outside.join("new.txt").exists());
    assert_eq!(
        read_all(held.open(Path::new("file.txt")).unwrap()),
        "inside"
    );
    // Reached again from the top, the link is refused.
    assert!(is_link_error(&top.open_dir(Path::new("real")).unwrap_err()));
    assert!(is_link_error(
        &top.open(Path::new("real/secret.txt")).unwrap_err()
    ));
}

#[test]
fn create_dirs_makes_what_is_missing_and_never_goes_through_a_link() {
    let f = fixture();
    let top = Dir::open_trusted(&f.top).unwrap();
    let mut made = 0;
    let deep = top
        .create_dirs(Path::new("a/b/c"), 0o755, &mut |_| {
            made += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(made, 3);
    deep.create_file(OsStr::new("x"), Create::New).unwrap();
    assert!(f.top.join("a/b/c/x").is_file());
    made = 0;
    top.create_dirs(Path::new("a/b/c"), 0o755, &mut |_| {
        made += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(made, 0);
    for through in ["out-link/new", "out-link", "dir-link/sub/new"] {
        let e = top
            .create_dirs(Path::new(through), 0o755, &mut |_| Ok(()))
            .unwrap_err();
        assert!(is_link_error(&e), "{through}: {e}");
    }
    assert!(!f.outside.join("new").exists() && !f.top.join("real/sub/new").exists());
    // The directory itself, for an empty path.
    top.create_dirs(Path::new(""), 0o755, &mut |_| panic!("nothing to make"))
        .unwrap();
}

#[test]
fn files_are_never_created_or_truncated_through_a_link() {
    let f = fixture();
    symlink(f.outside.join("planted.txt"), f.top.join("real/dangling")).unwrap();
    let real = Dir::open_trusted(&f.top)
        .unwrap()
        .open_dir(Path::new("real"))
        .unwrap();
    let top = Dir::open_trusted(&f.top).unwrap();
    for how in [Create::New, Create::Truncate] {
        assert!(real.create_file(OsStr::new("dangling"), how).is_err());
        assert!(top.create_file(OsStr::new("out-link"), how).is_err());
    }
    assert!(!f.outside.join("planted.txt").exists());
    assert_eq!(
        std::fs::read_to_string(f.outside.join("secret.txt")).unwrap(),
        "secret"
    );
    let mut file = real
        .create_file(OsStr::new("file.txt"), Create::Truncate)
        .unwrap();
    file.write_all(b"rewritten").unwrap();
    assert_eq!(
        std::fs::read_to_string(f.top.join("real/file.txt")).unwrap(),
        "rewritten"
    );
    assert!(
        real.create_file(OsStr::new("file.txt"), Create::New)
            .is_err()
    );
    for bad in ["a/b", "..", ".", ""] {
        let e = real.create_file(OsStr::new(bad), Create::New).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
    }
}

#[test]
fn entries_and_stat_describe_links_without_following_them() {
    let f = fixture();
    let top = Dir::open_trusted(&f.top)
        .unwrap()
        .open_dir(Path::new(""))
        .unwrap();
    let mut entries = top.entries().unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let seen: Vec<(&str, Kind)> = entries
        .iter()
        .map(|e| (e.name.to_str().unwrap(), e.kind))
        .collect();
    assert_eq!(
        seen,
        [
            ("dir-link", Kind::Link),
            ("file-link", Kind::Link),
            ("out-link", Kind::Link),
            ("proc-link", Kind::Link),
            ("real", Kind::Dir),
            ("relative-link", Kind::Link),
        ]
    );
    assert_eq!(
        top.stat(OsStr::new("file-link")).unwrap().map(|s| s.kind),
        Some(Kind::Link)
    );
    assert_eq!(top.stat(OsStr::new("missing")).unwrap(), None);
    let file = top.open_dir(Path::new("real")).unwrap();
    let stat = file.stat(OsStr::new("file.txt")).unwrap().unwrap();
    assert_eq!((stat.kind, stat.size), (Kind::File, 6));
    assert!(stat.modified.is_some());
}

#[test]
fn rename_and_remove_act_on_links_never_on_their_targets() {
    let f = fixture();
    let top = Dir::open_trusted(&f.top)
        .unwrap()
        .open_dir(Path::new(""))
        .unwrap();
    top.rename(OsStr::new("out-link"), &top, OsStr::new("moved-link"))
        .unwrap();
    assert!(
        std::fs::symlink_metadata(f.top.join("moved-link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A tree holding links out: the links go, what they point at stays.
    symlink(&f.outside, f.top.join("real/sub/out")).unwrap();
    top.remove_tree(OsStr::new("real")).unwrap();
    top.remove_tree(OsStr::new("moved-link")).unwrap();
    top.remove_tree(OsStr::new("proc-link")).unwrap();
    top.remove_tree(OsStr::new("never-there")).unwrap();
    assert!(!f.top.join("real").exists() && !f.top.join("moved-link").exists());
    assert_eq!(
        std::fs::read_to_string(f.outside.join("secret.txt")).unwrap(),
        "secret"
    );
    top.remove_file(OsStr::new("file-link")).unwrap();
    assert!(f.top.join("file-link").symlink_metadata().is_err());
}
