//! `cargo xtask <command>`: the project's own set-up, build, local platform,
//! test and deploy commands. Every tool it needs comes from crates.io or npm
//! and is installed on first use.

mod build;
mod configs;
mod deploy;
mod dev;
mod http;
mod jsonc;
mod paths;
mod proc;
mod python;
mod setup;
mod test;
mod wrangler;

use std::process::ExitCode;

use anyhow::Result;
use anyhow::bail;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup          install what is missing (wasm target, worker-build, wasm-bindgen, npm packages,
                   the Python SDK virtualenv in target/py)
  build          build the three workers (release wasm) and the sandbox server; skips what is up to date
  dev            set up, build, and run the whole platform locally; prints a `ready` line
                   --no-build            use the existing build outputs (fail if missing)
                   --exit-on-stdin-eof   stop when standard input closes (for supervisors)
  test           format, lints (native and wasm), unit tests, end-to-end tests, deploy dry-runs
  bench          measure turn latency, throughput, fan-out and wasm size on the local
                   platform with a zero-latency mock model; writes target/bench/report.json
  deploy-check   `wrangler deploy --dry-run` for the three workers, offline
  deploy         apply D1 migrations remotely and deploy agent, integrations, main
                   --env <name>          a wrangler environment, e.g. staging
                   --first               the first deploy to an account: break the
                                         main <-> integrations binding cycle

environment (dev): PORT, API_KEY, PLATFORM_ROOT_SECRET, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL,
  OMA_STATE_DIR, OMA_SANDBOX_PORT, OMA_INSPECTOR_PORT, OMA_INSPECTOR, OMA_LOG_LEVEL,
  MODEL_RETRY_BASE_MS, MODEL_MAX_ATTEMPTS, SESSION_WATCHDOG_MS, SESSION_ARCHIVE_AFTER_DAYS,
  MODEL_FIRST_BYTE_TIMEOUT_MS, MODEL_IDLE_TIMEOUT_MS, TOOL_CALL_TIMEOUT_MS,
  TENANT_REQUESTS_PER_MINUTE, TENANT_RUNNING_SESSIONS, OMA_SANDBOX_UNCONFINED,
  SLACK_SIGNING_SECRET, LINEAR_WEBHOOK_SECRET, GITHUB_WEBHOOK_SECRET, SLACK_API_BASE,
  LINEAR_API_BASE, GITHUB_API_BASE, OUTBOX_MAX_ATTEMPTS, OUTBOX_RETRY_BASE_MS,
  WEBHOOK_MAX_ATTEMPTS, WEBHOOK_RETRY_BASE_MS, WEBHOOK_ALLOW_PRIVATE_URLS, WORK_LEASE_TTL_SECONDS";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return Ok(());
    };
    let flag = |name: &str| rest.iter().any(|a| a == name);
    let value = |name: &str| {
        rest.iter()
            .position(|a| a == name)
            .and_then(|i| rest.get(i + 1))
            .cloned()
    };
    match command.as_str() {
        "setup" => {
            setup::ensure()?;
            python::ensure().map(|_| ())
        }
        "build" => {
            let tools = setup::ensure()?;
            build::workers(&tools)?;
            build::sandbox_server().map(|_| ())
        }
        "dev" => dev::run(&dev::Options {
            build: !flag("--no-build"),
            exit_on_stdin_eof: flag("--exit-on-stdin-eof"),
        }),
        "test" => test::run(),
        "bench" => {
            let tools = setup::ensure()?;
            build::workers(&tools)?;
            build::sandbox_server()?;
            proc::run(
                std::process::Command::new("cargo")
                    .current_dir(paths::root())
                    .args(["run", "--quiet", "-p", "openma-e2e", "--bin", "bench"])
                    .env("OMA_XTASK_BIN", std::env::current_exe()?),
            )
        }
        "deploy-check" => {
            let tools = setup::ensure()?;
            build::workers(&tools)?;
            deploy::check(&tools)
        }
        "deploy" => {
            let tools = setup::ensure()?;
            build::workers(&tools)?;
            deploy::deploy(&tools, value("--env").as_deref(), flag("--first"))
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
