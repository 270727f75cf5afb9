//! Running wrangler.

use std::process::Command;

use crate::paths;
use crate::setup::Tools;

/// `node node_modules/wrangler/bin/wrangler.js`, with telemetry and error
/// reports off.
pub(crate) fn remote(tools: &Tools) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(&tools.wrangler)
        .current_dir(paths::root())
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_SEND_ERROR_REPORTS", "false");
    if let Some(opts) = std::env::var_os("OMA_WRANGLER_NODE_OPTIONS") {
        cmd.env("NODE_OPTIONS", opts);
    }
    cmd
}

/// Wrangler for local work: additionally non-interactive, with no update
/// check and no `Request.cf` download, so that nothing leaves the machine.
pub(crate) fn offline(tools: &Tools) -> Command {
    let mut cmd = remote(tools);
    cmd.env("CI", "true")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("WRANGLER_HIDE_BANNER", "true")
        .env("NO_COLOR", "1");
    cmd
}
