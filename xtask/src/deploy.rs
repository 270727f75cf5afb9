//! `wrangler deploy --dry-run` for every worker (offline), and the real deploy.

use anyhow::Result;

use crate::build::WORKERS;
use crate::build::Worker;
use crate::configs;
use crate::paths;
use crate::proc;
use crate::setup::Tools;
use crate::wrangler;

/// Bundles each worker exactly as a deploy would, for the top level and the
/// staging environment, without uploading anything.
pub(crate) fn check(tools: &Tools) -> Result<()> {
    for worker in WORKERS {
        let outdir = paths::target_dir().join("deploy-check").join(worker.name);
        eprintln!("xtask: deploy dry-run for {}", worker.name);
        for env in ["", "staging"] {
            proc::run(
                wrangler::offline(tools)
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
/// integrations and the main worker, in that order (each only binds workers
/// deployed before it, except integrations -> main).
///
/// Cloudflare refuses a service binding to a worker that does not exist yet,
/// and main and integrations bind each other. On the first deploy (`first`),
/// integrations therefore goes out once without its service bindings, then
/// again, complete, after main.
pub(crate) fn deploy(tools: &Tools, env: Option<&str>, first: bool) -> Result<()> {
    let env_flag = format!("--env={}", env.unwrap_or_default());
    let main = WORKERS[0].config();
    proc::run(
        wrangler::remote(tools)
            .args(["d1", "migrations", "apply", "DB", "--remote", "-c"])
            .arg(&main)
            .arg(&env_flag),
    )?;
    let named = |name: &str| WORKERS.iter().copied().find(|w| w.name == name);
    let deploy_with = |worker: Worker, config: &std::path::Path| -> Result<()> {
        eprintln!("xtask: deploying {}", worker.name);
        proc::run(
            wrangler::remote(tools)
                .args(["deploy", "-c"])
                .arg(config)
                .arg(&env_flag),
        )
    };
    if let Some(agent) = named("agent") {
        deploy_with(agent, &agent.config())?;
    }
    if let Some(integrations) = named("integrations") {
        if first {
            let dir = paths::stamps_dir().join("deploy-bootstrap");
            let bootstrap = configs::derive(integrations, &dir, |block| {
                block.remove("services");
            })?;
            deploy_with(integrations, &bootstrap)?;
        } else {
            deploy_with(integrations, &integrations.config())?;
        }
    }
    if let Some(main) = named("main") {
        deploy_with(main, &main.config())?;
    }
    if first && let Some(integrations) = named("integrations") {
        deploy_with(integrations, &integrations.config())?;
    }
    Ok(())
}
