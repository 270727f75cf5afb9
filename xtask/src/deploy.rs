//! `wrangler deploy --dry-run` for every worker (offline), and the real deploy.

use std::process::Command;

use anyhow::Result;

use crate::build::WORKERS;
use crate::paths;
use crate::proc;
use crate::setup::Tools;
use crate::wrangler;

/// Bundles each worker exactly as a deploy would, without uploading anything.
pub(crate) fn check(tools: &Tools) -> Result<()> {
    for worker in WORKERS {
        let outdir = paths::target_dir().join("deploy-check").join(worker.name);
        eprintln!("xtask: deploy dry-run for {}", worker.name);
        // The top level (`--env=`) and every environment block.
        for env in ["", "staging"] {
            proc::run(
                wrangler::command(tools)
                    .args(["deploy", "--dry-run"])
                    .arg(format!("--env={env}"))
                    .arg("--outdir")
                    .arg(outdir.join(if env.is_empty() { "production" } else { env }))
                    .arg("-c")
                    .arg(worker.config()),
            )?;
        }
    }
    Ok(())
}

/// Applies the D1 migrations remotely, then deploys the agent, the
/// integrations and the main worker, in that order.
pub(crate) fn deploy(tools: &Tools, env: Option<&str>) -> Result<()> {
    let with_env = |cmd: &mut Command| {
        cmd.arg(format!("--env={}", env.unwrap_or_default()));
    };
    let main = WORKERS[0].config();
    let mut migrate = wrangler::command(tools);
    migrate
        .args(["d1", "migrations", "apply", "DB", "--remote", "-c"])
        .arg(&main);
    with_env(&mut migrate);
    migrate.env_remove("CI");
    proc::run(&mut migrate)?;
    for name in ["agent", "integrations", "main"] {
        let Some(worker) = WORKERS.iter().find(|w| w.name == name) else {
            continue;
        };
        let mut cmd = wrangler::command(tools);
        cmd.args(["deploy", "-c"]).arg(worker.config());
        with_env(&mut cmd);
        proc::run(&mut cmd)?;
    }
    Ok(())
}
