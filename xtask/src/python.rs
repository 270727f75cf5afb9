//! The Python virtualenv the end-to-end tests drive the official
//! `anthropic` SDK from: `target/py`, built with `python3 -m venv` and
//! `pip install -r tests/python/requirements.txt`, skipped while a stamp
//! matches the requirements file's content.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use anyhow::Result;

use crate::paths;
use crate::proc;

/// The virtualenv's directory.
pub(crate) fn venv_dir() -> PathBuf {
    paths::target_dir().join("py")
}

/// The virtualenv's interpreter, which tests find through `OMA_PYTHON`.
pub(crate) fn interpreter() -> PathBuf {
    venv_dir().join("bin").join("python")
}

/// Creates or refreshes the virtualenv; returns its interpreter.
pub(crate) fn ensure() -> Result<PathBuf> {
    let requirements = paths::root().join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let venv = venv_dir();
    let stamp = venv.join("openma-requirements.stamp");
    let python = interpreter();
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    eprintln!(
        "xtask: setting up the Python SDK virtualenv in {}",
        venv.display()
    );
    if !python.exists() {
        proc::run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .context("creating the virtualenv (is python3 with venv installed?)")?;
    }
    proc::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements),
    )?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(python)
}
