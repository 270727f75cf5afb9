//! Installs what the build needs, idempotently: the wasm target, worker-build,
//! wasm-bindgen-cli (pinned to the library version in Cargo.lock) and the npm
//! packages (wrangler, binaryen) from the committed lock file; and Debian's
//! bubblewrap, which confines the local sandbox's shells, and jq, which the
//! end-to-end suite uses (from apt when run as root, else named with their
//! install command).

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;

use crate::paths;
use crate::proc;

pub(crate) const WORKER_BUILD_VERSION: &str = "0.8.7";
pub(crate) const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// Absolute paths of the tools the build and the local platform run.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    pub(crate) worker_build: PathBuf,
    pub(crate) wasm_bindgen: PathBuf,
    pub(crate) wasm_opt: PathBuf,
    pub(crate) esbuild: PathBuf,
    /// `node_modules/wrangler/bin/wrangler.js`, run with `node`.
    pub(crate) wrangler: PathBuf,
}

/// Installs whatever is missing and returns the tools' paths.
pub(crate) fn ensure() -> Result<Tools> {
    ensure_wasm_target()?;
    let worker_build = ensure_cargo_tool(
        "worker-build",
        WORKER_BUILD_VERSION,
        &[
            "install",
            "--locked",
            "worker-build",
            "--version",
            WORKER_BUILD_VERSION,
        ],
    )?;
    // Not --locked: one dependency pinned in wasm-bindgen-cli's own lock file
    // has been yanked from crates.io.
    let wasm_bindgen = ensure_cargo_tool(
        "wasm-bindgen",
        WASM_BINDGEN_VERSION,
        &[
            "install",
            "wasm-bindgen-cli",
            "--version",
            WASM_BINDGEN_VERSION,
        ],
    )?;
    ensure_npm_packages()?;
    ensure_debian_tools()?;
    let bin = paths::root().join("node_modules/.bin");
    Ok(Tools {
        worker_build,
        wasm_bindgen,
        wasm_opt: bin.join("wasm-opt"),
        esbuild: bin.join("esbuild"),
        wrangler: paths::root().join("node_modules/wrangler/bin/wrangler.js"),
    })
}

/// Returns the tools' paths without installing anything; fails if one is
/// missing.
pub(crate) fn installed() -> Result<Tools> {
    let tools = Tools {
        worker_build: find_cargo_tool("worker-build", WORKER_BUILD_VERSION)
            .context("worker-build is not installed: run `cargo xtask setup`")?,
        wasm_bindgen: find_cargo_tool("wasm-bindgen", WASM_BINDGEN_VERSION)
            .context("wasm-bindgen is not installed: run `cargo xtask setup`")?,
        wasm_opt: paths::root().join("node_modules/.bin/wasm-opt"),
        esbuild: paths::root().join("node_modules/.bin/esbuild"),
        wrangler: paths::root().join("node_modules/wrangler/bin/wrangler.js"),
    };
    if !tools.wrangler.exists() {
        bail!("wrangler is not installed: run `cargo xtask setup`");
    }
    Ok(tools)
}

fn ensure_wasm_target() -> Result<()> {
    let installed = proc::output(Command::new("rustup").args(["target", "list", "--installed"]))
        .unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    eprintln!("xtask: installing the wasm32-unknown-unknown target");
    proc::run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// Where `cargo install` puts binaries.
fn cargo_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

fn find_cargo_tool(name: &str, version: &str) -> Option<PathBuf> {
    let path = cargo_bin_dir().join(name);
    let reported = proc::output(Command::new(&path).arg("--version"))?;
    reported.contains(version).then_some(path)
}

fn ensure_cargo_tool(name: &str, version: &str, install: &[&str]) -> Result<PathBuf> {
    if let Some(path) = find_cargo_tool(name, version) {
        return Ok(path);
    }
    eprintln!("xtask: installing {name} {version} (a few minutes, once)");
    proc::run(Command::new("cargo").args(install))?;
    find_cargo_tool(name, version)
        .with_context(|| format!("{name} {version} is still missing after `cargo install`"))
}

fn ensure_npm_packages() -> Result<()> {
    let root = paths::root();
    let lock = root.join("package-lock.json");
    let installed = root.join("node_modules/.package-lock.json");
    let fresh = match (modified(&lock), modified(&installed)) {
        (Some(lock), Some(installed)) => installed >= lock,
        _ => false,
    };
    if fresh && root.join("node_modules/wrangler/bin/wrangler.js").exists() {
        return Ok(());
    }
    eprintln!("xtask: installing npm packages (npm ci)");
    proc::run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&root),
    )
}

/// How to install bubblewrap, for messages.
pub(crate) const BUBBLEWRAP_INSTALL: &str = "sudo apt-get install bubblewrap";

/// Debian's tools the local platform and its tests use: `(program, package,
/// what for)`.
const DEBIAN_TOOLS: [(&str, &str, &str); 2] = [
    (
        "bwrap",
        "bubblewrap",
        "the local sandbox needs it to confine shells",
    ),
    (
        "jq",
        "jq",
        "the end-to-end suite runs the self-hosting guide's smoke test, which uses it, as printed",
    ),
];

/// `program` on `PATH`, if installed.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The `bwrap` executable on `PATH`, if bubblewrap is installed.
pub(crate) fn bubblewrap() -> Option<PathBuf> {
    on_path("bwrap")
}

/// Whether this process runs as root.
pub(crate) fn running_as_root() -> bool {
    proc::output(Command::new("id").arg("-u")).as_deref() == Some("0")
}

/// Installs the missing [`DEBIAN_TOOLS`] with apt-get when this runs as root
/// (a fresh CI machine); otherwise says how to install them. The local
/// platform refuses to run tools without bubblewrap (`cargo xtask dev` says
/// so), but building and deploying need neither.
fn ensure_debian_tools() -> Result<()> {
    let missing: Vec<(&str, &str, &str)> = DEBIAN_TOOLS
        .into_iter()
        .filter(|(program, _, _)| on_path(program).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|(_, package, _)| *package).collect();
    if !running_as_root() || proc::output(Command::new("apt-get").arg("--version")).is_none() {
        for (program, package, why) in &missing {
            eprintln!("xtask: {program} is missing; {why}: `sudo apt-get install {package}`");
        }
        return Ok(());
    }
    eprintln!("xtask: installing {} (apt-get)", packages.join(", "));
    let install = || {
        proc::run(
            Command::new("apt-get")
                .args(["install", "-y", "--no-install-recommends"])
                .args(&packages)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    // A fresh machine's package lists may be missing or stale.
    if install().is_err() {
        proc::run(
            Command::new("apt-get")
                .arg("update")
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
        install()?;
    }
    if let Some((program, package, _)) = missing.iter().find(|(p, _, _)| on_path(p).is_none()) {
        bail!("{program} is still missing after `apt-get install {package}`");
    }
    Ok(())
}

fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
