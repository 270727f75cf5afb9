//! At-most-once tool calls, keyed by tool-use id and recorded on disk.
//!
//! Before a call runs, `<id>.started` is written; when it ends,
//! `<id>.result.json` is written atomically (a temporary file, renamed). A
//! repeated id gets the recorded result; an id that started but never
//! finished (the server died mid-call) is answered with an "interrupted"
//! error, which is then recorded in turn, and never runs a second time. A
//! repeat that arrives while the first call is still running waits for its
//! result.
//!
//! The records are not `fsync`ed. They guard against the server process
//! dying, and a dead process's writes are already in the kernel's cache.
//! They cannot outlive the machine's own crash in a useful way: the
//! container's disk does not survive its restart, and the files the tools
//! themselves wrote are not synced either. Syncing cost four disk flushes
//! (about 1.1 ms) on every call.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use openma_core::sandbox::ToolResult;
use tokio::sync::watch;

type Pending = watch::Receiver<Option<ToolResult>>;

/// One session's record of tool calls.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    in_flight: Mutex<HashMap<String, Pending>>,
}

/// What to do with a call.
#[derive(Debug)]
pub enum Begin {
    /// The id already has a result: return it, do not run.
    Recorded(ToolResult),
    /// The same id is running now: wait for its result.
    InFlight(Pending),
    /// First sighting: run it, then [`Journal::finish`] with the ticket.
    Run(Ticket),
}

/// Permission to run a call once; finishing records the result.
#[derive(Debug)]
pub struct Ticket {
    id: String,
    tx: watch::Sender<Option<ToolResult>>,
}

/// The journal's storage failed; the call is not run.
#[derive(Debug, thiserror::Error)]
#[error("tool-call journal at {path}: {source}")]
pub struct JournalError {
    path: PathBuf,
    source: io::Error,
}

impl Journal {
    /// Opens (creating) the journal directory.
    pub fn open(dir: PathBuf) -> Result<Self, JournalError> {
        fs::create_dir_all(&dir).map_err(|source| JournalError {
            path: dir.clone(),
            source,
        })?;
        Ok(Self {
            dir,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Decides whether the call `id` (already validated as a safe file name) runs.
    pub fn begin(&self, id: &str) -> Result<Begin, JournalError> {
        let mut in_flight = self
            .in_flight
            .lock()
            .map_err(|_| self.err(&self.dir, io::Error::other("journal lock poisoned")))?;
        if let Some(rx) = in_flight.get(id) {
            if rx.has_changed().is_ok() {
                return Ok(Begin::InFlight(rx.clone()));
            }
            // The runner vanished without a result: fall through to "interrupted".
            in_flight.remove(id);
        }
        let result_path = self.result_path(id);
        if let Some(result) = self.read_result(&result_path)? {
            return Ok(Begin::Recorded(result));
        }
        let started = self.dir.join(format!("{id}.started"));
        if started.exists() {
            let result = ToolResult::error(
                "this tool call was interrupted: the sandbox stopped while it was running, so its effects are unknown; it was not run again",
            );
            self.write_result(&result_path, &result)?;
            return Ok(Begin::Recorded(result));
        }
        fs::write(&started, b"").map_err(|e| self.err(&started, e))?;
        let (tx, rx) = watch::channel(None);
        in_flight.insert(id.to_owned(), rx);
        Ok(Begin::Run(Ticket {
            id: id.to_owned(),
            tx,
        }))
    }

    /// Records the result of a call begun with [`Self::begin`] and wakes waiters.
    pub fn finish(&self, ticket: Ticket, result: &ToolResult) -> Result<(), JournalError> {
        let written = self.write_result(&self.result_path(&ticket.id), result);
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(&ticket.id);
        }
        ticket.tx.send_replace(Some(result.clone()));
        written
    }

    fn result_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.result.json"))
    }

    fn read_result(&self, path: &Path) -> Result<Option<ToolResult>, JournalError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.err(path, io::Error::other(e))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(path, e)),
        }
    }

    fn write_result(&self, path: &Path, result: &ToolResult) -> Result<(), JournalError> {
        let bytes = serde_json::to_vec(result).map_err(|e| self.err(path, io::Error::other(e)))?;
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, &bytes).map_err(|e| self.err(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| self.err(path, e))
    }

    fn err(&self, path: &Path, source: io::Error) -> JournalError {
        JournalError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Waits for the result of a call running elsewhere.
pub async fn wait(mut rx: Pending) -> Option<ToolResult> {
    rx.wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|r| r.clone())
}
