//! Running wrangler offline and quietly.

use std::process::Command;

use crate::paths;
use crate::setup::Tools;

/// `node node_modules/wrangler/bin/wrangler.js <args>`, with telemetry, update
/// checks and `Request.cf` downloads turned off so that nothing leaves the
/// machine.
pub(crate) fn command(tools: &Tools) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(&tools.wrangler)
        .current_dir(paths::root())
        .env("CI", "true")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_SEND_ERROR_REPORTS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("WRANGLER_HIDE_BANNER", "true")
        .env("NO_COLOR", "1");
    cmd
}
