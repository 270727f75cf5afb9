//! `cargo xtask test`: everything CI runs, in the order that fails fastest:
//! formatting, lints (native and wasm), the build, every test (unit and
//! end-to-end), and the deploy dry-runs.

use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::build;
use crate::deploy;
use crate::paths;
use crate::proc;
use crate::python;
use crate::setup;

/// The crates that must also compile for `wasm32-unknown-unknown`.
const WASM_CRATES: [&str; 5] = [
    "openma-core",
    "openma-cloudflare",
    "openma-worker-main",
    "openma-worker-agent",
    "openma-worker-integrations",
];

pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    let tools = setup::ensure()?;
    let python = python::ensure()?;
    step("format", || {
        proc::run(cargo().args(["fmt", "--all", "--check"]))
    })?;
    step("clippy (native)", || {
        proc::run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("clippy (wasm32)", || {
        let mut cmd = cargo();
        cmd.args(["clippy", "--target", "wasm32-unknown-unknown"]);
        for krate in WASM_CRATES {
            cmd.args(["-p", krate]);
        }
        proc::run(cmd.args(["--", "-D", "warnings"]))
    })?;
    step("build", || {
        build::workers(&tools)?;
        build::sandbox_server().map(|_| ())
    })?;
    step("tests (unit and end-to-end)", || {
        let xtask = std::env::current_exe()?;
        let mut cmd = cargo();
        cmd.args(["test", "--workspace", "--all-features", "--no-fail-fast"])
            .env("OMA_XTASK_BIN", xtask)
            .env("OMA_PYTHON", &python);
        // Tests that need root (network namespaces, dropping to the sandbox
        // user) are #[ignore]d, so that elsewhere they show as ignored rather
        // than passing vacuously; as root they run.
        if setup::running_as_root() {
            cmd.args(["--", "--include-ignored"]);
        }
        proc::run(&mut cmd)
    })?;
    step("deploy dry-runs", || deploy::check(&tools))?;
    eprintln!("xtask: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

fn cargo() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(paths::root());
    cmd
}

fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let started = Instant::now();
    eprintln!("xtask: == {name}");
    let outcome = f();
    eprintln!(
        "xtask: == {name}: {} in {:.1?}",
        if outcome.is_ok() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    outcome
}
