//! `openma-sandbox`: parses the configuration, starts the API and the egress
//! proxy, prints `{"event":"listening","addr":…,"proxy_addr":…}` as one JSON
//! line on stdout for a supervisor, and logs JSON lines to stderr.
//!
//! A token given in `OMA_SANDBOX_TOKEN` is moved off the environment first:
//! the server executes itself again without the variable, handing the token
//! over on standard input, so that no `/proc/<pid>/environ` of the server
//! ever shows it.

use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;

use openma_sandbox::{Config, Logger};

/// Where the platform puts the token.
const TOKEN_VAR: &str = "OMA_SANDBOX_TOKEN";
/// Set on the second start: the token is on standard input.
const TOKEN_ON_STDIN_VAR: &str = "OMA_SANDBOX_TOKEN_ON_STDIN";
/// A token longer than this is refused (it must fit in a pipe's buffer).
const MAX_TOKEN_BYTES: usize = 4096;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(openma_sandbox::egress::netns::SHIM_ARG) {
        std::process::exit(openma_sandbox::egress::netns::shim(&args[1..]).await);
    }
    let token = match token_off_the_environment() {
        Ok(token) => token,
        Err(e) => {
            eprintln!("cannot move the token off the environment: {e}");
            std::process::exit(2);
        }
    };
    let env = |name: &str| match name {
        TOKEN_VAR => token.clone(),
        _ => std::env::var(name).ok(),
    };
    let config = match Config::parse(args, env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let logger = Logger::stderr();
    if let Err(e) = openma_sandbox::server::protect_process_memory() {
        logger.warn(
            "hardening_failed",
            serde_json::json!({"error": e.to_string()}),
        );
    }
    let mut server = openma_sandbox::start(config, logger).await?;
    let line = serde_json::json!({
        "event": "listening",
        "addr": server.api_addr.to_string(),
        "proxy_addr": server.proxy_addr.to_string(),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    drop(stdout);
    tokio::select! {
        () = server.wait() => {}
        _ = shutdown_signal() => {}
    }
    server.shutdown().await;
    Ok(())
}

/// The token from `OMA_SANDBOX_TOKEN`, read without leaving it in this
/// process's environment: on the first start the process executes itself
/// again without the variable and with the token on standard input (so this
/// returns only on the second start, or when there is no such variable).
fn token_off_the_environment() -> std::io::Result<Option<String>> {
    if std::env::var_os(TOKEN_ON_STDIN_VAR).is_some() {
        let mut token = String::new();
        std::io::stdin()
            .take(MAX_TOKEN_BYTES as u64 + 1)
            .read_to_string(&mut token)?;
        return Ok(Some(token));
    }
    let Some(token) = std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if token.len() > MAX_TOKEN_BYTES {
        return Err(std::io::Error::other(format!(
            "{TOKEN_VAR} is longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let (reader, mut writer) = std::io::pipe()?;
    writer.write_all(token.as_bytes())?;
    drop(writer);
    let err = std::process::Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env_remove(TOKEN_VAR)
        .env(TOKEN_ON_STDIN_VAR, "1")
        .stdin(reader)
        .exec();
    Err(err)
}

async fn shutdown_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
