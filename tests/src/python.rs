//! Running the official Python SDK (`anthropic`, pinned in
//! `tests/python/requirements.txt`) against a [`Platform`]: scripts in
//! `tests/python/` run with the virtualenv that `cargo xtask setup` (or
//! `test`) creates in `target/py`.

use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;

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

/// The command that runs `tests/python/<script>` with `ANTHROPIC_BASE_URL`
/// set to the platform and `ANTHROPIC_API_KEY` to `api_key`, passing `args`.
fn script_command(
    platform: &Platform,
    api_key: &str,
    script: &str,
    args: &[&str],
) -> Result<(Command, String)> {
    let python = interpreter()?;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let mut command = Command::new(&python);
    command
        .arg(&path)
        .args(args)
        .env("ANTHROPIC_BASE_URL", platform.base_url())
        .env("ANTHROPIC_API_KEY", api_key)
        .env_remove("ANTHROPIC_AUTH_TOKEN")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONUNBUFFERED", "1");
    Ok((command, format!("{} {}", python.display(), path.display())))
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
    let (mut command, what) = script_command(platform, api_key, script, args)?;
    let output = command
        .output()
        .with_context(|| format!("running {what}"))?;
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

/// A script running in the background (see [`spawn_script`]): killed when
/// dropped, and its output kept in a file for the test's messages.
#[derive(Debug)]
pub struct BackgroundScript {
    child: Child,
    output: tempfile::NamedTempFile,
}

impl BackgroundScript {
    /// Kills the script at once (`SIGKILL`: it gets no chance to clean up,
    /// as a crashed machine would not) and waits for it to end.
    pub fn kill(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.kill().context("killing the script")?;
        }
        self.child.wait().context("waiting for the killed script")?;
        Ok(())
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What it has written so far (standard output and error).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.output.path()).unwrap_or_default()
    }
}

impl Drop for BackgroundScript {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Starts `tests/python/<script>` as [`run_script`] does, in the
/// background; its standard output and error go to one file.
pub fn spawn_script(
    platform: &Platform,
    api_key: &str,
    script: &str,
    args: &[&str],
) -> Result<BackgroundScript> {
    let (mut command, what) = script_command(platform, api_key, script, args)?;
    let output = tempfile::NamedTempFile::new().context("a file for the script's output")?;
    // One descriptor for both, so that they share the file's offset.
    let file = output.reopen()?;
    let child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    Ok(BackgroundScript { child, output })
}
