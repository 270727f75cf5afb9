//! Running the official Python SDK (`anthropic`, pinned in
//! `tests/python/requirements.txt`) against a [`Platform`]: scripts in
//! `tests/python/` run with the virtualenv that `cargo xtask setup` (or
//! `test`) creates in `target/py`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use anyhow::Result;
use anyhow::bail;

use crate::Platform;

/// The virtualenv's interpreter: `OMA_PYTHON`, else `py/bin/python` in the
/// target directory.
/// A missing virtualenv is an error, never a skip.
pub fn interpreter() -> Result<PathBuf> {
    let path = match std::env::var_os("OMA_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
            .join("py/bin/python"),
    };
    if !path.exists() {
        bail!(
            "the Python SDK virtualenv is missing ({}): run `cargo xtask setup` first",
            path.display()
        );
    }
    Ok(path)
}

/// Runs `tests/python/<script>` with `ANTHROPIC_BASE_URL` set to the
/// platform and `ANTHROPIC_API_KEY` to `api_key`, passing `args`; returns
/// its standard output. A non-zero exit is an error carrying its stderr.
pub fn run_script(
    platform: &Platform,
    api_key: &str,
    script: &str,
    args: &[&str],
) -> Result<String> {
    let python = interpreter()?;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let output = Command::new(&python)
        .arg(&path)
        .args(args)
        .env("ANTHROPIC_BASE_URL", platform.base_url())
        .env("ANTHROPIC_API_KEY", api_key)
        .env_remove("ANTHROPIC_AUTH_TOKEN")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .with_context(|| format!("running {} {}", python.display(), path.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "{script} failed with {}\n--- stderr ---\n{}\n--- stdout ---\n{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(stdout)
}

/// The last line of `stdout` that is a JSON object: the summary a script in
/// `tests/python/` prints for its Rust test.
pub fn summary(stdout: &str) -> Result<serde_json::Value> {
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .with_context(|| format!("no JSON summary in:\n{stdout}"))?;
    Ok(serde_json::from_str(line)?)
}
