//! Links the agent swaps in under the platform's own file routes (root only:
//! the server is root, the agent's tools run as the sandbox user, as in the
//! container). Outputs and memory stores whose files and directories the
//! agent keeps exchanging with links to the server's own files, a tree the
//! agent tries to redirect while it is built, and mount roots and parents
//! replaced by links to directories outside the session: the platform never
//! gets the server's environment or token back, and never writes outside.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use openma_core::crypto::sha256_hex;
use serde_json::{Value, json};

use super::common::*;

/// The sandbox user the tools run as.
const SANDBOX_USER: (u32, u32) = (65534, 65534);

/// Exchanges pairs of paths (`renameat2(RENAME_EXCHANGE)`, so each name
/// always exists) as fast as it can, until told to stop, its control
/// directory disappears, or a minute has passed. Arguments come in threes,
/// `a b target`: `b` starts as a link to `target`, and when neither name is
/// a link any more (the platform replaced the tree holding it) `b` becomes
/// one again.
const FLIPPER: &str = r#"
import ctypes, os, shutil, sys, time
libc = ctypes.CDLL(None, use_errno=True)
ctl = sys.argv[1]
triples = [sys.argv[i:i + 3] for i in range(2, len(sys.argv), 3)]
me = os.path.splitext(sys.argv[0])[0]
deadline = time.monotonic() + 60
def replant(a, b, target):
    if os.path.islink(a) or os.path.islink(b):
        return
    if os.path.isdir(b):
        shutil.rmtree(b)
    elif os.path.lexists(b):
        os.unlink(b)
    os.symlink(target, b)
for a, b, target in triples:
    replant(a, b, target)
pairs = [(a.encode(), b.encode()) for a, b, _ in triples]
open(me + '.ready', 'w').close()
n = 0
while True:
    for a, b in pairs:
        libc.renameat2(-100, a, -100, b, 2)
    n += 1
    if n % 64 == 0:
        if os.path.exists(me + '.stop') or not os.path.isdir(ctl) or time.monotonic() > deadline:
            break
        for a, b, target in triples:
            try:
                replant(a, b, target)
            except OSError:
                pass
"#;

/// Watches a directory for entries named `prefix…` and plants the given
/// `name=target` links in each as soon as it appears, reporting each try.
const PLANTER: &str = r#"
import os, sys, time
ctl, parent, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
plants = [p.split('=', 1) for p in sys.argv[4:]]
me = os.path.splitext(sys.argv[0])[0]
deadline = time.monotonic() + 60
seen = set()
open(me + '.ready', 'w').close()
while time.monotonic() < deadline and os.path.isdir(ctl) and not os.path.exists(me + '.stop'):
    try:
        names = os.listdir(parent)
    except OSError:
        continue
    for n in names:
        if n.startswith(prefix) and n not in seen:
            seen.add(n)
            for name, target in plants:
                try:
                    os.symlink(target, os.path.join(parent, n, name))
                    result = 'planted'
                except OSError as e:
                    result = e.strerror
                with open(me + '.report', 'a') as f:
                    f.write(n + '/' + name + ': ' + result + '\n')
"#;

/// A root server whose tools run as the sandbox user, in a directory under
/// `/tmp` that user can enter.
async fn root_sandbox(tweak: impl FnOnce(&mut openma_sandbox::Config)) -> Sandbox {
    root_sandbox_in(enterable_dir(), tweak).await
}

/// A temp dir under `/tmp` (where mounts may be placed) the sandbox user
/// can enter.
fn enterable_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

/// What would show that the server handed back its own secrets: its token,
/// entries of its environment (this process's, the server being in it) and
/// the environment's digest.
struct Secrets {
    markers: Vec<String>,
}

impl Secrets {
    fn of_this_process() -> Self {
        let environ = std::fs::read("/proc/self/environ").unwrap();
        let mut markers: Vec<String> = environ
            .split(|b| *b == 0)
            .filter(|v| v.len() >= 6)
            .take(3)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        assert!(!markers.is_empty(), "the test process has an environment");
        markers.push(sha256_hex(&environ));
        markers.push(TOKEN.to_owned());
        Self { markers }
    }

    fn assert_absent(&self, what: &str, body: &Value) {
        let text = match body {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for m in &self.markers {
            assert!(
                !text.contains(m.as_str()),
                "{what} handed back the server's secrets: {text}"
            );
        }
    }
}

/// Runs a script of the agent's in the background, as the sandbox user,
/// with its control directory `ctl` and `args`; returns once it runs.
async fn agent_background(sb: &Sandbox, ctl: &Path, name: &str, script: &str, args: &[String]) {
    let me = ctl.join(name);
    let me = me.display();
    let cmd = format!(
        "cat > {me}.py <<'EOF'\n{script}\nEOF\n\
         nohup python3 {me}.py {ctl} {args} >{me}.log 2>&1 &\n\
         echo $! > {me}.pid\n\
         until [ -e {me}.ready ] || ! kill -0 $! 2>/dev/null; do :; done\n\
         kill -0 $! && id -u",
        ctl = ctl.display(),
        args = args.join(" ")
    );
    let out = ok_text(&sb.bash("s1", &cmd).await);
    assert_eq!(out, SANDBOX_USER.0.to_string(), "the agent's script runs");
}

/// The flipper's arguments: each pair of names, with the target of the link.
fn flipper_args(pairs: &[(PathBuf, PathBuf); 2], targets: [&str; 2]) -> Vec<String> {
    pairs
        .iter()
        .zip(targets)
        .flat_map(|((a, b), target)| {
            [
                a.display().to_string(),
                b.display().to_string(),
                target.to_owned(),
            ]
        })
        .collect()
}

/// Tells the agent's background script to stop and waits until it has.
async fn agent_stop(sb: &Sandbox, ctl: &Path, name: &str) {
    let me = ctl.join(name);
    let me = me.display();
    let cmd = format!(
        "touch {me}.stop; pid=$(cat {me}.pid); while kill -0 $pid 2>/dev/null; do :; done; echo stopped"
    );
    assert_eq!(ok_text(&sb.bash("s1", &cmd).await), "stopped");
}

async fn get(sb: &Sandbox, path: &str) -> (StatusCode, Value) {
    sb.call("GET", path, Some(TOKEN), None).await
}

async fn list(sb: &Sandbox, root: &str, hash: bool) -> (StatusCode, Value) {
    get(
        sb,
        &format!("/v1/sessions/s1/files?root={root}&hash={hash}"),
    )
    .await
}

async fn content(sb: &Sandbox, path: &str) -> (StatusCode, Value) {
    get(sb, &format!("/v1/sessions/s1/files/content?path={path}")).await
}

/// The fingerprint `execute` answers for `root`.
async fn fingerprint(sb: &Sandbox, root: &str) -> String {
    let body = json!({
        "session_id": "s1", "tool_use_id": next_id(), "name": "glob",
        "input": {"pattern": "no-such-file-*"}, "watch": [root],
    });
    let (status, body) = sb
        .call("POST", "/v1/tools/execute", Some(TOKEN), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["watched"][root].as_str().unwrap().to_owned()
}

async fn place(sb: &Sandbox, path: &str) -> (StatusCode, Value) {
    sb.call(
        "PUT",
        &format!("/v1/sessions/s1/files?path={path}"),
        Some(TOKEN),
        Some(json!("tenant data")),
    )
    .await
}

async fn tree(sb: &Sandbox, root: &str, files: &[(String, String)]) -> (StatusCode, Value) {
    let files: Vec<Value> = files
        .iter()
        .map(|(path, content)| json!({"path": path, "content": content}))
        .collect();
    sb.call(
        "POST",
        "/v1/sessions/s1/tree",
        Some(TOKEN),
        Some(json!({"root": root, "files": files})),
    )
    .await
}

/// Asserts a listing answered and holds only the agent's own files, each
/// with the size (and digest) of what was written.
fn assert_listing(what: &str, status: StatusCode, listing: &Value, legit: &[(String, String)]) {
    assert_eq!(status, StatusCode::OK, "{what}: {listing}");
    for f in listing["files"].as_array().unwrap() {
        let path = f["path"].as_str().unwrap();
        let Some((_, expected)) = legit.iter().find(|(p, _)| p == path) else {
            panic!("{what} lists `{path}`, which the agent never wrote: {listing}");
        };
        assert_eq!(f["size"], expected.len(), "{what}: {listing}");
        if let Some(sha) = f.get("sha256") {
            assert_eq!(
                sha.as_str(),
                Some(sha256_hex(expected.as_bytes()).as_str()),
                "{what}: {listing}"
            );
        }
    }
}

/// Asserts a content read answered the file as written, or refused.
fn assert_content(what: &str, status: StatusCode, body: &Value, expected: &str) {
    match status {
        StatusCode::OK => assert_eq!(body, &Value::String(expected.to_owned()), "{what}"),
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => {}
        other => panic!("{what}: {other} {body}"),
    }
}

fn exchange(a: &Path, b: &Path) {
    nix::fcntl::renameat2(
        nix::fcntl::AT_FDCWD,
        a,
        nix::fcntl::AT_FDCWD,
        b,
        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
    )
    .unwrap();
}

fn is_link(path: &Path) -> bool {
    path.symlink_metadata().unwrap().file_type().is_symlink()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and python3; `cargo xtask test` runs it when it runs as root"]
async fn outputs_the_agent_keeps_swapping_for_links_never_reach_the_servers_files() {
    let secrets = Secrets::of_this_process();
    let sb = root_sandbox(|_| {}).await;
    sb.setup("s1", json!({})).await;
    let ws = sb.workspace("s1");
    let outputs = sb.dir.path().join("state/sessions/s1/outputs");
    let o = outputs.display();
    // The agent writes an output and a directory of outputs, then keeps
    // exchanging them with links to the server's environment.
    let harmless = "harmless output\n";
    ok_text(
        &sb.bash(
            "s1",
            &format!(
                "printf '{harmless}' > {o}/report.txt && mkdir {o}/sub && printf '{harmless}' > {o}/sub/environ"
            ),
        )
        .await,
    );
    let root = "/mnt/session/outputs";
    let legit = vec![
        (format!("{root}/report.txt"), harmless.to_owned()),
        (format!("{root}/sub/environ"), harmless.to_owned()),
    ];
    let (status, listing) = list(&sb, root, true).await;
    assert_listing("the first listing", status, &listing, &legit);
    assert_eq!(listing["files"].as_array().unwrap().len(), 2, "{listing}");

    let pairs = [
        (outputs.join("report.txt"), ws.join("report.link")),
        (outputs.join("sub"), ws.join("sub.link")),
    ];
    let args = flipper_args(&pairs, ["/proc/self/environ", "/proc/self"]);
    agent_background(&sb, &ws, "flip", FLIPPER, &args).await;
    let mut prints = std::collections::BTreeSet::new();
    for round in 0..400 {
        for hash in [true, false] {
            let (status, listing) = list(&sb, root, hash).await;
            secrets.assert_absent("the listing", &listing);
            assert_listing("a listing", status, &listing, &legit);
        }
        for (path, expected) in &legit {
            let (status, body) = content(&sb, path).await;
            secrets.assert_absent("a content read", &body);
            assert_content(path, status, &body, expected);
        }
        if round % 8 == 0 {
            prints.insert(fingerprint(&sb, root).await);
        }
    }
    agent_stop(&sb, &ws, "flip").await;

    // Every fingerprint seen is one of the four states the agent flipped
    // between: no state with the server's files in it.
    let mut states = std::collections::BTreeSet::new();
    for step in [None, Some(0), Some(1), Some(0)] {
        if let Some(i) = step {
            exchange(&pairs[i].0, &pairs[i].1);
        }
        states.insert(fingerprint(&sb, root).await);
    }
    assert_eq!(states.len(), 4, "{states:?}");
    assert!(prints.is_subset(&states), "{prints:?} not in {states:?}");
    // Whatever state it stopped in, the real files are what they were.
    for (a, b) in &pairs {
        if is_link(a) {
            exchange(a, b);
        }
    }
    let (status, listing) = list(&sb, root, true).await;
    assert_listing("the last listing", status, &listing, &legit);
    assert_eq!(listing["files"].as_array().unwrap().len(), 2, "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and python3; `cargo xtask test` runs it when it runs as root"]
async fn a_memory_store_the_agent_keeps_swapping_for_links_never_reaches_the_servers_files() {
    let secrets = Secrets::of_this_process();
    let sb = root_sandbox(|_| {}).await;
    let root = "/mnt/memory/notes";
    sb.setup(
        "s1",
        json!({"mounts": [{"path": root, "kind": "directory", "read_only": false}]}),
    )
    .await;
    let ws = sb.workspace("s1");
    let store = sb
        .dir
        .path()
        .join("state/sessions/s1/mounts/mnt/memory/notes");
    // A server-readable secret the sandbox user cannot read.
    let secret = sb.dir.path().join("secret.txt");
    std::fs::write(&secret, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&secret, PermissionsExt::from_mode(0o600)).unwrap();

    let legit = vec![
        (format!("{root}/prefs.md"), "likes tea\n".to_owned()),
        (format!("{root}/ideas/environ"), "ship it\n".to_owned()),
    ];
    let (status, listing) = tree(&sb, root, &legit).await;
    assert_listing("the tree", status, &listing, &legit);
    assert_eq!(listing["files"].as_array().unwrap().len(), 2, "{listing}");
    // The store's parents are the server's: the agent cannot put a link in
    // the store's place.
    let parent = store.parent().unwrap();
    let replaced = sb
        .bash(
            "s1",
            &format!(
                "cd {} && ln -s /proc/self notes.new && mv -T notes.new notes",
                parent.display()
            ),
        )
        .await;
    assert!(
        err_text(&replaced).contains("Permission denied"),
        "{replaced:?}"
    );
    for dir in [parent, parent.parent().unwrap()] {
        let meta = std::fs::metadata(dir).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o022), (0, 0), "{dir:?}");
    }
    let pairs = [
        (store.join("prefs.md"), ws.join("prefs.link")),
        (store.join("ideas"), ws.join("ideas.link")),
    ];
    let secret_path = secret.display().to_string();
    let args = flipper_args(&pairs, [secret_path.as_str(), "/proc/self"]);
    agent_background(&sb, &ws, "flip", FLIPPER, &args).await;
    for round in 0..400 {
        let (status, listing) = list(&sb, root, true).await;
        secrets.assert_absent("the listing", &listing);
        assert_listing("a listing", status, &listing, &legit);
        for (path, expected) in &legit {
            let (status, body) = content(&sb, path).await;
            secrets.assert_absent("a content read", &body);
            assert_content(path, status, &body, expected);
        }
        if round % 8 == 0 {
            let print = fingerprint(&sb, root).await;
            assert_ne!(print, "unreadable");
        }
        if round % 40 == 20 {
            // The platform puts the store back as it knows it.
            let (status, listing) = tree(&sb, root, &legit).await;
            secrets.assert_absent("the tree's listing", &listing);
            assert_listing("a tree", status, &listing, &legit);
        }
    }
    agent_stop(&sb, &ws, "flip").await;
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        format!("{TOKEN}\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root and python3; `cargo xtask test` runs it when it runs as root"]
async fn a_store_tree_being_built_cannot_be_redirected_by_the_agent() {
    let sb = root_sandbox(|_| {}).await;
    let root = "/mnt/memory/notes";
    sb.setup(
        "s1",
        json!({"mounts": [{"path": root, "kind": "directory", "read_only": false}]}),
    )
    .await;
    let ws = sb.workspace("s1");
    let parent = sb.dir.path().join("state/sessions/s1/mounts/mnt/memory");
    // Stands in for /etc: the server may write there, the agent may not.
    let outside = sb.dir.path().join("etc");
    std::fs::create_dir(&outside).unwrap();
    // The agent watches for the tree being built beside the store and plants
    // links in it: a directory and a file the build will write into.
    let args = vec![
        parent.display().to_string(),
        ".notes.new-".to_owned(),
        format!("zzz={}", outside.display()),
        format!("late.md={}/late.md", outside.display()),
    ];
    agent_background(&sb, &ws, "plant", PLANTER, &args).await;
    let mut files: Vec<(String, String)> = (0..6000)
        .map(|i| (format!("{root}/bulk/{i:04}.md"), format!("memory {i}\n")))
        .collect();
    files.push((format!("{root}/late.md"), "late\n".to_owned()));
    files.push((format!("{root}/zzz/pwn.md"), "tenant text\n".to_owned()));
    let (status, listing) = tree(&sb, root, &files).await;
    agent_stop(&sb, &ws, "plant").await;
    let report = std::fs::read_to_string(ws.join("plant.report")).unwrap_or_default();
    let escaped: Vec<PathBuf> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        escaped.is_empty(),
        "the tree wrote outside the session: {escaped:?} (agent: {report})"
    );
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert_listing("the tree", status, &listing, &files);
    assert_eq!(
        listing["files"].as_array().unwrap().len(),
        files.len(),
        "agent: {report}"
    );
    let store = parent.join("notes");
    assert!(!is_link(&store.join("zzz")) && !is_link(&store.join("late.md")));
    assert_eq!(
        std::fs::read_to_string(store.join("zzz/pwn.md")).unwrap(),
        "tenant text\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root; `cargo xtask test` runs it when it runs as root"]
async fn mount_roots_and_parents_the_agent_replaces_with_links_are_not_followed() {
    let secrets = Secrets::of_this_process();
    // One session's container: its workspace is the agent's, and mounts may
    // be placed under it (a file at `/workspace/data/a.csv`).
    let dir = enterable_dir();
    let ws = dir.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    // Stands in for /etc: the server may write there, the agent may not.
    let outside = dir.path().join("etc");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "system file\n").unwrap();
    let ws_c = ws.clone();
    let sb = root_sandbox_in(dir, move |c| c.workspace = Some(ws_c)).await;
    let w = ws.display();
    let file = format!("{w}/data/a.csv");
    let (ro, rw) = (format!("{w}/stores/ro"), format!("{w}/stores/rw"));
    let mounts = json!({"mounts": [
        {"path": file, "kind": "file", "read_only": true},
        {"path": ro, "kind": "directory", "read_only": true},
        {"path": rw, "kind": "directory", "read_only": false},
    ]});
    sb.setup("s1", mounts.clone()).await;
    let (status, body) = place(&sb, &file).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ro_files = vec![(format!("{ro}/environ"), "read only\n".to_owned())];
    let rw_files = vec![(format!("{rw}/b.md"), "writable\n".to_owned())];
    assert_eq!(tree(&sb, &ro, &ro_files).await.0, StatusCode::OK);
    assert_eq!(tree(&sb, &rw, &rw_files).await.0, StatusCode::OK);

    // The agent replaces the file's directory and the stores' directory by
    // links: to the stand-in for /etc, and to the server's /proc entry.
    let o = outside.display();
    let swapped = sb
        .bash(
            "s1",
            &format!(
                "cd {w} && mv data data.old && ln -s {o} data && mv stores stores.old && mkdir stores \
                 && ln -s /proc/self stores/ro && ln -s {o} stores/rw && id -u"
            ),
        )
        .await;
    assert_eq!(ok_text(&swapped), SANDBOX_USER.0.to_string());

    // The next set-up, and what the platform does after it.
    let (status, body) = sb
        .call("PUT", "/v1/sessions/s1", Some(TOKEN), Some(mounts))
        .await;
    secrets.assert_absent("the set-up", &body);
    assert!(
        status == StatusCode::OK || status == StatusCode::INTERNAL_SERVER_ERROR,
        "{status} {body}"
    );
    let (status, body) = place(&sb, &file).await;
    secrets.assert_absent("placing the file", &body);
    assert_ne!(status, StatusCode::OK, "{body}");
    let (_, body) = tree(&sb, &rw, &rw_files).await;
    secrets.assert_absent("the writable store's tree", &body);
    for hash in [true, false] {
        for root in [&ro, &rw] {
            let (_, body) = list(&sb, root, hash).await;
            secrets.assert_absent("a listing", &body);
        }
    }
    for path in [format!("{ro}/environ"), format!("{rw}/b.md"), file.clone()] {
        let (status, body) = content(&sb, &path).await;
        secrets.assert_absent("a content read", &body);
        assert_ne!(status, StatusCode::OK, "{path}: {body}");
    }
    assert_ne!(fingerprint(&sb, &ro).await, "");

    // The stand-in for /etc is as it was.
    let entries: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["keep.txt"]);
    assert_eq!(
        std::fs::read_to_string(outside.join("keep.txt")).unwrap(),
        "system file\n"
    );
    let meta = std::fs::metadata(&outside).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o755));
}

/// Like [`root_sandbox`], in a directory prepared by the caller.
async fn root_sandbox_in(
    dir: tempfile::TempDir,
    tweak: impl FnOnce(&mut openma_sandbox::Config),
) -> Sandbox {
    assert!(
        nix::unistd::geteuid().is_root(),
        "--sandbox-user needs a root server"
    );
    start_in(dir, |c| {
        c.sandbox_user = Some(SANDBOX_USER);
        tweak(c);
    })
    .await
}
