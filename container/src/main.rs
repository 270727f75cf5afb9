//! `openma-sandbox`: parses the configuration, starts the API and the egress
//! proxy, prints `{"event":"listening","addr":…,"proxy_addr":…}` as one JSON
//! line on stdout for a supervisor, and logs JSON lines to stderr.

use std::io::Write as _;

use openma_sandbox::{Config, Logger};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(openma_sandbox::egress::netns::SHIM_ARG) {
        std::process::exit(openma_sandbox::egress::netns::shim(&args[1..]).await);
    }
    let config = match Config::parse(args, |name| std::env::var(name).ok()) {
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

async fn shutdown_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
