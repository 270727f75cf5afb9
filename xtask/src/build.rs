//! Builds the three workers to wasm with worker-build (skipping those whose
//! sources have not changed since their last build) and the sandbox server
//! natively.

use std::collections::BTreeSet;
use std::hash::Hasher;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use anyhow::Result;
use serde_json::Value;

use crate::paths;
use crate::proc;
use crate::setup::Tools;

/// One of the three workers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Worker {
    /// Short name: `main`, `agent`, `integrations`.
    pub(crate) name: &'static str,
    /// Cargo package.
    pub(crate) package: &'static str,
}

pub(crate) const WORKERS: [Worker; 3] = [
    Worker {
        name: "main",
        package: "openma-worker-main",
    },
    Worker {
        name: "agent",
        package: "openma-worker-agent",
    },
    Worker {
        name: "integrations",
        package: "openma-worker-integrations",
    },
];

impl Worker {
    /// The crate's directory.
    pub(crate) fn dir(self) -> PathBuf {
        paths::root()
            .join("crates")
            .join(format!("worker-{}", self.name))
    }

    /// worker-build's output: the module wrangler serves.
    pub(crate) fn entry(self) -> PathBuf {
        self.dir().join("build/index.js")
    }

    /// The wrangler config that deploys it.
    pub(crate) fn config(self) -> PathBuf {
        paths::root().join(format!("wrangler-{}.jsonc", self.name))
    }

    fn stamp(self) -> PathBuf {
        paths::stamps_dir().join(format!("worker-{}.stamp", self.name))
    }
}

/// Builds every worker whose inputs changed since its last build.
pub(crate) fn workers(tools: &Tools) -> Result<()> {
    let metadata = workspace_metadata()?;
    let mut stale = Vec::new();
    for worker in WORKERS {
        let fingerprint = fingerprint(worker, &metadata, tools)?;
        let current = std::fs::read_to_string(worker.stamp()).ok();
        if current.as_deref() == Some(fingerprint.as_str()) && worker.entry().exists() {
            continue;
        }
        stale.push((worker, fingerprint));
    }
    if stale.is_empty() {
        return Ok(());
    }
    // One cargo invocation for every stale worker lets cargo use both cores
    // across crates; worker-build's own cargo step then finds them fresh.
    let mut cargo = Command::new("cargo");
    cargo.current_dir(paths::root()).args([
        "build",
        "--lib",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
    ]);
    for (worker, _) in &stale {
        cargo.args(["-p", worker.package]);
    }
    proc::run(&mut cargo)?;
    for (worker, fingerprint) in stale {
        eprintln!("xtask: packaging worker {}", worker.name);
        proc::run(
            Command::new(&tools.worker_build)
                .arg("--release")
                .current_dir(worker.dir())
                .env("WASM_BINDGEN_BIN", &tools.wasm_bindgen)
                .env("WASM_OPT_BIN", &tools.wasm_opt)
                .env("ESBUILD_BIN", &tools.esbuild),
        )?;
        std::fs::create_dir_all(paths::stamps_dir())?;
        std::fs::write(worker.stamp(), fingerprint)?;
    }
    Ok(())
}

/// Builds the sandbox server (debug profile: it is native and quick to build)
/// and returns its path.
pub(crate) fn sandbox_server() -> Result<PathBuf> {
    proc::run(Command::new("cargo").current_dir(paths::root()).args([
        "build",
        "--quiet",
        "-p",
        "openma-sandbox",
    ]))?;
    Ok(sandbox_server_path())
}

/// Where the sandbox server binary is built.
pub(crate) fn sandbox_server_path() -> PathBuf {
    paths::target_dir().join("debug/openma-sandbox")
}

fn workspace_metadata() -> Result<Value> {
    let out = proc::output(Command::new("cargo").current_dir(paths::root()).args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]))
    .context("`cargo metadata` failed")?;
    Ok(serde_json::from_str(&out)?)
}

/// The directories of `package` and every workspace crate it depends on.
fn source_dirs(package: &str, metadata: &Value) -> BTreeSet<PathBuf> {
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let mut dirs = BTreeSet::new();
    let mut pending = vec![package.to_owned()];
    while let Some(name) = pending.pop() {
        let Some(pkg) = packages.iter().find(|p| p["name"] == name.as_str()) else {
            continue;
        };
        let Some(dir) = pkg["manifest_path"]
            .as_str()
            .and_then(|m| Path::new(m).parent())
        else {
            continue;
        };
        if !dirs.insert(dir.to_path_buf()) {
            continue;
        }
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            if let Some(dep_name) = dep["name"].as_str()
                && dep["path"].is_string()
                && dep["kind"].is_null()
            {
                pending.push(dep_name.to_owned());
            }
        }
    }
    dirs
}

/// A hash of everything that goes into a worker's wasm: its crate and the
/// workspace crates it depends on, the workspace manifests and lock file, and
/// the tool versions.
fn fingerprint(worker: Worker, metadata: &Value, tools: &Tools) -> Result<String> {
    let root = paths::root();
    let mut files = Vec::new();
    for dir in source_dirs(worker.package, metadata) {
        collect_files(&dir, &mut files)?;
    }
    for extra in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "package-lock.json",
    ] {
        files.push(root.join(extra));
    }
    files.sort();
    let mut hasher = std::hash::DefaultHasher::new();
    for file in &files {
        hasher.write(file.to_string_lossy().as_bytes());
        hasher.write(&std::fs::read(file).unwrap_or_default());
    }
    hasher.write(tools.worker_build.to_string_lossy().as_bytes());
    hasher.write(tools.wasm_bindgen.to_string_lossy().as_bytes());
    Ok(format!("{:016x}", hasher.finish()))
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if entry.file_type()?.is_dir() {
            if name != "build" && name != "target" && name != "node_modules" {
                collect_files(&path, files)?;
            }
        } else {
            files.push(path);
        }
    }
    Ok(())
}
