//! Binding and running the API and the egress proxy together.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::json;
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;

use crate::app::{AppState, app};
use crate::config::Config;
use crate::confine::{Bwrap, Confine, Isolation};
use crate::egress::netns::{self, Netns};
use crate::egress::proxy;
use crate::log::Logger;
use crate::session::Sessions;

/// A started server; drop or [`RunningServer::shutdown`] to stop it.
#[derive(Debug)]
pub struct RunningServer {
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// Where the egress proxy listens.
    pub proxy_addr: SocketAddr,
    state: AppState,
    sessions: Arc<Sessions>,
    api: JoinHandle<()>,
    proxy: JoinHandle<()>,
}

impl RunningServer {
    /// Stops both listeners and every session's processes.
    pub async fn shutdown(self) {
        self.api.abort();
        self.proxy.abort();
        self.sessions.stop_all().await;
    }

    /// The same API as a router, for in-process calls (`oneshot`) in tests.
    pub fn router(&self) -> axum::Router {
        app(self.state.clone())
    }

    /// Waits until the API server stops (it runs until the process ends).
    pub async fn wait(&mut self) {
        let _ = (&mut self.api).await;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.api.abort();
        self.proxy.abort();
    }
}

/// Binds both listeners and serves on the current runtime.
pub async fn start(config: Config, logger: Logger) -> std::io::Result<RunningServer> {
    std::fs::create_dir_all(&config.state_dir)?;
    let proxy_listener = TcpListener::bind(config.proxy_listen).await?;
    let proxy_addr = proxy_listener.local_addr()?;
    let api_listener = TcpListener::bind(config.listen).await?;
    let api_addr = api_listener.local_addr()?;
    let config = Arc::new(config);
    // Processes reach the proxy on loopback even when it listens on all interfaces.
    let advertised = if proxy_addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], proxy_addr.port()))
    } else {
        proxy_addr
    };
    let (isolation, unix_listener) = isolation(&config, advertised.port(), &logger).await?;
    let sessions = Arc::new(Sessions::new(
        Arc::clone(&config),
        Some(advertised),
        isolation,
    ));
    let state = AppState {
        config: Arc::clone(&config),
        sessions: Arc::clone(&sessions),
        logger: logger.clone(),
    };
    let tcp_proxy = proxy::serve(proxy_listener, Arc::clone(&sessions), logger.clone());
    let unix_proxy =
        unix_listener.map(|l| proxy::serve_unix(l, Arc::clone(&sessions), logger.clone()));
    let proxy = tokio::spawn(async move {
        match unix_proxy {
            Some(unix_proxy) => {
                tokio::join!(tcp_proxy, unix_proxy);
            }
            None => tcp_proxy.await,
        }
    });
    let router = app(state.clone());
    let api_logger = logger.clone();
    let api = tokio::spawn(async move {
        if let Err(e) = axum::serve(api_listener, router).await {
            api_logger.warn("server_error", json!({"error": e.to_string()}));
        }
    });
    logger.info(
        "started",
        json!({"addr": api_addr.to_string(), "proxy_addr": proxy_addr.to_string(), "mode": if config.workspace.is_some() { "container" } else { "local" }}),
    );
    Ok(RunningServer {
        api_addr,
        proxy_addr,
        state,
        sessions,
        api,
        proxy,
    })
}

/// Sets up the shells' isolation: bubblewrap when asked for (the server
/// refuses to start without it), else network namespaces when asked for and
/// possible. Either way the proxy also listens on a Unix socket that the
/// shim inside relays to.
async fn isolation(
    config: &Config,
    port: u16,
    logger: &Logger,
) -> std::io::Result<(Isolation, Option<UnixListener>)> {
    let socket = config.state_dir.join("proxy.sock");
    if config.confine == Confine::Bwrap {
        let bwrap = Bwrap::prepare(config, socket.clone(), port)
            .await
            .map_err(std::io::Error::other)?;
        let listener = unix_listener(&socket)?;
        logger.info(
            "confinement",
            json!({"confine": "bwrap", "network_isolation": true}),
        );
        return Ok((Isolation::Bwrap(bwrap), Some(listener)));
    }
    if !config.isolate_network {
        return Ok((Isolation::None, None));
    }
    if !netns::available().await {
        logger.warn(
            "network_isolation_unavailable",
            json!({"reason": "cannot create a network namespace (needs root, unshare and ip)"}),
        );
        return Ok((Isolation::None, None));
    }
    let listener = unix_listener(&socket)?;
    let exe = match &config.shim_exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe()?,
    };
    logger.info("network_isolation", json!({"enabled": true}));
    Ok((
        Isolation::Netns(Netns { exe, socket, port }),
        Some(listener),
    ))
}

fn unix_listener(socket: &std::path::Path) -> std::io::Result<UnixListener> {
    let _ = std::fs::remove_file(socket);
    UnixListener::bind(socket)
}

/// Makes this process non-dumpable, so sandboxed processes running as the same
/// user cannot read its environment or memory (the token, local secrets)
/// through `/proc` or ptrace. A different `--sandbox-user` is stronger still.
pub fn protect_process_memory() -> std::io::Result<()> {
    nix::sys::prctl::set_dumpable(false).map_err(std::io::Error::from)
}
