//! The agent toolset: one file per family, dispatched from [`run`].

pub mod bash;
pub mod files;
pub mod search;

use openma_core::sandbox::{ToolInput, ToolResult};

use crate::config::Limits;
use crate::session::Session;
use crate::workspace::FsIdentity;

/// Runs one validated tool call in a session.
pub async fn run(session: &Session, input: ToolInput, limits: &Limits) -> ToolResult {
    let ws = session.workspace();
    let lim = limits.clone();
    let owner = ws.owner();
    match input {
        ToolInput::Bash(b) => {
            session
                .bash(&b, limits.default_timeout_ms, limits.max_output_bytes)
                .await
        }
        ToolInput::Read(i) => blocking(owner, move || files::read(&ws, &i, &lim)).await,
        ToolInput::Write(i) => blocking(owner, move || files::write(&ws, &i, &lim)).await,
        ToolInput::Edit(i) => blocking(owner, move || files::edit(&ws, &i, &lim)).await,
        ToolInput::Glob(i) => blocking(owner, move || search::glob(&ws, &i, &lim)).await,
        ToolInput::Grep(i) => blocking(owner, move || search::grep(&ws, &i, &lim)).await,
    }
}

/// Runs a file tool on a blocking thread, with that thread's file-system
/// identity set to the sandbox user when there is one: permission checks are
/// then the user's own, so even a symlink swapped in mid-call cannot make the
/// (root) server write where the user could not.
async fn blocking(
    owner: Option<(u32, u32)>,
    f: impl FnOnce() -> ToolResult + Send + 'static,
) -> ToolResult {
    tokio::task::spawn_blocking(move || {
        let _identity = owner.map(|(uid, gid)| FsIdentity::assume(uid, gid));
        f()
    })
    .await
    .unwrap_or_else(|e| ToolResult::error(format!("the tool failed unexpectedly: {e}")))
}
